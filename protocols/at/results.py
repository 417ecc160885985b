"""Final result codes (V.250 §5.7) and the ``+CME ERROR`` / ``+CMS ERROR`` tables.

Every command ends with exactly one final result: ``OK``, ``ERROR``, ``+CME ERROR: <err>``
(3GPP TS 27.007 §9.2, equipment and network) or ``+CMS ERROR: <err>`` (27.005 §3.2.5, SMS).
``AT+CMEE`` chooses how errors read: 0 plain ``ERROR``, 1 numbers, 2 words.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# 27.007 §9.2.1 (general) and §9.2.2 (GPRS-less subset we meet on SMS/USSD modems).
CME_ERRORS: dict[int, str] = {
    0: "phone failure", 1: "no connection to phone", 2: "phone-adaptor link reserved",
    3: "operation not allowed", 4: "operation not supported", 5: "PH-SIM PIN required",
    6: "PH-FSIM PIN required", 7: "PH-FSIM PUK required", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
    15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required", 18: "SIM PUK2 required",
    20: "memory full", 21: "invalid index", 22: "not found", 23: "memory failure",
    24: "text string too long", 25: "invalid characters in text string",
    26: "dial string too long", 27: "invalid characters in dial string",
    30: "no network service", 31: "network timeout",
    32: "network not allowed - emergency calls only",
    40: "network personalization PIN required", 41: "network personalization PUK required",
    50: "incorrect parameters", 100: "unknown",
}

# 27.005 §3.2.5: 0-127 are RP causes (24.011 E.2), 128-255 TP-FCS (23.040 §9.2.3.22), 300+ ME/TA.
CMS_ERRORS: dict[int, str] = {
    1: "unassigned (unallocated) number", 8: "operator determined barring", 10: "call barred",
    21: "short message transfer rejected", 27: "destination out of service",
    28: "unidentified subscriber", 29: "facility rejected", 30: "unknown subscriber",
    38: "network out of order", 41: "temporary failure", 42: "congestion",
    47: "resources unavailable, unspecified", 50: "requested facility not subscribed",
    69: "requested facility not implemented", 81: "invalid short message transfer reference value",
    95: "invalid message, unspecified", 96: "invalid mandatory information",
    97: "message type non-existent or not implemented", 111: "protocol error, unspecified",
    127: "interworking, unspecified", 128: "telematic interworking not supported",
    129: "short message type 0 not supported", 130: "cannot replace short message",
    143: "unspecified TP-PID error", 144: "data coding scheme (alphabet) not supported",
    145: "message class not supported", 159: "unspecified TP-DCS error",
    176: "TPDU not supported", 192: "SC busy", 193: "no SC subscription",
    194: "SC system failure", 195: "invalid SME address", 196: "destination SME barred",
    197: "SM rejected-duplicate SM", 208: "SIM SMS storage full",
    209: "no SMS storage capability in SIM", 210: "error in MS", 211: "memory capacity exceeded",
    255: "unspecified error cause",
    300: "ME failure", 301: "SMS service of ME reserved", 302: "operation not allowed",
    303: "operation not supported", 304: "invalid PDU mode parameter",
    305: "invalid text mode parameter", 310: "SIM not inserted", 311: "SIM PIN required",
    312: "PH-SIM PIN required", 313: "SIM failure", 314: "SIM busy", 315: "SIM wrong",
    316: "SIM PUK required", 317: "SIM PIN2 required", 318: "SIM PUK2 required",
    320: "memory failure", 321: "invalid memory index", 322: "memory full",
    330: "SMSC address unknown", 331: "no network service", 332: "network timeout",
    340: "no +CNMA acknowledgement expected", 500: "unknown error",
}

Kind = Literal["OK", "ERROR", "CME", "CMS", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE",
               "CONNECT"]
_PLAIN = ("OK", "ERROR", "NO CARRIER", "BUSY", "NO ANSWER", "NO DIALTONE", "CONNECT")
_BY_TEXT = {"CME": {v.lower(): k for k, v in CME_ERRORS.items()},
            "CMS": {v.lower(): k for k, v in CMS_ERRORS.items()}}


@dataclass(frozen=True)
class FinalResult:
    """The last line of a command's answer. ``code`` is None for plain codes and unknown words."""

    kind: Kind
    code: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.kind in ("OK", "CONNECT")

    @property
    def meaning(self) -> str:
        """What went wrong, in words, whichever way the modem reported it."""
        if self.kind in ("CME", "CMS"):
            table = CME_ERRORS if self.kind == "CME" else CMS_ERRORS
            known = table.get(self.code) if self.code is not None else None
            return known or self.text or f"error {self.code}"
        return self.kind

    def __str__(self) -> str:
        return format_final(self, 1 if self.code is not None else 2)


def cme(code: int) -> FinalResult:
    return FinalResult("CME", code, CME_ERRORS.get(code, ""))


def cms(code: int) -> FinalResult:
    return FinalResult("CMS", code, CMS_ERRORS.get(code, ""))


OK = FinalResult("OK")
ERROR = FinalResult("ERROR")


def format_final(result: FinalResult, cmee: int = 1) -> str:
    """The line a modem prints for ``result`` under ``AT+CMEE=cmee``."""
    if result.kind not in ("CME", "CMS"):
        return result.kind
    if cmee == 0:
        return "ERROR"
    prefix = f"+{result.kind} ERROR: "
    if cmee == 2 and (result.text or result.code is None):
        return prefix + (result.text or result.meaning)
    if result.code is None:
        raise ValueError(f"{result!r} has no number to print under AT+CMEE=1")
    return prefix + str(result.code)


def parse_final(line: str) -> FinalResult | None:
    """The final result this line is, or None when it is not one (a response or a URC)."""
    text = line.strip()
    if text in _PLAIN:
        return FinalResult(text)  # type: ignore[arg-type]
    for kind in ("CME", "CMS"):
        prefix = f"+{kind} ERROR:"
        if text.upper().startswith(prefix):
            value = text[len(prefix):].strip()
            if value.isdigit() and value.isascii():
                code = int(value)
                table = CME_ERRORS if kind == "CME" else CMS_ERRORS
                return FinalResult(kind, code, table.get(code, ""))  # type: ignore[arg-type]
            return FinalResult(kind, _BY_TEXT[kind].get(value.lower()), value)  # type: ignore[arg-type]
    return None
