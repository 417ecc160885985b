"""The diurnal load shape: the facts of specs/flows.md, modifiers, and the file's validation."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from sim.shape import ShapeError, interpolate, load_shape, parse_shape, window_peak


@pytest.fixture(scope="module")
def shape():
    return load_shape("default")


def test_each_kind_has_a_mean_of_one(shape):
    for kind, w in shape.kinds.items():
        assert len(w) == 24 and sum(w) / 24 == pytest.approx(1.0), kind


def test_peaks_hold_half_the_volume_and_the_trough_is_at_four(shape):
    w = shape.kinds["topup"]
    peaks = sum(w[h] for h in (*range(10, 14), *range(18, 22)))
    assert 0.45 <= peaks / sum(w) <= 0.6
    assert min(range(24), key=lambda h: w[h]) == 4


def test_gifts_peak_an_hour_after_self_purchases(shape):
    top, gift = shape.kinds["topup"], shape.kinds["gift"]
    assert all(gift[(h + 1) % 24] == pytest.approx(top[h]) for h in range(24))
    assert max(range(24), key=lambda h: gift[h]) == max(range(24), key=lambda h: top[h]) + 1


def test_ramadan_raises_the_pre_dawn_hours_and_salary_day_the_whole_day(shape):
    assert shape.weight("topup", 4.5, ("ramadan",)) > 3 * shape.weight("topup", 4.5)
    assert shape.weight("bill", 11.5, ("salary_day",)) == pytest.approx(1.7 * shape.weight("bill", 11.5))
    assert shape.weight("usage", 11.5, ("salary_day",)) == pytest.approx(shape.weight("usage", 11.5))
    with pytest.raises(ShapeError, match="unknown calendar event 'eid'"):
        shape.weight("topup", 1, ("eid",))


def test_weight_is_continuous_and_peak_bounds_the_window(shape):
    w = shape.hourly("topup")
    assert interpolate(w, 20.5) == pytest.approx(w[20])
    assert interpolate(w, 21.0) == pytest.approx((w[20] + w[21]) / 2)
    for start in (0.0, 3.3, 19.75, 23.5):
        peak = window_peak(w, start, 2.0)
        assert all(interpolate(w, start + k / 100) <= peak + 1e-12 for k in range(201))


@given(st.floats(-1000, 1000, allow_nan=False), st.lists(st.floats(0, 10), min_size=24, max_size=24))
def test_interpolation_is_periodic_and_within_neighbours(hour, weights):
    w = tuple(weights)
    assert interpolate(w, hour) == pytest.approx(interpolate(w, hour + 24), abs=1e-9)
    x = (hour - 0.5) % 24
    lo, hi = sorted((w[int(x) % 24], w[(int(x) + 1) % 24]))
    assert lo - 1e-9 <= interpolate(w, hour) <= hi + 1e-9


def test_locust_stages_follow_the_shape(shape):
    stages = shape.stages("topup", start_hour=3, hours=18, peak_users=500, step_s=3600)
    assert len(stages) == 18 and stages[-1][0] == 18 * 3600
    users = [u for _, u in stages]
    assert max(users) == 500 or max(users) == pytest.approx(500, abs=5)
    assert users[1] == min(users)                 # 04:00-05:00
    with pytest.raises(ShapeError):
        shape.stages("topup", start_hour=0, hours=1, peak_users=0)


@pytest.mark.parametrize("data, words", [
    ({"kinds": {"a": [1] * 23}}, "kinds.a: expected a list of 24"),
    ({"kinds": {"a": [1] * 23 + [-1]}}, "kinds.a[23]: expected a weight >= 0"),
    ({"kinds": {"a": [0] * 24}}, "at least one weight above 0"),
    ({"kinds": {"a": [1] * 24, "b": {"like": "c"}}}, "kinds.b: expected {like"),
    ({"kinds": {"a": [1] * 24, "b": {"like": "a", "offset_h": 30}}}, "offset_h: expected whole hours"),
    ({"kinds": {"a": [1] * 24}, "modifiers": {"x": {"kinds": ["z"]}}}, "modifiers.x.kinds"),
    ({"kinds": {"a": [1] * 24}, "modifiers": {"x": {"kinds": ["a"], "hours": {25: 2}}}}, "hours 0-23"),
    ({"kinds": {"a": [1] * 24}, "modifiers": {"x": {"kinds": ["a"], "factor": 0}}}, "factor: expected a number above 0"),
    ({"kinds": {"a": [1] * 24}, "extra": 1}, "unknown keys"),
])
def test_bad_shape_files_say_what_is_wrong(data, words):
    with pytest.raises(ShapeError, match=words.replace("[", r"\[").replace("{", r"\{")):
        parse_shape(data, "t.yaml")


def test_unknown_shape_name():
    with pytest.raises(ShapeError, match="unknown shape 'nope'; expected one of default"):
        load_shape("nope")
