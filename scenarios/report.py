"""The scenario report: one self-contained HTML page (no external CSS, scripts or images).

A table of every scenario (market, flows, roles, outcome, time), then one section per scenario:
a failure's message, the story's full transcript, or a population run's thresholds with its
plots (load, SMSC and gateway queues, OTP expiries and USSD timeouts per simulated minute,
drawn by the simulator's own report code and embedded as PNG).
"""
from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;
vertical-align:top}th{background:#f3f3f3}.passed{color:#176f2c;font-weight:bold}.failed{color:#b00020;
font-weight:bold}.skipped{color:#8a6d00;font-weight:bold}pre{background:#f8f8f8;padding:.5em;overflow-x:auto;
white-space:pre-wrap}.t td{font-family:monospace;font-size:12px;border:none;border-bottom:1px solid #eee}
.t td.ch{color:#555}details{margin:.3em 0}h2{margin-top:1.6em;font-size:1.15em}img{max-width:100%}
"""


def population_plots(minutes: list[dict], hours: Any = None) -> dict[str, str]:
    """Base64 PNGs of a population run: load, queues, expiries (the simulator's plots)."""
    if not minutes:
        return {}
    from sim.report import plots

    drain = round(float(hours) * 60) if hours else None
    drawn = {"load": plots.load(minutes, drain), "queues": plots.queues(minutes, drain),
             "expiries": plots.expiries(minutes, drain)}
    return {k: base64.b64encode(v).decode("ascii") for k, v in drawn.items()}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _anchor(run: dict) -> str:
    return "s-" + "".join(ch if ch.isalnum() else "-" for ch in run["nodeid"])


def _outcome(run: dict) -> str:
    return run.get("outcome") or ("passed" if run.get("passed") else "failed")


def _summary(runs: list[dict]) -> str:
    rows = []
    for run in runs:
        o = _outcome(run)
        took = f"{run['wall_s']:.2f} s" if "wall_s" in run else ""
        rows.append(f"<tr><td><a href='#{_anchor(run)}'>{_e(run['title'])}</a><br><small>{_e(run['nodeid'])}"
                    f"</small></td><td>{_e(run['market'])}</td><td>{_e(', '.join(run['flows']))}</td>"
                    f"<td>{_e(run['kind'])}</td><td>{_e(', '.join(run['roles']) or '-')}</td>"
                    f"<td class='{o}'>{o}</td><td>{took}</td></tr>")
    return ("<table><tr><th>scenario</th><th>market</th><th>flows</th><th>kind</th><th>device roles</th>"
            "<th>outcome</th><th>wall time</th></tr>" + "".join(rows) + "</table>")


def _transcript(rows: list) -> str:
    body = "".join(f"<tr><td>T+{c:.3f}s</td><td>w{w:.3f}s</td><td class='ch'>{_e(ch)}</td><td>{_e(text)}</td></tr>"
                   for c, w, ch, text in rows)
    return f"<details><summary>transcript ({len(rows)} entries)</summary><table class='t'>{body}</table></details>"


def _section(run: dict) -> str:
    o = _outcome(run)
    title = f"<h2 id='{_anchor(run)}'>{_e(run['title'])} [{_e(run['market'])}] <span class='{o}'>{o}</span></h2>"
    parts = [title,
             f"<p>{_e(run['source'])} &middot; seed {_e(run['seed'])} &middot; bench {_e(run['bench'])}"
             + (f" &middot; steps {_e(run['steps'])}" if "steps" in run else "")
             + (f" &middot; scenario time {run['clock_s']:.1f} s" if "clock_s" in run else "")
             + f"<br>replay: <code>{_e(run['replay'])}</code></p>"]
    if run.get("failure") and o != "passed":
        parts.append(f"<pre>{_e(run['failure'])}</pre>")
    if "config" in run:
        parts.append(f"<p>simulation: {_e(run['config'])}; conservation "
                     f"{'ok' if run.get('conserved') else '<b>FAILED</b>'}</p>")
    if run.get("checks"):
        rows = "".join(f"<tr><td class='{'passed' if c['ok'] else 'failed'}'>{'ok' if c['ok'] else 'MISS'}</td>"
                       f"<td>{_e(c['threshold'])}</td><td>{_e(c['value'])}</td><td>{_e(c.get('why', ''))}</td></tr>"
                       for c in run["checks"])
        parts.append(f"<table><tr><th></th><th>threshold</th><th>value</th><th>why</th></tr>{rows}</table>")
    for name, png in (run.get("plots") or {}).items():
        parts.append(f"<img alt='{_e(name)}' src='data:image/png;base64,{png}'>")
    if run.get("transcript"):
        parts.append(_transcript(run["transcript"]))
    return "\n".join(parts)


def render(runs: list[dict], *, seed: int, bench: str) -> str:
    runs = sorted(runs, key=lambda r: r["nodeid"])
    counts: dict[str, int] = {}
    for run in runs:
        counts[_outcome(run)] = counts.get(_outcome(run), 0) + 1
    said = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "no scenarios ran"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>rechargebench scenarios</title>"
            f"<style>{STYLE}</style></head><body><h1>rechargebench scenarios</h1>"
            f"<p>{_e(said)} &middot; seed {_e(seed)} &middot; bench {_e(bench)} &middot; {when}</p>"
            + _summary(runs) + "".join(_section(r) for r in runs) + "</body></html>\n")


def write_report(path: Path, runs: list[dict], *, seed: int, bench: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(runs, seed=seed, bench=bench), encoding="utf-8")
    return path
