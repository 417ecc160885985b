"""API keys per channel: each key belongs to one channel (web, app, ussd, gateway, admin, and
the direct payment channels kiosk, wallet, bank), and
each route says which channels may call it. Keys come from ``RBENCH_API_KEYS``
("web=KEY,ussd=KEY,...") or the development defaults printed by ``rbench serve``."""
from __future__ import annotations

import hmac
import os

from fastapi import Request

from core.errors import RechargeError

DEV_KEYS = {"dev-web-key": "web", "dev-app-key": "app", "dev-ussd-key": "ussd",
            "dev-gateway-key": "gateway", "dev-admin-key": "admin", "dev-kiosk-key": "kiosk",
            "dev-wallet-key": "wallet", "dev-bank-key": "bank"}


class Unauthorised(RechargeError):
    status = 401
    code = "unauthorized"


class Forbidden(RechargeError):
    status = 403
    code = "forbidden"


def keys_from_env(value: str | None = None) -> dict[str, str]:
    value = os.environ.get("RBENCH_API_KEYS") if value is None else value
    if not value:
        return dict(DEV_KEYS)
    keys = {}
    for part in value.split(","):
        channel, sep, key = part.strip().partition("=")
        if not sep or not key or not channel:
            raise ValueError(f"RBENCH_API_KEYS: {part!r}; expected channel=key pairs separated by commas")
        keys[key] = channel
    return keys


def channel_of(request: Request, keys: dict[str, str], allowed: tuple[str, ...]) -> str:
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given:
        raise Unauthorised("X-API-Key: missing; expected the API key of your channel", field="X-API-Key")
    channel = next((c for k, c in keys.items() if hmac.compare_digest(k, given)), None)
    if channel is None:
        raise Unauthorised("X-API-Key: unknown key", field="X-API-Key")
    if channel not in allowed:
        raise Forbidden(f"X-API-Key: the {channel} channel may not call this route; expected a key of "
                        f"{' or '.join(allowed)}", field="X-API-Key")
    return channel
