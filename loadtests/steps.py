"""Transactions counted per stage of the load shape, so the report can say what the core did at
each step (tx/s, percentiles, failures), not only over the whole run.

Each Locust process records its transactions in a :class:`StepStats` (counts and a histogram of
response times rounded as Locust rounds them: to 1 ms below 100 ms, 10 ms below 1 s, 100 ms
above), workers send theirs to the master at the end of the run, and the master merges them.
Histograms merge exactly, so the percentiles of 3 workers are those of one big run.

    s = StepStats(stages=[(30, 10.0), (60, 20.0)])
    s.record(12.5, "web_topup", 83.0, ok=True)       # 12.5 s into the run, 83 ms
    s.summary()["steps"][0]["web_topup"]["p95"]
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any

from loadtests.shapes import stage_at

PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}


def rounded(ms: float) -> int:
    if ms < 100:
        return int(round(ms))
    if ms < 1000:
        return int(round(ms, -1))
    return int(round(ms, -2))


class Bucket:
    __slots__ = ("count", "failures", "total_ms", "max_ms", "hist", "errors")

    def __init__(self) -> None:
        self.count = self.failures = 0
        self.total_ms = self.max_ms = 0.0
        self.hist: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()

    def add(self, ms: float, ok: bool, error: str | None = None) -> None:
        self.count += 1
        self.failures += not ok
        self.total_ms += ms
        self.max_ms = max(self.max_ms, ms)
        self.hist[rounded(ms)] += 1
        if error:
            self.errors[error[:160]] += 1

    def merge(self, other: Bucket) -> None:
        self.count += other.count
        self.failures += other.failures
        self.total_ms += other.total_ms
        self.max_ms = max(self.max_ms, other.max_ms)
        self.hist.update(other.hist)
        self.errors.update(other.errors)

    def percentile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank, seen = max(1, int(round(q * self.count + 0.4999))), 0
        for ms in sorted(self.hist):
            seen += self.hist[ms]
            if seen >= rank:
                return float(ms)
        return float(max(self.hist))

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "failures": self.failures, "total_ms": self.total_ms, "max_ms": self.max_ms,
                "hist": {str(k): v for k, v in self.hist.items()}, "errors": dict(self.errors)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Bucket:
        b = cls()
        b.count, b.failures = int(d["count"]), int(d["failures"])
        b.total_ms, b.max_ms = float(d["total_ms"]), float(d["max_ms"])
        b.hist = Counter({int(k): int(v) for k, v in d["hist"].items()})
        b.errors = Counter({str(k): int(v) for k, v in d.get("errors", {}).items()})
        return b

    def figures(self, seconds: float) -> dict[str, Any]:
        ok = self.count - self.failures
        out: dict[str, Any] = {"count": self.count, "failures": self.failures,
                               "tps": ok / seconds if seconds > 0 else 0.0,
                               "avg": self.total_ms / self.count if self.count else None,
                               "max": self.max_ms if self.count else None}
        out.update({k: self.percentile(q) for k, q in PERCENTILES.items()})
        return out


class StepStats:
    """Buckets by (stage index, transaction name); the stage past the end counts as the last."""

    def __init__(self, stages: list[tuple[float, float]]) -> None:
        self.stages = [(float(e), float(t)) for e, t in stages]
        self.buckets: dict[tuple[int, str], Bucket] = {}

    def record(self, t: float, name: str, ms: float, *, ok: bool, error: str | None = None) -> None:
        i = stage_at(self.stages, t)
        i = len(self.stages) - 1 if i is None else i
        self.buckets.setdefault((i, name), Bucket()).add(ms, ok, error)

    def to_json(self) -> str:
        return json.dumps({"stages": self.stages,
                           "buckets": [[i, n, b.to_dict()] for (i, n), b in sorted(self.buckets.items())]})

    def merge_json(self, text: str) -> None:
        data = json.loads(text)
        for i, name, d in data["buckets"]:
            self.buckets.setdefault((int(i), str(name)), Bucket()).merge(Bucket.from_dict(d))

    def names(self) -> list[str]:
        return sorted({n for _, n in self.buckets})

    def totals(self, duration_s: float) -> dict[str, dict[str, Any]]:
        """Figures per name over the whole run, plus ``total`` over every name."""
        by: dict[str, Bucket] = {}
        all_ = Bucket()
        for (_, name), b in self.buckets.items():
            by.setdefault(name, Bucket()).merge(b)
            if "[" not in name:              # outcomes such as "web_topup [declined]" are not extra work
                all_.merge(b)
        out = {name: b.figures(duration_s) for name, b in sorted(by.items())}
        out["total"] = all_.figures(duration_s)
        for name, b in by.items():
            out[name]["errors"] = dict(b.errors.most_common(5))
        return out

    def per_step(self) -> list[dict[str, Any]]:
        rows, start = [], 0.0
        for i, (end, tps) in enumerate(self.stages):
            seconds = end - start
            mine = {name: b for (j, name), b in sorted(self.buckets.items()) if j == i}
            together = Bucket()
            for name, b in mine.items():
                if "[" not in name:
                    together.merge(b)
            rows.append({"step": i + 1, "from_s": start, "to_s": end, "offered_tps": tps,
                         "all": together.figures(seconds),
                         "tx": {name: b.figures(seconds) for name, b in mine.items()}})
            start = end
        return rows
