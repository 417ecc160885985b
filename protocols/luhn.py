"""The Luhn (mod 10) check digit of ISO/IEC 7812-1: card numbers, STS meter numbers, IMEIs.

One implementation for everyone who makes or checks such numbers; callers validate that the
text is ASCII digits first (these functions assume it).
"""
from __future__ import annotations


def check_digit(digits: str) -> str:
    """The digit that makes ``digits + digit`` Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = (ord(ch) - 48) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def valid(number: str) -> bool:
    """True when the last digit of ``number`` is the Luhn check digit of the others."""
    return len(number) >= 2 and check_digit(number[:-1]) == number[-1]
