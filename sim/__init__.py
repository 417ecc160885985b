"""The SimPy simulator: a world of subscribers driving the REAL core on virtual time.

Ask "what happens at 21:00 on the last night of Ramadan when the SMSC slows down?" like this:

    from sim.run import run, load_config, list_profiles
    cfg = load_config("dz-ramadan-last-night", subscribers=20_000, seed=1, faults="smsc-slowdown",
                      overrides={"otp.validity_s": 300})
    result = run(cfg)                      # a RunResult (sim/result.py): config, kpis, minutes
    result.ok                              # False if the ledger's conservation check failed
    result.kpis["markets"]["DZ"]["channels"]["web"]["otp_expiries"]

What lives here:
- data: ``profiles/*.yaml`` (runs; ``_base.yaml`` holds every default), ``faults/*.yaml``
  (fault schedules), ``shapes/*.yaml`` (the diurnal load profile, shared with loadtests/);
- the run: ``config`` (load and validate; ``schema``/``schema_market``/``overrides``), ``run``
  (the API), ``world`` (the core on a SimPy clock and scheduler, ``clock``), ``closing`` (final
  sweep, settlement, conservation), ``result`` (the contract the reports and CLI read);
- the model: ``population`` and ``identities`` (compact subscribers, Faker identities, valid
  MSISDNs), ``shape`` and ``arrivals`` (non-homogeneous Poisson by thinning), ``demand`` (who
  comes when, by which channel), ``channels/`` (one process per channel), ``network`` (gateway
  capacity, SMSC, USSD gateway), ``meters`` (households' meters), ``faults``, ``kpis``.
Reports, sweeps and the progress bar (``report/``, ``sweep``, ``progress``) build on ``run``.
"""
