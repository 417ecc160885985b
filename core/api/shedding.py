"""Load shedding: under overload the core answers ``503`` with ``Retry-After`` at once instead of
queueing without bound until everything times out (or memory runs out), and takes traffic again
as soon as load drops.

At most ``max_inflight`` requests are handled at once; up to ``max_queue`` more wait for a
slot, first come first served, each at most ``max_wait_s``. A request finding the queue full, or
waiting too long, gets a problem+json 503 ``overloaded`` whose ``Retry-After`` is the time the
queue ahead of it needs at the rate requests have been finishing. ``/healthz`` and ``/metrics``
are never shed, so probes and dashboards keep working while the core sheds.

    app.add_middleware(Shedder, limits=ShedLimits(max_inflight=64, max_queue=128, max_wait_s=1.0))

Limits come from ``rbench serve --max-inflight/--max-queue/--max-wait`` or the environment
(``RBENCH_MAX_INFLIGHT``, ``RBENCH_MAX_QUEUE``, ``RBENCH_MAX_WAIT_S``); ``max_inflight = 0``
turns shedding off. 429 is left to per-client rate limits: shedding protects the whole core.
"""
from __future__ import annotations

import asyncio
import math
import os
import time
from collections import deque
from dataclasses import dataclass

from core.api import problems

EXEMPT = ("/healthz", "/metrics")


@dataclass(frozen=True)
class ShedLimits:
    max_inflight: int = 64
    max_queue: int = 128
    max_wait_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_inflight < 0 or self.max_queue < 0 or not self.max_wait_s >= 0:
            raise ValueError(f"shedding limits: expected max_inflight >= 0, max_queue >= 0 and "
                             f"max_wait_s >= 0, got {self}")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ShedLimits:
        env = os.environ if env is None else env
        names = {"max_inflight": ("RBENCH_MAX_INFLIGHT", int), "max_queue": ("RBENCH_MAX_QUEUE", int),
                 "max_wait_s": ("RBENCH_MAX_WAIT_S", float)}
        values = {}
        for field, (var, kind) in names.items():
            if env.get(var, "").strip():
                try:
                    values[field] = kind(env[var])
                except ValueError:
                    raise ValueError(f"{var}={env[var]!r}: expected a {'whole ' if kind is int else ''}"
                                     "number") from None
        return cls(**values)


class Shedder:
    """ASGI middleware; all its state lives on the event loop's thread (no locks)."""

    def __init__(self, app, limits: ShedLimits | None = None) -> None:  # type: ignore[no-untyped-def]
        self.app, self.limits = app, limits or ShedLimits.from_env()
        self.inflight = 0
        self.waiting: deque[asyncio.Future[None]] = deque()
        self.finished: deque[float] = deque(maxlen=256)     # completion times, for Retry-After
        self.shed = 0

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http" or self.limits.max_inflight == 0 or scope.get("path") in EXEMPT:
            return await self.app(scope, receive, send)
        while self.waiting and self.waiting[0].done():      # waiters that gave up
            self.waiting.popleft()
        if self.inflight < self.limits.max_inflight and not self.waiting:
            self.inflight += 1
        elif len(self.waiting) >= self.limits.max_queue:
            return await self._shed(scope, receive, send, "the queue is full")
        elif not await self._wait():
            return await self._shed(scope, receive, send, f"no slot within {self.limits.max_wait_s:g} s")
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _wait(self) -> bool:
        """Queue for a slot; True once one is handed over (``inflight`` already counts it)."""
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(slot)
        try:
            await asyncio.wait_for(asyncio.shield(slot), self.limits.max_wait_s)
            return True
        except asyncio.TimeoutError:
            if slot.done() and not slot.cancelled():
                return True                  # handed over just as the wait ended: use it
            slot.cancel()
            return False
        except asyncio.CancelledError:      # the client went away while waiting
            if slot.done() and not slot.cancelled():
                self._release()
            else:
                slot.cancel()
            raise

    def _release(self) -> None:
        self.finished.append(time.monotonic())
        while self.waiting:
            slot = self.waiting.popleft()
            if not slot.done():
                slot.set_result(None)        # the slot passes on: inflight stays the same
                return
        self.inflight -= 1

    def retry_after_s(self) -> int:
        """Seconds until the queue ahead is likely drained, at the recent completion rate (1..60)."""
        done = self.finished
        if len(done) < 2 or done[-1] <= done[0]:
            return 1
        rate = (len(done) - 1) / (done[-1] - done[0])
        return max(1, min(60, math.ceil((len(self.waiting) + 1) / rate)))

    async def _shed(self, scope, receive, send, why: str) -> None:  # type: ignore[no-untyped-def]
        self.shed += 1
        after = self.retry_after_s()
        response = problems.problem(
            503, "overloaded", f"the core is at capacity ({self.inflight} requests in progress, "
            f"{len(self.waiting)} waiting) and {why}; retry after {after} s", retry_after_s=after)
        response.headers["Retry-After"] = str(after)
        await response(scope, receive, send)
