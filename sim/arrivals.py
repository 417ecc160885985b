"""Non-homogeneous Poisson arrivals by thinning (Lewis and Shedler).

Candidates come at the constant rate ``rate_max`` (>= the rate anywhere in the window); each
is kept with probability ``rate(t) / rate_max``. What is kept is a Poisson process of rate
``rate(t)``: exact for any rate function, and cheap when ``rate_max`` is close to the peak
(the shape gives the window's peak, so about half the candidates are kept at worst).

    for t in arrival_times(rng, lambda t: 2.0 + math.sin(t / 600), 3.0, 0.0, 3600.0):
        ...
"""
from __future__ import annotations

import random
from typing import Callable, Iterator


def arrival_times(rng: random.Random, rate: Callable[[float], float], rate_max: float,
                  t0: float, t1: float) -> Iterator[float]:
    """Arrival times in [t0, t1) of a Poisson process of intensity ``rate(t)`` <= ``rate_max``."""
    if rate_max < 0:
        raise ValueError(f"rate_max: expected >= 0, got {rate_max}")
    if rate_max == 0:
        return
    t = t0
    expo, uniform = rng.expovariate, rng.random
    while True:
        t += expo(rate_max)
        if t >= t1:
            return
        r = rate(t)
        if r > rate_max * (1 + 1e-9):
            raise ValueError(f"rate({t:.1f}) = {r} is above rate_max {rate_max}: thinning needs a bound")
        if uniform() * rate_max <= r:
            yield t
