"""Decoder keys and the encryption algorithm each belongs to.

A ``DecoderKey`` is the meter's key as a plain big-endian number in standard byte order (the
reference stores and prints it byte-reversed; see ``reference_hex``): 64 bits for STA
(EA07), 128 bits for MISTY1 (EA11). It knows its cipher, so the codec just asks it to
encrypt or decrypt a 64-bit block.
"""
from __future__ import annotations

import string
from dataclasses import dataclass
from enum import Enum

from . import misty1, sta
from .errors import DecoderKeyError

_HEX = frozenset(string.hexdigits)


class Algorithm(Enum):
    """Token encryption algorithms with vectors in sts.md; the value is the EA code."""

    STA = "07"
    MISTY1 = "11"

    @property
    def key_bits(self) -> int:
        return 64 if self is Algorithm.STA else 128

    @property
    def label(self) -> str:
        return f"{self.name} (EA{self.value})"

    @classmethod
    def parse(cls, text: str) -> Algorithm:
        """'sta', 'ea07', '07', 'misty1', 'ea11' or '11' (any case)."""
        folded = text.strip().lower().removeprefix("ea")
        for algorithm in cls:
            if folded in (algorithm.name.lower(), algorithm.value):
                return algorithm
        raise DecoderKeyError(f"invalid algorithm {text!r}: expected sta (EA07) or misty1 (EA11)")


def parse_hex(text: str, what: str, digits: int) -> int:
    """``text`` as a number of exactly ``digits`` hex digits (spaces, ':' and a 0x prefix allowed)."""
    cleaned = "".join(text.split()).replace(":", "")
    if cleaned[:2].lower() == "0x":
        cleaned = cleaned[2:]
    for position, ch in enumerate(cleaned, 1):
        if ch not in _HEX:
            raise DecoderKeyError(f"invalid {what} {text!r}: {ch!r} at position {position} is not a hex digit")
    if len(cleaned) != digits:
        raise DecoderKeyError(f"invalid {what} {text!r}: {len(cleaned)} hex digits, expected {digits}")
    return int(cleaned, 16)


@dataclass(frozen=True)
class DecoderKey:
    """A meter's decoder key: ``value`` is the key in standard (big-endian) byte order."""

    algorithm: Algorithm
    value: int

    def __post_init__(self) -> None:
        if not isinstance(self.algorithm, Algorithm):
            raise DecoderKeyError(f"invalid algorithm {self.algorithm!r}: expected an Algorithm")
        bits = self.algorithm.key_bits
        if isinstance(self.value, bool) or not isinstance(self.value, int) or not 0 <= self.value < 1 << bits:
            raise DecoderKeyError(f"invalid decoder key {self.value!r}: expected a {bits}-bit number "
                                  f"for {self.algorithm.label}")

    @classmethod
    def from_hex(cls, text: str, algorithm: Algorithm = Algorithm.STA) -> DecoderKey:
        """A key typed as hex, standard byte order: 16 digits for STA, 32 for MISTY1."""
        return cls(algorithm, parse_hex(text, f"{algorithm.label} decoder key", algorithm.key_bits // 4))

    def hex(self) -> str:
        return f"{self.value:0{self.algorithm.key_bits // 4}x}"

    def reference_hex(self) -> str:
        """The key as the reference prints it: bytes reversed, leading zeros dropped."""
        size = self.algorithm.key_bits // 8
        return f"{int.from_bytes(self.value.to_bytes(size, 'big'), 'little'):x}"

    def encrypt(self, block: int) -> int:
        if self.algorithm is Algorithm.STA:
            return sta.encrypt(block, self.value)
        return misty1.encrypt(block, self.value)

    def decrypt(self, block: int) -> int:
        if self.algorithm is Algorithm.STA:
            return sta.decrypt(block, self.value)
        return misty1.decrypt(block, self.value)

    def __repr__(self) -> str:
        return f"DecoderKey({self.algorithm.name}, 0x{self.hex()})"
