"""The card reader role's interface: what every face (model, emulator, driver) offers.

``CardReaderPort`` is one reader slot as PC/SC shows it: list readers, wait for a card to come
or go, power it up (``connect`` returns its ATR), exchange APDUs. It knows nothing of utility
cards; ``session.UtilityCard`` speaks the card profile over any port. ``CardSlot`` is what a
bench (or a test) does with its hands: insert and pull the card, even in the middle of a write;
the model and the emulator have it, a real reader on the bench does not.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from devices.card.errors import BadCommand
from protocols.utility_card.apdu import Command, Response


@runtime_checkable
class CardReaderPort(Protocol):
    """One reader. Errors are ``errors.CardReaderError`` subclasses, never PC/SC codes."""

    name: str

    def readers(self) -> list[str]:
        """Every reader the system lists now (this one included while it is plugged in)."""
        ...

    def card_present(self) -> bool: ...

    def wait_for_card(self, timeout: float) -> None:
        """Return once a card is in the reader; ``CardTimeout`` after ``timeout`` seconds."""
        ...

    def wait_for_removal(self, timeout: float) -> None:
        """Return once the reader is empty; ``CardTimeout`` after ``timeout`` seconds."""
        ...

    def connect(self) -> bytes:
        """Power the card up and return its ATR (``NoCard`` when the reader is empty)."""
        ...

    def transmit(self, command: bytes | Command) -> Response:
        """Send one command APDU, return the response APDU (any status word; it does not raise
        for a refusal, only for a card or reader that is gone)."""
        ...

    def disconnect(self) -> None:
        """Power the card down (its volatile state, such as an authenticated session, is lost)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class CardSlot(Protocol):
    """Hands on the card: the model and emulator faces have them; a real bench reader does not."""

    def insert(self) -> None: ...

    def remove(self) -> None: ...

    def pull_during_write(self, after_bytes: int = 0) -> None:
        """Pull the card after ``after_bytes`` more EEPROM byte writes (the next write tears)."""
        ...


def check_command(command: bytes | Command) -> bytes:
    """The bytes of ``command``; ``BadCommand`` when they cannot be an APDU (under 4 bytes)."""
    raw = command.encode() if isinstance(command, Command) else bytes(command)
    if len(raw) < 4:
        raise BadCommand(f"command {raw.hex().upper() or '(empty)'}: {len(raw)} bytes; expected at "
                         "least 4 (CLA INS P1 P2)")
    return raw
