"""Key change: the 2 (STA) or 4 (MISTY1) tokens that carry a new decoder key, and back.

The sections are encrypted with the meter's current key; the meter assembles the new key
once it holds all of them (sts.md §3, key-change tokens).
"""
from __future__ import annotations

from .errors import FieldError
from .keys import Algorithm, DecoderKey
from .tokens import (
    KEY_CHANGE_TYPES, KeyChangeSection, Set1stSectionDecoderKey, Set2ndSectionDecoderKey,
    Set3rdSectionDecoderKey, Set4thSectionDecoderKey,
)


def key_change_tokens(new_key: DecoderKey, *, key_type: int, key_revision: int, tariff_index: int,
                      key_expiry_number: int, rollover: bool = False,
                      supply_group_code: int | None = None) -> tuple[KeyChangeSection, ...]:
    """The tokens that carry ``new_key`` to a meter: 1st and 2nd sections, and for MISTY1 also 3rd and 4th.

    Encrypt them with the meter's current key. The KEN's high nibble goes in the 1st section
    and its low nibble in the 2nd, as in the compliance tests (the reference's service layer
    swaps them; sts.md §8). ``rollover`` asks the meter to move to the new TID base date.
    """
    if isinstance(key_expiry_number, bool) or not isinstance(key_expiry_number, int) \
            or not 0 <= key_expiry_number <= 255:
        raise FieldError("key expiry number", key_expiry_number, "an integer 0..255")
    first = Set1stSectionDecoderKey(new_key.value >> (new_key.algorithm.key_bits - 32), key_type, 0,
                                    int(rollover), key_revision, key_expiry_number >> 4)
    second = Set2ndSectionDecoderKey(new_key.value & 0xFFFFFFFF, tariff_index, key_expiry_number & 15)
    if new_key.algorithm is Algorithm.STA:
        return first, second
    if isinstance(supply_group_code, bool) or not isinstance(supply_group_code, int) \
            or not 0 <= supply_group_code <= 999_999:
        raise FieldError("supply group code", supply_group_code, "an integer 0..999999 (MISTY1 key changes carry it)")
    third = Set3rdSectionDecoderKey(new_key.value >> 64 & 0xFFFFFFFF, supply_group_code & 0xFFF)
    fourth = Set4thSectionDecoderKey(new_key.value >> 32 & 0xFFFFFFFF, supply_group_code >> 12)
    return first, second, third, fourth


def new_key_from(sections: list[KeyChangeSection] | tuple[KeyChangeSection, ...],
                 algorithm: Algorithm) -> DecoderKey:
    """The key a meter assembles from its key-change sections (2 for STA, 4 for MISTY1)."""
    by_type = {type(section): section for section in sections}
    needed = KEY_CHANGE_TYPES[:2] if algorithm is Algorithm.STA else KEY_CHANGE_TYPES
    missing = [t.__name__ for t in needed if t not in by_type]
    if missing:
        raise FieldError("key change sections", sorted(type(s).__name__ for s in sections),
                         f"also {', '.join(missing)} for {algorithm.label}")
    high, low = by_type[Set1stSectionDecoderKey].nkho, by_type[Set2ndSectionDecoderKey].nklo
    if algorithm is Algorithm.STA:
        return DecoderKey(algorithm, high << 32 | low)
    return DecoderKey(algorithm, high << 96 | by_type[Set3rdSectionDecoderKey].nkmo2 << 64
                      | by_type[Set4thSectionDecoderKey].nkmo1 << 32 | low)
