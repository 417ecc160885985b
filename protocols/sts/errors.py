"""The errors of the STS codec: bad input is refused with a message naming the field.

Every one is a ``StsError`` (a ``ValueError``), so the edge of a program needs one ``except``.
A token that is well formed but that a meter would refuse is not an error: ``decode`` answers
it with a ``TokenResult`` (crc error, format, authentication, ...).
"""
from __future__ import annotations


class StsError(ValueError):
    """Base of everything the codec raises on bad input."""


class TokenTextError(StsError):
    """The token text is not 20 digits of a 66-bit number."""


class DecoderKeyError(StsError):
    """A decoder or vending key is missing, of the wrong length, not hex, or of the wrong algorithm."""


class FieldError(StsError):
    """A field value is out of its range: an amount, a TID, a PAN, an RND, a KRN..."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(f"invalid {field} {value!r}: expected {expected}")


class TidRangeError(FieldError):
    """The issue time is before the base date or past the 24-bit TID range (the rollover)."""


class KeyExpiredError(StsError):
    """The token's TID lies past what the key expiry number allows (the reference's rule)."""
