"""The pytest plugin: every ``scenarios/**/*.yaml`` is a test file, one test per market.

    pytest scenarios                                   # every story and population run, on models
    pytest scenarios -n auto                           # the same on every core (pytest-xdist)
    pytest scenarios -m "f5 or f6" --bench hil/benches/emulated.yaml
    pytest scenarios --market DZ --seed 7 --scenario-report out/scenarios.html --junitxml out/junit.xml

Options: ``--bench FILE`` (default: every role as a model), ``--market`` (repeatable),
``--seed N`` (or ``random``; printed in the header and in every failure, with the command to
replay it), ``--scenario-report PATH`` (one self-contained HTML page: results, transcripts,
plots of the population runs), ``--scenario-io-timeout S`` (wall seconds per device answer).
Markers: ``f1`` .. ``f6``, ``settlement``, ``story``, ``population``, ``slow`` and the device
roles a story drives: ``meter``, ``card_reader``, ``modem``. Stories that use the card reader
carry ``xdist_group("pcsc")``: with ``--dist loadgroup`` they run on one worker, as vpcd has
one reader per port. Each test has its own core in its own temporary folder, and draws its
MSISDNs from its worker's range; nothing listens on a port.

Collected: ``*.yaml`` under a folder named ``scenarios``, and any ``*.yaml`` named on the
command line. A malformed file fails at collection with ``file:line: what was expected``.
"""
from __future__ import annotations

import json
import random
import shlex
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hil.bench import MARKETS, Bench, BenchError, all_models, load_bench
from scenarios.loader import ScenarioError, load
from scenarios.scenario import Scenario

MARKERS = {
    **{f"f{i}": f"scenario of flow F{i} (specs/flows.md)" for i in range(1, 7)},
    "settlement": "scenario of the settlement day",
    "story": "a story scenario (steps by actors)",
    "population": "a population scenario (a simulation with KPI thresholds)",
    "meter": "drives the bench's meter role",
    "card_reader": "drives the bench's card reader role (runs in xdist_group pcsc)",
    "modem": "drives the bench's modem role",
    "slow": "takes more than a few seconds",
}


@dataclass
class Settings:
    bench: Bench | None           # None: every role as a model, in the scenario's market
    bench_arg: str | None
    seed: int
    markets: tuple[str, ...] | None
    report: Path | None
    io_timeout: float
    runs: list[dict] = field(default_factory=list)

    def bench_for(self, market: str) -> Bench:
        return self.bench or all_models(market)

    @property
    def bench_label(self) -> str:
        return self.bench.name or self.bench.path if self.bench else "models"


SETTINGS = pytest.StashKey[Settings]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rbench", "rechargebench bench and scenarios")
    try:      # the bench validation suites take the same option, with the same meaning
        group.addoption("--bench", default=None, metavar="FILE",
                        help="bench file binding the device roles (default: every role as a model)")
    except ValueError:
        pass
    group.addoption("--market", action="append", choices=MARKETS, default=None,
                    help="run scenarios of this market only (repeatable)")
    group.addoption("--seed", default="1", metavar="N",
                    help="seed of every random choice in the scenarios, or 'random' (default 1)")
    group.addoption("--scenario-report", default=None, metavar="PATH",
                    help="write a self-contained HTML report of the scenarios (transcripts, plots)")
    group.addoption("--scenario-io-timeout", type=float, default=10.0, metavar="S",
                    help="wall seconds to wait for each device answer (default 10)")


def _seed(config: pytest.Config) -> int:
    given = getattr(config, "workerinput", {}).get("rbench_seed")
    if given is not None:
        return int(given)
    text = str(config.getoption("--seed"))
    if text == "random":
        return random.SystemRandom().randrange(1, 2 ** 31)
    try:
        seed = int(text)
    except ValueError:
        raise pytest.UsageError(f"--seed {text!r}: expected a whole number >= 0 or 'random'") from None
    if seed < 0:
        raise pytest.UsageError(f"--seed {text!r}: expected a whole number >= 0 or 'random'")
    return seed


def pytest_configure(config: pytest.Config) -> None:
    for name, doc in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {doc}")
    bench_arg = config.getoption("--bench", None)
    try:
        bench = load_bench(bench_arg) if bench_arg else None
    except BenchError as e:
        raise pytest.UsageError(f"--bench {bench_arg}: bad bench file:\n{e}") from None
    report = config.getoption("--scenario-report")
    config.stash[SETTINGS] = Settings(bench, bench_arg, _seed(config),
                                      tuple(config.getoption("--market") or ()) or None,
                                      Path(report) if report else None, config.getoption("--scenario-io-timeout"))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist, on the controller: every worker uses the controller's seed (also a random one)."""
    node.workerinput["rbench_seed"] = node.config.stash[SETTINGS].seed


def pytest_report_header(config: pytest.Config) -> str:
    s = config.stash[SETTINGS]
    return f"rbench scenarios: seed {s.seed}, bench {s.bench_label}" + (f", markets {', '.join(s.markets)}"
                                                                          if s.markets else "")


