"""Signed gateway callbacks: an HMAC over the timestamp and the raw body, and a replay guard.

A callback only makes the core ask the gateway for the payment's status, so a forged one moves
no money; it is still refused, because an unsigned endpoint lets anyone make the core hammer
the gateway, and a test bench must show the control real gateways expect (Stripe-style
webhooks). The gateway and the core share one secret per gateway; the gateway sends

    X-Rbench-Timestamp: 1767225600                      (seconds since the epoch)
    X-Rbench-Signature: v1=<hex HMAC-SHA256(secret, b"<timestamp>." + raw body)>

and the core refuses a missing or wrong signature, a timestamp more than ``TOLERANCE_S`` away
from its clock, and the same signature seen twice (:class:`ReplayGuard`, kept in the store so
a restart or a second worker process does not forget it).

    headers = signed_headers("s3cret", body, now=time.time())     # the gateway side
    verify(("s3cret",), headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body,
           now=time.time())                                        # the core side
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from typing import Callable, Iterable

from core.store import Store, Tx

TIMESTAMP_HEADER = "X-Rbench-Timestamp"
SIGNATURE_HEADER = "X-Rbench-Signature"
SCHEME = "v1"
TOLERANCE_S = 300
DEV_SECRET = "dev-callback-secret"
_HEX = frozenset("0123456789abcdef")


class BadCallback(Exception):
    """A callback the core refuses; ``code`` names the rule, ``message`` says what was expected."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=`` and the hex HMAC-SHA256 of ``b"<timestamp>." + body`` under ``secret``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, *, now: float) -> dict[str, str]:
    """The two headers a gateway adds to a callback whose raw body is ``body``."""
    ts = int(now)
    return {TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature(secret, ts, body)}


def verify(secrets_: Iterable[str], timestamp: str | None, sig: str | None, body: bytes, *,
           now: float, tolerance_s: float = TOLERANCE_S) -> str:
    """Check a callback; returns the matching ``v1=...`` value (the replay key).

    ``secrets_`` may hold several secrets while one is being rotated. ``sig`` may carry several
    comma-separated ``v1=`` values, as a gateway rotating its own secret sends.
    """
    if not timestamp or not sig:
        missing = TIMESTAMP_HEADER if not timestamp else SIGNATURE_HEADER
        raise BadCallback(f"{missing}: header missing; expected a signed callback "
                          f"({TIMESTAMP_HEADER} and {SIGNATURE_HEADER}: {SCHEME}=<hex HMAC-SHA256>)",
                          code="unsigned_callback")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise BadCallback(f"{TIMESTAMP_HEADER}: {timestamp[:20]!r}; expected whole seconds since "
                          f"the epoch", code="bad_timestamp")
    ts = int(timestamp)
    if abs(now - ts) > tolerance_s:
        raise BadCallback(f"{TIMESTAMP_HEADER}: {ts} is {now - ts:+.0f} s from the core's clock; "
                          f"expected within {tolerance_s:.0f} s (a replayed or delayed callback)",
                          code="stale_callback")
    given = [v.strip() for v in sig.split(",")]
    for s in secrets_:
        want = signature(s, ts, body)
        for g in given:
            if hmac.compare_digest(g.encode(), want.encode()):
                return want
    if not any(g.startswith(SCHEME + "=") and len(g) == 67 and set(g[3:]) <= _HEX for g in given):
        raise BadCallback(f"{SIGNATURE_HEADER}: expected {SCHEME}= and 64 lowercase hex digits",
                          code="bad_signature")
    raise BadCallback(f"{SIGNATURE_HEADER}: does not match the body and timestamp under this "
                      f"gateway's secret", code="bad_signature")


def secrets_from_env(value: str | None = None) -> dict[str, tuple[str, ...]]:
    """Secrets per gateway from ``RBENCH_CALLBACK_SECRETS`` ("satim=S1,satim=S0,*=S2"; ``*``
    for every gateway not named; a name given twice keeps both while rotating). Unset: the
    development secret for every gateway."""
    value = os.environ.get("RBENCH_CALLBACK_SECRETS") if value is None else value
    if not value:
        return {"*": (DEV_SECRET,)}
    out: dict[str, tuple[str, ...]] = {}
    for part in value.split(","):
        name, sep, secret = part.strip().partition("=")
        if not sep or not name or len(secret) < 16:
            raise ValueError(f"RBENCH_CALLBACK_SECRETS: {name or part!r}; expected gateway=secret "
                             f"pairs separated by commas, each secret at least 16 characters")
        out[name] = out.get(name, ()) + (secret,)
    return out


def secrets_for(table: dict[str, tuple[str, ...]], gateway: str) -> tuple[str, ...]:
    return table.get(gateway) or table.get("*", ())


class ReplayGuard:
    """Remembers the signatures of accepted callbacks for twice the tolerance window: a
    signature seen again inside it is a replay; outside it the timestamp check refuses it."""

    def __init__(self, store: Store, *, tolerance_s: float = TOLERANCE_S) -> None:
        self.store, self.keep_ms = store, int(2 * tolerance_s * 1000)

    def first_time(self, gateway: str, sig: str, now: float) -> bool:
        now_ms = int(now * 1000)

        def run(tx: Tx) -> bool:
            tx.execute("DELETE FROM callback_replays WHERE seen_ms < ?", (now_ms - self.keep_ms,))
            return tx.execute("INSERT INTO callback_replays (gateway, signature, seen_ms) VALUES (?, ?, ?)"
                              " ON CONFLICT (gateway, signature) DO NOTHING", (gateway, sig, now_ms)) == 1
        return self.store.run(run)


def callback_body(gateway: str, gateway_ref: str) -> bytes:
    """What a gateway posts: who, which payment, and an event id so two callbacks for one
    payment in the same second are two events, not a replay."""
    return json.dumps({"gateway": gateway, "gateway_ref": gateway_ref,
                       "event_id": secrets.token_hex(8)}, separators=(",", ":")).encode()


def http_notifier(url: str, secret: str, clock: Callable[[], float],
                  post: Callable[..., object]) -> Callable[[str, str], None]:
    """A gateway's ``notify`` that POSTs a signed callback to ``url`` (``{gateway}`` is
    replaced by the gateway's name); ``post`` is ``httpx.post`` or a test double."""
    def notify(gateway: str, gateway_ref: str) -> None:
        body = callback_body(gateway, gateway_ref)
        headers = {"Content-Type": "application/json", **signed_headers(secret, body, now=clock())}
        response = post(url.replace("{gateway}", gateway), content=body, headers=headers, timeout=2.0)
        raise_for_status = getattr(response, "raise_for_status", None)
        if raise_for_status is not None:
            raise_for_status()
    return notify
