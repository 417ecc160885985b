"""The simulator's report folder and progress bar, on RunResults built here (no engine run):
byte-for-byte kpis.json, the minutes CSV, run.json, the PNG plots and a self-contained HTML page."""
from __future__ import annotations

import csv
import io
import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.progress import Progress, hms
from sim.report import kpis_text, minutes_text, summary_text, verdict_line, write_report
from sim.report.tables import channel_rows, failure_rows, money
from sim.result import CHANNELS, MINUTE_COLUMNS, RunResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def channel(attempts: int, successes: int, *, failures: dict | None = None, revenue: int = 0) -> dict:
    return {"attempts": attempts, "successes": successes, "failures": failures or {},
            "abandoned": attempts - successes - sum((failures or {}).values()),
            "latency_s": {"p50": 12.5, "p95": 48.25, "p99": 90.0} if attempts else {"p50": None, "p95": None, "p99": None},
            "otp_expiries": (failures or {}).get("otp_expired", 0), "ussd_timeouts": 0, "revenue_minor": revenue}


def make_kpis(*, ok: bool = True, reason: str = "declined") -> dict:
    dz = {c: channel(0, 0) for c in CHANNELS}
    dz["web"] = channel(120, 100, failures={reason: 12, "otp_expired": 3}, revenue=1_500_000)
    dz["ussd"] = channel(80, 78, failures={"ussd_timeout": 1}, revenue=400_000)
    ir = {c: channel(0, 0) for c in CHANNELS}
    ir["ussd"] = channel(50, 45, failures={"declined": 5}, revenue=25_000_000)
    return {
        "markets": {
            "DZ": {"channels": dz, "meter_hours_disconnected": 1.5, "settlement_discrepancies": 2,
                   "revenue_minor": 1_900_000, "currency": "DZD"},
            "IR": {"channels": ir, "meter_hours_disconnected": 0.0, "settlement_discrepancies": 0,
                   "revenue_minor": 25_000_000, "currency": "IRR"},
        },
        "totals": {"attempts": 250, "successes": 223, "success_rate": 0.892},
        "conservation": {"ok": ok, "problems": [] if ok else ["DZD: captured 1000 != credited 900 + refunded 0"]},
    }


