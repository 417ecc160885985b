"""Rate limits at the HTTP edge: requests per API key (and per client address for callers
without one), and per MSISDN on the routes that name one; over the limit the answer is
``429`` with ``Retry-After`` and nothing is done (an idempotency key is not consumed).

Token buckets in this process's memory: a bucket of ``count`` tokens refilled at ``count`` per
``per_s``, so a client may burst up to ``count`` then goes at the rate. With several worker
processes each enforces its own share. The OTP limit per MSISDN, which must hold across
processes and restarts, is in the store (:mod:`core.otp_guard`), not here.

    RBENCH_RATE_LIMITS="key=1000/s,msisdn=60/min"      # the defaults; "off" disables both
    limiter = install(app, Limits.from_env())            # in create_app
    limiter.msisdns("topups", payer, recipient)          # in a handler, before the work
"""
from __future__ import annotations

import math
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.api import problems
from core.errors import TooManyAttempts

_UNITS = {"s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "hour": 3600.0}
_RATE = re.compile(r"^\s*(\d{1,7})\s*/\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    count: int          # the burst, and the number of requests per ``per_s``
    per_s: float

    @classmethod
    def parse(cls, text: str, *, where: str = "rate") -> Rate:
        m = _RATE.match(text.lower())
        if not m or m.group(2) not in _UNITS or int(m.group(1)) < 1:
            raise ValueError(f"{where}: {text!r}; expected a count per unit such as 100/s, 30/min or 500/h")
        return cls(int(m.group(1)), _UNITS[m.group(2)])

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "min", 3600.0: "h"}.get(self.per_s, f"{self.per_s:g}s")
        return f"{self.count}/{unit}"


@dataclass(frozen=True)
class Limits:
    per_key: Rate | None = Rate(1000, 1.0)
    per_msisdn: Rate | None = Rate(60, 60.0)

    @classmethod
    def from_env(cls, value: str | None = None) -> Limits:
        """``RBENCH_RATE_LIMITS``: ``key=RATE,msisdn=RATE`` (either may be ``off``), or ``off``."""
        value = os.environ.get("RBENCH_RATE_LIMITS") if value is None else value
        if not value:
            return cls()
        if value.strip().lower() == "off":
            return cls(None, None)
        found: dict[str, Rate | None] = {}
        for part in value.split(","):
            name, sep, rate = part.strip().partition("=")
            if not sep or name not in ("key", "msisdn"):
                raise ValueError(f"RBENCH_RATE_LIMITS: {part.strip()!r}; expected key=RATE and/or "
                                 f"msisdn=RATE (RATE like 100/s, or off), or just off")
            found[name] = None if rate.strip().lower() == "off" else \
                Rate.parse(rate, where=f"RBENCH_RATE_LIMITS {name}")
        return cls(found.get("key", cls.per_key), found.get("msisdn", cls.per_msisdn))


class Buckets:
    """Token buckets by name; thread-safe; the ``max_names`` most recently used are kept, so a
    flood of made-up keys costs bounded memory (a forgotten bucket comes back full)."""

    def __init__(self, rate: Rate, now: Callable[[], float] = time.monotonic, max_names: int = 100_000) -> None:
        self.rate, self.now, self.max_names = rate, now, max_names
        self._fill = rate.count / rate.per_s            # tokens per second
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()   # name -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """Take a token: 0.0 if allowed, else the seconds until one is there."""
        with self._lock:
            t = self.now()
            tokens, at = self._state.pop(name, (float(self.rate.count), t))
            tokens = min(float(self.rate.count), tokens + (t - at) * self._fill)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self._fill
            self._state[name] = (tokens, t)
            while len(self._state) > self.max_names:
                self._state.popitem(last=False)
            return wait


def _refuse(what: str, rate: Rate, wait: float) -> TooManyAttempts:
    after = max(1, math.ceil(wait))
    return TooManyAttempts(f"{what}: more than {rate} requests; expected the next one after {after} s",
                           field=what.split(" ")[0], retry_after=after)


class Limiter:
    def __init__(self, limits: Limits, now: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._keys = Buckets(limits.per_key, now) if limits.per_key else None
        self._msisdns = Buckets(limits.per_msisdn, now) if limits.per_msisdn else None

    def caller(self, name: str, what: str = "X-API-Key") -> None:
        """One request of an API key (or of a client address, for callers without a key)."""
        if self._keys is not None and self.limits.per_key is not None:
            wait = self._keys.take(name)
            if wait:
                raise _refuse(what, self.limits.per_key, wait)

    def msisdns(self, route: str, *msisdns: str | None) -> None:
        """One request naming these MSISDNs (E.164) on ``route``; each has its own budget."""
        if self._msisdns is None or self.limits.per_msisdn is None:
            return
        for msisdn in dict.fromkeys(m for m in msisdns if m):
            wait = self._msisdns.take(f"{route}:{msisdn}")
            if wait:
                raise _refuse(f"msisdn {msisdn}", self.limits.per_msisdn, wait)


def answer(e: TooManyAttempts) -> JSONResponse:
    response = problems.problem(429, e.code, e.message, e.field, **e.extra)
    response.headers["Retry-After"] = str(e.extra.get("retry_after", 1))
    return response


class CallerRateLimit:
    """ASGI middleware: the per-key budget, taken before routing (a refused request costs no
    parsing, no database)."""

    def __init__(self, app, limiter: Limiter) -> None:  # type: ignore[no-untyped-def]
        self.app, self.limiter = app, limiter

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and self.limiter.limits.per_key is not None:
            headers = dict(scope.get("headers") or [])
            key = headers.get(b"x-api-key") or b""
            auth = headers.get(b"authorization") or b""
            if not key and auth[:7].lower() == b"bearer ":
                key = auth[7:].strip()
            client = (scope.get("client") or ("local", 0))[0]
            name, what = (f"key:{key.decode(errors='replace')}", "X-API-Key") if key else \
                (f"addr:{client}", "client")
            try:
                self.limiter.caller(name, what)
            except TooManyAttempts as e:
                return await answer(e)(scope, receive, send)
        await self.app(scope, receive, send)


def install(app: FastAPI, limits: Limits | Limiter | None = None) -> Limiter:
    """Add the per-key middleware and the 429 answer (with Retry-After) for every
    ``TooManyAttempts``, from here or from the core (OTP codes per MSISDN)."""
    limiter = limits if isinstance(limits, Limiter) else Limiter(limits or Limits.from_env())
    app.add_middleware(CallerRateLimit, limiter=limiter)

    @app.exception_handler(TooManyAttempts)
    async def _too_many(request: Request, e: TooManyAttempts) -> JSONResponse:
        return answer(e)
    return limiter
