"""Adapters: the ports of :mod:`core.ports` made real.

Emulated ones (card issuer, SATIM- and Shaparak-style gateways, SMSC) hold their state in
memory, answer "later" through a :class:`core.clock.Scheduler` and draw every random choice
from a seeded ``random.Random``, so the simulator, the tests and the load tests get the same
run for the same seed. HTTP clients speak to real gateways through the same port:

    issuer = Issuer(clock); cards = issuer.generate(random.Random(7), 10, ["213550000001"])
    gw = SatimGateway("satim", clock, scheduler, random.Random(7), issuer, sms)
"""