def make_minutes(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        attempts = 5 + (i * 7) % 11
        succ = attempts - i % 3
        rows.append({"minute": i, "time": f"2026-03-20T{21 + i // 60 % 3:02d}:{i % 60:02d}:00",
                     "arrivals": attempts + 2, "attempts": attempts, "successes": succ, "failures": i % 3,
                     "abandoned": 0, "success_rate": round(succ / attempts, 6),
                     "latency_p50_s": 10.0 + i % 5, "latency_p95_s": 40.5, "latency_p99_s": 80.25,
                     "smsc_queue": i % 17, "otp_expiries": i % 2, "ussd_timeouts": i % 4 == 0,
                     "gateway_queue": i % 5})
    return rows


def make_result(minutes: int = 60, **kw) -> RunResult:
    return RunResult(config={"profile": "dz-peak-hour", "subscribers": 1000, "hours": minutes / 60, "seed": 7,
                             "faults": None},
                     kpis=make_kpis(**kw), minutes=make_minutes(minutes), events=123_456, wall_s=2.5,
                     peak_rss_mb=321.0)


# ------------------------------------------------------------------------------------ kpis.json

def test_kpis_json_is_sorted_indented_json_with_a_final_newline():
    kpis = make_kpis()
    assert kpis_text(kpis) == json.dumps(kpis, sort_keys=True, indent=2) + "\n"


def test_kpis_json_bytes_do_not_depend_on_dict_order():
    kpis = make_kpis()
    shuffled = json.loads(json.dumps(kpis))
    shuffled["markets"] = dict(reversed(list(shuffled["markets"].items())))
    shuffled = dict(reversed(list(shuffled.items())))
    assert kpis_text(shuffled) == kpis_text(kpis)


def test_nan_in_kpis_is_written_as_null_never_as_invalid_json():
    kpis = make_kpis()
    kpis["totals"]["success_rate"] = math.nan
    text = kpis_text(kpis)
    assert "NaN" not in text
    assert json.loads(text)["totals"]["success_rate"] is None


def test_the_report_folder_has_every_file(tmp_path):
    report = write_report(make_result(), tmp_path / "out")
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {"kpis.json", "minutes.csv", "run.json", "report.html", "load.png", "success_rate.png",
                     "latency.png", "smsc_queue.png", "otp_ussd.png"}
    for png in report.plots:
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000


def test_same_result_same_bytes_and_machine_figures_only_in_run_json(tmp_path):
    a, b = make_result(), make_result()
    b.wall_s, b.peak_rss_mb, b.events = 99.0, 4000.0, 1
    write_report(a, tmp_path / "a", plots=False)
    write_report(b, tmp_path / "b", plots=False)
    for name in ("kpis.json", "minutes.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "run.json").read_bytes() != (tmp_path / "b" / "run.json").read_bytes()
    kpis = (tmp_path / "a" / "kpis.json").read_text()
    assert '"wall_s"' not in kpis and "rss" not in kpis and "events" not in kpis
    run = json.loads((tmp_path / "a" / "run.json").read_text())
    assert run["events"] == 123_456 and run["wall_s"] == 2.5 and run["peak_rss_mb"] == 321.0
    assert run["config"]["seed"] == 7 and run["ok"] is True and run["events_per_s"] == pytest.approx(49382.4)


# ---------------------------------------------------------------------------------- minutes.csv

def test_minutes_csv_has_the_contract_columns_in_order():
    text = minutes_text(make_minutes(3))
    assert text.splitlines()[0].split(",") == list(MINUTE_COLUMNS)
    assert len(text.splitlines()) == 4 and text.endswith("\n") and "\r" not in text


def test_minutes_csv_keeps_extra_columns_after_the_contract_ones_and_blanks_missing_values():
    rows = make_minutes(2)
    rows[0]["zz_extra"], rows[1]["aa_extra"] = 1, 2
    rows[1]["success_rate"] = None
    rows[0]["latency_p99_s"] = math.nan
    parsed = list(csv.DictReader(io.StringIO(minutes_text(rows))))
    assert list(parsed[0])[-2:] == ["aa_extra", "zz_extra"]
    assert parsed[1]["success_rate"] == "" and parsed[0]["latency_p99_s"] == ""
    assert parsed[0]["zz_extra"] == "1" and parsed[0]["aa_extra"] == ""


cells = st.one_of(st.integers(-10**9, 10**9), st.floats(allow_nan=False, allow_infinity=False),
                  st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12))


@given(st.lists(st.fixed_dictionaries({c: cells for c in MINUTE_COLUMNS}), max_size=8))
@settings(max_examples=60)
def test_minutes_csv_round_trips_every_cell(rows):
    parsed = list(csv.DictReader(io.StringIO(minutes_text(rows), newline="")))
    assert len(parsed) == len(rows)
    for row, back in zip(rows, parsed):
        for c in MINUTE_COLUMNS:
            assert back[c] == str(row[c]).replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------------------------- report.html

def test_report_html_is_self_contained(tmp_path):
    html = write_report(make_result(), tmp_path).html.read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.IGNORECASE)
    assert "@import" not in html and "url(" not in html
    assert html.count('src="data:image/png;base64,') == 5


def test_report_html_shows_verdict_tables_reasons_and_config(tmp_path):
    html = write_report(make_result(), tmp_path, plots=False).html.read_text(encoding="utf-8")
    assert "CONSERVATION OK" in html
    assert "15,000.00 DZD" in html                     # DZ web revenue, 1,500,000 minor units
    assert "25,000,000 IRR" in html
    assert "declined" in html and "otp_expired" in html and "ussd_timeout" in html
    assert "83.3%" in html                             # DZ web: 100 of 120
    assert "&quot;profile&quot;: &quot;dz-peak-hour&quot;" in html
    assert "No attempts: DZ mandate" in html


def test_report_html_shouts_when_conservation_failed(tmp_path):
    html = write_report(make_result(ok=False), tmp_path, plots=False).html.read_text(encoding="utf-8")
    assert "CONSERVATION FAILED" in html and "CONSERVATION OK" not in html
    assert "captured 1000 != credited 900" in html


def test_report_html_escapes_text_from_profiles_and_engine(tmp_path):
    result = make_result(reason="<script>alert(1)</script>")
    html = write_report(result, tmp_path, plots=False).html.read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_plots_of_a_simulated_day_render(tmp_path):
    report = write_report(make_result(minutes=24 * 60), tmp_path)
    assert len(report.plots) == 5
    assert all(p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in report.plots)


