"""Random draws the world makes often, made cheap: lognormals from two percentiles and
weighted choices with precomputed cumulative weights. Every draw takes the caller's seeded
``random.Random``: same seed, same run."""
from __future__ import annotations

import math
import random
from bisect import bisect_right
from itertools import accumulate

Z95 = 1.6448536269514722


class LogNormal:
    """A lognormal given by its median and 95th percentile (fixed when they are equal)."""

    __slots__ = ("p50", "p95", "mu", "sigma")

    def __init__(self, p50: float, p95: float) -> None:
        if not 0 < p50 <= p95:
            raise ValueError(f"LogNormal: expected 0 < p50 <= p95, got {p50}, {p95}")
        self.p50, self.p95 = float(p50), float(p95)
        self.mu = math.log(p50)
        self.sigma = math.log(p95 / p50) / Z95

    @classmethod
    def of(cls, pair: tuple[float, float]) -> "LogNormal":
        return cls(pair[0], pair[1])

    def draw(self, rng: random.Random) -> float:
        if self.sigma == 0:
            return self.p50
        return math.exp(self.mu + self.sigma * rng.gauss(0.0, 1.0))

    def scaled(self, factor: float) -> "LogNormal":
        return LogNormal(self.p50 * factor, self.p95 * factor)


class Choice:
    """A weighted choice among ``items`` (weights >= 0, sum > 0)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, weights: dict) -> None:
        pairs = [(k, w) for k, w in weights.items() if w > 0]
        if not pairs:
            raise ValueError(f"Choice: expected a weight above 0 in {weights}")
        self.items = [k for k, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))
        self.total = self.cum[-1]

    def draw(self, rng: random.Random):
        return self.items[bisect_right(self.cum, rng.random() * self.total)]

    def index(self, rng: random.Random) -> int:
        return bisect_right(self.cum, rng.random() * self.total)


def chance(rng: random.Random, p: float) -> bool:
    return p > 0 and rng.random() < p
