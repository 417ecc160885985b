"""Confidence intervals of a KPI over replications: mean +- t * s / sqrt(n), Student t.

A sweep has few replications per value (3 to 10), where the normal 1.96 understates the
interval badly (t = 4.30 at n = 3), so the t quantile is computed exactly, from the
regularised incomplete beta function (continued fraction, as in Numerical Recipes §6.4),
without pulling in SciPy for one number. Pure Python floats: the same inputs give the same
interval on any machine.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

_EPS = 1e-15
_TINY = 1e-300


def _beta_fraction(a: float, b: float, x: float) -> float:
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)),
                   -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1.0) < _EPS:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_fraction(a, b, x) / a
    return 1.0 - front * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be > 0, got {df}")
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with ``t_cdf(t, df) == p`` (bisection to full float precision)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be strictly between 0 and 1, got {p}")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if mid in (lo, hi):
            break
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` replications and its two-sided confidence interval."""

    n: int
    mean: float | None
    stdev: float | None          # sample standard deviation (n - 1); None below 2 values
    half_width: float | None     # None below 2 values: one run says nothing about the spread
    confidence: float

    @property
    def low(self) -> float | None:
        return None if self.half_width is None or self.mean is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        return None if self.half_width is None or self.mean is None else self.mean + self.half_width


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean +- t(1 - alpha/2, n - 1) * s / sqrt(n) of ``values`` (NaN/None values are dropped)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence}")
    xs = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(xs)
    if n == 0:
        return Interval(0, None, None, None, confidence)
    mean = math.fsum(xs) / n
    if n == 1:
        return Interval(1, mean, None, None, confidence)
    stdev = statistics.stdev(xs)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * stdev / math.sqrt(n)
    return Interval(n, mean, stdev, half, confidence)
