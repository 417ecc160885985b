"""Per-card keys: a utility master key diversified by the card serial, one key per purpose.

The derivation is the KDF in counter mode of NIST SP 800-108r1 (§4.1) with HMAC-SHA256 as
the PRF::

    K(i) = HMAC-SHA256(master_key, [i]_32 || Label || 0x00 || Context || [L]_32)
    key  = first L bits of K(1) || K(2) || ...

with ``Label`` the ASCII purpose (``"credit-mac"``, ``"auth"``...), ``Context`` the 8 bytes
of the card serial and ``L`` the key length in bits, both counters big-endian. A key for one
card is useless on any other card, and a key for one purpose tells nothing about another.
"""
from __future__ import annotations

import hashlib
import hmac
import re

from protocols.utility_card.errors import CardKeyError, FormatError

CREDIT_MAC = "credit-mac"       # MAC of credit records (this package)
AUTH = "auth"                   # meter <-> card mutual authentication (devices)
SECURE_MESSAGING = "sm-mac"     # MAC of READ/UPDATE BINARY under secure messaging (devices)

MIN_MASTER_KEY = 16             # bytes: 128 bits at least
CARD_SERIAL_LENGTH = 8          # bytes, as CPU cards report it
_PURPOSE = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


def card_serial_bytes(card_serial: str | bytes, *, field: str = "card_serial") -> bytes:
    """The 8 bytes of a card serial given as bytes or hex (spaces and colons allowed)."""
    if isinstance(card_serial, (bytes, bytearray)):
        raw = bytes(card_serial)
    elif isinstance(card_serial, str):
        text = card_serial.replace(" ", "").replace(":", "")
        if not re.fullmatch(r"[0-9A-Fa-f]*", text) or len(text) % 2:
            raise FormatError(f"{field}: {card_serial!r} is not hex; expected "
                              f"{2 * CARD_SERIAL_LENGTH} hex digits such as '04A1B2C3D4E5F607'",
                              field=field)
        raw = bytes.fromhex(text)
    else:
        raise FormatError(f"{field}: expected hex text or bytes, got {type(card_serial).__name__}",
                          field=field)
    if len(raw) != CARD_SERIAL_LENGTH:
        raise FormatError(f"{field}: {len(raw)} bytes; expected {CARD_SERIAL_LENGTH} "
                          f"({2 * CARD_SERIAL_LENGTH} hex digits)", field=field)
    return raw


def diversify(master_key: bytes, card_serial: str | bytes, purpose: str, *,
              length: int = 32) -> bytes:
    """The ``length``-byte key of one card for one purpose (SP 800-108 counter mode)."""
    if not isinstance(master_key, (bytes, bytearray)) or len(master_key) < MIN_MASTER_KEY:
        got = (f"{len(master_key)} bytes" if isinstance(master_key, (bytes, bytearray))
               else type(master_key).__name__)
        raise CardKeyError(f"master_key: expected at least {MIN_MASTER_KEY} bytes, got {got}",
                           field="master_key")
    if not isinstance(purpose, str) or not _PURPOSE.fullmatch(purpose):
        raise CardKeyError(f"purpose: {purpose!r} is not a key label; expected 1 to 32 "
                           f"lowercase letters, digits or '-', such as {CREDIT_MAC!r}",
                           field="purpose")
    if type(length) is not int or not 16 <= length <= 64:
        raise CardKeyError(f"length: expected 16 to 64 bytes, got {length!r}", field="length")
    context = card_serial_bytes(card_serial)
    fixed = purpose.encode("ascii") + b"\x00" + context + (8 * length).to_bytes(4, "big")
    return kdf_counter(bytes(master_key), fixed, length)


def kdf_counter(key: bytes, fixed_input: bytes, length: int) -> bytes:
    """SP 800-108 KDF in counter mode, HMAC-SHA256, 32-bit counter before the fixed input."""
    blocks = (hmac.new(key, i.to_bytes(4, "big") + fixed_input, hashlib.sha256).digest()
              for i in range(1, (length + 31) // 32 + 1))
    return b"".join(blocks)[:length]


def credit_key(master_key: bytes, card_serial: str | bytes) -> bytes:
    """The key that signs and verifies credit records of one card."""
    return diversify(master_key, card_serial, CREDIT_MAC)
