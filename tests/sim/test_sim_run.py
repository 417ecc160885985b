"""Whole runs: the result contract, determinism, every channel, every fault, conservation.

Small populations and short windows keep each run to a second or two; the figures that need
a peak hour of 100k subscribers are in benchmarks/ (part 2 of the simulator issue).
"""
from __future__ import annotations

import json
import math

import pytest

from sim.result import CHANNEL_KEYS, CHANNELS, MINUTE_COLUMNS, RunResult
from sim.run import SimConfigError, load_config, run

EVERY_CHANNEL = {
    "start": "2026-03-10T13:50:00+01:00",           # the post's 14:00 mandate run is inside
    "bills.per_day": 0.6, "meters.per_day": 0.8,
    "meters.load_delay_s": {"p50": 60, "p95": 300},
    "markets.DZ.mandates.households": 0.1, "markets.DZ.mandates.due_per_run": 0.5,
    "markets.DZ.topup.channels": {"web": 0.3, "ussd": 0.3, "kiosk": 0.2, "wallet": 0.1, "bank_app": 0.1},
}


def small(profile="dz-peak-hour", *, n=2500, hours=0.5, seed=1, faults=None, overrides=None, db=None):
    return run(load_config(profile, subscribers=n, hours=hours, seed=seed, faults=faults, db=db,
                           overrides={"drain_s": 600, **(overrides or {})}))


def channel_total(r: RunResult, channel: str, key: str) -> int:
    return sum(m["channels"][channel][key] for m in r.kpis["markets"].values())


def failures(r: RunResult, reason: str) -> int:
    return r.kpis["totals"]["failures_by_reason"].get(reason, 0)


@pytest.fixture(scope="module")
def every_channel() -> RunResult:
    return small("mixed-peak-hour", n=4000, seed=2, overrides=EVERY_CHANNEL)


def test_every_channel_produces_successes(every_channel):
    r = every_channel
    for ch in CHANNELS:
        assert channel_total(r, ch, "successes") > 0, ch
    assert r.ok, r.problems


def test_the_result_contract(every_channel):
    r = every_channel
    assert set(r.kpis) >= {"markets", "totals", "conservation"}
    assert sorted(r.kpis["markets"]) == ["DZ", "EG", "IR"]
    for m, block in r.kpis["markets"].items():
        assert block["currency"] == {"DZ": "DZD", "EG": "EGP", "IR": "IRR"}[m]
        assert isinstance(block["meter_hours_disconnected"], float)
        assert isinstance(block["settlement_discrepancies"], int) and isinstance(block["revenue_minor"], int)
        for ch in CHANNELS:
            c = block["channels"][ch]
            assert set(c) == set(CHANNEL_KEYS) and set(c["latency_s"]) == {"p50", "p95", "p99"}
            assert c["attempts"] == c["successes"] + sum(c["failures"].values()) + c["abandoned"]
    t = r.kpis["totals"]
    assert t["attempts"] == sum(channel_total(r, ch, "attempts") for ch in CHANNELS) > 0
    assert 0 < t["success_rate"] <= 1
    assert r.kpis["conservation"] == {**r.kpis["conservation"], "ok": True, "problems": []}
    assert len(r.minutes) == math.ceil((0.5 * 3600 + 600) / 60)
    assert all(list(row) == list(MINUTE_COLUMNS) for row in r.minutes)
    assert sum(row["attempts"] for row in r.minutes) == t["attempts"]
    assert sum(row["successes"] for row in r.minutes) == t["successes"]
    assert r.events > 0 and r.wall_s > 0 and r.peak_rss_mb > 0
    assert "wall_s" not in json.dumps(r.kpis) and "rss" not in json.dumps(r.kpis)
    cfg = r.config
    assert cfg["profile"] == "mixed-peak-hour" and cfg["subscribers"] == 4000 and cfg["seed"] == 2
    assert cfg["start"] == "2026-03-10T12:50:00Z" and cfg["faults"] is None


def test_floats_are_rounded_to_six_digits(every_channel):
    def walk(x):
        if isinstance(x, float):
            assert round(x, 6) == x
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
    walk(every_channel.kpis)
    walk(every_channel.minutes)


def test_same_seed_same_bytes_and_another_seed_differs():
    a = small(n=1500, hours=0.25, seed=11)
    b = small(n=1500, hours=0.25, seed=11)
    c = small(n=1500, hours=0.25, seed=12)
    dump = lambda r: json.dumps(r.kpis, sort_keys=True)     # noqa: E731
    assert dump(a) == dump(b) and a.minutes == b.minutes and a.events == b.events
    assert dump(a) != dump(c)


def test_smsc_slowdown_makes_codes_expire():
    over = {"topup.channels": {"web": 1.0}}
    slow = small(n=4000, hours=0.75, seed=3, faults="smsc-slowdown", overrides=over)
    calm = small(n=4000, hours=0.75, seed=3, overrides=over)
    assert slow.kpis["totals"]["otp_expiries"] > calm.kpis["totals"]["otp_expiries"]
    assert slow.kpis["totals"]["otp_expiries"] > 0
    assert slow.kpis["totals"].get("otp_delivered_late", 0) > 0
    assert max(row["smsc_queue"] for row in slow.minutes) >= max(row["smsc_queue"] for row in calm.minutes)
    assert slow.ok and calm.ok, slow.problems + calm.problems


def test_gateway_outage_fails_card_payments_and_money_still_adds_up():
    r = small(n=4000, hours=0.6, seed=4, faults="gateway-outage")
    assert failures(r, "gateway_unavailable") > 0
    assert sum(g["unavailable"] for g in r.kpis["network"]["gateways"].values()) > 0
    assert r.ok, r.problems


def test_ussd_overload_times_dialogues_out():
    r = small(n=4000, hours=0.5, seed=5, faults="ussd-overload", overrides={"topup.channels": {"ussd": 1.0}})
    assert r.kpis["markets"]["DZ"]["channels"]["ussd"]["ussd_timeouts"] > 0
    assert r.kpis["totals"]["ussd_timeouts"] == sum(row["ussd_timeouts"] for row in r.minutes)
    assert r.ok, r.problems


def test_a_core_restart_loses_nothing():
    r = small(n=4000, hours=0.5, seed=6, faults="core-restart")
    assert r.kpis["totals"]["core_restarts"] == 1
    assert r.ok, r.problems
    assert sum(row["successes"] for row in r.minutes[27:]) > 0     # business goes on after it


def test_progress_is_reported_each_simulated_minute():
    seen = []
    r = run(load_config("dz-peak-hour", subscribers=300, hours=0.1, overrides={"drain_s": 60}),
            progress=lambda done, total: seen.append((done, total)))
    assert seen == [(60.0 * k, 420.0) for k in range(1, 8)]         # 6 min of arrivals + 1 of drain
    assert r.config["hours"] == 0.1


def test_run_refuses_what_is_not_a_config():
    with pytest.raises(SimConfigError, match="expected a SimConfig"):
        run({"profile": "dz-peak-hour"})


@pytest.mark.postgres
def test_a_run_on_postgresql(pg_url):
    r = small(n=800, hours=0.25, seed=7, db=pg_url)
    assert r.ok, r.problems
    assert r.kpis["totals"]["successes"] > 0
    assert r.config["db"].startswith("postgresql://")
