"""``AT+CUSD`` (3GPP TS 27.007 §7.15): USSD requests and the network's ``+CUSD`` answers.

``+CUSD: <m>[,<str>,<dcs>]``; ``<m>`` says what the handset should do next (:data:`USSD_M`);
``<dcs>`` is a cell-broadcast data coding scheme (23.038 §5): with a GSM 7-bit DCS the text is
in the TE character set of ``AT+CSCS``, with UCS2 (Arabic, Persian) it is hex, always.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols.at.charset import Charset, from_hex, from_te, quote, to_hex, to_te
from protocols.at.errors import AtSyntaxError, CharsetError
from protocols.at.responses import info, want_int, want_str
from protocols.gsm import encoding_of_dcs

USSD_M = {
    0: "no further user action required",
    1: "further user action required",
    2: "USSD terminated by network",
    3: "other local client has responded",
    4: "operation not supported",
    5: "network time out",
}


@dataclass(frozen=True)
class Cusd:
    """One ``+CUSD`` result code; ``wire`` is the string as printed (TE charset or hex)."""

    m: int
    wire: str | None = None
    dcs: int | None = None

    def __post_init__(self) -> None:
        if self.m not in USSD_M:
            raise AtSyntaxError(f"+CUSD <m> {self.m}; expected 0-5")
        if (self.wire is None) != (self.dcs is None):
            raise AtSyntaxError("+CUSD carries <str> and <dcs> together or neither")


def format_cusd(result: Cusd) -> str:
    if result.wire is None:
        return f"+CUSD: {result.m}"
    return f"+CUSD: {result.m},{quote(result.wire, raw_newlines=True)},{result.dcs}"


def parse_cusd(line: str) -> Cusd:
    fields = info(line, "+CUSD")
    m = want_int(fields, 0, "<m>", line)
    if m not in USSD_M:
        raise AtSyntaxError(f"+CUSD <m> {m} in {line!r}; expected 0-5 ({'; '.join(f'{k} {v}' for k, v in USSD_M.items())})")
    if len(fields) == 1:
        return Cusd(m)
    wire = want_str(fields, 1, "<str>", line)
    dcs = want_int(fields, 2, "<dcs>", line) if len(fields) > 2 else 0
    return Cusd(m, wire, dcs)


def ussd_to_wire(text: str, dcs: int, charset: Charset) -> str:
    """USSD text as it goes on the line for ``dcs`` under ``AT+CSCS=charset``."""
    alphabet = encoding_of_dcs(dcs)
    if alphabet == "ucs2":
        return to_hex(text.encode("utf-16-be"))
    if alphabet == "8bit":
        try:
            return to_hex(text.encode("latin-1"))
        except UnicodeEncodeError:
            raise CharsetError(f"8-bit USSD data must be bytes 0-255; got {text!r}") from None
    return to_te(text, charset)


def ussd_from_wire(wire: str, dcs: int, charset: Charset) -> str:
    alphabet = encoding_of_dcs(dcs)
    if alphabet == "ucs2":
        return from_te(wire, "UCS2")
    if alphabet == "8bit":
        return from_hex(wire, "8-bit USSD data").decode("latin-1")
    return from_te(wire, charset)
