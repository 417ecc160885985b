"""Run a story: set up ``given``, then each step: render, act, check, capture.

A step with ``within`` (or an action that waits, such as ``handset.sms``) is tried again until
its expectations hold, the story's clock moving to the next thing the core scheduled each time
(an SMS due, a callback, a timer), never past the deadline; so "an SMS within 60 s" costs a few
attempts, not 60. When a step fails, ``StepFailed`` tells the step, the expectation, what the
result was, the seed and bench to replay it, and the transcript. After the last step the
ledger's conservation invariant is checked: captured = credited + refunded, nothing twice.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.bench import Bench
from scenarios.actors import ACTIONS
from scenarios.expect import CaptureError, Mismatch, capture, check
from scenarios.scenario import Scenario, Step
from scenarios.values import TemplateError, parse_duration
from scenarios.world import START, FaceUnsupported, StoryWorld

TRANSCRIPT_ON_FAILURE = 120     # entries printed with a failure (the HTML report has them all)
MAX_ATTEMPTS = 10_000           # of one waiting step: a guard, never reached by a sane story


@dataclass
class StoryRun:
    scenario: Scenario
    market: str
    seed: int
    bench: str
    passed: bool = False
    steps_done: int = 0
    wall_s: float = 0.0
    clock_s: float = 0.0
    failure: str = ""
    transcript: list[tuple[float, float, str, str]] = field(default_factory=list)


class StepFailed(AssertionError):
    """A step whose action failed or whose expectations did not hold."""

    def __init__(self, run: StoryRun, step: Step | None, reason: str, details: list[str], world: StoryWorld,
                 replay: str) -> None:
        self.run, self.step, self.reason, self.details = run, step, reason, details
        where = step.label() if step else "after the last step"
        lines = [f"scenario: {run.scenario.title} [{run.market}] ({run.scenario.source})",
                 f"failed at {where}: {reason}", *[f"  {d}" for d in details],
                 f"seed {run.seed}, bench {run.bench}; replay: {replay}",
                 f"transcript (scenario time T+, wall time w) of {len(world.transcript.entries)} entries:",
                 world.transcript.render(last=TRANSCRIPT_ON_FAILURE)]
        self.text = "\n".join(lines)
        super().__init__(self.text)


def _short(value: Any, limit: int = 500) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_story(scenario: Scenario, market: str, *, bench: Bench, seed: int, workdir: Path,
              io_timeout: float = 10.0, replay: str = "") -> StoryRun:
    run = StoryRun(scenario, market, seed, bench.name or bench.path)
    t0 = time.monotonic()
    world = StoryWorld(scenario, market, bench=bench, seed=seed, workdir=workdir, io_timeout=io_timeout)
    try:
        try:
            world.setup()
        except FaceUnsupported:
            raise
        except Exception as e:     # a given that cannot exist: name what and why
            raise StepFailed(run, None, f"given: could not set up the story: {type(e).__name__}: {e}", [],
                             world, replay) from e
        wall_deadline = t0 + scenario.timeout
        for step in scenario.steps:
            _step(world, run, step, wall_deadline, replay)
            run.steps_done += 1
        report = world.core.conservation()
        world.transcript.add("note", f"conservation: {report.summary()}")
        if not report.ok:
            raise StepFailed(run, None, "the ledger does not conserve money", [report.summary()], world, replay)
        run.passed = True
        return run
    except StepFailed as e:
        run.failure = e.text
        raise
    finally:
        run.wall_s = time.monotonic() - t0
        run.clock_s = world.now() - START
        run.transcript = world.transcript.as_rows()
        world.close()


def _step(world: StoryWorld, run: StoryRun, step: Step, wall_deadline: float, replay: str) -> None:
    act = ACTIONS[step.action]
    ctx = world.ctx

    def fail(reason: str, details: list[str]) -> StepFailed:
        return StepFailed(run, step, reason, details, world, replay)

    try:
        within = parse_duration(ctx.render(step.within)) if step.within is not None else act.wait
    except (TemplateError, ValueError) as e:
        raise fail(f"within: {e}", []) from None
    expect = dict(step.expect)
    if act.wait is not None and "received" not in expect:
        expect["received"] = True
    world.step_io_timeout = step.timeout
    world.transcript.add("step", step.label())
    deadline = world.now() + (within or 0.0)
    attempts = 0
    while True:
        attempts += 1
        world.last_chance = within is None or world.now() >= deadline - 1e-9   # waits may take longer now
        try:
            args = ctx.render(step.args)
            result = act.fn(world, args)
        except FaceUnsupported:
            raise
        except TemplateError as e:
            raise fail(str(e), []) from None
        except Exception as e:
            raise fail(f"the action could not be carried out: {type(e).__name__}: {e}", []) from e
        try:
            mismatches: list[Mismatch] = check(result, expect, ctx)
        except (TemplateError, re.error, ValueError) as e:
            raise fail(f"the expectations could not be checked: {e}", [f"result: {_short(result)}"]) from None
        if not mismatches:
            break
        if within is None or world.now() >= deadline - 1e-9 or time.monotonic() > wall_deadline \
                or attempts >= MAX_ATTEMPTS:
            late = time.monotonic() > wall_deadline
            waited = f" within {within:g} s ({attempts} attempts)" if within is not None else ""
            reason = ("the story ran out of wall time" if late else "expectation not met" + waited)
            raise fail(reason, [str(m) for m in mismatches] + [f"result: {_short(result)}"])
        world.advance(world.next_event_within(deadline))
    world.transcript.add("result", _short(result, 400))
    for name, spec in step.capture.items():
        try:
            ctx.set(name, capture(result, spec, ctx))
        except CaptureError as e:
            raise fail(str(e), [f"result: {_short(result)}"]) from None
    world.step_io_timeout = None
