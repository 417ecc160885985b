"""The card reader role: a PC/SC reader and the utility card of docs/card-profile.md.

One interface, three faces (ARCHITECTURE.md), chosen by name::

    from devices.card import open_card_reader, UtilityCard, MemoryCard

    card = MemoryCard.manufacture("04A1B2C3D4E5F607", master_key, rng=random.Random(1))
    with open_card_reader("emulator", card=card) as reader:     # or "model", or "driver"
        session = UtilityCard(reader, rng=random.Random(2)).start()
        session.authenticate(master_key)
        print(session.read_contents())

- ``model``: ``MemoryReader`` holding ``card`` in memory; no OS, no time.
- ``emulator``: ``card`` served by a ``VirtualCard`` to vpcd reader ``index`` (0 or 1), driven
  through the real PC/SC path by the driver: pyscard -> pcscd -> vpcd -> our card. Needs a
  running pcscd (``python -m hil.pcsc start``); holds that vpcd port for this process alone.
- ``driver``: ``PcscReader(reader)`` on a real reader by name, for the bench.

Files: ``interface`` (``CardReaderPort``, ``CardSlot``), ``session`` (``UtilityCard``, the card
profile from the reader's side, and ``TIMING_APDU``), ``model``, ``virtual_card``, ``driver``,
``errors``. The card itself (APDUs, files, crypto) lives in ``protocols.utility_card``.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Literal

from devices.card.driver import PcscReader
from devices.card.errors import (
    AuthenticationFailed, BadCommand, CardDataError, CardReaderError, CardRefused, CardRemoved, CardTimeout, NoCard,
    PcscUnavailable, ReaderGone, ReaderNotFound,
)
from devices.card.interface import CardReaderPort, CardSlot
from devices.card.model import MemoryCard, MemoryReader
from devices.card.session import TIMING_APDU, CardContents, UtilityCard
from devices.card.virtual_card import VirtualCard, port_lock

VPCD_READERS = {0: ("Virtual PCD 00 00", 35963), 1: ("Virtual PCD 00 01", 35964)}
Face = Literal["model", "emulator", "driver"]

__all__ = [
    "AuthenticationFailed", "BadCommand", "CardContents", "CardDataError", "CardReaderError", "CardReaderPort",
    "CardRefused", "CardRemoved", "CardSlot", "CardTimeout", "EmulatedReader", "MemoryCard",
    "MemoryReader", "NoCard", "PcscReader", "PcscUnavailable", "ReaderGone", "ReaderNotFound",
    "TIMING_APDU", "UtilityCard", "VPCD_READERS", "VirtualCard", "open_card_reader",
]


class EmulatedReader(PcscReader):
    """The driver on a vpcd reader, with the hands of ``CardSlot`` on the virtual card behind it."""

    def __init__(self, virtual_card: VirtualCard, name: str) -> None:
        super().__init__(name)
        self.virtual_card = virtual_card

    @property
    def card(self) -> MemoryCard:
        return self.virtual_card.card

    def insert(self, timeout: float = 5.0) -> None:
        """Insert the virtual card and wait until pcscd sees it. A card put back before pcscd
        noticed it leave would talk to vpcd's stale connection, so wait for that first."""
        if not self.virtual_card.inserted:
            self.wait_for_removal(timeout)
        self.virtual_card.insert(timeout)
        self.wait_for_card(timeout)

    def remove(self, timeout: float = 5.0) -> None:
        self.virtual_card.remove()
        self.wait_for_removal(timeout)

    def pull_during_write(self, after_bytes: int = 0) -> None:
        self.virtual_card.pull_during_write(after_bytes)


def _card(params: dict) -> MemoryCard:
    card = params.pop("card", None)
    if card is None:
        try:
            card = MemoryCard.manufacture(params.pop("serial"), params.pop("master_key"),
                                          rng=params.pop("rng", None) or random.Random(0))
        except KeyError as e:
            raise TypeError(f"open_card_reader: give card=MemoryCard(...) or serial=, master_key= "
                            f"(missing {e})") from None
    return card


@contextlib.contextmanager
def open_card_reader(face: Face, **params: object) -> Iterator[CardReaderPort]:
    """A reader of the given face; closed (and its virtual card pulled) on exit.

    model: ``card`` (or ``serial``, ``master_key``, ``rng``), ``name``.
    emulator: the same card parameters, ``index`` (vpcd reader 0 or 1), ``insert`` (default True),
    ``lock_timeout`` (s). driver: ``reader`` (its PC/SC name).
    """
    if face == "model":
        card = _card(params)
        reader = MemoryReader(card, **({"name": params.pop("name")} if "name" in params else {}))
    elif face == "emulator":
        card = _card(params)
        index = params.pop("index", 0)
        if index not in VPCD_READERS:
            raise ValueError(f"index: {index!r}; expected 0 or 1 (vpcd has two readers)")
        name, port = VPCD_READERS[index]
        insert, lock_timeout = params.pop("insert", True), float(params.pop("lock_timeout", 300.0))
        if params:
            raise TypeError(f"open_card_reader('emulator'): unexpected parameters {sorted(params)}")
        with port_lock(port, lock_timeout):
            reader = EmulatedReader(VirtualCard(card, port=port), name)
            try:
                if name not in reader.readers():
                    raise ReaderNotFound(f"pcscd does not list '{name}' (readers: {reader.readers()}): "
                                         "is the vpcd driver installed (`./rb setup` as root)?")
                if insert:
                    reader.insert()
                yield reader
            finally:
                reader.disconnect()
                reader.virtual_card.remove()
                with contextlib.suppress(CardReaderError):
                    reader.wait_for_removal(5.0)      # leave vpcd clean for the next user
                reader.close()
        return
    elif face == "driver":
        try:
            name = params.pop("reader")
        except KeyError:
            raise TypeError("open_card_reader('driver'): give reader='<PC/SC reader name>'") from None
        reader = PcscReader(name)
        if name not in reader.readers():
            names = reader.readers()
            reader.close()
            raise ReaderNotFound(f"reader '{name}' is not connected; readers now: {names or 'none'}")
    else:
        raise ValueError(f"face: {face!r}; expected 'model', 'emulator' or 'driver'")
    if params:
        reader.close()
        raise TypeError(f"open_card_reader({face!r}): unexpected parameters {sorted(params)}")
    try:
        yield reader
    finally:
        reader.close()
