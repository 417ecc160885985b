"""A sweep's folder: ``sweep.csv``, ``sweep.json``, ``sweep.png`` and ``sweep.html``.

``sweep.csv`` has one row per run (value, replication, seed, conservation verdict, the
chosen KPI, then every numeric total); ``sweep.json`` the mean and its 95% Student-t
interval per value. Both are deterministic (same sweep, same bytes: no wall times); the
wall time and the workers used only appear in the HTML page.
"""
from __future__ import annotations

import base64
import csv
import io
import json
from html import escape
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from sim.report.files import write_text
from sim.report.html import CSS
from sim.result import ROUND_DIGITS


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, ROUND_DIGITS)


def _numeric_values(values: list) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def csv_text(s) -> str:
    from sim.sweep import kpi_value, scalar_totals

    extra = sorted({k for a in s.runs for k in scalar_totals(a["kpis"])} - {s.kpi})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["value", "replication", "seed", "conservation_ok", s.kpi, *extra])
    for a in s.runs:
        totals = scalar_totals(a["kpis"])
        w.writerow([a["value"], a["replication"], a["seed"], "true" if a["ok"] else "false",
                    _r(kpi_value(a["kpis"], s.kpi)), *(_r(totals[k]) if k in totals else "" for k in extra)])
    return out.getvalue()


def summary(s) -> dict:
    """What ``sweep.json`` holds."""
    return {
        "profile": s.profile, "parameter": s.parameter, "values": s.values, "replications": s.replications,
        "seed": s.seed, "subscribers": s.subscribers, "hours": s.hours, "faults": s.faults, "kpi": s.kpi,
        "confidence": 0.95, "interval": "mean +- t(0.975, n-1) * s / sqrt(n), Student t",
        "points": [{"value": p.value, "n": p.interval.n, "mean": _r(p.interval.mean),
                    "stdev": _r(p.interval.stdev), "half_width": _r(p.interval.half_width),
                    "ci_low": _r(p.interval.low), "ci_high": _r(p.interval.high),
                    "kpis": [_r(y) for y in p.kpis], "failed_runs": p.failed_runs} for p in s.points],
        "runs": [{"value": a["value"], "replication": a["replication"], "seed": a["seed"], "ok": a["ok"],
                  "problems": a["problems"]} for a in s.runs],
        "ok": s.ok,
    }


def plot_png(s) -> bytes:
    """The KPI against the parameter: means with 95% CI error bars, each replication a dot."""
    fig = Figure(figsize=(8.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    numeric = _numeric_values(s.values)
    xs = list(s.values) if numeric else list(range(len(s.values)))
    for x, p in zip(xs, s.points):
        ax.scatter([x] * len(p.kpis), p.kpis, s=12, color="#9aa3b5", zorder=2)
    means = [p.interval.mean for p in s.points]
    errs = [p.interval.half_width or 0.0 for p in s.points]
    ax.errorbar(xs, means, yerr=errs, fmt="o-", color="#1f5fbf", ecolor="#1f5fbf", capsize=5,
                linewidth=1.5, zorder=3, label=f"mean, 95% CI (n={s.replications})")
    if not numeric:
        ax.set_xticks(xs, [str(v) for v in s.values])
    ax.set_xlabel(s.parameter)
    ax.set_ylabel(s.kpi)
    ax.set_title(f"{s.kpi} vs {s.parameter}  ({s.profile}, {s.replications} replications per value)",
                 fontsize=11, loc="left")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return buf.getvalue()


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.6g}"


def html_text(s, png: bytes) -> str:
    e = escape
    rows = "".join(
        f"<tr><td class=l>{e(str(p.value))}</td><td>{p.interval.n}</td><td>{_fmt(p.interval.mean)}</td>"
        f"<td>{_fmt(p.interval.low)}</td><td>{_fmt(p.interval.high)}</td><td>{_fmt(p.interval.stdev)}</td>"
        f"<td>{p.failed_runs}</td></tr>" for p in s.points)
    runs = "".join(
        f"<tr><td class=l>{e(str(a['value']))}</td><td>{a['replication']}</td><td>{a['seed']}</td>"
        f"<td>{'OK' if a['ok'] else 'FAILED'}</td><td>{a['events']:,}</td><td>{a['wall_s']:.1f}</td></tr>"
        for a in s.runs)
    verdict = ('<div class="verdict pass">ALL RUNS CONSERVE MONEY</div>' if s.ok else
               '<div class="verdict fail">CONSERVATION FAILED IN '
               f'{sum(1 for a in s.runs if not a["ok"])} RUN(S)</div>')
    b64 = base64.b64encode(png).decode("ascii")
    config = {k: v for k, v in summary(s).items() if k not in ("points", "runs", "ok")}
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>sweep: {e(s.kpi)} vs {e(s.parameter)}</title><style>{CSS}</style></head><body><main>",
        f"<h1>What if {e(s.parameter)} were different? {e(s.kpi)} over {len(s.values)} values</h1>",
        (f'<p class="sub">profile {e(s.profile)}; {s.replications} replications per value; '
         f"{len(s.runs)} runs on {e(s.workers)} in {s.wall_s:,.1f} s wall</p>"),
        verdict,
        f'<img alt="{e(s.kpi)} vs {e(s.parameter)}" src="data:image/png;base64,{b64}">',
        "<h2>Mean and 95% confidence interval (Student t)</h2>",
        (f"<table><tr><th class=l>{e(s.parameter)}</th><th>n</th><th>mean</th><th>CI low</th><th>CI high</th>"
         f"<th>stdev</th><th>failed runs</th></tr>{rows}</table>"),
        "<h2>Runs</h2>",
        ("<table><tr><th class=l>value</th><th>replication</th><th>seed</th><th>conservation</th>"
         f"<th>SimPy events</th><th>wall s</th></tr>{runs}</table>"),
        "<h2>Sweep configuration</h2>", f"<pre>{e(json.dumps(config, indent=2, sort_keys=True))}</pre>",
        "</main></body></html>", ""])


def write_sweep(s, folder: str | Path) -> dict[str, Path]:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_png(s)
    (out / "sweep.png").write_bytes(png)
    return {
        "csv": write_text(out / "sweep.csv", csv_text(s)),
        "json": write_text(out / "sweep.json", json.dumps(summary(s), sort_keys=True, indent=2) + "\n"),
        "png": out / "sweep.png",
        "html": write_text(out / "sweep.html", html_text(s, png)),
    }
