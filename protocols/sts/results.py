"""What a meter answers to a token, and the TID memory it needs to tell "old" and "used".

``decode`` alone can tell a token that fails its CRC or authentication, has an unknown
format, is out of range, or comes under an expired or unsuitable key. Whether a credit
token was already used, or is older than anything the meter still remembers, depends on the
meter's history: ``TidMemory`` keeps that history for a meter model. "Overflow" (the credit
register cannot take the amount) depends on the meter's register and is the model's to say.
"""
from __future__ import annotations

import heapq
from enum import Enum


class TokenResult(Enum):
    ACCEPTED = "accepted"
    OLD = "old"                        # older than every TID the meter remembers
    USED = "used"                      # this TID was accepted before
    CRC_ERROR = "crc error"            # an unencrypted (class 1) token whose CRC does not match
    KEY_EXPIRED = "key expired"        # the TID lies past what the key expiry number allows
    OVERFLOW = "overflow"              # the credit would overflow the meter's register
    FORMAT = "format"                  # a class or subclass this meter does not know
    KEY_TYPE = "key type"              # the meter's key type does not allow this token
    RANGE = "range"                    # a field the token carries is out of its range
    AUTHENTICATION = "authentication"  # an encrypted token that does not decrypt to a valid block

    def __str__(self) -> str:
        return self.value


class TidMemory:
    """The most recent ``capacity`` TIDs a meter accepted (IEC 62055-41 asks for at least 50).

    A TID already held is USED. Once the memory is full the smallest TID is forgotten to make
    room, and a TID below every remembered one is OLD: the meter can no longer tell whether it
    was used. A key change that moves the TID base date calls ``clear``.
    """

    def __init__(self, capacity: int = 50) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"invalid TID memory capacity {capacity!r}: expected an integer >= 1")
        self.capacity = capacity
        self._heap: list[int] = []     # min-heap of the remembered TIDs
        self._held: set[int] = set()

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, tid: object) -> bool:
        return tid in self._held

    def check(self, tid: int) -> TokenResult:
        """ACCEPTED, USED or OLD for ``tid``, without remembering it."""
        if tid in self._held:
            return TokenResult.USED
        if len(self._held) >= self.capacity and tid < self._heap[0]:
            return TokenResult.OLD
        return TokenResult.ACCEPTED

    def accept(self, tid: int) -> TokenResult:
        """``check``, and remember the TID when it is accepted."""
        result = self.check(tid)
        if result is TokenResult.ACCEPTED:
            if len(self._held) >= self.capacity:
                self._held.discard(heapq.heappushpop(self._heap, tid))
            else:
                heapq.heappush(self._heap, tid)
            self._held.add(tid)
        return result

    def clear(self) -> None:
        self._heap.clear()
        self._held.clear()

    def tids(self) -> list[int]:
        """The remembered TIDs, oldest first."""
        return sorted(self._held)
