"""The token types and their 64-bit data blocks (sts.md §3).

Each token type is a frozen dataclass whose fields, in order, fill bits 16-59 of the block
from the least significant end, each with the width in its metadata; bits 60-63 hold the
subclass and bits 0-15 the CRC (added by the codec). Fields hold wire values, so decoding
gives back exactly what was encoded; ``of(...)`` constructors and properties translate to
units and watts. A value too wide for its field is refused when the token is made; a value
that fits but that a meter would refuse (a KRN of 0, a tariff index of 120) is allowed, so a
bench can make such tokens, and ``range_problem`` says what is wrong with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from numbers import Real
from typing import ClassVar

from .errors import FieldError
from .fields import DECODER_BASE_DATE, amount_field, amount_value, credit_tenths, issued_at


class TokenClass(IntEnum):
    CREDIT = 0                  # encrypted, meter specific
    NON_METER_SPECIFIC = 1      # not encrypted: test and display tokens any meter takes
    METER_SPECIFIC = 2          # encrypted management tokens, key change among them


TOKEN_TYPES: dict[tuple[int, int], type[Token]] = {}


def _bits(width: int) -> int:
    return field(metadata={"bits": width})


def _register(cls: type[Token]) -> type[Token]:
    cls.layout = tuple((f.name, f.metadata["bits"]) for f in fields(cls))
    assert sum(width for _, width in cls.layout) == 44, cls
    TOKEN_TYPES[(cls.token_class, cls.subclass)] = cls
    return cls


@dataclass(frozen=True)
class Token:
    """Common behaviour; see the concrete types below."""

    token_class: ClassVar[int]
    subclass: ClassVar[int]
    layout: ClassVar[tuple[tuple[str, int], ...]] = ()

    def __post_init__(self) -> None:
        for name, width in self.layout:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << width:
                raise FieldError(f"{type(self).__name__}.{name}", value,
                                 f"an integer 0..{(1 << width) - 1} ({width} bits)")

    def block(self) -> int:
        """Bits 16-63 of the data block, CRC bits left 0."""
        block, shift = 0, 16
        for name, width in self.layout:
            block |= getattr(self, name) << shift
            shift += width
        return block | self.subclass << 60

    @classmethod
    def from_block(cls, block: int) -> Token:
        """The token whose fields bits 16-59 of ``block`` hold (every value fits: no checks needed)."""
        token, shift = object.__new__(cls), 16
        for name, width in cls.layout:
            token.__dict__[name] = block >> shift & ((1 << width) - 1)
            shift += width
        return token

    def range_problem(self) -> str | None:
        """Why a meter would refuse this token as out of range, or None."""
        return None


@dataclass(frozen=True)
class _Identified(Token):
    """Tokens with a 16-bit value, a TID (minutes since the base date) and a 4-bit random number."""

    def issued(self, base_date: int = DECODER_BASE_DATE) -> datetime:
        return issued_at(self.tid, base_date)  # type: ignore[attr-defined]  # a field of each subtype


# ----------------------------------------------------------------------------- class 0
@dataclass(frozen=True)
class _CreditTransfer(_Identified):
    token_class = TokenClass.CREDIT
    amount_field: int = _bits(16)
    tid: int = _bits(24)
    rnd: int = _bits(4)

    @classmethod
    def of(cls, units: Real | Decimal, *, tid: int, rnd: int = 0) -> _CreditTransfer:
        """A credit of ``units`` (kWh, m3...): tenths as the reference rounds them (sts.md §5.2)."""
        return cls(amount_field(credit_tenths(units), "amount"), tid, rnd)

    @property
    def tenths(self) -> int:
        return amount_value(self.amount_field)

    @property
    def units(self) -> float:
        return self.tenths / 10


@_register
@dataclass(frozen=True)
class TransferElectricityCredit(_CreditTransfer):
    subclass = 0


@_register
@dataclass(frozen=True)
class TransferWaterCredit(_CreditTransfer):
    subclass = 1


@_register
@dataclass(frozen=True)
class TransferGasCredit(_CreditTransfer):
    subclass = 2


# ----------------------------------------------------------------------------- class 1
@_register
@dataclass(frozen=True)
class InitiateMeterTestOrDisplay1(Token):
    """Test or display request for meters with a 2-digit manufacturer code."""

    token_class = TokenClass.NON_METER_SPECIFIC
    subclass = 0
    manufacturer_code: int = _bits(8)
    control: int = _bits(36)


@_register
@dataclass(frozen=True)
class InitiateMeterTestOrDisplay2(Token):
    """Test or display request for meters with a 4-digit manufacturer code."""

    token_class = TokenClass.NON_METER_SPECIFIC
    subclass = 1
    manufacturer_code: int = _bits(16)
    control: int = _bits(28)


# ----------------------------------------------------------------------------- class 2
@dataclass(frozen=True)
class _PowerLimit(_Identified):
    token_class = TokenClass.METER_SPECIFIC
    limit_field: int = _bits(16)
    tid: int = _bits(24)
    rnd: int = _bits(4)

    @classmethod
    def of(cls, watts: int, *, tid: int, rnd: int = 0) -> _PowerLimit:
        """A limit in watts, in the amount encoding without the x10 (sts.md §5.2)."""
        return cls(amount_field(watts, "limit (W)"), tid, rnd)

    @property
    def watts(self) -> int:
        return amount_value(self.limit_field)


@_register
@dataclass(frozen=True)
class SetMaximumPowerLimit(_PowerLimit):
    subclass = 0


@_register
@dataclass(frozen=True)
class SetMaximumPhasePowerUnbalanceLimit(_PowerLimit):
    subclass = 6


@_register
@dataclass(frozen=True)
class ClearCredit(_Identified):
    token_class = TokenClass.METER_SPECIFIC
    subclass = 1
    register: int = _bits(16)
    tid: int = _bits(24)
    rnd: int = _bits(4)


@_register
@dataclass(frozen=True)
class SetTariffRate(_Identified):
    token_class = TokenClass.METER_SPECIFIC
    subclass = 2
    rate: int = _bits(16)
    tid: int = _bits(24)
    rnd: int = _bits(4)


@_register
@dataclass(frozen=True)
class ClearTamperCondition(_Identified):
    token_class = TokenClass.METER_SPECIFIC
    subclass = 5
    pad: int = _bits(16)
    tid: int = _bits(24)
    rnd: int = _bits(4)


@_register
@dataclass(frozen=True)
class SetWaterMeterFactor(_Identified):
    token_class = TokenClass.METER_SPECIFIC
    subclass = 7
    factor: int = _bits(16)
    tid: int = _bits(24)
    rnd: int = _bits(4)


@_register
@dataclass(frozen=True)
class Set1stSectionDecoderKey(Token):
    """High 32 bits of the new key, its type and revision, the high nibble of the KEN."""

    token_class = TokenClass.METER_SPECIFIC
    subclass = 3
    nkho: int = _bits(32)
    key_type: int = _bits(2)
    res: int = _bits(1)
    rollover: int = _bits(1)
    key_revision: int = _bits(4)
    kenho: int = _bits(4)

    def range_problem(self) -> str | None:
        return None if 1 <= self.key_revision <= 9 else f"key revision number {self.key_revision}: expected 1..9"


@_register
@dataclass(frozen=True)
class Set2ndSectionDecoderKey(Token):
    """Low 32 bits of the new key, the new tariff index, the low nibble of the KEN."""

    token_class = TokenClass.METER_SPECIFIC
    subclass = 4
    nklo: int = _bits(32)
    tariff_index: int = _bits(8)
    kenlo: int = _bits(4)

    def range_problem(self) -> str | None:
        return None if self.tariff_index <= 99 else f"tariff index {self.tariff_index}: expected 0..99"


@_register
@dataclass(frozen=True)
class Set3rdSectionDecoderKey(Token):
    """MISTY1 only: key bits 95-64 and the supply group code's low 12 bits."""

    token_class = TokenClass.METER_SPECIFIC
    subclass = 8
    nkmo2: int = _bits(32)
    sgc_low: int = _bits(12)


@_register
@dataclass(frozen=True)
class Set4thSectionDecoderKey(Token):
    """MISTY1 only: key bits 63-32 and the supply group code's high 12 bits."""

    token_class = TokenClass.METER_SPECIFIC
    subclass = 9
    nkmo1: int = _bits(32)
    sgc_high: int = _bits(12)

    def range_problem(self) -> str | None:
        most = 999_999 >> 12
        return None if self.sgc_high <= most else f"supply group code high bits {self.sgc_high}: expected 0..{most}"


KeyChangeSection = Set1stSectionDecoderKey | Set2ndSectionDecoderKey | Set3rdSectionDecoderKey \
    | Set4thSectionDecoderKey
KEY_CHANGE_TYPES = (Set1stSectionDecoderKey, Set2ndSectionDecoderKey, Set3rdSectionDecoderKey,
                    Set4thSectionDecoderKey)
MISTY1_ONLY = (Set3rdSectionDecoderKey, Set4thSectionDecoderKey)
