"""MISTY1 (EA11) as RFC 2994 describes it: 64-bit block, 128-bit key, 8 rounds.

STS feeds it the 64-bit token block as 8 big-endian bytes and reads the ciphertext back
big-endian (sts.md §7), so here a block is simply a 64-bit integer. The expanded key is
computed once per key and cached.
"""
from __future__ import annotations

from functools import lru_cache

from .tables import MISTY1_S7 as S7, MISTY1_S9 as S9


def _fi(fi_in: int, fi_key: int) -> int:
    d9 = fi_in >> 7
    d7 = fi_in & 0x7F
    d9 = S9[d9] ^ d7
    d7 = S7[d7] ^ (d9 & 0x7F)
    d7 ^= fi_key >> 9
    d9 ^= fi_key & 0x1FF
    d9 = S9[d9] ^ d7
    return d7 << 9 | d9


@lru_cache(maxsize=1024)
def expanded_key(key: int) -> tuple[int, ...]:
    """EK[0..15] of RFC 2994 §2.2: the key's eight 16-bit words, then FI of each with the next."""
    ek = [(key >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    ek += [_fi(ek[i], ek[(i + 1) % 8]) for i in range(8)]
    return tuple(ek)


def _fo(fo_in: int, k: int, ek: tuple[int, ...]) -> int:
    t0 = fo_in >> 16
    t1 = fo_in & 0xFFFF
    t0 = _fi(t0 ^ ek[k], ek[(k + 5) % 8 + 8]) ^ t1
    t1 = _fi(t1 ^ ek[(k + 2) % 8], ek[(k + 1) % 8 + 8]) ^ t0
    t0 = _fi(t0 ^ ek[(k + 7) % 8], ek[(k + 3) % 8 + 8]) ^ t1
    t1 ^= ek[(k + 4) % 8]
    return t1 << 16 | t0


def _fl(fl_in: int, k: int, ek: tuple[int, ...]) -> int:
    d0 = fl_in >> 16
    d1 = fl_in & 0xFFFF
    if k % 2 == 0:
        d1 ^= d0 & ek[k // 2]
        d0 ^= d1 | ek[(k // 2 + 6) % 8 + 8]
    else:
        d1 ^= d0 & ek[((k - 1) // 2 + 2) % 8 + 8]
        d0 ^= d1 | ek[((k - 1) // 2 + 4) % 8]
    return d0 << 16 | d1


def _fl_inverse(fl_in: int, k: int, ek: tuple[int, ...]) -> int:
    d0 = fl_in >> 16
    d1 = fl_in & 0xFFFF
    if k % 2 == 0:
        d0 ^= d1 | ek[(k // 2 + 6) % 8 + 8]
        d1 ^= d0 & ek[k // 2]
    else:
        d0 ^= d1 | ek[((k - 1) // 2 + 4) % 8]
        d1 ^= d0 & ek[((k - 1) // 2 + 2) % 8 + 8]
    return d0 << 16 | d1


def encrypt(block: int, key: int) -> int:
    """The 64-bit ciphertext of ``block`` under the 128-bit ``key`` (both big-endian numbers)."""
    ek = expanded_key(key)
    d0 = block >> 32
    d1 = block & 0xFFFFFFFF
    for pair in range(0, 8, 2):                     # rounds 0-1, 2-3, 4-5, 6-7
        d0 = _fl(d0, pair, ek)
        d1 = _fl(d1, pair + 1, ek)
        d1 ^= _fo(d0, pair, ek)
        d0 ^= _fo(d1, pair + 1, ek)
    d0 = _fl(d0, 8, ek)
    d1 = _fl(d1, 9, ek)
    return d1 << 32 | d0


def decrypt(block: int, key: int) -> int:
    """The plaintext whose ``encrypt`` under ``key`` is ``block``."""
    ek = expanded_key(key)
    d0 = block & 0xFFFFFFFF
    d1 = block >> 32
    d0 = _fl_inverse(d0, 8, ek)
    d1 = _fl_inverse(d1, 9, ek)
    for pair in range(6, -1, -2):
        d0 ^= _fo(d1, pair + 1, ek)
        d1 ^= _fo(d0, pair, ek)
        d0 = _fl_inverse(d0, pair, ek)
        d1 = _fl_inverse(d1, pair + 1, ek)
    return d0 << 32 | d1
