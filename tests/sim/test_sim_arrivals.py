"""Thinning: the arrivals are the Poisson process of the rate asked for."""
from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given, settings, strategies as st

from sim.arrivals import arrival_times


def test_constant_rate_gives_exponential_gaps():
    times = list(arrival_times(random.Random(1), lambda t: 2.0, 2.0, 0.0, 5000.0))
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) == pytest.approx(10_000, rel=0.03)
    assert statistics.mean(gaps) == pytest.approx(0.5, rel=0.03)
    assert statistics.pstdev(gaps) == pytest.approx(0.5, rel=0.05)      # exponential: sd == mean


def test_counts_follow_the_integral_of_a_varying_rate():
    rate = lambda t: 1.0 + math.sin(t / 500.0) ** 2                      # noqa: E731
    counts = [sum(1 for _ in arrival_times(random.Random(s), rate, 2.0, 0.0, 2000.0)) for s in range(60)]
    expected = sum(rate(k + 0.5) for k in range(2000))                   # the integral, by steps of 1 s
    assert statistics.mean(counts) == pytest.approx(expected, rel=0.02)
    assert statistics.pvariance(counts) == pytest.approx(expected, rel=0.4)   # Poisson: variance == mean


def test_where_the_rate_is_twice_as_high_twice_as_many_arrive():
    rate = lambda t: 1.0 if t < 1000 else 2.0                            # noqa: E731
    times = list(arrival_times(random.Random(3), rate, 2.0, 0.0, 2000.0))
    first = sum(1 for t in times if t < 1000)
    assert (len(times) - first) / first == pytest.approx(2.0, rel=0.1)


def test_a_rate_above_the_bound_is_refused_and_zero_gives_nothing():
    with pytest.raises(ValueError, match="above rate_max"):
        list(arrival_times(random.Random(1), lambda t: 5.0, 1.0, 0.0, 100.0))
    assert list(arrival_times(random.Random(1), lambda t: 0.0, 0.0, 0.0, 100.0)) == []
    with pytest.raises(ValueError):
        list(arrival_times(random.Random(1), lambda t: 0.0, -1.0, 0.0, 100.0))


@settings(max_examples=50)
@given(st.integers(0, 10**6), st.floats(0.01, 5), st.floats(0, 500), st.floats(0.1, 500))
def test_times_are_increasing_inside_the_window_and_reproducible(seed, rate, t0, length):
    a = list(arrival_times(random.Random(seed), lambda t: rate, rate, t0, t0 + length))
    b = list(arrival_times(random.Random(seed), lambda t: rate, rate, t0, t0 + length))
    assert a == b
    assert all(t0 <= x < t0 + length for x in a)
    assert all(x < y for x, y in zip(a, b[1:]))
