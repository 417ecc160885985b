"""A card's non-volatile memory with anti-tearing: a write pulled half-way leaves the old content.

Smart cards lose power whenever the card leaves the slot, possibly in the middle of an EEPROM
write. Each file here therefore has two copies and a one-byte selector naming the valid one.
An update writes the whole new content into the other copy, byte by byte (the part a power cut
can interrupt), and only then writes the selector (a single byte, which EEPROM writes
atomically). A cut before the selector leaves the old content; after it, the new; never a mix.

``arm_power_cut(after)`` is the test hook: power is lost after ``after`` more byte writes, and
the write raises ``PowerLoss`` the way the card's chip would simply stop. Everything else in the
memory (the copies, the selectors, the counters) is what survives.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class PowerLoss(Exception):
    """The card lost power in the middle of a non-volatile write (the card was pulled)."""


@dataclass
class _File:
    copies: list[bytearray]
    selector: int = 0


@dataclass
class Eeprom:
    """Named files of fixed size, each updated atomically; ``byte_writes`` counts wear."""

    sizes: dict[str, int]
    initial: dict[str, bytes] = field(default_factory=dict)
    byte_writes: int = 0
    _cut_after: int | None = None

    def __post_init__(self) -> None:
        self._files: dict[str, _File] = {}
        for name, size in self.sizes.items():
            content = bytes(self.initial.get(name, bytes(size)))
            if len(content) != size:
                raise ValueError(f"eeprom file {name}: initial content of {len(content)} bytes; "
                                 f"expected {size}")
            self._files[name] = _File([bytearray(content), bytearray(size)])

    def read(self, name: str) -> bytes:
        f = self._files[name]
        return bytes(f.copies[f.selector])

    def size(self, name: str) -> int:
        return self.sizes[name]

    def write(self, name: str, offset: int, data: bytes) -> None:
        """Put ``data`` at ``offset`` of file ``name``: all of it, or (after a power cut) none."""
        f = self._files[name]
        current = f.copies[f.selector]
        if offset < 0 or offset + len(data) > len(current):
            raise ValueError(f"eeprom file {name}: {len(data)} bytes at {offset} exceed its "
                             f"{len(current)} bytes")
        new = bytearray(current)
        new[offset:offset + len(data)] = data
        spare = f.copies[1 - f.selector]
        for i, b in enumerate(new):
            self._tick()
            spare[i] = b
        self._tick()
        f.selector = 1 - f.selector          # the one atomic byte that commits the update

    def _tick(self) -> None:
        if self._cut_after is not None:
            if self._cut_after <= 0:
                self._cut_after = None
                raise PowerLoss("power lost during an EEPROM write")
            self._cut_after -= 1
        self.byte_writes += 1

    def arm_power_cut(self, after: int) -> None:
        """Lose power after ``after`` more byte writes (0: at the first one); None disarms."""
        self._cut_after = after

    def disarm(self) -> None:
        self._cut_after = None

    @property
    def armed(self) -> bool:
        return self._cut_after is not None

    def image(self) -> dict[str, bytes]:
        """The valid content of every file: what a reader would see after power-up."""
        return {name: self.read(name) for name in self._files}
