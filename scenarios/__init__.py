"""Scenario suites for QA: stories and population runs written once in YAML, run by pytest on
models, on emulators in CI, or on the real bench, by choosing a bench file.

A story is steps by actors with expectations (``scenarios/library/f1/web-topup-otp.yaml``)::

    scenario: Web top-up by gold card; the OTP arrives on the payer's handset
    flow: F1
    markets: [DZ]
    given:
      subscribers: [{msisdn: 0551234567, balance: "100"}, {msisdn: 0661234567}]
      cards: {gold: {phone: 0661234567}}
    steps:
      - subscriber.topup: {recipient: 0551234567, payer: 0661234567, amount: "1000"}
        expect: {http: 201, state: pending_payment}
        capture: {order: id}
      - subscriber.card: {order: "${order}", card: gold}
      - handset.sms: {msisdn: 0661234567, match: "${text:sms_otp}"}
        within: 60s
        capture: {otp: {from: text, pattern: "${text:sms_otp}", group: otp}}
      - subscriber.otp: {order: "${order}", otp: "${otp}"}
        expect: {state: credited}

A population scenario is a simulation with KPI thresholds (``kind: population``).

Run them with pytest (the plugin is loaded by ``scenarios/conftest.py``)::

    pytest scenarios -n auto                                  # on models
    pytest scenarios --bench hil/benches/emulated.yaml -m "meter or card_reader or modem"
    rbench scenarios --report out/scenarios.html              # the same, with an HTML report

Modules: ``schema.json`` (the format, a JSON Schema) and ``schema`` (its checker on YAML nodes,
with lines), ``loader`` and ``scenario`` (a checked scenario), ``values`` (templates, Faker,
market texts, durations), ``expect`` (matchers, captures), ``actors/`` (what each actor can
do), ``world`` and ``devices`` (the core, its API and the bench's devices), ``story`` and
``population`` (the runners), ``transcript``, ``plugin`` (pytest) and ``report`` (HTML).
The format and the library index: ``docs/scenarios.md``.
"""
