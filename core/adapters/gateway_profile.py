"""The fault profile of an emulated card gateway, as data.

A scenario or load plan says "SATIM on New Year's Eve" with a :class:`GatewayProfile`
(latencies, decline/timeout/callback-loss rates, outage windows) instead of code. Every random
draw is made by the gateway from its own seeded ``random.Random``: same seed, same run.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Latency:
    """Seconds until an answer or a callback: fixed (``sigma == 0``) or lognormal."""

    median_s: float = 0.0
    sigma: float = 0.0
    cap_s: float | None = None

    def __post_init__(self) -> None:
        if self.median_s < 0 or self.sigma < 0 or (self.sigma > 0 and self.median_s == 0):
            raise ValueError(f"Latency: expected median_s >= 0 and sigma >= 0 (median_s > 0 "
                             f"when sigma > 0), got {self}")

    def draw(self, rng: random.Random) -> float:
        if self.sigma == 0:
            return self.median_s
        value = rng.lognormvariate(math.log(self.median_s), self.sigma)
        return value if self.cap_s is None else min(value, self.cap_s)


def fixed(seconds: float) -> Latency:
    return Latency(seconds)


def lognormal(p50_s: float, p95_s: float, cap_s: float | None = None) -> Latency:
    """From two measured percentiles, as vendors publish them (p50 4 s, p95 12 s)."""
    if not 0 < p50_s < p95_s:
        raise ValueError(f"lognormal: expected 0 < p50_s < p95_s, got {p50_s}, {p95_s}")
    return Latency(p50_s, math.log(p95_s / p50_s) / 1.6448536, cap_s)


@dataclass(frozen=True)
class GatewayProfile:
    answer_latency: Latency = Latency()     # drawn by ``answer_delay()`` for whoever waits
    callback_latency: Latency = Latency()   # from a status change to the notify call
    decline_rate: float = 0.0               # random declines on top of the issuer's
    timeout_rate: float = 0.0               # call processed, then GatewayTimeout raised
    callback_loss_rate: float = 0.0         # notify never called for that change
    outages: Sequence[tuple[float, float]] = ()   # [start, end) clock times: calls fail

    def __post_init__(self) -> None:
        for name in ("decline_rate", "timeout_rate", "callback_loss_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"GatewayProfile.{name}: expected 0..1, got {getattr(self, name)}")
        windows = tuple((float(a), float(b)) for a, b in self.outages)
        if any(a >= b for a, b in windows):
            raise ValueError(f"GatewayProfile.outages: expected (start, end) with start < end, "
                             f"got {list(self.outages)}")
        object.__setattr__(self, "outages", windows)

    def outage_at(self, t: float) -> tuple[float, float] | None:
        if not self.outages:         # every gateway call asks: no generator for the usual answer
            return None
        return next(((a, b) for a, b in self.outages if a <= t < b), None)
