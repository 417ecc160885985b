"""The recharge and settlement core: the system under test.

The domain (money, MSISDNs, market rules, orders, ledger, OTP, USSD) is plain synchronous
Python that does I/O only through the ports in :mod:`core.ports`; the same service functions
are called by the simulator at event times and by the HTTP API in worker threads.

    from core.wiring import build_core
    core = build_core("sqlite:///rb.db")        # emulated gateways, SMSC and e-mail
    order = core.topups.create(request, idempotency_key="k1")

Money is an integer count of minor units with its currency (:class:`core.money.Money`).
"""
