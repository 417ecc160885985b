"""The channels people use, one SimPy process (a plain generator) per attempt.

    web.topup        F1: operator page -> card gateway page -> SMS OTP -> receipt
    ussd.topup       F4: *1# dialogue -> card + PIN2 -> "processing", outcome by SMS
    direct.topup     kiosk / wallet / bank app airtime, paid at once from the provider
    bill.pay         F3: bill lookup, full, part or instalment payment by card + OTP
    mandate.run      F2: the post's debit run over the standing mandates due
    meter.card_vend  F5: card meter credit at a kiosk / in a wallet / bank app, then card_load
    meter.sts_vend   F6: keypad meter token bought and typed on the meter

Each process calls the real core at event times, waits the human and network times between
calls, and ends its attempt once in the KPIs (``sim.kpis``): success, failure with a reason
(``outcome.reason_of``) or abandonment. ``card.pay`` is the card step shared by web top-ups,
bills and STS vends: the gateway's page, the OTP (or PIN2), retries, double submits and the
browser closed before the redirect.
"""
