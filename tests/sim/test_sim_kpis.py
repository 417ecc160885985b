"""KPI collectors: every attempt ends once; percentiles by nearest rank; minute rows."""
from __future__ import annotations

import pytest
import simpy
from hypothesis import given, strategies as st

from sim.kpis import Kpis, percentile
from sim.result import CHANNEL_KEYS, CHANNELS, MINUTE_COLUMNS, RunResult, rounded


def test_percentile_is_nearest_rank():
    xs = list(range(1, 101))
    assert (percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile(xs, 100)) == (50, 95, 99, 100)
    assert percentile([], 50) == 0.0 and percentile([7.0], 99) == 7.0


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200), st.floats(0.1, 100))
def test_percentile_is_a_member_and_monotone(xs, q):
    xs = sorted(xs)
    p = percentile(xs, q)
    assert p in xs and p <= percentile(xs, 100)
    assert sum(1 for x in xs if x <= p) >= q / 100 * len(xs) - 1e-9


def test_attempts_end_once_and_land_in_their_minute():
    env = simpy.Environment()
    k = Kpis(env, ["DZ"], {"DZ": "DZD"})

    def person(delay, end):
        k.arrival()
        a = k.begin("DZ", "web")
        t0 = env.now
        yield env.timeout(delay)
        if end == "ok":
            k.succeed(a, t0, 10_000)
        elif end == "fail":
            k.fail(a, "wrong_cvc2")
            k.otp_expired("DZ", "web")
        else:
            k.abandon(a, "left")
    env.process(person(30, "ok"))
    env.process(person(90, "fail"))
    env.process(person(100, "abandon"))
    env.process(person(500, "ok"))
    env.run(until=150)
    k.close_running()
    with pytest.raises(KeyError):          # an attempt ends once
        k.fail(1, "again")
    ch = k.channel(("DZ", "web"))
    assert set(ch) == set(CHANNEL_KEYS)
    assert ch["attempts"] == 4 and ch["successes"] == 1 and ch["abandoned"] == 1
    assert ch["failures"] == {"unfinished": 1, "wrong_cvc2": 1}
    assert ch["latency_s"]["p50"] == 30.0 and ch["revenue_minor"] == 10_000 and ch["otp_expiries"] == 1
    rows = k.minutes(1_767_225_600.0, 180)
    assert [r["minute"] for r in rows] == [0, 1, 2] and all(list(r) == list(MINUTE_COLUMNS) for r in rows)
    assert rows[0]["arrivals"] == 4 and rows[0]["successes"] == 1 and rows[0]["latency_p50_s"] == 30.0
    assert rows[1]["failures"] == 1 and rows[1]["abandoned"] == 1 and rows[1]["success_rate"] == 0.0
    assert rows[0]["time"] == "2026-01-01T00:00Z"
    t = k.totals()
    assert t["attempts"] == 4 and t["success_rate"] == 0.25 and t["revenue_minor"] == {"DZD": 10_000}
    block = k.markets_block()
    assert set(block["DZ"]["channels"]) == set(CHANNELS) and block["DZ"]["revenue_minor"] == 10_000


def test_a_success_learnt_afterwards_goes_to_its_own_minute():
    env = simpy.Environment()
    k = Kpis(env, ["EG"], {"EG": "EGP"})
    a = k.begin("EG", "ussd")
    env.run(until=400)
    k.succeed(a, 0.0, 500, at=130.0)
    rows = k.minutes(0.0, 400)
    assert rows[2]["successes"] == 1 and rows[2]["latency_p50_s"] == 130.0


def test_result_contract_ok_and_rounding():
    base = {"totals": {"attempts": 3}, "conservation": {"ok": True, "problems": []}}
    assert RunResult({}, base).ok
    assert not RunResult({}, {**base, "conservation": {"ok": False, "problems": ["x"]}}).ok
    empty = RunResult({}, {**base, "totals": {"attempts": 0}})
    assert not empty.ok and "no attempts" in empty.problems[0]
    assert rounded({"a": [1.23456789, {"b": 2.0000004}], "c": 3}) == {"a": [1.234568, {"b": 2.0}], "c": 3}
