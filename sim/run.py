"""The run API: one call from a config to a ``RunResult``.

    from sim.run import run, load_config, list_profiles
    result = run(load_config("dz-peak-hour", subscribers=20_000, seed=3, faults="smsc-slowdown"))
    result.ok, result.kpis["totals"]["success_rate"], len(result.minutes)

The run uses a fresh SQLite file in a temporary folder unless the config names a database.
``progress(sim_seconds_done, sim_seconds_total)`` is called once per simulated minute.
"""
from __future__ import annotations

import logging
import resource
import tempfile
import time
from typing import Callable

import simpy

from sim.closing import close
from sim.config import SimConfig, SimConfigError, list_profiles, load_config
from sim.demand import Demand, deposit_floats
from sim.result import RunResult
from sim.world import World

__all__ = ["run", "load_config", "list_profiles", "SimConfig", "SimConfigError", "RunResult"]


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (``RunResult.events``)."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


def _minutes(w: World, progress: Callable[[float, float], None] | None, said: list[float]):  # type: ignore[no-untyped-def]
    env, total = w.env, w.stop_s
    while env.now + 60 <= total:
        yield env.timeout(60)
        w.kpis.sample(w.smsc.queue(), w.desk.queued())
        if progress is not None:
            progress(env.now, total)
            said.append(env.now)


def _sweeper(w: World):  # type: ignore[no-untyped-def]
    every, older = w.cfg.sweep["every_s"], w.cfg.sweep["older_than_s"]
    n = 0
    while True:
        yield w.env.timeout(every)
        if not w.core_up:
            continue
        n += 1
        w.core.payments.reconcile_pending(older)
        w.core.ussd.expire_sessions()
        if n % 20 == 0:
            w.core.topups.expire_bonuses()


def _restart_at(w: World, at: float, downtime: float):  # type: ignore[no-untyped-def]
    yield w.env.timeout(at)
    yield from w.restart_core(downtime)


def start(w: World, progress: Callable[[float, float], None] | None = None,
          said: list[float] | None = None) -> None:
    deposit_floats(w)
    for m in w.markets:
        w.meters[m].start()
        Demand(w, m).start()
    env = w.env
    env.process(_minutes(w, progress, said if said is not None else []))
    env.process(_sweeper(w))
    if w.faults is not None:
        for at, downtime in w.faults.restarts():
            env.process(_restart_at(w, at, downtime))


def run(config: SimConfig, *, progress: Callable[[float, float], None] | None = None) -> RunResult:
    if not isinstance(config, SimConfig):
        raise SimConfigError(f"run: expected a SimConfig from load_config(), got {type(config).__name__}")
    t0 = time.perf_counter()
    # The core logs what faults make it do (lost callbacks, refunds to retry): expected in a
    # simulation, so they stay quiet unless the caller configured logging.
    quiet = logging.getLogger("rbench")
    hush = None if logging.getLogger().handlers or quiet.handlers else logging.NullHandler()
    if hush is not None:
        quiet.addHandler(hush)
    try:
        return _run(config, progress, t0)
    finally:
        if hush is not None:
            quiet.removeHandler(hush)


def _run(config: SimConfig, progress: Callable[[float, float], None] | None, t0: float) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="rbench-sim-") as tmp:
        w = World(config, config.db or f"sqlite:///{tmp}/sim.db", env=CountingEnvironment())
        said: list[float] = []
        try:
            start(w, progress, said)
            w.env.run(until=w.stop_s)
            if progress is not None and (not said or said[-1] < w.stop_s):
                progress(w.stop_s, w.stop_s)
            kpis, minutes = close(w)
        finally:
            w.store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return RunResult(config=config.to_dict(), kpis=kpis, minutes=minutes, events=w.env.processed,
                     wall_s=time.perf_counter() - t0, peak_rss_mb=round(rss, 1))
