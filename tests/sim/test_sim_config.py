"""Profiles, fault files and overrides: what loads, and the messages for what must not run."""
from __future__ import annotations

import json

import pytest

from sim.config import SimConfig, SimConfigError, list_profiles, load_config, override_keys
from sim.faults import list_faults

REQUIRED = {"dz-peak-hour", "ir-normal-day", "eg-salary-day", "dz-ramadan-last-night", "mixed-peak-hour"}


def test_the_required_profiles_and_fault_files_exist():
    assert REQUIRED <= set(list_profiles())
    assert "_base" not in list_profiles()
    assert {"smsc-slowdown", "gateway-outage", "ussd-overload", "core-restart"} <= set(list_faults())


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_every_profile_loads_and_is_json_able(name):
    cfg = load_config(name)
    assert isinstance(cfg, SimConfig) and cfg.subscribers >= 1 and cfg.hours > 0
    assert sum(cfg.market_counts().values()) == cfg.subscribers
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert {"profile", "markets", "subscribers", "hours", "seed", "faults", "start", "db"} <= set(d)


def test_mixed_peak_hour_has_all_three_markets_and_each_its_local_hour():
    cfg = load_config("mixed-peak-hour")
    assert sorted(cfg.markets) == ["DZ", "EG", "IR"]
    assert cfg.start_iso == "2026-03-10T18:00:00Z"
    assert [cfg.markets[m]["utc_offset_h"] for m in ("DZ", "EG", "IR")] == [1, 2, 3.5]


def test_run_arguments_win_over_the_profile():
    cfg = load_config("dz-peak-hour", subscribers=123, hours=0.5, seed=9, db="sqlite:////tmp/x.db")
    assert (cfg.subscribers, cfg.hours, cfg.seed, cfg.db) == (123, 0.5, 9, "sqlite:////tmp/x.db")


def test_money_is_minor_units_and_distributions_are_pairs():
    dz = load_config("dz-peak-hour").markets["DZ"]
    assert dz["low_balance"]["threshold"] == 3000          # "30" DZD
    assert dz["topup"]["amounts"][10000] > 0               # "100" DZD
    assert dz["balance"] == (12000.0, 150000.0)


def test_overrides_take_short_and_full_keys():
    cfg = load_config("mixed-peak-hour", overrides={"smsc.throughput_per_s": 20, "otp.validity_s": 300,
                                                     "topup.per_day": 0.3, "markets.EG.prepaid": 0.5,
                                                     "gateways.satim.capacity": 7, "seed": 4})
    assert cfg.network["smsc"]["throughput_per_s"] == 20
    assert cfg.otp == {"validity_s": 300}
    assert all(cfg.markets[m]["topup"]["per_day"] == 0.3 for m in cfg.markets)
    assert cfg.markets["EG"]["prepaid"] == 0.5 and cfg.markets["DZ"]["prepaid"] != 0.5
    assert cfg.network["gateways"]["satim"] == {"capacity": 7}
    assert cfg.seed == 4
    assert "network.smsc.throughput_per_s" in cfg.overrides and "markets.DZ.topup.per_day" in cfg.overrides


def test_override_keys_list_what_sweeps_may_set():
    keys = override_keys(load_config("dz-peak-hour"))
    for k in ("seed", "network.smsc.throughput_per_s", "otp.validity_s", "markets.DZ.topup.per_day",
              "human.otp_typo", "network.gateways.satim.capacity", "markets.DZ.meters.keypad_typo"):
        assert k in keys
    assert not any(k.startswith("markets.EG") for k in keys)


