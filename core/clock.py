"""Time for the core: a ``Clock`` port and a ``Scheduler`` for request-and-notify adapters.

The core never reads the wall clock itself. Under SimPy the clock is the simulation's; over
HTTP it is the system clock; in tests it is a ``FakeClock`` moved by hand. Adapters that answer
"later" (gateway callbacks, SMS delivery, auto-reversal) schedule their answer on a
``Scheduler`` so the same adapter works in every kind of time.
"""
from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Callable, Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (may be virtual)."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class FakeClock:
    """A clock moved by hand; ``advance`` also runs what a ``ManualScheduler`` has due."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self.t = float(start)
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        return self.t

    def on_advance(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def advance(self, seconds: float) -> None:
        self.t += seconds
        for fn in list(self._listeners):
            fn()


class Scheduler(Protocol):
    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay_s`` seconds of this scheduler's time."""


class ImmediateScheduler:
    """Runs every call at once (delays ignored): for benchmarks and the simplest tests."""

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        fn()


class ManualScheduler:
    """Queues calls against a clock; ``run_due`` runs those whose time has come, in order.

    Attached to a ``FakeClock`` it runs due calls on every ``advance``; a SimPy world can
    drive it the same way from its own process.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        if isinstance(clock, FakeClock):
            clock.on_advance(self.run_due)

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._queue, (self.clock.now() + max(0.0, delay_s), next(self._seq), fn))

    def pending(self) -> int:
        return len(self._queue)

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def run_due(self) -> int:
        ran = 0
        while True:
            with self._lock:
                if not self._queue or self._queue[0][0] > self.clock.now():
                    return ran
                _, _, fn = heapq.heappop(self._queue)
            fn()
            ran += 1


class ThreadScheduler:
    """Wall-clock scheduler on one daemon thread, for the core served over HTTP."""

    def __init__(self) -> None:
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        with self._cv:
            heapq.heappush(self._queue, (time.monotonic() + max(0.0, delay_s), next(self._seq), fn))
            self._cv.notify()

    def _run(self) -> None:
        import logging
        log = logging.getLogger("rbench.scheduler")
        while True:
            with self._cv:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    self._cv.wait(None if not self._queue else self._queue[0][0] - time.monotonic())
                _, _, fn = heapq.heappop(self._queue)
            try:
                fn()
            except Exception:  # an adapter's callback must not kill the scheduler
                log.exception("scheduled call failed")
