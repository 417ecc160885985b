"""Wire formats and standards shared by everyone: the core, the devices, the simulator, the bench.

One module per standard, named after it: :mod:`protocols.gsm` is GSM text (3GPP TS 23.038:
the 7-bit alphabet, UCS2, SMS segmentation, USSD limits and DCS values). Modules here are pure
functions and small data classes with no I/O, and ``protocols`` imports nothing else of ours,
so every other package may depend on it.
"""
