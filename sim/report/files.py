"""The report folder's data files: ``kpis.json``, ``minutes.csv`` and ``run.json``.

The split is the determinism promise made visible: ``kpis.json`` and ``minutes.csv`` hold
only what the seed decides, written so that the same run gives the same bytes on any machine
(sorted keys, fixed indentation, ``\\n`` line ends, no wall-clock values); whatever depends
on the machine (events/s, wall time, peak memory, when and where it ran) goes to
``run.json``, so diffing two ``kpis.json`` files is a valid test of reproducibility.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
from pathlib import Path

from sim.result import MINUTE_COLUMNS, RunResult


def kpis_text(kpis: dict) -> str:
    """The exact text of ``kpis.json``: ``json.dumps(kpis, sort_keys=True, indent=2)`` + newline.

    A NaN or infinity (not JSON; most parsers refuse it) is written as ``null``.
    """
    return json.dumps(_finite(kpis), sort_keys=True, indent=2) + "\n"


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def minute_columns(minutes: list[dict]) -> list[str]:
    """The contract's columns first, in their order, then any extra ones the engine added, sorted."""
    extra = sorted({key for row in minutes for key in row} - set(MINUTE_COLUMNS))
    return list(MINUTE_COLUMNS) + extra


def minutes_text(minutes: list[dict]) -> str:
    """The exact text of ``minutes.csv``: a header, then one row per simulated minute.

    Missing values are empty cells (a minute without attempts has no success rate), floats
    are written as Python's shortest repr, so the same rows give the same bytes everywhere;
    line ends inside a text cell become ``\n`` (quoted).
    """
    out = io.StringIO()
    columns = minute_columns(minutes)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in minutes:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value):
    """None and NaN as empty; a lone ``\r`` in text as ``\n`` (the writer quotes ``\n`` only)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, str) and "\r" in value:
        return value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def run_record(result: RunResult, *, report_s: float | None = None) -> dict:
    """What ``run.json`` holds: the config plus everything the machine decides."""
    record = {
        "config": result.config,
        "ok": result.ok,
        "problems": result.problems,
        "events": result.events,
        "wall_s": round(result.wall_s, 3),
        "events_per_s": round(result.events / result.wall_s, 1) if result.wall_s > 0 else None,
        "peak_rss_mb": round(result.peak_rss_mb, 1),
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
    }
    if report_s is not None:
        record["report_s"] = round(report_s, 3)
    return record


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 text with ``\\n`` line ends on every OS (``newline=""`` keeps them as given)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return path


def write_kpis(out: Path, kpis: dict) -> Path:
    return write_text(out / "kpis.json", kpis_text(kpis))


def write_minutes(out: Path, minutes: list[dict]) -> Path:
    return write_text(out / "minutes.csv", minutes_text(minutes))


def write_run(out: Path, result: RunResult, *, report_s: float | None = None) -> Path:
    text = json.dumps(_finite(run_record(result, report_s=report_s)), sort_keys=True, indent=2,
                      default=str) + "\n"
    return write_text(out / "run.json", text)
