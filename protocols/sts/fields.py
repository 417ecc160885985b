"""The small encodings inside a token: CRC, TID and the 16-bit amount (sts.md §3, §5).

Each is a pair of pure functions (value to field, field to value) that raise ``FieldError``
with the field's name when a value cannot be represented.
"""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal
from numbers import Real

from .errors import FieldError, TidRangeError

# ----------------------------------------------------------------------------- CRC

def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = crc >> 1 ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS: reflected 0x8005, initial 0xFFFF, no final XOR."""
    crc = 0xFFFF
    for byte in data:
        crc = crc >> 8 ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def token_crc(token_class: int, block: int) -> int:
    """The CRC field (bits 0-15) for a block: MODBUS over class + bits 16-63 as 7 bytes, bytes swapped."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in ((token_class << 48) | (block >> 16)).to_bytes(7, "big"):
        crc = crc >> 8 ^ table[(crc ^ byte) & 0xFF]
    return (crc & 0xFF) << 8 | crc >> 8


# ----------------------------------------------------------------------------- TID
TID_BITS = 24
TID_MAX = (1 << TID_BITS) - 1
DECODER_BASE_DATE = 1993     # the reference's decoder always reads TIDs against 1993


def _base(base_date: int) -> datetime:
    if isinstance(base_date, bool) or not isinstance(base_date, int) or not 1900 <= base_date <= 2100:
        raise FieldError("base date", base_date, "a year such as 1993, 2014 or 2035")
    return datetime(base_date, 1, 1)


def tid_of(issued: datetime, base_date: int) -> int:
    """Whole minutes from ``base_date``-01-01 00:00 to ``issued`` (local wall clock, seconds dropped).

    As in the reference, an issue time of exactly 00:01 counts as 00:02 (sts.md §5.1). An
    aware datetime is read by its wall-clock fields.
    """
    if not isinstance(issued, datetime):
        raise FieldError("issue time", issued, "a datetime")
    wall = issued.replace(tzinfo=None)
    base = _base(base_date)
    if wall < base:
        raise TidRangeError("issue time", wall.isoformat(), f"on or after the base date {base_date}-01-01")
    minutes = (wall - base) // timedelta(minutes=1)
    if wall.hour == 0 and wall.minute == 1:
        minutes += 1
    if minutes > TID_MAX:
        last = (base + timedelta(minutes=TID_MAX)).isoformat(timespec="minutes")
        raise TidRangeError("issue time", wall.isoformat(timespec="minutes"),
                            f"at most {last}, where the 24-bit TID from base date {base_date} rolls over "
                            "(issue from a later base date after a key change)")
    return minutes


def issued_at(tid: int, base_date: int = DECODER_BASE_DATE) -> datetime:
    """The issue time (to the minute) a TID stands for."""
    return _base(base_date) + timedelta(minutes=tid)


def rollover(base_date: int) -> datetime:
    """The first minute a TID counted from ``base_date`` can no longer hold."""
    return _base(base_date) + timedelta(minutes=TID_MAX + 1)


# ----------------------------------------------------------------------------- amounts
MANTISSA = 1 << 14
_OFFSETS = (0, MANTISSA, MANTISSA * 11, MANTISSA * 111)   # sum of 16384 * 10^(i-1), i = 1..e
AMOUNT_MAX = (MANTISSA - 1) * 1000 + _OFFSETS[3]          # 18,201,624 (tenths or watts)


def amount_field(value: int, field: str = "amount") -> int:
    """The 16-bit field (exponent in bits 14-15, mantissa rounded up) for ``value``.

    ``value`` is in tenths of a unit for credit, in watts for power limits.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= AMOUNT_MAX:
        raise FieldError(field, value, f"an integer 0..{AMOUNT_MAX}")
    exponent = 0
    while exponent < 3 and value - _OFFSETS[exponent] >= MANTISSA * 10 ** exponent:
        exponent += 1
    # ceil((value - offset) / 10^e); a mantissa of 16384 carries into the next exponent's 0,
    # which stands for the same value, as the reference's plain addition does.
    mantissa = -((_OFFSETS[exponent] - value) // 10 ** exponent)
    return (exponent << 14) + mantissa


def amount_value(field: int) -> int:
    """The value (tenths or watts) a 16-bit amount field stands for."""
    exponent, mantissa = field >> 14, field & (MANTISSA - 1)
    return mantissa * 10 ** exponent + _OFFSETS[exponent]


def credit_tenths(units: Real | Decimal, field: str = "amount") -> int:
    """Units to tenths as the reference does: round up below 1 unit, truncate from 1 unit on."""
    if isinstance(units, bool) or not isinstance(units, (Real, Decimal)) or not math.isfinite(units) or units < 0:
        raise FieldError(field, units, "a finite number of units >= 0")
    scaled = units * 10
    tenths = math.ceil(scaled) if units < 1 else math.trunc(scaled)
    if tenths > AMOUNT_MAX:
        raise FieldError(field, units, f"at most {AMOUNT_MAX / 10} units")
    return int(tenths)
