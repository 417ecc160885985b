"""Card data at the edge: digits folded, Luhn and expiry checked, CVC2 and PIN2 shape-checked.

A ``Card`` only travels to the gateway; the core keeps ``Card.masked`` (first 6 / last 4) and
nothing else. Errors never echo a full card number back.
"""
from __future__ import annotations

import re
import time

from core.digits import to_ascii_digits
from core.errors import InvalidInput
from core.ports import Card
from protocols.luhn import valid

_SPACES = re.compile(r"[\s\-]")


luhn_ok = valid


def _digits(value: object, field: str, what: str) -> str:
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidInput(f"{field}: expected {what} as a string of digits", field=field)
    s = _SPACES.sub("", to_ascii_digits(str(value)))
    if not s.isdigit() or not s.isascii():
        raise InvalidInput(f"{field}: expected {what} (digits only)", field=field)
    return s


def parse_expiry(value: object, *, field: str = "expiry") -> tuple[int, int]:
    """"MM/YY", "MMYY", "MM/YYYY" -> (month, four-digit year)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: expected MM/YY", field=field)
    s = to_ascii_digits(value).strip()
    m = re.fullmatch(r"(\d{2})\s*/?\s*(\d{2}|\d{4})", s)
    if not m:
        raise InvalidInput(f"{field}: {value!r} is not a card expiry; expected MM/YY", field=field)
    month, year = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        raise InvalidInput(f"{field}: month {month:02d} is not 01..12", field=field)
    return month, (2000 + year if year < 100 else year)


def parse_card(*, pan: object, expiry: object, now: float, holder: object = "",
               cvc2: object | None = None, pin2: object | None = None,
               need_cvc2: bool = False, need_pin2: bool = False) -> Card:
    number = _digits(pan, "pan", "a card number of 16 to 19 digits")
    if not 16 <= len(number) <= 19:
        raise InvalidInput(f"pan: expected 16 to 19 digits, got {len(number)}", field="pan")
    if not luhn_ok(number):
        raise InvalidInput(f"pan: card number ending {number[-4:]} fails the Luhn check; "
                           "check the digits", field="pan")
    month, year = parse_expiry(expiry)
    t = time.gmtime(now)
    if (year, month) < (t.tm_year, t.tm_mon):
        raise InvalidInput(f"expiry: the card expired at the end of {month:02d}/{year}", field="expiry")
    if year > t.tm_year + 20:
        raise InvalidInput(f"expiry: {month:02d}/{year} is too far in the future", field="expiry")
    code = None
    if cvc2 is not None or need_cvc2:
        code = _digits(cvc2 if cvc2 is not None else "", "cvc2", "the 3-digit CVC2")
        if len(code) != 3:
            raise InvalidInput("cvc2: expected 3 digits", field="cvc2")
    pin = None
    if pin2 is not None or need_pin2:
        pin = _digits(pin2 if pin2 is not None else "", "pin2", "the card's second PIN (5 to 12 digits)")
        if not 5 <= len(pin) <= 12:
            raise InvalidInput("pin2: expected 5 to 12 digits", field="pin2")
    if not isinstance(holder, str) or len(holder) > 64:
        raise InvalidInput("holder: expected the name on the card, at most 64 characters", field="holder")
    return Card(number, month, year, holder.strip(), code, pin)
