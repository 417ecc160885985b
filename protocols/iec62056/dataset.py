"""Data sets ``address(value*unit)``: the unit of every readout line and every programming command.

The address is usually an OBIS code in reduced form (``1.8.0``, ``C.50.0``, ``0.9.1``), the
value is text (numbers are written with a decimal point and a fixed count of decimals), the
unit is optional (``kWh``, ``W``, ``EGP``). IEC 62056-21 bars ``( ) / !`` from all three and
``*`` from the value; it caps the address at 16 characters, the value at 128 and the unit at
16. ``scaled``/``unscaled`` turn integers of a fixed resolution into such values and back,
exactly (no floats: 12345 hundredths is ``123.45``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import Iec62056Error

ADDRESS_MAX = 16
VALUE_MAX = 128
UNIT_MAX = 16
_BARRED = set("()/!")
_DATASET = re.compile(rb"([^()/!\r\n]*)\(([^()/!*]*)(?:\*([^()/!]*))?\)")


def _check(text: object, what: str, limit: int, barred: set[str]) -> str:
    if not isinstance(text, str):
        raise Iec62056Error(f"invalid data set {what} {text!r}: expected text")
    if len(text) > limit:
        raise Iec62056Error(f"invalid data set {what} {text!r}: {len(text)} characters, at most {limit}")
    for position, ch in enumerate(text, 1):
        if not " " <= ch <= "~" or ch in barred:
            raise Iec62056Error(f"invalid data set {what} {text!r}: {ch!r} at position {position}; expected "
                                f"printable ASCII without {' '.join(sorted(barred))}")
    return text


@dataclass(frozen=True)
class DataSet:
    """``address(value*unit)``; an empty address is allowed (a further value of the line's data set)."""

    address: str = ""
    value: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        _check(self.address, "address", ADDRESS_MAX, _BARRED)
        _check(self.value, "value", VALUE_MAX, _BARRED | {"*"})
        _check(self.unit, "unit", UNIT_MAX, _BARRED | {"*"})

    def encode(self) -> bytes:
        unit = f"*{self.unit}" if self.unit else ""
        return f"{self.address}({self.value}{unit})".encode("ascii")

    def __str__(self) -> str:
        return self.encode().decode("ascii")


def parse_datasets(text: bytes) -> tuple[DataSet, ...]:
    """The data sets in ``text``: any number, back to back or on lines ending with CR LF."""
    out, position = [], 0
    while position < len(text):
        if text.startswith(b"\r\n", position):
            position += 2
            continue
        match = _DATASET.match(text, position)
        if match is None:
            shown = text[position:position + 24]
            raise Iec62056Error(f"invalid data set at byte {position}: {shown!r}; expected address(value*unit)")
        address, value, unit = (part.decode("ascii") if part else "" for part in match.groups())
        try:
            out.append(DataSet(address, value, unit))
        except Iec62056Error as exc:
            raise Iec62056Error(f"invalid data set at byte {position}: {exc}") from None
        position = match.end()
    return tuple(out)


def scaled(value: int, decimals: int) -> str:
    """``value`` (an integer count of 10**-decimals) as decimal text: ``scaled(-350, 2) == '-3.50'``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Iec62056Error(f"invalid number {value!r}: expected an integer")
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, part = divmod(abs(value), 10 ** decimals)
    return f"{sign}{whole}.{part:0{decimals}d}"


_NUMBER = re.compile(r"([+-]?)(\d+)(?:\.(\d+))?")


def unscaled(text: str, decimals: int, *, what: str = "value") -> int:
    """Decimal text back to an integer count of 10**-decimals; refuses what would need rounding."""
    match = _NUMBER.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise Iec62056Error(f"invalid {what} {text!r}: expected a decimal number such as 123.45")
    sign, whole, part = match.groups()
    part = part or ""
    if len(part) > decimals and part[decimals:].strip("0"):
        raise Iec62056Error(f"invalid {what} {text!r}: more than {decimals} decimals")
    number = int(whole) * 10 ** decimals + int((part[:decimals]).ljust(decimals, "0") or 0)
    return -number if sign == "-" else number
