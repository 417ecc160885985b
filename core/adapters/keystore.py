"""Vending keys: what an HSM holds in production. The emulated store derives each named key
from one secret, so a test bench or a simulation has the same keys on every run of a seed."""
from __future__ import annotations

import hashlib
import hmac

from core.errors import InvalidInput


class KeyStore:
    """STS vending keys (8 bytes, DKGA02) and utility-card master keys (32 bytes) by name."""

    def __init__(self, secret: bytes | str = b"rbench-dev-keys", overrides: dict[str, bytes] | None = None) -> None:
        self._secret = secret.encode() if isinstance(secret, str) else secret
        self._overrides = dict(overrides or {})

    def _derive(self, name: str, length: int) -> bytes:
        if name in self._overrides:
            return self._overrides[name]
        if not name or len(name) > 64:
            raise InvalidInput(f"key_ref: {name!r}; expected a key name of 1 to 64 characters", field="key_ref")
        return hmac.new(self._secret, name.encode(), hashlib.sha256).digest()[:length]

    def vending_key(self, key_ref: str) -> bytes:
        return self._derive(key_ref, 8)

    def card_master_key(self, utility: str, key_version: int = 1) -> bytes:
        return self._derive(f"card-master:{utility}:{key_version}", 32)
