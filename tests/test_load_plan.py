"""Load plans, shapes, pacing and test data (loadtests/): pure, no Locust, no core."""
from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, strategies as st

from core.billers import biller
from core.mandates import parse_ccp
from core.market import market
from core.msisdn import normalise
from loadtests import shapes
from loadtests.pacing import Pacer
from loadtests.plan import (TX_TYPES, Plan, PlanError, build_plan, keys_from_env, list_profiles, load_mix,
                            parse_duration, parse_list, parse_rate)
from loadtests.testdata import TestData, luhn_digit, range_msisdns
from sim.shape import load_shape


# -- profiles and the mix ---------------------------------------------------------------------
@pytest.mark.parametrize("name", list_profiles())
def test_every_shipped_profile_builds(name: str) -> None:
    plan = build_plan(name, tps=20, duration_s=60, seed=3)
    assert plan.tx_types and abs(sum(plan.tx_weights.values()) - 1) < 1e-9
    assert abs(sum(plan.markets.values()) - 1) < 1e-9
    assert plan.stages[-1][0] == pytest.approx(60) and max(t for _, t in plan.stages) == pytest.approx(20)
    again = Plan.from_json(plan.to_json())
    assert again.stages == plan.stages and again.tx_weights == plan.tx_weights


def test_mix_is_data_and_sums_to_one_per_market() -> None:
    mix = load_mix()
    assert set(mix) == {"DZ", "IR", "EG"}
    for entry in mix.values():
        assert sum(entry["mix"].values()) == pytest.approx(1.0)


def test_mixed_profile_weights_types_by_market_share() -> None:
    plan = build_plan("mixed-peak-hour", tps=10, duration_s=30)
    mix = load_mix()
    want = sum(plan.markets[m] * mix[m]["mix"].get("ussd_topup", 0) for m in plan.markets)
    assert plan.tx_weights["ussd_topup"] == pytest.approx(want)
    assert set(plan.markets_for("mandate_debit")) == {"DZ"}          # mandates exist in Algeria only
    assert set(plan.markets_for("web_topup")) == {"DZ", "IR", "EG"}


