"""Bench validation suites for hardware teams: is this meter, this card reader, conformant?

The suites are ordinary pytest files run against whatever a bench file binds (model, emulator
or the real device) and they record what they measure, with units and limits, into a JSON
record beside the JUnit XML::

    rbench validate hil/benches/emulated.yaml --out out/validation     # what CI runs
    rbench validate my-lab.yaml --suite meter                           # a real meter on the bench

``test_meter_conformance.py`` and ``test_card_reader_conformance.py`` are the checks;
``plugin.py`` gives them ``--bench``, the role fixtures and ``measure``; ``record.py`` is the
JSON record; ``tokens.py`` makes the test tokens and card records a vending system would.
"""
