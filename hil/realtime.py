"""Real devices inside a SimPy world: blocking I/O on a thread, results back as events.

A SimPy loop that waits on a serial read stops every other process of the world: subscribers
stop arriving, timeouts stop firing. So each device's calls run on a thread of their own and
come back into the simulation as ordinary SimPy events, picked up by a small pump process::

    env = simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)
    with open_role(bench, "meter") as meter, DeviceThread(env, meter, name="meter") as dev:
        def household(env):
            result = yield dev.call("enter_token", digits)     # the loop keeps running meanwhile
            ...
        env.process(household(env))
        env.run(until=60)

``call`` returns an event that succeeds with the method's return value, or fails with the
exception it raised (a timeout of the meter, a pulled card): the process sees it at its
``yield`` as if the device were a model. Calls to one device run one at a time in order, as on
a serial line. SimPy's events are not thread-safe, so the thread never touches them: it
hands results to the pump, which wakes every ``poll_s`` of simulated time (real time under a
``RealtimeEnvironment``).
"""
from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any

import simpy

_STOP = object()


class DeviceClosed(RuntimeError):
    """The device thread was stopped before the call could run."""


class DeviceThread:
    def __init__(self, env: simpy.Environment, port: Any, *, name: str = "device", poll_s: float = 0.002) -> None:
        if poll_s <= 0:
            raise ValueError(f"poll_s: expected seconds > 0, got {poll_s!r}")
        self.env = env
        self.port = port
        self.name = name
        self.poll_s = poll_s
        self.calls = 0
        self._jobs: queue.Queue = queue.Queue()
        self._done: deque[tuple[simpy.Event, bool, Any]] = deque()
        self._pending = 0
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=f"rbench-{name}", daemon=True)
        self._thread.start()
        self._pump_running = False

    def __enter__(self) -> DeviceThread:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, method: str, *args: Any, **kwargs: Any) -> simpy.Event:
        """Run ``port.method(*args, **kwargs)`` on the device thread; an event for its result."""
        if self._closed:
            raise DeviceClosed(f"{self.name}: the device thread is closed")
        fn = getattr(self.port, method, None)
        if not callable(fn):
            raise AttributeError(f"{self.name}: the port has no method {method!r}")
        event = self.env.event()
        self._pending += 1
        self.calls += 1
        self._jobs.put((event, fn, args, kwargs))
        if not self._pump_running:
            self._pump_running = True
            self.env.process(self._pump())
        return event

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            event, fn, args, kwargs = job
            try:
                self._done.append((event, True, fn(*args, **kwargs)))
            except BaseException as e:  # handed to the waiting process, not lost on this thread
                self._done.append((event, False, e))

    def _pump(self):  # type: ignore[no-untyped-def]
        """Deliver finished calls into the simulation; stops when nothing is outstanding."""
        while self._pending:
            while self._done:
                event, ok, value = self._done.popleft()
                self._pending -= 1
                if ok:
                    event.succeed(value)
                else:
                    event.fail(value)
            if self._pending:
                yield self.env.timeout(self.poll_s)
        self._pump_running = False

    def close(self, timeout: float = 5.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._jobs.put(_STOP)
        self._thread.join(timeout)