def test_a_run_without_minutes_still_gets_a_report(tmp_path):
    result = make_result()
    result.minutes = []
    report = write_report(result, tmp_path)
    assert report.html.exists() and all(p.read_bytes().startswith(PNG_MAGIC) for p in report.plots)
    assert (tmp_path / "minutes.csv").read_text().splitlines() == [",".join(MINUTE_COLUMNS)]


# ------------------------------------------------------------------------------ tables, summary

def test_channel_rows_skip_idle_channels_and_keep_contract_order():
    rows = channel_rows(make_kpis())
    assert [(r.market, r.channel) for r in rows] == [("DZ", "web"), ("DZ", "ussd"), ("IR", "ussd")]
    assert rows[0].failures == 15 and rows[0].success_rate == pytest.approx(100 / 120)
    assert len(channel_rows(make_kpis(), with_idle=True)) == 2 * len(CHANNELS)


def test_failures_are_listed_most_frequent_first():
    assert failure_rows(make_kpis())[:2] == [("DZ", "web", "declined", 12), ("IR", "ussd", "declined", 5)]


@pytest.mark.parametrize("minor,cur,text", [(150_000, "DZD", "1,500.00 DZD"), (25_000_000, "IRR", "25,000,000 IRR"),
                                            (5, "EGP", "0.05 EGP"), (7, "XXX", "7 (minor units) XXX")])
def test_money_is_formatted_from_integer_minor_units(minor, cur, text):
    assert money(minor, cur) == text


def test_summary_names_channels_totals_reasons_and_verdict():
    text = summary_text(make_result())
    assert re.search(r"DZ\s+web\s+120\s+83\.3%", text)
    assert "total: 250 attempts, 223 successes (89.2%)" in text
    assert "DZ web declined x12" in text
    assert text.splitlines()[-1] == "verdict: PASS, conservation OK"
    assert verdict_line(make_result(ok=False)).startswith("verdict: FAIL, conservation FAILED: DZD: captured")


def test_a_run_with_no_attempts_fails_even_when_money_is_conserved():
    result = make_result()
    result.kpis["totals"]["attempts"] = 0
    assert "conservation OK but no attempts" in verdict_line(result)


# ---------------------------------------------------------------------------------- progress bar

class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_off_a_terminal_prints_a_line_every_tenth_of_the_run():
    out, clock = io.StringIO(), FakeClock()
    bar = Progress("dz", stream=out, tty=False, clock=clock)
    for minute in range(1, 61):
        clock.t += 0.5
        bar(minute * 60.0, 3600.0)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[0].startswith("dz [##") and "10%" in lines[0] and "sim 0:06:00/1:00:00" in lines[0]
    assert lines[-1].endswith("ETA 0:00:00  x120") and "wall 0:00:30" in lines[-1] and "100%" in lines[-1]


def test_progress_on_a_terminal_redraws_in_place_at_most_ten_times_a_second():
    out, clock = io.StringIO(), FakeClock()
    bar = Progress("dz", stream=out, tty=True, clock=clock)
    for minute in range(1, 601):              # 600 calls within 3 wall seconds
        clock.t += 0.005
        bar(minute * 6.0, 3600.0)
    bar.close()
    text = out.getvalue()
    draws = text.count("\r")
    assert 25 <= draws <= 32 and text.endswith("\n") and text.count("\n") == 1
    assert "100%" in text.rsplit("\r", 1)[1]


def test_progress_eta_is_the_remaining_fraction_at_the_current_pace():
    clock = FakeClock()
    bar = Progress("x", stream=io.StringIO(), tty=False, clock=clock)
    clock.t += 30
    bar(900.0, 3600.0)
    assert "ETA 0:01:30" in bar.line() and "25%" in bar.line()


@pytest.mark.parametrize("s,text", [(0, "0:00:00"), (65, "0:01:05"), (3725, "1:02:05"), (90061, "25:01:01")])
def test_hms(s, text):
    assert hms(s) == text


@pytest.mark.parametrize("config,minute", [({"hours": 1, "drain_s": 900}, 60), ({"hours": 0.25, "drain_s": 900}, 15),
                                           ({"hours": 1, "drain_s": 0}, None), ({}, None),
                                           ({"hours": "x", "drain_s": 1}, None)])
def test_plots_shade_the_drain_after_the_last_arrival(config, minute):
    from sim.report import _arrivals_end_minute

    assert _arrivals_end_minute(config) == minute
