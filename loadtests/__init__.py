"""Load tests of the recharge core with Locust, for performance engineers.

What lives here:

    profiles/*.yaml   load profiles: markets, shape, pace, emulator profile (``rbench load --list-profiles``)
    mix.yaml          the share of each channel per market, and the accounts each channel uses
    plan.py           a profile + ``--tps/--duration/...`` -> one checked plan (JSON for every Locust process)
    shapes.py         peak-hour (from ``sim/shapes``, the simulator's diurnal file), step, spike, soak stages
    pacing.py         open-model pacing: Poisson or constant arrivals per user, never bursting to catch up
    testdata.py       unique MSISDNs, accounts, meters per worker and user; Faker names, seeded
    customer.py       the Locust user base: one customer, one transaction type, one ``TX`` event each
    channels.py       the users per channel: web card + OTP, USSD *1#, bills, mandates, STS and card vends, kiosk
    locustfile.py     the entry point Locust loads: user classes by the mix, the ``LoadTestShape``
    steps.py          transactions per stage of the shape (mergeable histograms, across workers)
    thresholds.py     ``web_topup.p95 < 800ms``-style pass/fail rules for CI
    report.py         the summary: tx/s and percentiles per type and per step, settlement, thresholds

How to use it: ``rbench load dz-peak-hour --tps 20 --duration 2m`` (see ``hil/load.py`` and
docs/performance.md). It starts the core with the gateway and SMSC emulator services, runs Locust
headless, then checks settlement and conservation and exits 0, 1 (a threshold or the check
failed) or 2 (bad input). Everything here talks to the core over HTTP only; the modules without
Locust in their name (plan, shapes, pacing, testdata, thresholds, steps, report) are pure and
importable anywhere (Locust's gevent patching happens only in the Locust processes).
"""