def test_only_and_market_narrow_the_plan() -> None:
    plan = build_plan("mixed-peak-hour", tps=10, duration_s=30, only=["vend_sts", "kiosk_cash"], markets=["EG"])
    assert plan.markets == {"EG": 1.0} and set(plan.tx_types) == {"vend_sts", "kiosk_cash"}
    assert sum(plan.mix["EG"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize("profile, kwargs, message", [
    ("ir-peak-hour", dict(only=["mandate_debit"]), "--only mandate_debit: no transaction type left to run in IR"),
    ("dz-peak-hour", dict(markets=["EG"]), "--market EG: profile dz-peak-hour has only DZ"),
    ("dz-peak-hour", dict(shape="wave"), "shape 'wave': expected one of peak_hour, step, spike, soak"),
    ("dz-peak-hour", dict(per_user_tps=0.0), "per_user_tps 0.0; expected a rate above 0"),
    ("dz-peak-hour", dict(arrivals="bursty"), "arrivals 'bursty'; expected one of poisson, constant"),
])
def test_plan_errors_say_what_was_expected(profile: str, kwargs: dict, message: str) -> None:
    with pytest.raises(PlanError, match=re.escape(message)):
        build_plan(profile, tps=10, duration_s=30, **kwargs)
    with pytest.raises(PlanError, match="unknown profile 'nope'; expected one of .*dz-peak-hour"):
        build_plan("nope", tps=1, duration_s=1)


def test_profile_file_with_an_unknown_transaction_type(tmp_path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("markets: {DZ: 1}\nmix: {DZ: {web_topup: 1, teleport: 1}}\n")
    with pytest.raises(PlanError, match="unknown transaction type 'teleport'; expected one of web_topup"):
        build_plan(str(f), tps=1, duration_s=1)
    f.write_text("markets: {DZ: 1}\nshape: {kind: step, steps: 0}\n")
    with pytest.raises(PlanError, match=r"shape.steps: expected a whole number from 1 to 1000, got 0"):
        build_plan(str(f), tps=1, duration_s=1)
    f.write_text("markets: [DZ\n")
    with pytest.raises(PlanError, match="not valid YAML"):
        build_plan(str(f), tps=1, duration_s=1)


# -- command-line values ----------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("2m", 120), ("1h30m", 5400),
                                           ("1.5m", 90), ("١٢٠", 120), ("۲m", 120)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5s", "2 minutes", "m", "5ms", "1h2h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(PlanError, match=r"--duration .*: expected a duration (such as 90s, 2m or 1h30m|above 0)"):
        parse_duration(text)


@given(h=st.integers(0, 5), m=st.integers(0, 59), s=st.integers(0, 59))
def test_duration_parser_reads_what_it_is_given(h: int, m: int, s: int) -> None:
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    total = h * 3600 + m * 60 + s
    if total == 0:
        with pytest.raises(PlanError):
            parse_duration(text or "0")
    else:
        assert parse_duration(text) == total


@given(st.text(max_size=12))
def test_duration_parser_never_crashes(text: str) -> None:
    try:
        assert parse_duration(text) > 0
    except PlanError as e:
        assert "--duration" in str(e)


@given(st.floats(min_value=0.001, max_value=1e6, allow_nan=False))
def test_rates_round_trip(x: float) -> None:
    assert parse_rate(repr(x)) == x
    assert parse_rate(f"{x}/s") == x


def test_rates_and_lists_refuse_nonsense() -> None:
    for bad in ("0", "-1", "fast", "nan", "inf"):
        with pytest.raises(PlanError, match="--tps"):
            parse_rate(bad)
    assert parse_list("web_topup, kiosk_cash", TX_TYPES, "--only") == ["web_topup", "kiosk_cash"]
    with pytest.raises(PlanError, match="--only 'web,kiosk_cash': unknown 'web'; expected comma-separated"):
        parse_list("web,kiosk_cash", TX_TYPES, "--only")
    assert keys_from_env("web=w1, admin=a1")["web"] == "w1"
    with pytest.raises(PlanError, match="RBENCH_API_KEYS: 'oops'"):
        keys_from_env("oops")


# -- shapes -----------------------------------------------------------------------------------
def test_peak_hour_follows_the_simulators_diurnal_profile() -> None:
    spec = {"kind": "peak_hour", "diurnal": "default", "kind_of_traffic": "topup", "start_hour": 18,
            "hours": 4, "steps": 8}
    table = shapes.stages(spec, tps=100, duration_s=240)
    assert [e for e, _ in table] == pytest.approx([30 * i for i in range(1, 9)])      # 4 h in 240 s
    assert max(t for _, t in table) == pytest.approx(100)                  # the busiest step offers tps
    w = load_shape("default")
    mids = [18 + 4 * (i + 0.5) / 8 for i in range(8)]
    top = max(w.weight("topup", h) for h in mids)
    ratios = [w.weight("topup", h) / top for h in mids]
    assert [t for _, t in table] == pytest.approx([100 * r for r in ratios])
    with pytest.raises(shapes.ShapeError, match="unknown kind 'teleport'"):
        shapes.stages({**spec, "kind_of_traffic": "teleport"}, tps=1, duration_s=1)


def test_step_spike_soak() -> None:
    assert shapes.stages({"kind": "step", "steps": 4}, tps=40, duration_s=120) == [
        (30.0, 10.0), (60.0, 20.0), (90.0, 30.0), (120.0, 40.0)]
    spike = shapes.stages({"kind": "spike"}, tps=50, duration_s=100)
    assert [x for stage in spike for x in stage] == pytest.approx([40.0, 10.0, 60.0, 50.0, 100.0, 10.0])
    assert shapes.stages({"kind": "soak"}, tps=7, duration_s=9) == [(9.0, 7.0)]
    with pytest.raises(shapes.ShapeError, match="at \\+ length is 1.2"):
        shapes.stages({"kind": "spike", "at": 0.9, "length": 0.3}, tps=1, duration_s=10)
    with pytest.raises(shapes.ShapeError, match="unknown keys \\['steps'\\]"):
        shapes.stages({"kind": "soak", "steps": 3}, tps=1, duration_s=10)


@given(tps=st.floats(0.01, 5000), pace=st.floats(0.01, 10))
def test_users_offer_the_stage_rate(tps: float, pace: float) -> None:
    users = shapes.users_for(tps, pace)
    assert users >= 1 and users * pace >= tps * (1 - 1e-9)
    table = [(10.0, tps)]
    assert users * shapes.per_user_rate(table, pace, 3.0) == pytest.approx(tps)
    assert shapes.tick(table, pace, 3.0) == (users, float(max(1, users)))
    assert shapes.tick(table, pace, 10.0) is None


# -- pacing -----------------------------------------------------------------------------------
def test_poisson_pacing_keeps_the_rate_and_never_bursts() -> None:
    now = [0.0]
    p = Pacer(lambda: 2.0, random.Random(1), "poisson", clock=lambda: now[0])
    waits = []
    for _ in range(4000):
        p.started()
        w = p.wait()
        waits.append(w)
        now[0] += w
    assert 4000 / now[0] == pytest.approx(2.0, rel=0.05)                # transactions start at the rate
    p.started()
    now[0] += 100                                                      # a transaction that took 100 s
    assert p.wait() == 0.0 and p.behind == 1                           # the next starts at once, no burst
    c = Pacer(lambda: 4.0, random.Random(1), "constant", clock=lambda: now[0])
    c.started()
    now[0] += 0.1
    assert c.wait() == pytest.approx(0.15)
    assert 0 <= c.first() <= 0.25
    with pytest.raises(ValueError, match="arrivals: 'bursty'"):
        Pacer(lambda: 1.0, random.Random(1), "bursty")


# -- test data --------------------------------------------------------------------------------
def test_ranges_are_unique_per_worker_and_user_and_valid_for_the_core() -> None:
    seen: set[str] = set()
    for w in (0, 1, 99):
        for u in (0, 1, 9999):
            d = TestData("DZ", w, u, seed=1)
            for slot in (0, 1, 99):
                n = d.msisdn(slot)
                assert n not in seen
                seen.add(n)
                assert normalise(n, market("DZ").numbering).e164 == d.e164(slot)
    for mkt in ("IR", "EG"):
        d = TestData(mkt, 7, 123, seed=1)
        assert normalise(d.msisdn(3), market(mkt).numbering).e164 == d.e164(3)
    d = TestData("EG", 12, 345, seed=2)
    m = d.meter(7)
    assert len(m) == 11 and luhn_digit(m[:-1]) == m[-1]
    assert d.meter(7) != TestData("EG", 13, 345).meter(7)
    assert re.fullmatch(r"[0-9A-F]{16}", d.card_serial(1))
    for b in ("dz-sonelgaz-elec", "eg-ncedc-elec", "ir-tci-fixed", "dz-at-fixe"):
        assert biller(b).parse_account(d.bill_account(b, 5)) == d.bill_account(b, 5)
    assert parse_ccp(d.ccp()).startswith("00")
    assert d.name() == TestData("EG", 12, 345, seed=2, locale="en_US").name()     # seeded, reproducible
    with pytest.raises(ValueError, match="worker 100 / user 0: expected worker < 100"):
        TestData("DZ", 100, 0)


def test_luhn_digit_agrees_with_the_core() -> None:
    from core.adapters.issuer import luhn_check_digit
    rng = random.Random(5)
    for _ in range(200):
        body = "".join(rng.choice("0123456789") for _ in range(rng.randrange(11, 19)))
        assert luhn_digit(body) == luhn_check_digit(body)


def test_ranges_ahead_are_what_the_users_take() -> None:
    got = range_msisdns("DZ", 2, 3, 4)
    assert len(got) == len(set(got)) == 24
    assert got == [TestData("DZ", w, u).msisdn(k) for w in range(2) for u in range(3) for k in range(4)]
    assert range_msisdns("IR", 1, 1, 1) == [TestData("IR", 0, 0).msisdn(0)]
    with pytest.raises(ValueError, match="expected at most 100 x 10000 x 100"):
        range_msisdns("DZ", 1, 10_001, 1)
    with pytest.raises(ValueError, match="market: 'XX'"):
        range_msisdns("XX", 1, 1, 1)


def test_a_provisioned_plan_round_trips() -> None:
    plan = build_plan("web-recharge", tps=5, duration_s=10, seed=1)
    assert plan.provisioned is False
    plan.provisioned = True
    assert Plan.from_json(plan.to_json()).provisioned is True
