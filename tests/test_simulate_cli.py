"""`rbench simulate` and `rbench sweep`: bad input is one line and exit 2; a tiny real run
writes the whole report folder; the same seed gives the same kpis.json bytes."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hil.cli import main
from hil.simulate import InputError, core_log, parse_count, parse_overrides, parse_values
from sim.result import MINUTE_COLUMNS

TINY = ["--subscribers", "5000", "--hours", "0.25"]
REPORT_FILES = {"kpis.json", "minutes.csv", "run.json", "report.html", "load.png", "success_rate.png",
                "latency.png", "smsc_queue.png", "otp_ussd.png"}


def one_line_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    return lines[0]


# ----------------------------------------------------------------------- parsing, no engine

@pytest.mark.parametrize("text,n", [("20000", 20000), ("20_000", 20000), ("20k", 20000), ("1M", 1_000_000),
                                    ("2.5k", 2500), ("٢٠٠٠٠", 20000), ("۱۰k", 10000), ("1,000", 1000)])
def test_counts_read_as_people_type_them(text, n):
    assert parse_count("--subscribers", text) == n


@pytest.mark.parametrize("text", ["", "abc", "0", "-5", "1.5", "2.0001k", "1e6", "k"])
def test_counts_that_are_not_whole_positive_numbers_are_refused(text):
    with pytest.raises(InputError, match="--subscribers"):
        parse_count("--subscribers", text)


def test_overrides_and_values_are_json_when_they_read_as_json():
    assert parse_overrides(["network.smsc.throughput_per_s=20", "otp.validity_s=١٢٠", "x.name=slow",
                            "y.on=true", "z=null"]) == {
        "network.smsc.throughput_per_s": 20, "otp.validity_s": 120, "x.name": "slow", "y.on": True, "z": None}
    assert parse_values("10,20.5,fast") == [10, 20.5, "fast"]
    assert parse_values("١٠،٢٠") == [10, 20]


@pytest.mark.parametrize("items,message", [(["novalue"], "expected KEY=VALUE"), (["a="], "expected KEY=VALUE"),
                                           (["=1"], "expected KEY=VALUE"), (["a=1", "a=2"], "given twice")])
def test_bad_overrides(items, message):
    with pytest.raises(InputError, match=message):
        parse_overrides(items)


@pytest.mark.parametrize("text", ["", "10,,20", "10,"])
def test_bad_value_lists(text):
    with pytest.raises(InputError, match="--values"):
        parse_values(text)


@pytest.mark.parametrize("argv,needle", [
    (["simulate"], "missing PROFILE"),
    (["simulate", "dz-peak-hour", "--subscribers", "lots"], "--subscribers 'lots': expected a whole number"),
    (["simulate", "dz-peak-hour", "--hours", "-1"], "--hours '-1': expected a number above 0"),
    (["simulate", "dz-peak-hour", "--seed", "x"], "--seed 'x'"),
    (["simulate", "dz-peak-hour", "--set", "oops"], "--set 'oops': expected KEY=VALUE"),
    (["sweep", "--param", "a", "--values", "1"], "missing PROFILE"),
    (["sweep", "dz-peak-hour", "--values", "1"], "missing --param"),
    (["sweep", "dz-peak-hour", "--param", "a"], "missing --values"),
    (["sweep", "dz-peak-hour", "--param", "a", "--values", "1,,2"], "--values"),
    (["sweep", "dz-peak-hour", "--param", "a", "--values", "1", "--replications", "0"], "--replications '0'"),
    (["sweep", "dz-peak-hour", "--param", "a", "--values", "1", "--processes", "0"], "--processes '0'"),
    (["sweep", "dz-peak-hour", "--param", "a.b", "--values", "1", "--set", "a.b=2"], "that is the swept --param"),
])
def test_bad_arguments_are_one_line_and_exit_2(capsys, argv, needle):
    line = one_line_error(capsys, argv)
    assert line.startswith(f"rbench {argv[0]}: ") and needle in line


def test_the_cores_warnings_go_to_core_log_not_through_the_progress_bar(tmp_path, capsys):
    import logging

    logging.basicConfig(level=logging.WARNING)
    with core_log(tmp_path / "core.log") as log:
        logging.getLogger("rbench.payments").warning("callback for unknown payment x ignored")
        logging.getLogger("rbench.payments").info("not kept")
    logging.getLogger("rbench.payments").warning("after the run: the console again")
    assert log.count == 1
    assert (tmp_path / "core.log").read_text() == "WARNING rbench.payments: callback for unknown payment x ignored\n"
    assert "unknown payment" not in capsys.readouterr().err


# ------------------------------------------------------------------------- with the engine

def test_list_profiles_prints_one_name_a_line(capsys):
    assert main(["simulate", "--list-profiles"]) == 0
    names = capsys.readouterr().out.splitlines()
    for name in ("dz-peak-hour", "ir-normal-day", "eg-salary-day", "dz-ramadan-last-night", "mixed-peak-hour"):
        assert name in names
    assert all(n and " " not in n for n in names)


def test_sweep_lists_the_keys_it_may_vary(capsys):
    assert main(["sweep", "dz-peak-hour", "--list-params"]) == 0
    keys = capsys.readouterr().out.splitlines()
    assert "network.smsc.throughput_per_s" in keys and len(keys) == len(set(keys)) > 10


@pytest.mark.parametrize("argv,needle", [
    (["simulate", "no-such-profile"], "no-such-profile"),
    (["simulate", "dz-peak-hour", "--faults", "no-such-fault"], "no-such-fault"),
    (["simulate", "dz-peak-hour", "--set", "network.smsc.throughput_per_s=-3"], "throughput_per_s"),
    (["simulate", "dz-peak-hour", "--set", "no.such.key=1"], "no.such.key"),
    (["sweep", "dz-peak-hour", "--param", "network.smsc.throughput_per_s", "--values", "10,-1"], "throughput_per_s"),
    (["sweep", "no-such-profile", "--param", "a", "--values", "1"], "no-such-profile"),
])
def test_input_the_engine_refuses_is_one_line_and_exit_2(capsys, argv, needle):
    assert needle in one_line_error(capsys, argv)


def test_a_tiny_real_run_writes_the_report_folder(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["simulate", "dz-peak-hour", *TINY, "--seed", "5", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert {p.name for p in out.iterdir()} - {"core.log"} == REPORT_FILES
    assert captured.out.splitlines()[-1] == f"report: {out / 'report.html'}"
    assert "verdict: PASS, conservation OK" in captured.out and "DZ " in captured.out
    assert "dz-peak-hour [" in captured.err and "100%" in captured.err          # the progress bar
    kpis = json.loads((out / "kpis.json").read_text())
    assert kpis["conservation"]["ok"] is True and kpis["totals"]["attempts"] > 0
    header = (out / "minutes.csv").read_text().splitlines()[0].split(",")
    assert header[:len(MINUTE_COLUMNS)] == list(MINUTE_COLUMNS)
    assert "CONSERVATION OK" in (out / "report.html").read_text(encoding="utf-8")
    assert json.loads((out / "run.json").read_text())["config"]["seed"] == 5


def test_same_seed_same_kpis_json_bytes_other_seed_other_bytes(tmp_path, capsys):
    for name, seed in (("a", "11"), ("b", "11"), ("c", "12")):
        assert main(["simulate", "dz-peak-hour", *TINY, "--seed", seed, "--quiet", "--no-plots",
                     "--out", str(tmp_path / name)]) == 0
    a, b, c = ((tmp_path / n / "kpis.json").read_bytes() for n in "abc")
    assert a == b and a != c
    assert (tmp_path / "a" / "minutes.csv").read_bytes() == (tmp_path / "b" / "minutes.csv").read_bytes()


def test_same_seed_same_bytes_in_another_process(tmp_path, capsys):
    """Another interpreter (another hash seed, fresh imports): still the same bytes."""
    assert main(["simulate", "dz-peak-hour", *TINY, "--seed", "4", "--quiet", "--no-plots",
                 "--out", str(tmp_path / "here")]) == 0
    env_code = ("import sys; from hil.cli import main; sys.exit(main(sys.argv[1:]))")
    subprocess.run([sys.executable, "-c", env_code, "simulate", "dz-peak-hour", *TINY, "--seed", "4", "--quiet",
                    "--no-plots", "--out", str(tmp_path / "there")], check=True, capture_output=True,
                   env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert (tmp_path / "here" / "kpis.json").read_bytes() == (tmp_path / "there" / "kpis.json").read_bytes()


def test_sweep_two_values_two_replications_two_processes(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sweep", "dz-peak-hour", "--param", "network.smsc.throughput_per_s", "--values", "5,80",
                 "--replications", "2", "--processes", "2", *TINY, "--seed", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert {p.name for p in out.iterdir()} == {"sweep.csv", "sweep.json", "sweep.png", "sweep.html"}
    data = json.loads((out / "sweep.json").read_text())
    assert [p["value"] for p in data["points"]] == [5, 80] and [p["n"] for p in data["points"]] == [2, 2]
    assert len((out / "sweep.csv").read_text().splitlines()) == 5
    assert captured.err.count("[") >= 4 and "[4/4]" in captured.err
    assert "success_rate vs network.smsc.throughput_per_s" in captured.out
    assert captured.out.splitlines()[-1] == f"sweep: {out / 'sweep.html'}"


def test_sweep_with_a_kpi_the_runs_lack_is_one_line_and_exit_2(tmp_path, capsys):
    line = one_line_error(capsys, ["sweep", "dz-peak-hour", "--param", "network.smsc.throughput_per_s",
                                   "--values", "80", "--replications", "1", "--processes", "1", *TINY,
                                   "--kpi", "nope", "--out", str(tmp_path)])
    assert "KPI 'nope'" in line and "success_rate" in line


# ------------------------------------------------------------------------------- the benchmark

def test_benchmark_verdicts():
    from benchmarks.sim_throughput import verdicts

    rows = [{"subscribers": 10_000, "wall_s": 1.0, "peak_rss_mb": 40.0},
            {"subscribers": 100_000, "wall_s": 61.0, "peak_rss_mb": 60.0},
            {"subscribers": 1_000_000, "wall_s": 12.0, "peak_rss_mb": 2100.0}, {"subscribers": 5, "error": "x"}]
    assert verdicts(rows, 0.3) == [
        ("model events/s >= 0.25x bare SimPy", "0.300x", "PASS"),
        ("peak hour of 100k subscribers <= 60 s", "61.0 s", "FAIL"),
        ("1M subscribers within 2 GB", "2,100 MB", "FAIL"),
        ("linear: wall per subscriber at 100,000 vs 10,000 <= 1.5x", "6.10x", "FAIL")]
    rows[1]["wall_s"], rows[2]["wall_s"] = 5.0, 66.0
    assert verdicts(rows, None)[-1] == ("linear: wall per subscriber at 1,000,000 vs 100,000 <= 1.5x", "1.32x",
                                        "PASS")
    assert verdicts(rows[:1], None) == []


def test_benchmark_quick_run_prints_figures_beside_the_baseline(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sim_throughput", "--quick", "--sizes", "2k,5k",
                           "--hours", "0.1", "--baseline-events", "20000", "--json", str(tmp_path / "b.json")],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "baseline: bare SimPy timeout loop" in proc.stdout
    data = json.loads((tmp_path / "b.json").read_text())
    assert [r["subscribers"] for r in data["results"]] == [2000, 5000]
    assert all(r["ok"] and r["events"] > 0 and r["peak_rss_mb"] > 10 for r in data["results"])
    assert data["baseline"]["per_s"] > 0 and 0 < data["ratio_min"] < 10
