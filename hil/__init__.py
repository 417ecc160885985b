"""The bench itself.

- bench files (:mod:`hil.bench`, shipped in ``hil/benches``) bind each device role to a model,
  an emulator or real hardware; :mod:`hil.roles` opens a binding as the role's port;
- ``rbench devices | check | validate`` (:mod:`hil.inventory`, :mod:`hil.check`,
  :mod:`hil.validate`) and the conformance suites in ``hil/validation``;
- :mod:`hil.realtime`: device I/O on its own thread, fed into a SimPy world as events;
- glue between devices and the in-process core: :mod:`hil.modem_network` (a handset on the
  core's SMSC and USSD app), :mod:`hil.vending_point` (read card, vend, write, read back);
- QA and load: :mod:`hil.scenarios_cmd` (``rbench scenarios``), :mod:`hil.load` (``rbench load``:
  Locust, thresholds, the post-run settlement check) with the gateway and SMSC emulators as HTTP
  services (:mod:`hil.emulator_services`);
- reliability: :mod:`hil.torture` (``rbench torture``: deterministic fault-injection runs of the
  core), :mod:`hil.recovery` (the SIGKILL drill), :mod:`hil.pan_scan` (card data at rest);
- the real components the bench starts: PostgreSQL (:mod:`hil.postgres`), pcscd (:mod:`hil.pcsc`);
- the ``rbench`` CLI (:mod:`hil.cli`) and its commands (serve, demo, settle, simulate, sweep).
"""
