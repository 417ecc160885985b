"""The model face: a utility card and a reader in memory, the same card the emulator serves.

``MemoryCard`` is the physical card: the card application (protocols.utility_card.application)
plus its ATR and power. ``MemoryReader`` is a reader slot with hands: ``insert``, ``remove``,
``pull_during_write`` (the card leaves while the EEPROM is being written), ``unplug`` (the
reader itself vanishes). No time passes here: a simulation calls it at event times.

    card = MemoryCard.manufacture("04A1B2C3D4E5F607", master_key, rng=random.Random(1))
    reader = MemoryReader(card)                  # card inserted
    session = UtilityCard(reader).start()
"""
from __future__ import annotations

import random
import threading

from devices.card.errors import CardRemoved, CardTimeout, NoCard, ReaderGone
from devices.card.interface import check_command
from protocols.utility_card.apdu import Command, Response
from protocols.utility_card.application import CardApplication
from protocols.utility_card.card_files import ATR
from protocols.utility_card.eeprom import PowerLoss


class MemoryCard:
    """A card: its application (EEPROM and all), its ATR, and whether it has power."""

    def __init__(self, application: CardApplication, *, atr: bytes = ATR) -> None:
        self.application, self.atr = application, atr
        self.powered = False

    @classmethod
    def manufacture(cls, card_serial: str | bytes, master_key: bytes, *, rng: random.Random) -> MemoryCard:
        return cls(CardApplication.manufacture(card_serial, master_key, rng=rng))

    @property
    def serial(self) -> str:
        return self.application.card_serial

    @property
    def memory(self):  # type: ignore[no-untyped-def]
        return self.application.memory

    def power_on(self) -> bytes:
        self.powered = True
        self.application.power_on()
        return self.atr

    def power_off(self) -> None:
        self.powered = False
        self.application.reset()             # volatile state is lost with the power

    def process(self, apdu: bytes) -> bytes:
        """The response to ``apdu``; ``PowerLoss`` when a pull was armed for this write."""
        try:
            return self.application.process(apdu)
        except PowerLoss:
            self.power_off()
            raise


class MemoryReader:
    """A reader slot in memory implementing ``CardReaderPort`` and ``CardSlot``."""

    def __init__(self, card: MemoryCard | None = None, *, name: str = "Memory Reader 00") -> None:
        self.name = name
        self._card: MemoryCard | None = None
        self._last: MemoryCard | None = card
        self._connected = False
        self._plugged = True
        self._changed = threading.Condition()
        self.apdus = 0
        if card is not None:
            self.insert(card)

    # -- hands

    @property
    def card(self) -> MemoryCard | None:
        return self._card

    def insert(self, card: MemoryCard | None = None) -> None:
        """Put ``card`` (default: the last card seen) into the slot."""
        card = card or self._last
        if card is None:
            raise NoCard(f"{self.name}: no card to insert; pass a MemoryCard")
        with self._changed:
            self._card, self._last, self._connected = card, card, False
            self._changed.notify_all()

    def remove(self) -> None:
        with self._changed:
            if self._card is not None:
                self._card.power_off()
            self._card, self._connected = None, False
            self._changed.notify_all()

    def pull_during_write(self, after_bytes: int = 0) -> None:
        if self._card is None:
            raise NoCard(f"{self.name}: no card to pull")
        self._card.memory.arm_power_cut(after_bytes)

    def unplug(self) -> None:
        """The reader vanishes (USB cable out): every call now raises ``ReaderGone``."""
        with self._changed:
            self._plugged, self._connected = False, False
            self._changed.notify_all()

    def plug(self) -> None:
        with self._changed:
            self._plugged = True
            self._changed.notify_all()

    # -- CardReaderPort

    def _check_plugged(self) -> None:
        if not self._plugged:
            raise ReaderGone(f"reader '{self.name}' is gone (unplugged); plug it back in and start again")

    def readers(self) -> list[str]:
        return [self.name] if self._plugged else []

    def card_present(self) -> bool:
        self._check_plugged()
        return self._card is not None

    def _wait(self, want_card: bool, timeout: float) -> None:
        with self._changed:
            ok = self._changed.wait_for(lambda: not self._plugged or (self._card is not None) == want_card,
                                        timeout=timeout)
            self._check_plugged()
            if not ok:
                what = "a card" if want_card else "the card to be removed"
                raise CardTimeout(f"{self.name}: waited {timeout:g} s for {what}")

    def wait_for_card(self, timeout: float) -> None:
        self._wait(True, timeout)

    def wait_for_removal(self, timeout: float) -> None:
        self._wait(False, timeout)

    def connect(self) -> bytes:
        self._check_plugged()
        if self._card is None:
            raise NoCard(f"{self.name}: no card in the reader; insert one")
        self._connected = True
        return self._card.power_on()

    def transmit(self, command: bytes | Command) -> Response:
        self._check_plugged()
        raw = check_command(command)
        card = self._card
        if card is None or not self._connected:
            raise CardRemoved(f"{self.name}: the card was removed (or never connected) before "
                              f"{raw[:4].hex().upper()}; insert it and start a new session")
        self.apdus += 1
        try:
            return Response.decode(card.process(raw))
        except PowerLoss:
            self.remove()
            raise CardRemoved(f"{self.name}: the card was pulled during {raw[:4].hex().upper()} "
                              "(power lost mid-write); its memory kept the old or the new content, "
                              "never a mix: reinsert it and read it back") from None

    def disconnect(self) -> None:
        if self._card is not None and self._connected:
            self._card.power_off()
        self._connected = False

    def close(self) -> None:
        self.disconnect()
