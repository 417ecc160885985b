"""The text form of an encoded record, for bank apps, e-wallets and SMS: Crockford base32.

``to_text`` writes the bytes as base32 symbols of Crockford's alphabet (digits and capitals
without I, L, O, U), then two check symbols, in groups of four joined by '-'. ``from_text``
accepts lowercase, spaces or no separators, Arabic-Indic and Persian digits, and reads I and
L as 1 and O as 0, as people mistype them.

Check symbols: the data symbols read as one base-32 number N, and ``N mod 1021`` written as two
symbols. 1021 is a prime above 32 and is not 31, so any single mistyped symbol (N changes by
d*32^k with 0 < |d| < 32) and any swap of two neighbouring symbols (N changes by 31*d*32^k) is
always caught. The text carries no key: the MAC inside the record still decides.
"""
from __future__ import annotations

import unicodedata

from protocols.utility_card.errors import TextError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_MODULUS = 1021
GROUP = 4
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_VALUE.update({"I": 1, "L": 1, "O": 0})


def _symbols(data: bytes) -> list[int]:
    bits = 8 * len(data)
    count = -(-bits // 5)
    number = int.from_bytes(data, "big") << (5 * count - bits)
    return [(number >> (5 * (count - 1 - i))) & 31 for i in range(count)]


def _check(symbols: list[int]) -> list[int]:
    number = 0
    for s in symbols:
        number = number * 32 + s
    value = number % CHECK_MODULUS
    return [value >> 5, value & 31]


def to_text(data: bytes) -> str:
    """The text form of an encoded record (or any bytes)."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise TextError(f"data: expected non-empty bytes, got {data!r:.40}", field="data")
    symbols = _symbols(bytes(data))
    text = "".join(ALPHABET[s] for s in symbols + _check(symbols))
    return "-".join(text[i:i + GROUP] for i in range(0, len(text), GROUP))


def _value(ch: str, position: int) -> int:
    digit = unicodedata.decimal(ch, None)
    value = _VALUE.get(str(digit) if digit is not None else ch.upper())
    if value is None:
        raise TextError(f"credit text: {ch!r} at position {position} is not a code character; "
                        f"expected digits and letters except U", field="text")
    return value


def from_text(text: str) -> bytes:
    """The bytes of a text form, once its check symbols agree."""
    if not isinstance(text, str):
        raise TextError(f"credit text: expected a string, got {type(text).__name__}", field="text")
    symbols = [_value(ch, i) for i, ch in enumerate(text) if ch not in " -\t\r\n"]
    if len(symbols) < 4:
        raise TextError(f"credit text: {len(symbols)} characters; expected the whole code",
                        field="text")
    data, check = symbols[:-2], symbols[-2:]
    count = len(data)
    size, spare = divmod(5 * count, 8)
    if spare >= 5 or _check(data) != check:
        raise TextError("credit text: the check characters do not match; a character is "
                        "mistyped, missing or extra; expected the code exactly as issued",
                        field="text")
    number = 0
    for s in data:
        number = number * 32 + s
    if number & ((1 << spare) - 1):
        raise TextError("credit text: the last character is not one the issuer writes; "
                        "expected the code exactly as issued", field="text")
    return (number >> spare).to_bytes(size, "big")
