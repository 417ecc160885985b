"""Open-model pacing: each user starts a transaction on a schedule (Poisson arrivals or a fixed
interval) counted from the start of its previous one, so a core that slows down shows up as
longer response times, not as less load offered, for as long as a transaction takes less than
the user's interval (the plan gives each user an interval of 1/rate, 5 s by default).

    wait = pacer(rate_at=lambda: 0.2, rng=random.Random(7), arrivals="poisson")
    class User(FastHttpUser):
        def wait_time(self): return wait(self)     # Locust calls it after each task

Like Locust's ``constant_throughput`` it never bursts to catch up: a user that fell behind
starts its next transaction at once, and counts from there. Pure: no Locust import.
"""
from __future__ import annotations

import random
import time
from typing import Callable


class Pacer:
    def __init__(self, rate_at: Callable[[], float], rng: random.Random, arrivals: str = "poisson",
                 clock: Callable[[], float] = time.monotonic) -> None:
        if arrivals not in ("poisson", "constant"):
            raise ValueError(f"arrivals: {arrivals!r}; expected poisson or constant")
        self.rate_at, self.rng, self.arrivals, self.clock = rate_at, rng, arrivals, clock
        self.last_start: float | None = None
        self.behind = 0                  # transactions that started late (the user fell behind)

    def interval(self) -> float:
        rate = self.rate_at()
        if rate <= 0:
            return 1.0
        return self.rng.expovariate(rate) if self.arrivals == "poisson" else 1.0 / rate

    def first(self) -> float:
        """A random offset before a user's first transaction, so users do not start in step."""
        rate = self.rate_at()
        return self.rng.uniform(0, 1.0 / rate) if rate > 0 else 0.0

    def started(self) -> None:
        self.last_start = self.clock()

    def wait(self) -> float:
        """Seconds to wait before the next transaction starts."""
        now = self.clock()
        if self.last_start is None:
            return 0.0
        wait = self.last_start + self.interval() - now
        if wait < 0:
            self.behind += 1
            return 0.0
        return wait
