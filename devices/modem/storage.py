"""SIM message storage ("SM"): numbered slots holding TPDUs with their 27.005 status.

A real SIM holds a few dozen messages; when it is full the handset refuses new SMS (the
network keeps them) and ``AT+CMGW`` answers ``+CMS ERROR: 322``. Benches that never delete
read OTPs hit this after a few hundred top-ups, so the model keeps the limit.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols.at.sms import STATUSES


class StorageFull(Exception):
    pass


class BadIndex(Exception):
    pass


@dataclass
class Stored:
    tpdu: bytes
    stat: str        # "REC UNREAD", "REC READ", "STO UNSENT" or "STO SENT"


# AT+CMGD=<index>,<delflag>: which statuses each flag deletes (flag 0 deletes <index> only).
DELETE_FLAGS = {1: ("REC READ",), 2: ("REC READ", "STO SENT"),
                3: ("REC READ", "STO SENT", "STO UNSENT"), 4: STATUSES[:4]}


class SimStorage:
    """Slots 1..capacity; the lowest free slot is used first, as SIMs do."""

    name = "SM"

    def __init__(self, capacity: int = 30) -> None:
        if not isinstance(capacity, int) or not 1 <= capacity <= 255:
            raise ValueError(f"SIM storage capacity {capacity!r}; expected 1-255 messages")
        self.capacity = capacity
        self._slots: dict[int, Stored] = {}

    @property
    def used(self) -> int:
        return len(self._slots)

    def free(self) -> int:
        return self.capacity - len(self._slots)

    def check_index(self, index: int) -> None:
        if not 1 <= index <= self.capacity:
            raise BadIndex(f"index {index}; this SIM has slots 1-{self.capacity}")

    def store(self, tpdu: bytes, stat: str) -> int:
        for index in range(1, self.capacity + 1):
            if index not in self._slots:
                self._slots[index] = Stored(tpdu, stat)
                return index
        raise StorageFull(f"all {self.capacity} slots are used")

    def get(self, index: int) -> Stored:
        self.check_index(index)
        if index not in self._slots:
            raise BadIndex(f"slot {index} is empty")
        return self._slots[index]

    def mark_read(self, index: int) -> None:
        stored = self._slots.get(index)
        if stored is not None and stored.stat == "REC UNREAD":
            stored.stat = "REC READ"

    def delete(self, index: int, flag: int = 0) -> int:
        """Delete ``index`` (flag 0) or every message of the flag's statuses; how many went."""
        if flag == 0:
            self.check_index(index)
            return 1 if self._slots.pop(index, None) is not None else 0
        doomed = [i for i, s in self._slots.items() if s.stat in DELETE_FLAGS[flag]]
        for i in doomed:
            del self._slots[i]
        return len(doomed)

    def listing(self, stat: str) -> list[tuple[int, Stored]]:
        """Messages of ``stat`` ("ALL" for every one) in index order."""
        return [(i, s) for i, s in sorted(self._slots.items()) if stat == "ALL" or s.stat == stat]
