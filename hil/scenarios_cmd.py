"""``rbench scenarios``: run the QA scenario suites (``scenarios/``) with pytest and its plugin.

    rbench scenarios                                       the shipped library, every role a model
    rbench scenarios scenarios/library/f5 --bench emulated --report out/scenarios.html
    rbench scenarios my-story.yaml --market DZ --seed 7 --junit out/junit.xml -n 2

It is ``pytest`` with the scenario plugin (``-p scenarios.plugin``) and these options turned into
the plugin's: ``--bench``, ``--market``, ``--seed``, ``--report`` (``--scenario-report``); plus
``--junit``, ``-m``/``--marker``, ``-k``/``--keyword`` and ``-n``/``--workers`` (pytest-xdist,
``--dist loadgroup`` so stories on the PC/SC reader share one worker). A folder outside a
``scenarios`` folder is expanded to the ``*.yaml`` files under it, so scenarios kept anywhere
are collected. The exit status is
pytest's: 0 all passed, 1 some failed, 2 interrupted (a malformed scenario), 4 bad options,
5 nothing to run.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios" / "library"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``rbench scenarios``: the subcommand, for ``hil/cli.py``."""
    p = sub.add_parser("scenarios", help="run the QA scenario suites (stories, population runs) with pytest")
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="scenario files or folders of them (default: the shipped library, scenarios/library)")
    p.add_argument("--bench", metavar="FILE",
                   help="bench file, or a shipped one: model, emulated, example-lab (default: every role as a model)")
    p.add_argument("--market", action="append", choices=["DZ", "IR", "EG"], help="only this market (repeatable)")
    p.add_argument("--seed", default="1", help="seed of every random choice, or 'random' (default 1)")
    p.add_argument("--report", metavar="PATH", help="write a self-contained HTML report (transcripts, plots)")
    p.add_argument("--junit", metavar="PATH", help="write a JUnit XML report")
    p.add_argument("-m", "--marker", metavar="EXPR", help="marker expression, e.g. 'f5 or f6', 'not population'")
    p.add_argument("-k", "--keyword", metavar="EXPR", help="pytest -k expression on the scenario names")
    p.add_argument("-n", "--workers", metavar="N", help="pytest-xdist workers: a number or auto")
    p.set_defaults(run=run_scenarios)
    return p


def pytest_args(args: argparse.Namespace) -> list[str] | str:
    """The pytest command line for ``args``, or a message saying which path does not exist."""
    out = ["-p", "scenarios.plugin", "-p", "no:cacheprovider", "-ra"]
    paths = list(getattr(args, "paths", None) or []) or [str(LIBRARY)]
    for given in paths:
        p = Path(given)
        if p.is_dir() and "scenarios" in p.resolve().parts:       # collected by the plugin as it is
            out.append(given)
        elif p.is_dir():
            files = sorted(str(f) for f in p.rglob("*.y*ml") if f.suffix in (".yaml", ".yml"))
            if not files:
                return f"{given}: no *.yaml scenario files in this folder"
            out += files
        elif p.is_file() or "::" in given:
            out.append(given)
        else:
            return f"{given}: no such file or folder; give scenario files (*.yaml) or folders of them"
    if getattr(args, "bench", None):
        out += ["--bench", args.bench]
    for market in getattr(args, "market", None) or []:
        out += ["--market", market]
    if getattr(args, "seed", None) is not None:
        out += ["--seed", str(args.seed)]
    if getattr(args, "report", None):
        out += ["--scenario-report", args.report]
    if getattr(args, "junit", None):
        out += ["--junitxml", args.junit]
    if getattr(args, "marker", None):
        out += ["-m", args.marker]
    if getattr(args, "keyword", None):
        out += ["-k", args.keyword]
    if getattr(args, "workers", None):
        out += ["-n", str(args.workers), "--dist", "loadgroup"]
    return out


def run_scenarios(args: argparse.Namespace) -> int:
    built = pytest_args(args)
    if isinstance(built, str):
        print(f"rbench scenarios: {built}", file=sys.stderr)
        return 4
    import pytest

    return int(pytest.main(built))
