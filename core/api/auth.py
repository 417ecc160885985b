"""API keys per channel: each key belongs to one channel (web, app, ussd, gateway, admin, and
the direct payment channels kiosk, wallet, bank), and
each route says which channels may call it. Keys come from ``RBENCH_API_KEYS``
("web=KEY,ussd=KEY,...") or the development defaults printed by ``rbench serve``.

A key may be narrowed further by scopes: ``web=KEY@topups:read+receipts:read`` may only call
the routes tagged ``topups`` or ``receipts`` with GET (``<tag>:write`` for the others,
``<tag>:*`` for both), still within what its channel may call. A key without scopes has every
scope of its channel. Gateway callbacks take no key: they are signed
(:mod:`core.adapters.callback_signature`)."""
from __future__ import annotations

import hmac
import os
import re

from fastapi import Request

from core.errors import RechargeError

DEV_KEYS = {"dev-web-key": "web", "dev-app-key": "app", "dev-ussd-key": "ussd",
            "dev-gateway-key": "gateway", "dev-admin-key": "admin", "dev-kiosk-key": "kiosk",
            "dev-wallet-key": "wallet", "dev-bank-key": "bank"}


_SCOPE = re.compile(r"^[a-z][a-z0-9_-]*:(read|write|\*)$")


class Unauthorised(RechargeError):
    status = 401
    code = "unauthorized"


class Forbidden(RechargeError):
    status = 403
    code = "forbidden"


def _entries(value: str | None) -> list[tuple[str, str, frozenset[str] | None]]:
    value = os.environ.get("RBENCH_API_KEYS") if value is None else value
    if not value:
        return [(key, channel, None) for key, channel in DEV_KEYS.items()]
    out = []
    for part in value.split(","):
        channel, sep, rest = part.strip().partition("=")
        key, at, scope_text = rest.partition("@")
        if not sep or not key or not channel:
            raise ValueError(f"RBENCH_API_KEYS: {channel or part!r}; expected channel=key pairs separated "
                             f"by commas (a key may end with @scope+scope)")
        scopes = frozenset(s.strip() for s in scope_text.split("+") if s.strip()) if at else None
        if scopes is not None and (not scopes or any(not _SCOPE.match(s) for s in scopes)):
            raise ValueError(f"RBENCH_API_KEYS: the scopes of the {channel} key; expected tag:read, "
                             f"tag:write or tag:* joined by '+', e.g. topups:read+receipts:read")
        out.append((key, channel, scopes))
    return out


def keys_from_env(value: str | None = None) -> dict[str, str]:
    """Key -> channel."""
    return {key: channel for key, channel, _ in _entries(value)}


def scopes_from_env(value: str | None = None) -> dict[str, frozenset[str]]:
    """Key -> scopes, for the keys narrowed by scopes only."""
    return {key: scopes for key, _, scopes in _entries(value) if scopes is not None}


def scope_of(request: Request) -> str:
    """The scope a request needs: its route's first tag, ``read`` for GET/HEAD, else ``write``."""
    tags = getattr(request.scope.get("route"), "tags", None) or ["other"]
    return f"{tags[0]}:{'read' if request.method in ('GET', 'HEAD') else 'write'}"


def channel_of(request: Request, keys: dict[str, str], allowed: tuple[str, ...],
               scopes: dict[str, frozenset[str]] | None = None) -> str:
    given = request.headers.get("x-api-key") or ""
    auth = request.headers.get("authorization", "")
    if not given and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    if not given:
        raise Unauthorised("X-API-Key: missing; expected the API key of your channel", field="X-API-Key")
    match = next(((k, c) for k, c in keys.items() if hmac.compare_digest(k.encode(), given.encode())), None)
    if match is None:
        raise Unauthorised("X-API-Key: unknown key", field="X-API-Key")
    key, channel = match
    if channel not in allowed:
        raise Forbidden(f"X-API-Key: the {channel} channel may not call this route; expected a key of "
                        f"{' or '.join(allowed)}", field="X-API-Key")
    granted = (scopes or {}).get(key)
    if granted is not None:
        needed = scope_of(request)
        if needed not in granted and needed.split(":")[0] + ":*" not in granted:
            raise Forbidden(f"X-API-Key: this {channel} key has the scopes {'+'.join(sorted(granted))}; "
                            f"this route needs {needed}", field="X-API-Key")
    return channel
