"""What-if sweeps: Student-t intervals, derived seeds, KPI lookup, the sweep folder, and real
sweeps of the engine on local processes and (when the optional extra is installed) on Dask."""
from __future__ import annotations

import csv
import io
import json
import math
import re
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.report.confidence import incomplete_beta, mean_interval, t_cdf, t_quantile
from sim.report.sweep_files import csv_text, html_text, summary, write_sweep
from sim.sweep import Point, SweepError, SweepResult, derive_seed, kpi_value, sweep, validate

# ------------------------------------------------------------------------- Student t intervals

# two-sided 95% (p = 0.975) and 99% (p = 0.995) critical values from published t tables
T_TABLE = [(0.975, 1, 12.706205), (0.975, 2, 4.302653), (0.975, 3, 3.182446), (0.975, 4, 2.776445),
           (0.975, 9, 2.262157), (0.975, 29, 2.045230), (0.975, 120, 1.979930), (0.995, 4, 4.604095),
           (0.995, 1, 63.656741), (0.9, 10, 1.372184)]


@pytest.mark.parametrize("p,df,t", T_TABLE)
def test_t_quantile_matches_the_tables(p, df, t):
    assert t_quantile(p, df) == pytest.approx(t, abs=2e-6)
    assert t_quantile(1 - p, df) == pytest.approx(-t, abs=2e-6)


def test_t_tends_to_the_normal_with_many_degrees_of_freedom():
    assert t_quantile(0.975, 100_000) == pytest.approx(statistics.NormalDist().inv_cdf(0.975), abs=1e-4)


@given(st.floats(0.5005, 0.9995), st.integers(1, 400))
@settings(max_examples=150)
def test_t_cdf_inverts_t_quantile(p, df):
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-9)


@given(st.floats(0.01, 40), st.integers(1, 60))
@settings(max_examples=100)
def test_t_cdf_is_symmetric_and_increasing(t, df):
    assert t_cdf(t, df) + t_cdf(-t, df) == pytest.approx(1.0, abs=1e-12)
    assert t_cdf(t * 1.1, df) >= t_cdf(t, df)


def test_incomplete_beta_edges_and_a_closed_form():
    assert incomplete_beta(2, 3, 0.0) == 0.0 and incomplete_beta(2, 3, 1.0) == 1.0
    x = 0.3                                        # I_x(1, b) = 1 - (1 - x)^b
    assert incomplete_beta(1, 4, x) == pytest.approx(1 - (1 - x) ** 4, rel=1e-12)


def test_mean_interval_of_four_values():
    iv = mean_interval([1.0, 2.0, 3.0, 4.0])
    s = statistics.stdev([1, 2, 3, 4])
    assert iv.n == 4 and iv.mean == 2.5 and iv.stdev == pytest.approx(s)
    assert iv.half_width == pytest.approx(3.182446 * s / 2, rel=1e-6)
    assert iv.low == pytest.approx(2.5 - iv.half_width) and iv.high == pytest.approx(2.5 + iv.half_width)


def test_one_replication_has_a_mean_but_no_interval_and_none_has_neither():
    assert mean_interval([0.9]).mean == 0.9 and mean_interval([0.9]).half_width is None
    assert mean_interval([]).mean is None and mean_interval([None, math.nan]).n == 0


@given(st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=30))
@settings(max_examples=100)
def test_the_interval_contains_the_mean_and_widens_with_confidence(xs):
    a, b = mean_interval(xs, 0.90), mean_interval(xs, 0.99)
    assert a.low <= a.mean <= a.high
    assert b.half_width >= a.half_width


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5])
def test_confidence_outside_zero_one_is_refused(bad):
    with pytest.raises(ValueError, match="confidence"):
        mean_interval([1, 2], bad)


# --------------------------------------------------------------------------------- derived seeds

def test_seeds_are_derived_from_seed_value_and_replication_only():
    assert derive_seed(1, 0, 0) == derive_seed(1, 0, 0)
    seeds = {derive_seed(1, v, r) for v in range(20) for r in range(20)}
    assert len(seeds) == 400
    assert derive_seed(2, 0, 0) != derive_seed(1, 0, 0)
    assert derive_seed(1, 0, 1) != derive_seed(1, 1, 0)


