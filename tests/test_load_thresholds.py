"""Thresholds for CI, per-step statistics and the summary (loadtests/): pure, no Locust."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, strategies as st

from loadtests import report
from loadtests.steps import Bucket, StepStats, rounded
from loadtests.thresholds import Threshold, ThresholdError, evaluate, load_file, parse, parse_all

KNOWN = ["web_topup", "ussd_topup", "kiosk_cash"]


@pytest.mark.parametrize("text, want", [
    ("web_topup.p95 < 800ms", ("web_topup", "p95", "<", 800.0)),
    ("web_topup.p99<=1.5s", ("web_topup", "p99", "<=", 1500.0)),
    ("*.fail_ratio < 1%", ("*", "fail_ratio", "<", 0.01)),
    ("total.fail_ratio <= 0.02", ("total", "fail_ratio", "<=", 0.02)),
    ("ussd_topup.tps >= 5", ("ussd_topup", "tps", ">=", 5.0)),
    ("kiosk_cash.tps > 2.5/s", ("kiosk_cash", "tps", ">", 2.5)),
    ("web_topup.avg < 300", ("web_topup", "avg", "<", 300.0)),
    ("web_topup.p50 < ٨٠٠ms", ("web_topup", "p50", "<", 800.0)),
])
def test_parse(text: str, want: tuple) -> None:
    t = parse(text, KNOWN)
    assert (t.name, t.metric, t.op, t.value) == want


@pytest.mark.parametrize("text, message", [
    ("web_topup p95 < 800", "expected NAME.METRIC OP VALUE"),
    ("bill.p95 < 800", "unknown transaction type 'bill'; expected *, total or one of web_topup"),
    ("web_topup.p97 < 800", "unknown metric 'p97'; expected one of fail_ratio"),
    ("web_topup.p95 < fast", "value 'fast' is not a number"),
    ("web_topup.p95 < 5%", "p95 takes milliseconds"),
    ("web_topup.fail_ratio < 2s", "fail_ratio takes a ratio"),
    ("web_topup.fail_ratio < 150%", "above 100%"),
    ("web_topup.tps > 5ms", "tps takes transactions per second"),
])
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ThresholdError, match=message.replace("*", r"\*")) as e:
        parse(text, KNOWN)
    assert str(e.value).startswith(f"--threshold {text!r}")


@given(name=st.sampled_from(KNOWN + ["*", "total"]), metric=st.sampled_from(["p50", "p90", "p95", "p99", "max", "avg"]),
       op=st.sampled_from(["<", "<=", ">", ">="]), ms=st.integers(0, 10**6))
def test_latency_thresholds_round_trip(name: str, metric: str, op: str, ms: int) -> None:
    t = parse(f"{name}.{metric} {op} {ms}ms", KNOWN)
    assert (t.name, t.metric, t.op, t.value) == (name, metric, op, float(ms))
    assert parse(f"{name}.{metric}{op}{ms / 1000}s", KNOWN).value == pytest.approx(ms)


@given(st.text(max_size=40))
def test_parser_never_crashes(text: str) -> None:
    try:
        parse(text, KNOWN)
    except ThresholdError as e:
        assert "--threshold" in str(e)


def test_files_as_a_list_or_a_mapping(tmp_path) -> None:
    f = tmp_path / "t.yaml"
    f.write_text('- "web_topup.p95 < 800ms"\n- "*.fail_ratio < 1%"\n')
    assert [t.text for t in load_file(str(f), KNOWN)] == ["web_topup.p95 < 800ms", "*.fail_ratio < 1%"]
    f.write_text('"*": {fail_ratio: "< 1%", p99: "< 2s"}\nweb_topup: {tps: ">= 20"}\n')
    ts = parse_all(["ussd_topup.p50 < 100"], str(f), KNOWN)
    assert [(t.name, t.metric, t.value) for t in ts] == [
        ("ussd_topup", "p50", 100.0), ("*", "fail_ratio", 0.01), ("*", "p99", 2000.0), ("web_topup", "tps", 20.0)]
    f.write_text("web_topup: {p95: '< soon'}\n")
    with pytest.raises(ThresholdError, match=r"--thresholds t.yaml 'web_topup.p95 < soon': value 'soon'"):
        load_file(str(f), KNOWN)
    f.write_text("42\n")
    with pytest.raises(ThresholdError, match="expected a list of"):
        load_file(str(f), KNOWN)
    with pytest.raises(ThresholdError, match="--thresholds .*nope.yaml: No such file"):
        load_file(str(tmp_path / "nope.yaml"), KNOWN)


def test_evaluate_expands_star_and_fails_without_data() -> None:
    stats = {"web_topup": {"count": 100, "failures": 2, "p95": 700.0, "tps": 9.5},
             "ussd_topup": {"count": 50, "failures": 0, "p95": 900.0, "tps": 4.0},
             "total": {"count": 150, "failures": 2, "p95": 850.0, "tps": 13.5}}
    ts = [parse(x, KNOWN) for x in ("*.p95 < 800", "*.fail_ratio < 1%", "total.tps >= 13", "kiosk_cash.p95 < 1s",
                                    "kiosk_cash.tps >= 1")]
    got = {(v.name, v.threshold.metric): (v.ok, v.measured) for v in evaluate(ts, stats, ["web_topup", "ussd_topup"])}
    assert got == {("web_topup", "p95"): (True, 700.0), ("ussd_topup", "p95"): (False, 900.0),
                   ("web_topup", "fail_ratio"): (False, 0.02), ("ussd_topup", "fail_ratio"): (True, 0.0),
                   ("total", "tps"): (True, 13.5), ("kiosk_cash", "p95"): (False, None),
                   ("kiosk_cash", "tps"): (False, 0.0)}
    line = evaluate([ts[0]], stats, ["ussd_topup"])[0].line()
    assert line == "FAIL  ussd_topup.p95 < 800 ms  measured 900 ms"
    assert Threshold("x", "p95", "<", 1.0, "x.p95<1").holds(0.5)


# -- step statistics -----------------------------------------------------------------------------
def test_rounding_like_locust() -> None:
    assert [rounded(x) for x in (3.4, 99.6, 123, 999, 1234, 25_049)] == [3, 100, 120, 1000, 1200, 25000]


def test_steps_merge_exactly_across_workers() -> None:
    stages = [(10.0, 5.0), (20.0, 10.0)]
    a, b, one = StepStats(stages), StepStats(stages), StepStats(stages)
    for i in range(300):
        t, ms = (i % 20) + 0.5, float(i % 97 + 1)
        ok = i % 31 != 0
        (a if i % 2 else b).record(t, "web_topup", ms, ok=ok, error=None if ok else "boom")
        one.record(t, "web_topup", ms, ok=ok, error=None if ok else "boom")
    a.record(25.0, "web_topup [declined]", 40.0, ok=True)           # after the last stage: counted in it
    one.record(25.0, "web_topup [declined]", 40.0, ok=True)
    merged = StepStats(stages)
    merged.merge_json(a.to_json())
    merged.merge_json(b.to_json())
    assert merged.totals(20.0) == one.totals(20.0)
    assert merged.per_step() == one.per_step()
    tot = one.totals(20.0)
    assert tot["web_topup"]["count"] == 300 and tot["web_topup"]["failures"] == 10
    assert tot["total"]["count"] == 300                       # business outcomes are not extra work
    assert tot["web_topup"]["errors"] == {"boom": 10}
    assert tot["web_topup"]["tps"] == pytest.approx(290 / 20.0)
    steps = one.per_step()
    assert [s["all"]["count"] for s in steps] == [150, 150] and steps[1]["tx"]["web_topup [declined]"]["count"] == 1


@given(st.lists(st.floats(0.1, 60_000), min_size=1, max_size=400))
def test_percentiles_are_order_statistics_of_the_rounded_values(values: list[float]) -> None:
    b = Bucket()
    for v in values:
        b.add(v, True)
    r = sorted(rounded(v) for v in values)
    for q in (0.5, 0.95, 0.99):
        p = b.percentile(q)
        assert p in r
        assert sum(x <= p for x in r) >= q * len(r) - 1e-9
    assert b.percentile(1.0) == max(r) and Bucket().percentile(0.5) is None


def test_summary_text_and_json() -> None:
    s = StepStats([(5.0, 2.0)])
    s.record(1.0, "web_topup", 120.0, ok=True)
    s.record(2.0, "web_topup", 400.0, ok=False, error="POST /v1/topups: HTTP 503 overloaded")
    stats, steps = s.totals(5.0), s.per_step()
    verdicts = evaluate([parse("web_topup.fail_ratio < 1%", KNOWN)], stats, ["web_topup"])
    settlement = {"ok": False, "lines": ["satim 2026-11-22: 1 matched"],
                  "problems": ["credited twice: order ord_x (2 credit transfers)"]}
    text = report.render("head", stats, steps, settlement, verdicts, 1)
    assert "web_topup                        2      1  50.00%" in text
    assert "web_topup: 1 x POST /v1/topups: HTTP 503 overloaded" in text
    assert "credited twice: order ord_x" in text and "settlement check: FAILED" in text
    assert "FAIL  web_topup.fail_ratio < 1.00%  measured 50.00%" in text and text.endswith("verdict: FAIL (exit 1)")
    data = json.loads(report.to_json({"profile": "p"}, stats, steps, settlement, verdicts, 1))
    assert data["transactions"]["web_topup"]["failures"] == 1 and data["thresholds"][0]["ok"] is False
