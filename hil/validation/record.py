"""Measurements of a validation run: values with units and limits, not just verdicts.

A hardware team wants to know that the meter answered the sign-on in 412 ms against a limit
of 1500 ms, not only that the check passed, so every check records what it measured (in the
way of OpenHTF's measurements) and the run ends with one JSON record beside the JUnit XML::

    def test_sign_on(meter, measure):
        t0 = time.perf_counter()
        ident = meter.identify()
        measure("sign_on_time", (time.perf_counter() - t0) * 1000, "ms", high=1500)
        measure("identification", ident)      # a value without limits: recorded, always passes

A measurement outside its limits fails the check at once with the value, the limit and the
unit in the message.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class LimitExceeded(AssertionError):
    """A measured value outside its limits."""


@dataclass
class Measurement:
    name: str
    value: Any
    unit: str | None = None
    low: float | None = None
    high: float | None = None
    passed: bool = True

    def check(self) -> None:
        v = self.value
        if self.low is None and self.high is None:
            return
        if not isinstance(v, (int, float)) or isinstance(v, bool) or math.isnan(v):
            self.passed = False
            raise LimitExceeded(f"{self.name}: {v!r} is not a number, expected one within limits")
        if self.low is not None and v < self.low:
            self.passed = False
            raise LimitExceeded(f"{self.name} = {v:g} {self.unit or ''} is below the limit {self.low:g}".strip())
        if self.high is not None and v > self.high:
            self.passed = False
            raise LimitExceeded(f"{self.name} = {v:g} {self.unit or ''} is above the limit {self.high:g}".strip())


@dataclass
class CheckRecord:
    nodeid: str
    role: str | None
    outcome: str = "unknown"            # passed | failed | skipped | error
    duration_s: float = 0.0
    message: str | None = None
    measurements: list[Measurement] = field(default_factory=list)


class Record:
    """All checks of one run; ``write`` makes the JSON file."""

    def __init__(self, bench: dict[str, Any]) -> None:
        self.bench = bench
        self.started = dt.datetime.now(dt.timezone.utc)
        self.checks: dict[str, CheckRecord] = {}

    def check(self, nodeid: str, role: str | None = None) -> CheckRecord:
        rec = self.checks.get(nodeid)
        if rec is None:
            rec = self.checks[nodeid] = CheckRecord(nodeid, role)
        elif role and not rec.role:
            rec.role = role
        return rec

    def summary(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.checks.values():
            out[c.outcome] = out.get(c.outcome, 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "started": self.started.isoformat(timespec="seconds"),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
            "summary": self.summary(),
            "checks": [
                {**{k: v for k, v in asdict(c).items() if k != "measurements"},
                 "measurements": [asdict(m) for m in c.measurements]}
                for c in self.checks.values()
            ],
        }

    def write(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_json(), indent=2, default=str) + "\n", encoding="utf-8")
        return p