def _explicit(file_path: Path, config: pytest.Config) -> bool:
    for arg in config.args:
        candidate = Path(arg.split("::")[0])
        try:
            if candidate.resolve() == file_path.resolve():
                return True
        except OSError:
            continue
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if "scenarios" in file_path.parent.parts or _explicit(file_path, parent.config):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            source = str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            source = str(self.path)
        scenario = load(self.path, source=source)
        wanted = self.config.stash[SETTINGS].markets
        for market in scenario.markets:
            if wanted is None or market in wanted:
                yield ScenarioItem.from_parent(self, name=market, scenario=scenario, market=market)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ScenarioError):
            return f"malformed scenario:\n{excinfo.value}"
        return super().repr_failure(excinfo)


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Scenario, market: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.scenario, self.market = scenario, market
        for marker in scenario.markers:
            self.add_marker(marker)
        if "card_reader" in scenario.roles:
            self.add_marker(pytest.mark.xdist_group("pcsc"))
        self.run_record: dict | None = None

    def replay(self, settings: Settings) -> str:
        bench = f" --bench {shlex.quote(settings.bench_arg)}" if settings.bench_arg else ""
        return f"pytest {shlex.quote(self.nodeid)} --seed {settings.seed}{bench}"

    def runtest(self) -> None:
        from scenarios.world import FaceUnsupported

        s = self.config.stash[SETTINGS]
        self.user_properties += [("seed", s.seed), ("bench", s.bench_label), ("market", self.market)]
        if self.scenario.kind == "population":
            self._population(s)
            return
        from scenarios.story import StepFailed, run_story

        workdir = Path(tempfile.mkdtemp(prefix=f"rbench-scenario-{self.scenario.name}-"))
        run = None
        try:
            run = run_story(self.scenario, self.market, bench=s.bench_for(self.market), seed=s.seed,
                            workdir=workdir, io_timeout=s.io_timeout, replay=self.replay(s))
        except FaceUnsupported as e:
            pytest.skip(f"{self.scenario.source}: {e}")
        except StepFailed as e:
            run = e.run
            raise
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if run is not None:
                self.run_record = _story_record(self, run, s)

    def _population(self, s: Settings) -> None:
        from scenarios.population import ThresholdMissed, run_population

        try:
            run = run_population(self.scenario, seed=s.seed, replay=self.replay(s))
        except ThresholdMissed as e:
            self.run_record = _population_record(self, e.run, s, e.text)
            raise
        self.run_record = _population_record(self, run, s, "")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        from scenarios.population import ThresholdMissed
        from scenarios.story import StepFailed

        if isinstance(excinfo.value, (StepFailed, ThresholdMissed)):
            return excinfo.value.text
        s = self.config.stash[SETTINGS]
        return f"{super().repr_failure(excinfo)}\nseed {s.seed}; replay: {self.replay(s)}"

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.scenario.title} [{self.market}]"


def _base_record(item: ScenarioItem, s: Settings) -> dict:
    sc = item.scenario
    return {"nodeid": item.nodeid, "title": sc.title, "source": sc.source, "kind": sc.kind, "market": item.market,
            "flows": list(sc.flows), "roles": list(sc.roles), "seed": s.seed, "bench": s.bench_label,
            "replay": item.replay(s)}


def _story_record(item: ScenarioItem, run: Any, s: Settings) -> dict:
    return {**_base_record(item, s), "passed": run.passed, "wall_s": round(run.wall_s, 3),
            "clock_s": round(run.clock_s, 3), "steps": f"{run.steps_done}/{len(item.scenario.steps)}",
            "failure": run.failure, "transcript": run.transcript}


def _population_record(item: ScenarioItem, run: Any, s: Settings, failure: str) -> dict:
    out = {**_base_record(item, s), "passed": not failure, "failure": failure}
    if run is None:
        return out
    plots = {}
    if s.report is not None:
        from scenarios.report import population_plots
        plots = population_plots(run.minutes, item.scenario.simulation.get("hours"))
    return {**out, "wall_s": round(run.wall_s, 3), "config": run.config_line,
            "checks": [{"threshold": c.threshold.describe(), "value": c.shown, "ok": c.ok, "why": c.threshold.why}
                       for c in run.checks], "conserved": run.conserved, "plots": plots,
            "totals": run.kpis.get("totals", {})}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if isinstance(item, ScenarioItem) and report.when == "call":
        record = item.run_record or {**_base_record(item, item.config.stash[SETTINGS]),
                                     "passed": report.passed, "failure": str(report.longrepr or "")}
        record["outcome"] = report.outcome
        report.rbench_scenario = json.dumps(record, ensure_ascii=False, default=str)


_session: Settings | None = None      # pytest_runtest_logreport is given no config: the session's


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    global _session
    _session = session.config.stash[SETTINGS]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Every scenario's record, also from xdist workers (the attribute travels with the report)."""
    text = getattr(report, "rbench_scenario", None)
    if text and _session is not None and _session.report is not None:
        _session.runs.append(json.loads(text))


def pytest_sessionfinish(session: pytest.Session) -> None:
    s = session.config.stash[SETTINGS]
    if s.report is None or hasattr(session.config, "workerinput"):
        return
    from scenarios.report import write_report
    write_report(s.report, s.runs, seed=s.seed, bench=s.bench_label)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    s = config.stash[SETTINGS]
    if s.report is not None and not hasattr(config, "workerinput"):
        terminalreporter.write_line(f"rbench scenarios: HTML report {s.report} ({len(s.runs)} scenarios); "
                                    f"seed {s.seed}, bench {s.bench_label}")
