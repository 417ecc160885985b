"""The pytest side of ``rbench validate``: ``--bench``, the role fixtures and the record.

Loaded by ``hil/validation/conftest.py``, so the suites run with plain pytest too::

    pytest hil/validation --bench hil/benches/emulated.yaml --record out/record.json --junitxml out/junit.xml

A role the bench does not bind skips its suite, saying so.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from hil.bench import Bench, BenchError, all_models, load_bench, open_role
from hil.validation.record import Measurement, Record

_RECORD = pytest.StashKey[Record]()
_BENCH = pytest.StashKey[Bench]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rbench", "rechargebench bench validation")
    try:   # the scenarios plugin defines the same option, with the same meaning
        group.addoption("--bench", default=None, metavar="FILE",
                        help="bench file binding the device roles (default: every role as a model)")
    except ValueError:
        pass
    group.addoption("--record", default=None, metavar="PATH", help="write the JSON record of measurements here")


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--bench")
    try:
        bench = load_bench(path) if path else all_models("EG")
    except BenchError as e:
        raise pytest.UsageError(f"bad bench file:\n{e}") from None
    config.stash[_BENCH] = bench
    config.stash[_RECORD] = Record({"path": bench.path, "name": bench.name, "market": bench.market,
                                    "roles": {r: {"face": b.face, **b.params} for r, b in bench.roles.items()}})
    config.addinivalue_line("markers", "role(name): the device role a check needs (meter, card_reader, modem)")


def pytest_unconfigure(config: pytest.Config) -> None:
    record = config.stash.get(_RECORD, None)
    path = config.getoption("--record", None)
    if record is not None and path:
        record.write(path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    record = item.config.stash[_RECORD]
    marker = item.get_closest_marker("role")
    check = record.check(item.nodeid, marker.args[0] if marker else None)
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        check.outcome = {"passed": "passed", "failed": "failed" if report.when == "call" else "error",
                         "skipped": "skipped"}[report.outcome]
        check.duration_s = round(report.duration, 6)
        if report.outcome != "passed":
            check.message = _short(report)


def _short(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    return crash.message if crash is not None else str(report.longrepr)[:500]


@pytest.fixture(scope="session")
def bench(request: pytest.FixtureRequest) -> Bench:
    return request.config.stash[_BENCH]


@pytest.fixture
def measure(request: pytest.FixtureRequest) -> Callable[..., Measurement]:
    """``measure(name, value, unit=None, low=None, high=None)``: record, then check limits."""
    record = request.config.stash[_RECORD]
    marker = request.node.get_closest_marker("role")
    check = record.check(request.node.nodeid, marker.args[0] if marker else None)

    def _measure(name: str, value: Any, unit: str | None = None, *, low: float | None = None,
                 high: float | None = None) -> Measurement:
        if isinstance(value, float):
            value = round(value, 6)
        m = Measurement(name, value, unit, low, high)
        check.measurements.append(m)
        m.check()
        return m

    return _measure


def role_port(request: pytest.FixtureRequest, role: str, **extra: Any) -> Iterator[Any]:
    bench: Bench = request.config.stash[_BENCH]
    if role not in bench.roles:
        pytest.skip(f"the bench {bench.path} binds no {role}")
    t0 = time.perf_counter()
    with open_role(bench, role, **extra) as port:
        request.node.user_properties.append((f"{role}_open_s", round(time.perf_counter() - t0, 6)))
        yield port


def face_of(request: pytest.FixtureRequest, role: str) -> str | None:
    return request.config.stash[_BENCH].face(role)


def bench_path(request: pytest.FixtureRequest) -> Path | None:
    p = request.config.getoption("--bench")
    return Path(p) if p else None