@given(st.integers(0, 2**63), st.integers(0, 10_000), st.integers(0, 10_000))
def test_derived_seeds_are_non_negative_31_bit(seed, v, r):
    assert 0 <= derive_seed(seed, v, r) < 2**31


# ----------------------------------------------------------------------------------- KPI lookup

KPIS = {"totals": {"attempts": 10, "success_rate": 0.9, "label": "x", "flag": True, "latency_s": {"p95": 3.5}},
        "markets": {"DZ": {"channels": {"web": {"latency_s": {"p95": 12.5}, "failures": {"declined": 1}}}}}}


def test_kpi_names_a_total_or_a_dotted_path():
    assert kpi_value(KPIS, "success_rate") == 0.9
    assert kpi_value(KPIS, "markets.DZ.channels.web.latency_s.p95") == 12.5
    assert kpi_value(KPIS, "latency_s.p95") == 3.5 == kpi_value(KPIS, "totals.latency_s.p95")


@pytest.mark.parametrize("name,message", [
    ("succes_rate", r"no 'succes_rate' under totals; there: attempts, flag, label, latency_s, success_rate"),
    ("markets.EG.revenue_minor", r"no 'EG' under markets; there: DZ"),
    ("label", r"'label' is not a number"),
    ("flag", r"'flag' is not a number"),
    ("markets.DZ.channels.web.latency_s", r"not a number; numbers under it: p95"),
    ("latency_s.p99", r"no 'p99' under totals.latency_s; there: p95"),
])
def test_a_wrong_kpi_name_says_what_is_there(name, message):
    with pytest.raises(SweepError, match=message):
        kpi_value(KPIS, name)


@pytest.mark.parametrize("values,reps,message", [([], 2, "no values"), ([10, 10], 2, "repeat"),
                                                 ([10], 0, "replications must be at least 1")])
def test_a_sweep_that_cannot_run_is_refused_before_any_run(values, reps, message):
    with pytest.raises(SweepError, match=message):
        validate("dz-peak-hour", "network.smsc.throughput_per_s", values, reps, seed=0, subscribers=10,
                 hours=0.1, faults=None)


# ----------------------------------------------------------------------- the sweep's own folder

def fake_sweep(ok: bool = True) -> SweepResult:
    runs, points = [], []
    for i, value in enumerate([10, 20, 40]):
        ys = [0.5 + 0.1 * i + 0.01 * r for r in range(3)]
        for r, y in enumerate(ys):
            runs.append({"value": value, "value_index": i, "replication": r, "seed": derive_seed(5, i, r),
                         "ok": ok or (i, r) != (2, 1), "problems": [] if ok or (i, r) != (2, 1) else ["DZD off by 5"],
                         "kpis": {"totals": {"attempts": 100 + r, "success_rate": y}},
                         "events": 1000 + r, "wall_s": 1.5})
        points.append(Point(value, tuple(ys), mean_interval(ys), 0 if ok or i != 2 else 1))
    return SweepResult("dz-peak-hour", "network.smsc.throughput_per_s", [10, 20, 40], 3, 5, "success_rate",
                       1000, 0.5, None, runs, points, 12.0, "2 local processes")


def test_sweep_csv_has_a_row_per_run_with_seed_verdict_and_kpis():
    rows = list(csv.DictReader(io.StringIO(csv_text(fake_sweep(ok=False)))))
    assert len(rows) == 9
    assert list(rows[0]) == ["value", "replication", "seed", "conservation_ok", "success_rate", "attempts"]
    assert rows[7]["conservation_ok"] == "false" and rows[0]["conservation_ok"] == "true"
    assert rows[4]["value"] == "20" and rows[4]["replication"] == "1" and float(rows[4]["success_rate"]) == 0.61
    assert rows[4]["seed"] == str(derive_seed(5, 1, 1))


def test_sweep_json_has_mean_and_student_t_interval_per_value():
    data = summary(fake_sweep())
    p = data["points"][1]
    assert p["value"] == 20 and p["n"] == 3 and p["mean"] == pytest.approx(0.61)
    assert p["half_width"] == pytest.approx(4.302653 * 0.01 / math.sqrt(3), abs=1e-6)   # rounded to 6 places
    assert p["ci_low"] < p["mean"] < p["ci_high"] and data["ok"] is True
    assert "wall" not in json.dumps(data)


