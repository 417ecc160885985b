"""The report folder of a simulator run: what turns a ``RunResult`` into answers.

    from sim.report import write_report
    paths = write_report(result, "out/dz-peak")     # -> Report(folder, files...)
    print(paths.html)                               # out/dz-peak/report.html

The folder holds:

- ``kpis.json``: the KPIs per market and channel, totals and the conservation verdict.
  Deterministic: the same seed gives the same bytes on any machine (compare two runs with
  ``cmp``). Nothing that depends on the machine goes in it.
- ``minutes.csv``: one row per simulated minute (``sim.result.MINUTE_COLUMNS``), also
  deterministic.
- ``run.json``: the run's config plus what the machine decides: SimPy events, wall time,
  events/s, peak memory, Python and platform.
- ``load.png``, ``success_rate.png``, ``latency.png``, ``smsc_queue.png``, ``otp_ussd.png``:
  the day as plots (matplotlib, Agg).
- ``report.html``: one self-contained page (plots embedded, no external CSS or JS) with the
  conservation verdict in big letters, KPI tables per market and channel, failures by reason
  and the run config.

Modules: ``files`` (the data files), ``tables`` (KPI rows shared by the HTML and the CLI
summary), ``plots``, ``html``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sim.report.files import kpis_text, minutes_text, write_kpis, write_minutes, write_run, write_text
from sim.report.tables import summary_text, verdict_line
from sim.result import RunResult

__all__ = ["Report", "kpis_text", "minutes_text", "summary_text", "verdict_line", "write_report"]


@dataclass(frozen=True)
class Report:
    """Where the files of one report went."""

    folder: Path
    kpis: Path
    minutes: Path
    run: Path
    plots: tuple[Path, ...]
    html: Path
    seconds: float            # wall time spent writing the report (plots dominate)


def _arrivals_end_minute(config: dict) -> int | None:
    """The minute the arrivals stop (the config's ``hours``) when a drain period follows it."""
    try:
        hours, drain = float(config.get("hours") or 0), float(config.get("drain_s") or 0)
    except (TypeError, ValueError):
        return None
    return round(hours * 60) if hours > 0 and drain > 0 else None


def write_report(result: RunResult, folder: str | Path, *, plots: bool = True) -> Report:
    """Write the whole folder (created if missing; existing report files are replaced).

    ``plots=False`` skips the PNGs (the HTML then has no pictures): for sweeps and tests
    that only need the data files.
    """
    from sim.report import html

    started = time.perf_counter()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    kpis = write_kpis(out, result.kpis)
    minutes = write_minutes(out, result.minutes)
    pngs: dict[str, bytes] = {}
    titles: dict[str, str] = {}
    if plots:
        from sim.report import plots as plotting  # matplotlib only when plots are drawn
        pngs = plotting.render_all(result.minutes, drain_from=_arrivals_end_minute(result.config))
        titles = {name: title for name, (title, _draw) in plotting.PLOTS.items()}
    plot_paths = []
    for name, data in pngs.items():
        (out / name).write_bytes(data)
        plot_paths.append(out / name)
    page = write_text(out / "report.html", html.render(result, pngs, titles))
    seconds = time.perf_counter() - started
    run = write_run(out, result, report_s=seconds)
    return Report(out, kpis, minutes, run, tuple(plot_paths), page, seconds)
