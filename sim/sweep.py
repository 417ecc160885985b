"""What-if sweeps: one parameter over several values, each value replicated, runs in parallel.

The capacity planner's question ("how many SMS/s must the SMSC take before OTP expiries stop
hurting the web channel?") is a KPI plotted against a parameter, with confidence intervals
over replications (different seeds):

    from sim.sweep import sweep
    s = sweep("dz-peak-hour", "smsc.throughput_per_s", [10, 20, 40], 5, seed=1,
              subscribers=20_000, hours=1, processes=2, kpi="success_rate", out="out/smsc")
    for p in s.points: print(p.value, p.interval.mean, p.interval.low, p.interval.high)

Every (value, replication) is one run in its own process (``spawn``, one fresh process per
run, so one run's memory is returned before the next), with a seed derived from (seed,
value index, replication) alone: the same sweep gives the same runs whichever worker,
process or machine runs them, in whatever order they finish. Results are put back in
(value, replication) order before anything is written.

``scheduler_address="tcp://host:8786"`` sends the runs to a Dask cluster instead (the
optional extra ``pip install 'rechargebench[dask]'``; every worker needs rechargebench
installed). Every value is validated in this process before any run starts, so an
impossible value fails at once, naming the key.
"""
from __future__ import annotations

import hashlib
import math
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from sim.report.confidence import Interval, mean_interval

DEFAULT_KPI = "success_rate"
CONFIDENCE = 0.95


class SweepError(ValueError):
    """A sweep that cannot run as asked (bad KPI name, no values, Dask missing...)."""


def derive_seed(seed: int, value_index: int, replication: int) -> int:
    """The seed of one run: a 31-bit number from (seed, value index, replication) only."""
    digest = hashlib.sha256(f"rbench-sweep:{seed}:{value_index}:{replication}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def kpi_value(kpis: dict, name: str) -> float:
    """``success_rate`` -> ``kpis["totals"]["success_rate"]``; a dotted name is a path from the top
    (``markets.DZ.channels.web.latency_s.p95``) or, when its first part is a total, from the
    totals (``latency_s.p95``). Raises SweepError naming what exists where the path broke."""
    path = name.split(".")
    if path[0] not in kpis and path[0] in kpis.get("totals", {}) or len(path) == 1:
        path = ["totals", *path]
    node = kpis
    for depth, key in enumerate(path):
        if not isinstance(node, dict) or key not in node:
            where = ".".join(path[:depth]) or "(top)"
            choices = sorted(node) if isinstance(node, dict) else []
            raise SweepError(f"KPI {name!r}: no {key!r} under {where}; there: {', '.join(map(str, choices)) or 'nothing'}")
        node = node[key]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        hint = f"; numbers under it: {', '.join(sorted(k for k, v in node.items() if _numeric(v)))}" \
            if isinstance(node, dict) else ""
        raise SweepError(f"KPI {name!r} is not a number{hint}")
    return float(node)


def _numeric(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def scalar_totals(kpis: dict) -> dict[str, float]:
    """The numeric totals, for the CSV's extra columns."""
    return {k: v for k, v in sorted(kpis.get("totals", {}).items()) if _numeric(v)}


# ----------------------------------------------------------------------- one run (a worker)


def run_point(task: dict) -> dict:
    """One (value, replication): load the config, run it, keep what the sweep needs.

    Top-level and given plain data only, so ``spawn`` workers and Dask can pickle it.
    """
    from sim.run import load_config, run

    config = load_config(task["profile"], subscribers=task["subscribers"], hours=task["hours"],
                         seed=task["seed"], faults=task["faults"], db=task.get("db"),
                         overrides={**task.get("overrides", {}), task["parameter"]: task["value"]})
    result = run(config)
    return {"value_index": task["value_index"], "replication": task["replication"], "seed": task["seed"],
            "value": task["value"], "ok": result.ok, "problems": result.problems, "kpis": result.kpis,
            "events": result.events, "wall_s": result.wall_s, "peak_rss_mb": result.peak_rss_mb}


# ----------------------------------------------------------------------------- the sweep


@dataclass(frozen=True)
class Point:
    """One value of the parameter and its KPI over the replications."""

    value: object
    kpis: tuple[float, ...]       # one per replication, in replication order
    interval: Interval
    failed_runs: int              # runs whose conservation check failed


@dataclass
class SweepResult:
    profile: str
    parameter: str
    values: list
    replications: int
    seed: int
    kpi: str
    subscribers: int | None
    hours: float | None
    faults: str | None
    runs: list[dict]              # run_point() answers in (value, replication) order
    points: list[Point]
    wall_s: float
    workers: str                  # "4 local processes" or "dask tcp://..."

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.runs)


def validate(profile: str, parameter: str, values: Sequence, replications: int, *, seed: int,
             subscribers: int | None, hours: float | None, faults: str | None,
             overrides: dict | None = None) -> list:
    """Refuse the sweep before any run: every value must make a valid config (returned, one a value)."""
    if not values:
        raise SweepError("no values to sweep: give at least one, e.g. --values 10,20,40")
    if len(set(map(repr, values))) != len(values):
        raise SweepError(f"the values repeat: {', '.join(map(str, values))}; give each value once")
    if replications < 1:
        raise SweepError(f"replications must be at least 1, got {replications}")
    from sim.run import load_config

    return [load_config(profile, subscribers=subscribers, hours=hours, seed=seed, faults=faults,
                        overrides={**(overrides or {}), parameter: value}) for value in values]


def tasks_for(profile: str, parameter: str, values: Sequence, replications: int, *, seed: int,
              subscribers: int | None, hours: float | None, faults: str | None,
              overrides: dict | None = None) -> list[dict]:
    return [{"profile": profile, "parameter": parameter, "value": value, "value_index": i,
             "replication": r, "seed": derive_seed(seed, i, r), "subscribers": subscribers, "hours": hours,
             "faults": faults, "overrides": dict(overrides or {})}
            for i, value in enumerate(values) for r in range(replications)]


OnRun = Callable[[int, int, dict], None]


def _local(tasks: list[dict], processes: int, on_run: OnRun | None) -> list[dict]:
    done: list[dict] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(processes, len(tasks)), mp_context=context,
                             max_tasks_per_child=1) as pool:
        pending = {pool.submit(run_point, t) for t in tasks}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    answer = future.result()          # a run's exception stops the sweep here
                    done.append(answer)
                    if on_run:
                        on_run(len(done), len(tasks), answer)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return done


