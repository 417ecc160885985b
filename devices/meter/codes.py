"""The meter's result codes: what it answers to a token, a card, a relay or emergency request.

One table for every face: the model returns a ``ResultCode``, the emulator writes its number
on the wire (register ``C.53.0``, or ``E<nn> <name>`` in an error message), the driver reads it
back. Numbers are what a meter shows on its display ("E-33"); names are stable identifiers;
messages are the field wording of flows F5/F6 (``protocols.utility_card.FIELD_ERRORS``).
"""
from __future__ import annotations

from enum import Enum

from protocols import sts
from protocols.utility_card import FIELD_ERRORS


class ResultCode(Enum):
    # (number, message); the member name in lowercase is the wire name
    ACCEPTED = (0, "accepted")
    ALREADY_LOADED = (1, "card already loaded: no credit added")
    KEY_CHANGE_PENDING = (2, "key change section accepted: enter the next section")
    # STS keypad (IEC 62055-41 results, plus the keypad's own)
    OLD = (10, "token too old")
    USED = (11, "token already used")
    CRC = (12, "token crc error")
    AUTH = (13, "token rejected: wrong meter or mistyped")
    FORMAT = (14, "token format not supported")
    RANGE = (15, "token value out of range")
    KEY_TYPE = (16, "key type does not allow this token")
    KEY_EXPIRED = (17, "key expired")
    OVERFLOW = (18, "credit register overflow")
    LOCKED = (19, "keypad locked after wrong tokens")
    NO_KEYPAD = (20, "this meter has no keypad")
    # card slot (flows F5 field errors)
    UNREADABLE = (30, FIELD_ERRORS["format"])
    METER = (31, FIELD_ERRORS["meter"])
    CARD = (32, FIELD_ERRORS["card"])
    MAC = (33, FIELD_ERRORS["mac"])
    UNIT = (34, FIELD_ERRORS["unit"])
    EXPIRED = (35, FIELD_ERRORS["expired"])
    MEMORY = (36, FIELD_ERRORS["memory"])
    KEY = (37, FIELD_ERRORS["key"])
    COUNT = (38, FIELD_ERRORS["count"])
    HOARDING = (39, FIELD_ERRORS["hoarding"])
    NO_CARD_SLOT = (40, "this meter has no card slot")
    # meter state
    TAMPER = (50, FIELD_ERRORS["tamper"])
    NO_CREDIT = (51, "no credit: the relay stays open")
    NO_EMERGENCY = (52, "emergency credit not available")
    # programming-mode protocol errors (error messages only, never an entry result)
    PASSWORD = (90, "wrong password")
    ACCESS = (91, "password needed first (P1)")
    ADDRESS = (92, "unknown register")
    READ_ONLY = (93, "register is read-only")
    WRITE_ONLY = (94, "register is write-only")
    VALUE = (95, "invalid value for this register")
    COMMAND = (96, "command not supported")

    def __init__(self, number: int, message: str) -> None:
        self.number = number
        self.message = message

    @property
    def wire_name(self) -> str:
        return self.name.lower()

    @property
    def ok(self) -> bool:
        """The request was carried out (an already-loaded card is not an error, just no credit)."""
        return self.number < 10

    @property
    def error_text(self) -> str:
        """The text of an IEC 62056-21 error message for this code: ``E33 mac``."""
        return f"E{self.number:02d} {self.wire_name}"

    @classmethod
    def from_error_text(cls, text: str) -> ResultCode | None:
        """The code of an error message's text (``E33 mac``), None for a text of another meter."""
        if text[:1] == "E" and text[1:3].isdigit() and text[1:3].isascii():
            return _BY_NUMBER.get(int(text[1:3]))
        return None

    @classmethod
    def of_number(cls, number: int) -> ResultCode:
        try:
            return _BY_NUMBER[number]
        except KeyError:
            raise ValueError(f"unknown meter result code {number!r}: expected one of "
                             f"{', '.join(str(n) for n in sorted(_BY_NUMBER))}") from None


_BY_NUMBER = {code.number: code for code in ResultCode}

FROM_STS: dict[sts.TokenResult, ResultCode] = {
    sts.TokenResult.ACCEPTED: ResultCode.ACCEPTED,
    sts.TokenResult.OLD: ResultCode.OLD,
    sts.TokenResult.USED: ResultCode.USED,
    sts.TokenResult.CRC_ERROR: ResultCode.CRC,
    sts.TokenResult.AUTHENTICATION: ResultCode.AUTH,
    sts.TokenResult.FORMAT: ResultCode.FORMAT,
    sts.TokenResult.RANGE: ResultCode.RANGE,
    sts.TokenResult.KEY_TYPE: ResultCode.KEY_TYPE,
    sts.TokenResult.KEY_EXPIRED: ResultCode.KEY_EXPIRED,
    sts.TokenResult.OVERFLOW: ResultCode.OVERFLOW,
}

FROM_CARD: dict[str, ResultCode] = {
    "format": ResultCode.UNREADABLE, "text": ResultCode.UNREADABLE, "mac": ResultCode.MAC,
    "unit": ResultCode.UNIT, "meter": ResultCode.METER, "card": ResultCode.CARD, "count": ResultCode.COUNT,
    "hoarding": ResultCode.HOARDING, "key": ResultCode.KEY, "expired": ResultCode.EXPIRED,
    "memory": ResultCode.MEMORY, "tamper": ResultCode.TAMPER,
}

# Wrong tokens that count towards the keypad lock-out: what a guessing attack produces.
WRONG_TOKENS = frozenset({ResultCode.CRC, ResultCode.AUTH, ResultCode.FORMAT, ResultCode.RANGE})
