"""The Locust entry point: reads the plan ``$RBENCH_LOAD_PLAN`` (written by ``rbench load``),
makes one user class per transaction type of the plan, weighted by the market mix, and a
``LoadTestShape`` that follows the plan's stages with paced users.

    rbench load dz-peak-hour --tps 20 --duration 2m          # writes the plan, runs this file
    RBENCH_LOAD_PLAN=out/plan.json locust -f loadtests/locustfile.py --headless   # by hand

At the end of the run each process's transactions per stage go to ``<out>/steps.json``: a
worker sends them to the master, which merges and writes them.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import gevent
from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner

from loadtests import channels, customer, shapes
from loadtests.plan import Plan
from loadtests.steps import StepStats

PLAN = Plan.from_file(os.environ["RBENCH_LOAD_PLAN"])
customer.configure(PLAN)
MESSAGE, STOP = "rbench_steps", "rbench_stop"


def _user_class(tx: str, weight: float) -> type:
    base = channels.CLASSES[tx]
    return type(base.__name__ + "User", (base,), {"abstract": False, "weight": max(1, round(weight * 1000)),
                                                  "__module__": __name__})


for _tx, _w in PLAN.tx_weights.items():
    _cls = _user_class(_tx, _w)
    globals()[_cls.__name__] = _cls
del _cls                                  # Locust would see the last class twice


class PlanShape(LoadTestShape):
    """Users = ceil(stage tps / per-user pace); users arrive within about a second."""

    def tick(self) -> tuple[int, float] | None:
        return shapes.tick(PLAN.stages, PLAN.per_user_tps, self.get_run_time())


def _write(stats: StepStats) -> None:
    if PLAN.out:
        path = Path(PLAN.out) / "steps.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(stats.to_json(), encoding="utf-8")
        tmp.replace(path)


class _Collect:
    """On the master: the workers' step counts, merged as they come."""
    merged = StepStats(PLAN.stages)
    senders: set[str] = set()
    expected = 0


@events.init.add_listener
def _init(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    if isinstance(environment.runner, MasterRunner):
        def receive(msg, **_kw) -> None:  # type: ignore[no-untyped-def]
            _Collect.merged.merge_json(msg.data)
            _Collect.senders.add(str(msg.node_id))
            _write(_Collect.merged)
        environment.runner.register_message(MESSAGE, receive)
    elif isinstance(environment.runner, WorkerRunner):
        def stop(msg, **_kw) -> None:  # type: ignore[no-untyped-def]
            gevent.spawn(environment.runner.stop)        # its test_stop sends the counts
        environment.runner.register_message(STOP, stop)


@events.test_start.add_listener
def _start(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    customer.RUN_START[0] = time.monotonic()
    customer.configure(PLAN)                 # fresh step counts for this run
    if isinstance(environment.runner, MasterRunner):
        _Collect.expected = environment.runner.worker_count


@events.test_stop.add_listener
def _stop(environment, **_kw) -> None:  # type: ignore[no-untyped-def]
    stats = customer.STEPS
    if isinstance(environment.runner, MasterRunner):
        # A headless master quits without stopping its workers first: ask them to stop (their
        # users finish within --stop-timeout), then wait for every worker's counts, at most 60 s.
        environment.runner.send_message(STOP)
        deadline = time.monotonic() + 60
        while len(_Collect.senders) < _Collect.expected and time.monotonic() < deadline:
            gevent.sleep(0.2)
        if len(_Collect.senders) < _Collect.expected:
            logging.warning("step counts from %d of %d workers only", len(_Collect.senders), _Collect.expected)
        _write(_Collect.merged)
        return
    if stats is None:
        return
    if isinstance(environment.runner, WorkerRunner):
        environment.runner.send_message(MESSAGE, stats.to_json())
    else:
        _write(stats)
