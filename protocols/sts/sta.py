"""STA, the Standard Transfer Algorithm (EA07), as the reference implements it (sts.md §2).

Sixteen rounds of nibble substitution (the key only chooses table S1 or S2 per nibble, there
is no XOR) and a 64-bit bit permutation. Done bit by bit in Python that is ~1,000 steps a
block; instead each round is 8 look-ups: for every byte position and every choice of the two
tables for its nibbles, a 256-entry table holds the substituted byte already permuted to its
64-bit place, and the permutation being linear, the round is the OR of the 8 entries. A key
picks one table per byte per round; those 16 x 8 picks are cached per key. The bytes of the
block come from ``int.to_bytes`` (one C call) rather than 8 shifts and masks.

Decryption runs the same rounds backwards: inverse permutation, then inverse substitution,
regrouped as "substitute, then permute" so each step again is one look-up per byte.
"""
from __future__ import annotations

from functools import lru_cache

from .tables import STA_P, STA_P_INV, STA_S1, STA_S1_INV, STA_S2, STA_S2_INV

Tables = tuple[tuple[int, ...], ...]          # 8 tables of 256 entries, one per byte position


def _permute(value: int, destination: tuple[int, ...]) -> int:
    out = 0
    while value:
        low = value & -value
        out |= 1 << destination[low.bit_length() - 1]
        value ^= low
    return out


def _byte_tables(boxes: tuple[tuple[int, ...], tuple[int, ...]], permutation: tuple[int, ...] | None,
                 ) -> list[list[tuple[int, ...]]]:
    """[position][choice] -> 256 entries; choice bit 0 picks the low nibble's box, bit 1 the high's."""
    tables = []
    for position in range(8):
        by_choice = []
        for choice in range(4):
            low_box, high_box = boxes[choice & 1], boxes[choice >> 1]
            entries = []
            for byte in range(256):
                substituted = (high_box[byte >> 4] << 4 | low_box[byte & 15]) << (8 * position)
                entries.append(_permute(substituted, permutation) if permutation else substituted)
            by_choice.append(tuple(entries))
        tables.append(by_choice)
    return tables


_ENCRYPT_ROUND = _byte_tables((STA_S1, STA_S2), STA_P)          # substitute, then permute
_DECRYPT_ROUND = _byte_tables((STA_S1_INV, STA_S2_INV), STA_P_INV)  # inverse substitute, then inverse permute
_DECRYPT_LAST = _byte_tables((STA_S1_INV, STA_S2_INV), None)     # inverse substitute only
_UNPERMUTE = tuple(tuple(_permute(byte << (8 * position), STA_P_INV) for byte in range(256))
                   for position in range(8))


def table_choices(key: int) -> list[list[int]]:
    """[round][byte position] -> which boxes the key picks (sts.md §2.2, closed form).

    Nibble n in round r uses S2 when bit (4n + 15 - r) mod 64 of the key is 0, S1 when it is 1
    (the reference complements the key, rotates it right by 12, then left by 1 each round).
    """
    choices = []
    for r in range(16):
        picks = []
        for position in range(8):
            low, high = 2 * position, 2 * position + 1
            low_s2 = not (key >> ((4 * low + 15 - r) % 64)) & 1
            high_s2 = not (key >> ((4 * high + 15 - r) % 64)) & 1
            picks.append(low_s2 | high_s2 << 1)
        choices.append(picks)
    return choices


@lru_cache(maxsize=1024)
def _schedule(key: int) -> tuple[tuple[Tables, ...], tuple[Tables, ...], Tables]:
    choices = table_choices(key)
    encrypt = tuple(tuple(_ENCRYPT_ROUND[p][c] for p, c in enumerate(choices[r])) for r in range(16))
    decrypt = tuple(tuple(_DECRYPT_ROUND[p][c] for p, c in enumerate(choices[r])) for r in range(15, 0, -1))
    last = tuple(_DECRYPT_LAST[p][c] for p, c in enumerate(choices[0]))
    return encrypt, decrypt, last


def encrypt(block: int, key: int) -> int:
    """The 64-bit ciphertext of ``block`` under the 64-bit decoder key (standard byte order)."""
    x = block
    for t0, t1, t2, t3, t4, t5, t6, t7 in _schedule(key)[0]:
        b0, b1, b2, b3, b4, b5, b6, b7 = x.to_bytes(8, "little")
        x = t0[b0] | t1[b1] | t2[b2] | t3[b3] | t4[b4] | t5[b5] | t6[b6] | t7[b7]
    return x


def decrypt(block: int, key: int) -> int:
    """The plaintext whose ``encrypt`` under ``key`` is ``block``."""
    _, rounds, last = _schedule(key)
    t0, t1, t2, t3, t4, t5, t6, t7 = _UNPERMUTE
    b0, b1, b2, b3, b4, b5, b6, b7 = block.to_bytes(8, "little")
    x = t0[b0] | t1[b1] | t2[b2] | t3[b3] | t4[b4] | t5[b5] | t6[b6] | t7[b7]
    for t0, t1, t2, t3, t4, t5, t6, t7 in rounds:
        b0, b1, b2, b3, b4, b5, b6, b7 = x.to_bytes(8, "little")
        x = t0[b0] | t1[b1] | t2[b2] | t3[b3] | t4[b4] | t5[b5] | t6[b6] | t7[b7]
    t0, t1, t2, t3, t4, t5, t6, t7 = last
    b0, b1, b2, b3, b4, b5, b6, b7 = x.to_bytes(8, "little")
    return t0[b0] | t1[b1] | t2[b2] | t3[b3] | t4[b4] | t5[b5] | t6[b6] | t7[b7]
