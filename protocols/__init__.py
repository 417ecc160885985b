"""Wire formats and standards shared by everyone: the core, the devices, the simulator, the bench.

One module per standard, named after it:

- :mod:`protocols.gsm`: GSM text (3GPP TS 23.038: the 7-bit alphabet, UCS2, SMS segmentation,
  USSD limits and DCS values);
- :mod:`protocols.sts`: STS prepaid-meter tokens (IEC 62055-41: STA and MISTY1, DKGA02/04,
  token classes 0/1/2, CRC, TID), with ``python -m protocols.sts verify FILE``;
- :mod:`protocols.utility_card`: credit records for card meters (format, per-card keys, the
  meter's purchase-count rule), and the card application a reader talks to (ISO 7816-4
  APDUs, status words, mutual authentication, MACed READ/UPDATE BINARY, tear-proof memory);
- :mod:`protocols.iec62056`: IEC 62056-21 mode C (a meter's serial/optical port: sign-on,
  readout, programming mode, BCC, a streaming frame parser);
- :mod:`protocols.at`: AT commands (V.250, 3GPP 27.007/27.005) and SMS TPDUs (23.040), for GSM
  modems.

Modules here are pure
functions and small data classes with no I/O, and ``protocols`` imports nothing else of ours,
so every other package may depend on it.
"""