@pytest.mark.parametrize("kwargs, words", [
    (dict(subscribers=0), ["subscribers", "got 0", ">= 1"]),
    (dict(hours=-1), ["hours", "> 0"]),
    (dict(overrides={"human.otp_typo": 1.5}), ["human.otp_typo", "1.5", "<= 1"]),
    (dict(overrides={"topup.per_day": -0.2}), ["markets.DZ.topup.per_day", ">= 0"]),
    (dict(overrides={"smsc.throughput_per_s": 0}), ["network.smsc.throughput_per_s", "> 0"]),
    (dict(overrides={"smsc.througput_per_s": 20}), ["smsc.througput_per_s", "network.smsc.throughput_per_s"]),
    (dict(overrides={"markets.DZ.languages": {"fa": 1}}), ["markets.DZ.languages.fa", "ar, fr"]),
    (dict(overrides={"markets.DZ.operators": {"Vodafone": 1}}), ["Vodafone", "Djezzy"]),
    (dict(overrides={"markets.DZ.topup.amounts": {"10": 1}}), ["amounts.10", "50.00..5000.00"]),
    (dict(overrides={"markets.DZ.topup.amounts": {"1.234": 1}}), ["amounts.1.234", "DZD"]),
    (dict(overrides={"markets.DZ.bills.billers": {"eg-ncedc-elec": 1}}), ["eg-ncedc-elec", "dz-sonelgaz-elec"]),
    (dict(overrides={"markets.DZ.mandates.biller": "dz-sonelgaz-elec"}), ["mandates.biller", "dz-at-adsl"]),
    (dict(overrides={"calendar": ["eid"]}), ["calendar", "ramadan"]),
    (dict(overrides={"start": "2026-03-10T20:00"}), ["start", "UTC offset"]),
    (dict(overrides={"human.think_s": {"p50": 5, "p95": 2}}), ["human.think_s.p95", ">= p50"]),
    (dict(overrides={"network.gateways.satim.capacity": 0}), ["network.gateways.satim.capacity", ">= 1"]),
    (dict(overrides={"network.gateways.foo.capacity": 3}), ["network.gateways.foo.capacity", "unknown key"]),
    (dict(overrides={"markets.DZ.share": 0}), ["markets.DZ.share", "> 0"]),
    (dict(faults="nope"), ["nope", "smsc-slowdown"]),
    (dict(faults="gateway-outage", hours=0.25), ["minute 20", "after the run ends"]),
    (dict(db="mysql://x"), ["db", "sqlite:///PATH"]),
    (dict(seed=-3), ["seed", ">= 0"]),
])
def test_bad_input_names_the_key_and_what_is_allowed(kwargs, words):
    with pytest.raises(SimConfigError) as e:
        load_config("dz-peak-hour", **kwargs)
    for w in words:
        assert w in str(e.value)


def test_unknown_profile_suggests_the_close_one():
    with pytest.raises(SimConfigError, match="did you mean 'dz-peak-hour'"):
        load_config("dz-pek-hour")


def test_a_market_share_that_leaves_a_market_empty_is_refused():
    with pytest.raises(SimConfigError, match="markets.IR.share.*at least 1 subscriber"):
        load_config("mixed-peak-hour", subscribers=2)


def test_profile_files_from_a_path_and_their_errors(tmp_path):
    good = tmp_path / "p.yaml"
    good.write_text("hours: 0.5\nmarkets:\n  EG: {share: 1}\n")
    assert sorted(load_config(str(good)).markets) == ["EG"]
    for text, words in [("markets: {XX: {share: 1}}\n", "markets.XX: unknown market"),
                        ("markets: {}\n", "expected a mapping of market codes"),
                        ("markets: {DZ: {share: 1}}\nsmsc: {}\n", "smsc: unknown key"),
                        ("markets: {DZ: {share: 1, prepaid: 2}}\n", "markets.DZ.prepaid: got 2"),
                        ("- a list\n", "expected a mapping"),
                        ("markets: [\n", "not valid YAML")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(SimConfigError, match=words.replace("[", r"\[")):
            load_config(str(bad))


def test_fault_files_are_validated(tmp_path):
    f = tmp_path / "f.yaml"
    for text, words in [("faults: [{kind: meteor, start_min: 1}]\n", "kind: got 'meteor'"),
                        ("faults: [{kind: smsc_slowdown, start_min: 1, duration_min: 5, throughput_factor: 2,"
                         " delay_factor: 3}]\n", "throughput_factor: got 2"),
                        ("faults: [{kind: gateway_outage, gateways: [paypal], start_min: 1, duration_min: 5}]\n",
                         "gateways: got 'paypal'"),
                        ("faults: [{kind: core_restart, at_min: 1, downtime_s: -5}]\n", "downtime_s: got -5"),
                        ("faults: []\n", "at least one fault")]:
        f.write_text(text)
        with pytest.raises(SimConfigError, match=words):
            load_config("dz-peak-hour", faults=str(f))


def test_fault_schedule_windows():
    cfg = load_config("mixed-peak-hour", faults="gateway-outage")
    assert cfg.faults.outages("satim") == [(1200.0, 1800.0)] == cfg.faults.outages("shaparak")
    slow = load_config("dz-peak-hour", faults="smsc-slowdown").faults
    assert slow.smsc_at(0) == (1.0, 1.0, None)
    assert slow.smsc_at(700)[0] == 0.05 and slow.smsc_at(700)[1] == 15
    assert load_config("dz-peak-hour", faults="core-restart").faults.restarts() == [(1500.0, 90.0)]
