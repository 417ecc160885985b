"""What can go wrong with a utility-card credit record, named as the meters in the field name it.

Every error is a :class:`CardError` (a ``ValueError``) with a short ``code`` and the ``field``
at fault. ``FIELD_ERRORS`` maps each code to the message a card meter shows; the codes this
package never raises (``expired``, ``memory``, ``tamper``) are listed so that the devices layer
reports them with the same vocabulary.
"""
from __future__ import annotations

FIELD_ERRORS: dict[str, str] = {
    "format": "unreadable card",
    "text": "credit code mistyped",
    "mac": "card data mismatch",
    "unit": "card data mismatch",
    "meter": "card not for this meter",
    "card": "card not for this meter",
    "count": "recharge-count mismatch",
    "hoarding": "credit above hoarding limit",
    "key": "key error",
    # Raised by the card and meter devices, not by this package:
    "expired": "card expired",
    "memory": "meter memory full",
    "tamper": "tamper",
}


class CardError(ValueError):
    """Base of this package's errors: ``code`` (a key of ``FIELD_ERRORS``) and ``field``."""

    code = "format"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    @property
    def field_message(self) -> str:
        """What a card meter would show for this error."""
        return FIELD_ERRORS[self.code]


class FormatError(CardError):
    """Truncated data, an unknown version or kind, a field out of range: unreadable card."""

    code = "format"


class TextError(FormatError):
    """The text form has a character outside the alphabet or its check characters disagree."""

    code = "text"


class MacError(CardError):
    """The MAC does not verify: tampered data, a record copied to another card, a wrong key."""

    code = "mac"


class CardKeyError(CardError):
    """A key of the wrong length or an unusable purpose label."""

    code = "key"


class MeterMismatch(CardError):
    """The record names another meter."""

    code = "meter"


class CardMismatch(CardError):
    """The card is not the one registered in this meter (for example a replaced, lost card)."""

    code = "card"


class UnitMismatch(CardError):
    """The record credits a unit or currency this meter does not hold."""

    code = "unit"


class CountMismatch(CardError):
    """The purchase count is two or more above the meter's: a purchase is missing."""

    code = "count"


class HoardingLimit(CardError):
    """Crediting would take the meter's credit above its hoarding limit."""

    code = "hoarding"


class ApduError(FormatError):
    """A malformed APDU or data object; ``sw`` is the status word a card answers to it."""

    code = "format"

    def __init__(self, message: str, *, field: str | None = None, sw: int = 0x6F00) -> None:
        super().__init__(message, field=field)
        self.sw = sw
