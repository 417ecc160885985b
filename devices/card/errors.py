"""What can go wrong between a reader and a utility card, as one family of clear exceptions.

Every error is a ``CardReaderError`` whose message says what happened, where, and what to do.
``code`` is a short stable name for programs (a meter display, a bench report). The card's own
refusals keep their status word (``CardRefused.sw``) and its meaning from the card profile.
"""
from __future__ import annotations

from protocols.utility_card.apdu import sw_meaning


class CardReaderError(Exception):
    """Base of the card reader role's errors."""

    code = "reader"


class PcscUnavailable(CardReaderError):
    """No PC/SC service answers (pcscd not running) or pyscard is missing."""

    code = "pcsc"


class ReaderGone(CardReaderError):
    """The reader vanished (unplugged, or pcscd stopped) during use."""

    code = "reader"


class ReaderNotFound(ReaderGone):
    """The named reader is not among the readers the system lists (never was, or not any more)."""

    code = "reader"


class NoCard(CardReaderError):
    """No card in the reader when one was needed."""

    code = "no_card"


class CardRemoved(CardReaderError):
    """The card left the reader (or lost power) in the middle of a transaction."""

    code = "removed"


class CardTimeout(CardReaderError):
    """No card arrived (or left) within the time given."""

    code = "timeout"


class CardDataError(CardReaderError):
    """The card answered, but with data this profile cannot read (an unknown card, a bad file)."""

    code = "format"


class BadCommand(CardReaderError):
    """Bytes that are not a command APDU (under 4 bytes): refused before they reach the card.
    vpcd would take a 1-byte command for a power control and wait for ever."""

    code = "format"


class CardRefused(CardReaderError):
    """The card answered a command with a status word other than 9000."""

    code = "refused"

    def __init__(self, what: str, sw: int, *, hint: str = "") -> None:
        self.what, self.sw, self.meaning = what, sw, sw_meaning(sw)
        super().__init__(f"{what}: card answered {sw:04X} ({self.meaning})" + (f"; {hint}" if hint else ""))


class AuthenticationFailed(CardReaderError):
    """Reader and card do not share the card's keys: a clone, a card of another utility, a wrong key."""

    code = "key"

    def __init__(self, message: str, *, sw: int | None = None) -> None:
        super().__init__(message)
        self.sw = sw