def _dask(tasks: list[dict], address: str, on_run: OnRun | None) -> list[dict]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as e:
        raise SweepError(f"--scheduler {address}: Dask is not installed ({e.name or e}); "
                         "install the optional extra: pip install 'rechargebench[dask]'") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as e:
        raise SweepError(f"--scheduler {address}: cannot reach the Dask scheduler ({e}); "
                         "expected an address like tcp://HOST:8786 of a running dask scheduler") from None
    done: list[dict] = []
    try:
        futures = client.map(run_point, tasks, pure=False)
        for future in as_completed(futures):
            answer = future.result()
            done.append(answer)
            if on_run:
                on_run(len(done), len(tasks), answer)
    finally:
        client.close()
    return done


def sweep(profile: str, parameter: str, values: Sequence, replications: int, *, seed: int = 0,
          subscribers: int | None = None, hours: float | None = None, faults: str | None = None,
          processes: int = 2, scheduler_address: str | None = None, kpi: str = DEFAULT_KPI,
          overrides: dict | None = None, out: str | Path | None = None,
          on_run: OnRun | None = None) -> SweepResult:
    """Run the sweep; with ``out``, write ``sweep.csv``, ``sweep.json``, ``sweep.png``, ``sweep.html``.

    ``on_run(done, total, answer)`` is called in this process as each run finishes.
    Raises ``SimConfigError`` (a value makes an invalid config) or ``SweepError`` before any
    run starts when the input is wrong.
    """
    values = list(values)
    if scheduler_address is None and processes < 1:
        raise SweepError(f"processes must be at least 1, got {processes}")
    configs = validate(profile, parameter, values, replications, seed=seed, subscribers=subscribers, hours=hours,
                       faults=faults, overrides=overrides)
    resolved_subscribers = getattr(configs[0], "subscribers", subscribers)   # the profile's when not given
    resolved_hours = getattr(configs[0], "hours", hours)
    tasks = tasks_for(profile, parameter, values, replications, seed=seed, subscribers=subscribers,
                      hours=hours, faults=faults, overrides=overrides)

    def checked(done: int, total: int, answer: dict) -> None:
        kpi_value(answer["kpis"], kpi)                # a wrong KPI name stops at the first run
        if on_run:
            on_run(done, total, answer)

    started = time.perf_counter()
    if scheduler_address:
        answers, workers = _dask(tasks, scheduler_address, checked), f"dask {scheduler_address}"
    else:
        n = min(processes, len(tasks))
        answers, workers = _local(tasks, processes, checked), f"{n} local process{'es' if n != 1 else ''}"
    wall = time.perf_counter() - started
    answers.sort(key=lambda a: (a["value_index"], a["replication"]))
    points = []
    for i, value in enumerate(values):
        mine = [a for a in answers if a["value_index"] == i]
        ys = tuple(kpi_value(a["kpis"], kpi) for a in mine)
        points.append(Point(value, ys, mean_interval([y for y in ys if not math.isnan(y)], CONFIDENCE),
                            sum(1 for a in mine if not a["ok"])))
    result = SweepResult(profile, parameter, values, replications, seed, kpi, resolved_subscribers,
                         resolved_hours, faults, answers, points, wall, workers)
    if out is not None:
        from sim.report.sweep_files import write_sweep
        write_sweep(result, out)
    return result
