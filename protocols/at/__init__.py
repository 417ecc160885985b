"""AT commands and SMS PDUs: the language of GSM modems (ITU-T V.250, 3GPP TS 27.007/27.005,
SMS TPDUs of 23.040). Pure functions and small data classes; no I/O.

What lives here, by module:

- :mod:`~protocols.at.command`: command lines. ``parse_line('AT+CUSD=1,"*1#",15')`` gives
  ``(AtCommand('+CUSD', 'set', (1, '*1#', 15)),)``; ``format_line`` goes back.
- :mod:`~protocols.at.results`: final results and the ``+CME ERROR`` / ``+CMS ERROR`` tables:
  ``parse_final('+CMS ERROR: 322').meaning == 'memory full'``.
- :mod:`~protocols.at.responses`: information lines and URCs: ``parse_fields``, ``is_urc``.
- :mod:`~protocols.at.sms`: ``+CMTI``, ``+CMT``, ``+CMGR``, ``+CMGL`` in PDU and text mode.
- :mod:`~protocols.at.ussd`: ``+CUSD: <m>,"<str>",<dcs>`` and its text rules (UCS2 is hex).
- :mod:`~protocols.at.pdu` and :mod:`~protocols.at.tpfields`: SMS-DELIVER / SMS-SUBMIT
  TPDUs: addresses, timestamps, DCS, concatenation headers.
- :mod:`~protocols.at.charset`: the TE character sets of ``AT+CSCS`` and V.250 strings.

A modem's side and a driver's side use the same functions, so what one prints the other
reads: reading an OTP from a PDU listing is

    listing = parse_listing(header_line, pdu_line)          # +CMGR: 0,,33 / 0004...
    sms = decode_tpdu(decode_at_pdu(listing.pdu, listing.length)[1])
    sms.sender.text, sms.text, sms.timestamp

Every error is a ``ValueError`` subclass (:class:`AtSyntaxError`, :class:`PduError`,
:class:`CharsetError`) whose message names the field, the position and what was expected.
"""
from protocols.at.charset import CHARSETS, Charset, from_te, quote, to_te
from protocols.at.command import AtCommand, format_line, parse_line
from protocols.at.errors import AtSyntaxError, CharsetError, PduError
from protocols.at.pdu import (SmsDeliver, SmsSubmit, decode_at_pdu, decode_tpdu, deliver_parts,
                              encode_at_pdu, encode_deliver, encode_submit, submit_parts)
from protocols.at.responses import is_urc, parse_fields, split_info
from protocols.at.results import CME_ERRORS, CMS_ERRORS, FinalResult, format_final, parse_final
from protocols.at.sms import (Cmti, PduListing, TextListing, format_listing, parse_cmti,
                              parse_listing)
from protocols.at.tpfields import Address, Concat
from protocols.at.ussd import USSD_M, Cusd, format_cusd, parse_cusd, ussd_from_wire, ussd_to_wire

__all__ = [
    "CHARSETS", "CME_ERRORS", "CMS_ERRORS", "USSD_M", "Address", "AtCommand", "AtSyntaxError",
    "Charset", "CharsetError", "Cmti", "Concat", "Cusd", "FinalResult", "PduError", "PduListing",
    "SmsDeliver", "SmsSubmit", "TextListing", "decode_at_pdu", "decode_tpdu", "deliver_parts",
    "encode_at_pdu", "encode_deliver", "encode_submit", "format_cusd", "format_final",
    "format_line", "format_listing", "from_te", "is_urc", "parse_cmti", "parse_cusd",
    "parse_fields", "parse_final", "parse_line", "parse_listing", "quote", "split_info",
    "submit_parts", "to_te", "ussd_from_wire", "ussd_to_wire",
]
