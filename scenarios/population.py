"""Run a population scenario: one simulator run, then its KPI thresholds.

    simulation: {profile: dz-peak-hour, subscribers: 3000, hours: 1, faults: smsc-slowdown}
    thresholds:
      - {kpi: totals.success_rate, ge: 0.85}
      - {ratio: [totals.otp_expiries, markets.DZ.channels.web.attempts], lt: 0.02}
      - {minutes: smsc_queue, of: max, le: 500}

Every run must also conserve money (``RunResult.ok``): that one is never optional.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from scenarios.expect import _MISSING, lookup, matches
from scenarios.scenario import Scenario, Threshold

KPI_ROOTS = ("markets", "totals", "network", "conservation")


class ThresholdMissed(AssertionError):
    """Thresholds the run did not meet (or the run did not conserve money)."""

    def __init__(self, run: PopulationRun, replay: str) -> None:
        self.run = run
        lines = [f"scenario: {run.scenario.title} ({run.scenario.source})",
                 f"simulation: {run.config_line}",
                 "thresholds:"]
        for c in run.checks:
            lines.append(f"  {'ok  ' if c.ok else 'MISS'} line {c.threshold.line}: {c.threshold.describe()} "
                         f"(value {c.shown})" + (f" - {c.threshold.why}" if c.threshold.why and not c.ok else ""))
        lines += [f"conservation: {'ok' if run.conserved else 'FAILED: ' + '; '.join(run.problems)}",
                  f"seed {run.seed}; replay: {replay}"]
        self.text = "\n".join(lines)
        super().__init__(self.text)


@dataclass(frozen=True)
class Check:
    threshold: Threshold
    value: Any
    ok: bool

    @property
    def shown(self) -> str:
        if isinstance(self.value, float):
            return f"{self.value:.6g}"
        return "missing" if self.value is _MISSING else str(self.value)


@dataclass
class PopulationRun:
    scenario: Scenario
    seed: int
    config_line: str = ""
    checks: list[Check] = field(default_factory=list)
    conserved: bool = False
    problems: list[str] = field(default_factory=list)
    minutes: list[dict] = field(default_factory=list)
    kpis: dict = field(default_factory=dict)
    wall_s: float = 0.0
    sim_wall_s: float = 0.0
    events: int = 0

    @property
    def passed(self) -> bool:
        return self.conserved and all(c.ok for c in self.checks)


def config_of(scenario: Scenario, seed: int) -> Any:
    """The simulator's validated config (raises ``SimConfigError`` naming what is wrong)."""
    from sim.config import load_config

    sim = scenario.simulation
    return load_config(sim["profile"], subscribers=sim["subscribers"], hours=sim["hours"],
                       seed=sim.get("seed", seed), faults=sim.get("faults"), overrides=dict(sim.get("overrides", {})))


def value_of(t: Threshold, kpis: dict, minutes: list[dict]) -> Any:
    if t.kpi:
        return lookup(kpis, t.kpi)
    if t.ratio:
        num, den = lookup(kpis, t.ratio[0]), lookup(kpis, t.ratio[1])
        if num is _MISSING or den is _MISSING:
            return _MISSING
        return 0.0 if num == 0 else (float(num) / float(den) if den else float("inf"))
    column = [row[t.minutes] for row in minutes if t.minutes in row]
    if not column:
        return _MISSING
    return {"max": max, "min": min, "sum": sum, "mean": lambda xs: sum(xs) / len(xs)}[t.of](column)


def run_population(scenario: Scenario, *, seed: int, replay: str = "") -> PopulationRun:
    from sim.run import run

    t0 = time.monotonic()
    cfg = config_of(scenario, seed)
    out = PopulationRun(scenario, cfg.seed)
    out.config_line = (f"{cfg.profile}, {cfg.subscribers} subscribers, {cfg.hours:g} h, seed {cfg.seed}"
                       + (f", faults {cfg.faults.name}" if cfg.faults else "")
                       + (f", overrides {cfg.overrides}" if cfg.overrides else ""))
    result = run(cfg)
    out.kpis, out.minutes, out.events, out.sim_wall_s = result.kpis, result.minutes, result.events, result.wall_s
    out.conserved, out.problems = result.ok, result.problems
    for t in scenario.thresholds:
        value = value_of(t, result.kpis, result.minutes)
        ok = value is not _MISSING and matches(value, t.ops)[0]
        out.checks.append(Check(t, value, ok))
    out.wall_s = time.monotonic() - t0
    if not out.passed:
        raise ThresholdMissed(out, replay)
    return out
