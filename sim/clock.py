"""The core's Clock and Scheduler ports on SimPy time, so the system under test (OTP expiry,
gateway callbacks, verify windows, SMS delivery) lives in the simulation's virtual time.

    clock = SimClock(env, epoch=cfg.start)        # clock.now() == epoch + env.now
    scheduler = SimScheduler(env)                 # call_later(d, fn): fn runs at env.now + d

A scheduled call is a bare Timeout with a callback (no process): the cheapest event SimPy has.
A call that raises must not stop the world: the error is counted by type (a KPI) and logged.
"""
from __future__ import annotations

import logging
from collections import Counter
from typing import Callable

import simpy

log = logging.getLogger("rbench.sim")


class SimClock:
    __slots__ = ("env", "epoch")

    def __init__(self, env: simpy.Environment, epoch: float) -> None:
        self.env, self.epoch = env, float(epoch)

    def now(self) -> float:
        return self.epoch + self.env.now


class SimScheduler:
    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.errors: Counter[str] = Counter()

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        ev = self.env.timeout(delay_s if delay_s > 0 else 0)
        ev.callbacks.append(lambda _ev: self._run(fn))

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as e:   # a scheduled adapter call failed: count it, keep the world going
            self.errors[f"scheduled:{type(e).__name__}"] += 1
            log.warning("scheduled call failed: %s", e)
