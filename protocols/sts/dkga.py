"""Decoder key generation: DKGA02 (DES based, STA keys) and DKGA04 (HMAC-SHA256, STA or MISTY1).

A vending system never stores meter keys: it derives each from its vending key and the
meter's identity (PAN, supply group code, tariff index, key revision and type), and so does
the bench. sts.md §6 and §7 give the recipes and their check values.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum

from .des import des_encrypt
from .errors import DecoderKeyError, FieldError
from .keys import Algorithm, DecoderKey, parse_hex
from ..luhn import check_digit

STS_IIN = "600727"
BASE_DATES = (1993, 2014, 2035)


class KeyType(IntEnum):
    """IEC 62055-41 decoder key types."""

    DITK = 0  # initialisation
    DDTK = 1  # default
    DUTK = 2  # unique
    DCTK = 3  # common


def luhn_digit(digits: str) -> str:
    """The Luhn check digit that completes ``digits``."""
    return check_digit(digits)


@dataclass(frozen=True)
class MeterPan:
    """An 18-digit meter PAN: issuer (IIN), the meter's own number (IAIN), a Luhn check digit."""

    iin: str
    iain: str

    @classmethod
    def parse(cls, text: str) -> MeterPan:
        digits = "".join(str(text).split()).replace("-", "")
        if len(digits) != 18 or not digits.isascii() or not digits.isdigit():
            raise FieldError("meter PAN", text, "18 digits")
        if digits.startswith(STS_IIN):
            pan = cls(STS_IIN, digits[6:17])
        elif digits.startswith("0000"):
            pan = cls("0000", digits[4:17])
        else:
            raise FieldError("meter PAN", text, f"an IIN of {STS_IIN} or 0000 at the start")
        if pan.digits != digits:
            raise FieldError("meter PAN", text, f"check digit {pan.digits[-1]} (Luhn), not {digits[-1]}")
        return pan

    @property
    def digits(self) -> str:
        body = self.iin + self.iain
        return body + luhn_digit(body)

    def block(self, key_type: int) -> int:
        """The PAN block of DKGA02: 16 digits read as hex; a common key (DCTK) zeroes the IAIN."""
        iin_tail = self.iin[-5:] if self.iin == STS_IIN else self.iin[-3:]
        iain = "0" * len(self.iain) if key_type == KeyType.DCTK else self.iain
        return int(iin_tail + iain, 16)


def _choice(field: str, value: object, allowed: range) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        raise FieldError(field, value, f"an integer {allowed.start}..{allowed.stop - 1}")
    return value


def _digits(field: str, value: str | int, width: int) -> str:
    text = f"{value:0{width}d}" if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else value
    if not isinstance(text, str) or len(text) != width or not text.isascii() or not text.isdigit():
        raise FieldError(field, value, f"{width} decimal digits")
    return text


def _vending_key(value: bytes | str, size: int, recipe: str) -> bytes:
    if isinstance(value, str):
        return parse_hex(value, f"{recipe} vending key", 2 * size).to_bytes(size, "big")
    if len(value) != size:
        raise DecoderKeyError(f"invalid {recipe} vending key: {len(value)} bytes, expected {size}")
    return bytes(value)


def dkga02(vending_key: bytes | str, *, pan: str | MeterPan, key_type: int, supply_group_code: str | int,
           tariff_index: str | int, key_revision: int) -> DecoderKey:
    """The STA decoder key of sts.md §6: DK = DES(VK, PANblock ^ CB) ^ (PANblock ^ CB) ^ VK."""
    vk = _vending_key(vending_key, 8, "DKGA02")
    meter = pan if isinstance(pan, MeterPan) else MeterPan.parse(pan)
    kt = _choice("key type", key_type, range(4))
    control = int(f"{kt}{_digits('supply group code', supply_group_code, 6)}"
                  f"{_digits('tariff index', tariff_index, 2)}{_choice('key revision number', key_revision, range(1, 10))}"
                  "FFFFFF", 16)
    x = meter.block(kt) ^ control
    e = int.from_bytes(des_encrypt(vk, x.to_bytes(8, "big")), "big")
    return DecoderKey(Algorithm.STA, e ^ x ^ int.from_bytes(vk, "big"))


def dkga04(vending_key: bytes | str, *, pan: str | MeterPan, key_type: int, supply_group_code: str | int,
           tariff_index: str | int, key_revision: int, base_date: int,
           algorithm: Algorithm = Algorithm.MISTY1) -> DecoderKey:
    """The decoder key of sts.md §7: HMAC-SHA256 over the key's identity, cut to 64 or 128 bits.

    ``base_date`` here is the key's own base date, written into the message; it is independent
    of the base date the TIDs count from.
    """
    vk = _vending_key(vending_key, 20, "DKGA04")
    meter = pan if isinstance(pan, MeterPan) else MeterPan.parse(pan)
    if base_date not in BASE_DATES:
        raise FieldError("DKGA04 base date", base_date, " or ".join(map(str, BASE_DATES)))
    kt = _choice("key type", key_type, range(4))
    krn = _choice("key revision number", key_revision, range(1, 10))
    bits = algorithm.key_bits
    message = b"".join((
        b"\x04\x02", b"04",
        b"\x02", f"{base_date % 100:02d}".encode(),
        b"\x02", algorithm.value.encode(),
        b"\x02", _digits("tariff index", tariff_index, 2).encode(),
        b"\x00\x04\x06", _digits("supply group code", supply_group_code, 6).encode(),
        b"\x01", f"{kt:X}".encode(),
        b"\x01", f"{krn:X}".encode(),
        b"\x12", meter.digits.encode(),
        b"\x00\x00\x00", bytes([bits]),
    ))
    digest = hmac.new(vk, message, hashlib.sha256).digest()
    return DecoderKey(algorithm, int.from_bytes(digest[:bits // 8], "big"))