def test_sweep_folder_is_deterministic_and_its_page_self_contained(tmp_path):
    a, b = write_sweep(fake_sweep(), tmp_path / "a"), write_sweep(fake_sweep(), tmp_path / "b")
    for kind in ("csv", "json"):
        assert a[kind].read_bytes() == b[kind].read_bytes()
    assert a["png"].read_bytes().startswith(b"\x89PNG")
    html = a["html"].read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 1 and "<script" not in html
    assert not re.search(r"(src|href)=[\"']?https?:", html)
    assert "ALL RUNS CONSERVE MONEY" in html


def test_sweep_page_shouts_failed_runs():
    assert "CONSERVATION FAILED IN 1 RUN(S)" in html_text(fake_sweep(ok=False), b"png")


def test_categorical_values_plot_too(tmp_path):
    s = fake_sweep()
    s.values = ["slow", "normal", "fast"]
    assert write_sweep(s, tmp_path)["png"].stat().st_size > 5_000


# ------------------------------------------------------------------ real sweeps of the engine

TINY = {"subscribers": 5000, "hours": 0.25}
PARAM = "network.smsc.throughput_per_s"


def test_a_real_sweep_on_two_processes_is_reproducible(tmp_path):
    seen = []
    s = sweep("dz-peak-hour", PARAM, [5, 80], 2, seed=3, processes=2, out=tmp_path / "a",
              on_run=lambda done, total, a: seen.append((done, total)), **TINY)
    assert s.ok and [p.interval.n for p in s.points] == [2, 2]
    assert [(r["value_index"], r["replication"]) for r in s.runs] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert [r["seed"] for r in s.runs] == [derive_seed(3, v, r) for v in range(2) for r in range(2)]
    assert sorted(seen) == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len({r["seed"] for r in s.runs}) == 4
    again = sweep("dz-peak-hour", PARAM, [5, 80], 2, seed=3, processes=3, out=tmp_path / "b", **TINY)
    for name in ("sweep.csv", "sweep.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert [r["kpis"] for r in again.runs] == [r["kpis"] for r in s.runs]


def test_a_value_the_engine_refuses_stops_the_sweep_before_any_run():
    from sim.schema import SimConfigError

    with pytest.raises(SimConfigError, match="throughput_per_s"):
        sweep("dz-peak-hour", PARAM, [20, -5], 2, seed=1, processes=2, **TINY)


def test_a_kpi_the_runs_do_not_have_stops_the_sweep_with_the_names_there(tmp_path):
    with pytest.raises(SweepError, match="no 'succes_rate' under totals; there: .*success_rate"):
        sweep("dz-peak-hour", PARAM, [80], 1, seed=1, processes=1, kpi="succes_rate", **TINY)


def test_the_same_sweep_on_a_dask_cluster_gives_the_same_runs(tmp_path):
    distributed = pytest.importorskip(
        "dask.distributed", reason="dask is an optional extra: pip install 'rechargebench[dask]' to test this path")
    with distributed.LocalCluster(processes=False, n_workers=2, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        s = sweep("dz-peak-hour", PARAM, [5, 80], 1, seed=3, scheduler_address=cluster.scheduler_address,
                  out=tmp_path / "dask", **TINY)
    sweep("dz-peak-hour", PARAM, [5, 80], 1, seed=3, processes=2, out=tmp_path / "local", **TINY)
    assert s.workers == f"dask {cluster.scheduler_address}"
    assert (tmp_path / "dask" / "sweep.json").read_bytes() == (tmp_path / "local" / "sweep.json").read_bytes()


def test_without_dask_the_scheduler_flag_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, *args, **kw):
        if name.startswith("dask"):
            raise ImportError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with pytest.raises(SweepError, match=r"pip install 'rechargebench\[dask\]'"):
        sweep("dz-peak-hour", PARAM, [80], 1, seed=1, scheduler_address="tcp://127.0.0.1:1", **TINY)
