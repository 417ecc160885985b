"""Pass/fail thresholds for CI: fail ratio, latency percentiles and minimum achieved throughput
per transaction type, from the command line or a file; ``rbench load`` exits 1 when one fails.

    --threshold "web_topup.p95 < 800ms"     --threshold "*.fail_ratio < 1%"
    --threshold "total.p99 <= 2s"           --threshold "ussd_topup.tps >= 5"

``NAME.METRIC OP VALUE``: NAME a transaction type, ``*`` (each type of the run) or ``total``
(all transactions together); METRIC one of ``fail_ratio`` (0.01 or 1%), ``p50 p90 p95 p99 max avg``
(ms, or with a unit: 800ms, 1.5s) or ``tps`` (successful transactions per second over the run);
OP one of ``< <= > >=``. A file (YAML) holds a list of such lines, or a mapping:

    "*": {fail_ratio: "< 1%", p99: "< 2s"}
    web_topup: {p95: "< 800ms", tps: ">= 20"}
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

METRICS = ("fail_ratio", "p50", "p90", "p95", "p99", "max", "avg", "tps")
LATENCY = ("p50", "p90", "p95", "p99", "max", "avg")
_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt,
                                                   ">": operator.gt}
_LINE = re.compile(r"^\s*([A-Za-z0-9_*]+)\s*\.\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*(.+?)\s*$")
_VALUE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|%|/s)?$")
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


class ThresholdError(ValueError):
    """A threshold that cannot be parsed or names an unknown transaction type or metric."""


@dataclass(frozen=True)
class Threshold:
    name: str           # a transaction type, "*" or "total"
    metric: str
    op: str
    value: float        # ms for latencies, a ratio 0..1 for fail_ratio, per second for tps
    text: str

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)


@dataclass(frozen=True)
class Verdict:
    threshold: Threshold
    name: str           # the transaction type it was applied to ("*" expanded)
    measured: float | None
    ok: bool

    def line(self) -> str:
        t = self.threshold
        shown = "no transactions" if self.measured is None else _fmt(t.metric, self.measured)
        return (f"{'PASS' if self.ok else 'FAIL'}  {self.name}.{t.metric} {t.op} {_fmt(t.metric, t.value)}"
                f"  measured {shown}")


def _fmt(metric: str, v: float) -> str:
    if metric == "fail_ratio":
        return f"{v * 100:.2f}%"
    if metric == "tps":
        return f"{v:.2f}/s"
    return f"{v:.0f} ms"


def parse(text: str, known: tuple[str, ...] | list[str] | None = None, *, where: str = "--threshold") -> Threshold:
    """One ``NAME.METRIC OP VALUE`` line; ``known`` the transaction types that may be named."""
    t = str(text).translate(_DIGITS)
    m = _LINE.match(t)
    if m is None:
        raise ThresholdError(f"{where} {text!r}: expected NAME.METRIC OP VALUE, e.g. \"web_topup.p95 < 800ms\"")
    name, metric, op, raw = m.groups()
    if known is not None and name not in ("*", "total") and name not in known:
        raise ThresholdError(f"{where} {text!r}: unknown transaction type {name!r}; expected *, total or "
                             f"one of {', '.join(known)}")
    if metric not in METRICS:
        raise ThresholdError(f"{where} {text!r}: unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    return Threshold(name, metric, op, _value(metric, raw, f"{where} {text!r}"), text.strip())


def _value(metric: str, raw: str, where: str) -> float:
    m = _VALUE.match(raw.strip().lower())
    if m is None:
        raise ThresholdError(f"{where}: value {raw!r} is not a number (with ms, s, % or /s)")
    number, unit = float(m.group(1)), m.group(2)
    if metric == "fail_ratio":
        if unit not in (None, "%"):
            raise ThresholdError(f"{where}: fail_ratio takes a ratio (0.01) or a percentage (1%), not {unit}")
        value = number / 100 if unit == "%" else number
        if value > 1:
            raise ThresholdError(f"{where}: fail_ratio {raw!r} is above 100%")
        return value
    if metric == "tps":
        if unit not in (None, "/s"):
            raise ThresholdError(f"{where}: tps takes transactions per second (20 or 20/s), not {unit}")
        return number
    if unit not in (None, "ms", "s"):
        raise ThresholdError(f"{where}: {metric} takes milliseconds (800, 800ms) or seconds (1.5s), not {unit}")
    return number * 1000 if unit == "s" else number


def parse_all(lines: list[str] | None, file: str | None, known: tuple[str, ...] | list[str]) -> list[Threshold]:
    out = [parse(x, known) for x in (lines or [])]
    if file:
        out += load_file(file, known)
    return out


def load_file(path: str, known: tuple[str, ...] | list[str]) -> list[Threshold]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ThresholdError(f"--thresholds {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise ThresholdError(f"--thresholds {path}: not valid YAML ({str(e).splitlines()[0]})") from None
    where = f"--thresholds {p.name}"
    if isinstance(data, dict) and set(data) == {"thresholds"}:
        data = data["thresholds"]
    if isinstance(data, list) and all(isinstance(x, str) for x in data):
        return [parse(x, known, where=where) for x in data]
    if isinstance(data, dict) and data:
        out = []
        for name, metrics in data.items():
            if not isinstance(metrics, dict) or not metrics:
                raise ThresholdError(f"{where}: {name}: expected a mapping of metric -> \"OP VALUE\"")
            for metric, cond in metrics.items():
                out.append(parse(f"{name}.{metric} {cond}", known, where=where))
        return out
    raise ThresholdError(f"{where}: expected a list of \"NAME.METRIC OP VALUE\" lines or a mapping "
                         "NAME: {METRIC: \"OP VALUE\"}")


def measure(stats: dict[str, dict], name: str, metric: str) -> float | None:
    """``stats[name]`` as the report computes it: count, failures, p50.., avg, max, tps."""
    s = stats.get(name)
    if s is None or s.get("count", 0) == 0:
        return 0.0 if metric == "tps" else None
    if metric == "fail_ratio":
        return s["failures"] / s["count"]
    v = s.get(metric)
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def evaluate(thresholds: list[Threshold], stats: dict[str, dict], tx_types: list[str]) -> list[Verdict]:
    out = []
    for t in thresholds:
        for name in (tx_types if t.name == "*" else [t.name]):
            measured = measure(stats, name, t.metric)
            out.append(Verdict(t, name, measured, measured is not None and t.holds(measured)))
    return out
