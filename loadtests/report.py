"""The run's summary: transactions per second and latency percentiles per transaction type and
per step of the shape, the settlement check and the thresholds, as text (``summary.txt``,
printed) and JSON (``summary.json``). Pure: built from ``steps.json`` and the check's result.
"""
from __future__ import annotations

import json
from typing import Any

from loadtests.thresholds import Verdict


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}"


def table(stats: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"  {'transaction':<26} {'count':>7} {'fail':>6} {'fail%':>7} {'tx/s':>8} {'p50':>6} {'p90':>6} "
             f"{'p95':>6} {'p99':>6} {'max':>7}  (ms)"]
    for name, s in stats.items():
        if name == "total":
            continue
        lines.append(_row(name, s))
    if "total" in stats:
        lines.append(_row("total", stats["total"]))
    return lines


def _row(name: str, s: dict[str, Any]) -> str:
    ratio = (s["failures"] / s["count"] * 100) if s["count"] else 0.0
    return (f"  {name:<26} {s['count']:>7} {s['failures']:>6} {ratio:>6.2f}% {s['tps']:>8.2f} {_ms(s['p50']):>6} "
            f"{_ms(s['p90']):>6} {_ms(s['p95']):>6} {_ms(s['p99']):>6} {_ms(s['max']):>7}")


def step_table(steps: list[dict[str, Any]]) -> list[str]:
    lines = [f"  {'step':>4} {'window (s)':>13} {'offered/s':>10} {'done/s':>8} {'count':>7} {'fail':>5} {'p50':>6} "
             f"{'p95':>6} {'p99':>6}  slowest type at p95"]
    for st in steps:
        a = st["all"]
        tx = {n: f for n, f in st["tx"].items() if "[" not in n and f["count"]}
        pick = max(tx.items(), key=lambda kv: kv[1]["p95"] or 0) if tx else None
        window = f"{st['from_s']:.0f}-{st['to_s']:.0f}"
        slowest = f"{pick[0]} {_ms(pick[1]['p95'])} ms" if pick else "-"
        lines.append(f"  {st['step']:>4} {window:>13} {st['offered_tps']:>10.2f} {a['tps']:>8.2f} {a['count']:>7} "
                     f"{a['failures']:>5} {_ms(a['p50']):>6} {_ms(a['p95']):>6} {_ms(a['p99']):>6}  {slowest}")
    return lines


def render(head: str, stats: dict[str, dict[str, Any]], steps: list[dict[str, Any]],
           settlement: dict[str, Any] | None, verdicts: list[Verdict], exit_code: int) -> str:
    out = [head, "", "transactions (TX: from the first request to the outcome):", *table(stats), "",
           "per step of the shape (all types together):", *step_table(steps), ""]
    errors = {n: s.get("errors") for n, s in stats.items() if s.get("errors")}
    if errors:
        out.append("most frequent errors:")
        for name, errs in errors.items():
            for text, n in errs.items():
                out.append(f"  {name}: {n} x {text}")
        out.append("")
    if settlement is None:
        out.append("settlement check: skipped (--no-check)")
    else:
        out.append(f"settlement check: {'OK' if settlement['ok'] else 'FAILED'}")
        out += [f"  {line}" for line in settlement["lines"]]
        if settlement["problems"]:
            out.append("  listed (each fails the run):")
            out += [f"    {p}" for p in settlement["problems"]]
    out.append("")
    if verdicts:
        out.append("thresholds:")
        out += [f"  {v.line()}" for v in verdicts]
    else:
        out.append("thresholds: none given")
    out.append("")
    out.append(f"verdict: {'PASS' if exit_code == 0 else 'FAIL'} (exit {exit_code})")
    return "\n".join(out)


def to_json(head: dict[str, Any], stats: dict[str, Any], steps: list[dict[str, Any]],
            settlement: dict[str, Any] | None, verdicts: list[Verdict], exit_code: int) -> str:
    return json.dumps({**head, "transactions": stats, "steps": steps, "settlement": settlement,
                       "thresholds": [{"threshold": v.threshold.text, "applied_to": v.name, "measured": v.measured,
                                       "ok": v.ok} for v in verdicts],
                       "exit_code": exit_code}, indent=2, default=str)
