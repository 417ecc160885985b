"""``rbench simulate`` and ``rbench sweep``: the simulator from the command line.

    rbench simulate --list-profiles
    rbench simulate dz-peak-hour --subscribers 20000 --hours 1 --seed 1 [--faults smsc-slowdown]
                    [--out DIR] [--db URL] [--set smsc.throughput_per_s=20 ...]
    rbench sweep dz-peak-hour --param smsc.throughput_per_s --values 10,20,40 --replications 5
                 [--processes 2] [--scheduler tcp://HOST:8786] [--kpi success_rate] [--out DIR]
    rbench sweep dz-peak-hour --list-params

``simulate`` shows a progress bar (simulated and wall time) on stderr, writes the report
folder (``sim.report``), prints a KPI summary and the path of ``report.html``. ``sweep``
runs every (value, replication) in its own process and writes ``sweep.csv/.json/.png/.html``.
Exit status: 0 ok, 1 a run failed (conservation error, or nothing simulated), 2 bad input,
always as one line on stderr (numbers may be typed in Arabic-Indic or Persian digits too).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from core.digits import to_ascii_digits

_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}


class InputError(ValueError):
    """A command-line value that is not what the flag expects (exit 2, one line)."""


def _fail(command: str, message: str) -> int:
    print(f"rbench {command}: {message}", file=sys.stderr)
    return 2


def parse_count(flag: str, text: str) -> int:
    """``20000``, ``20_000``, ``20k``, ``1M``, ``٢٠٠٠٠`` -> int > 0."""
    t = to_ascii_digits(str(text)).strip().replace("_", "").replace(",", "")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", t)
    if not m:
        raise InputError(f"{flag} {text!r}: expected a whole number such as 20000, 20k or 1M")
    value = float(m.group(1)) * _SUFFIX[m.group(2).lower()]
    if value != int(value) or value < 1:
        raise InputError(f"{flag} {text!r}: expected a whole number of at least 1")
    return int(value)


def parse_number(flag: str, text: str, *, positive: bool = True) -> float:
    t = to_ascii_digits(str(text)).strip()
    try:
        value = float(t)
    except ValueError:
        raise InputError(f"{flag} {text!r}: expected a number such as 1 or 0.5") from None
    if not math.isfinite(value) or (positive and value <= 0):
        raise InputError(f"{flag} {text!r}: expected a number above 0")
    return value


def parse_int(flag: str, text: str, *, minimum: int = 0) -> int:
    t = to_ascii_digits(str(text)).strip()
    if not re.fullmatch(r"-?\d+", t) or int(t) < minimum:
        raise InputError(f"{flag} {text!r}: expected a whole number >= {minimum}")
    return int(t)


def parse_value(text: str) -> object:
    """A value on the command line: JSON when it reads as JSON (20, 0.5, true, "x", [1,2]), else text."""
    t = to_ascii_digits(text).strip()
    try:
        return json.loads(t)
    except ValueError:
        return t


def parse_overrides(items: list[str] | None) -> dict:
    """``["smsc.throughput_per_s=20", "otp.validity_s=300"]`` -> ``{"smsc.throughput_per_s": 20, ...}``."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise InputError(f"--set {item!r}: expected KEY=VALUE, e.g. --set smsc.throughput_per_s=20")
        if key in out:
            raise InputError(f"--set {key}: given twice")
        out[key] = parse_value(value)
    return out


def parse_values(text: str) -> list:
    """``10,20,40`` -> ``[10, 20, 40]`` (numbers as numbers, anything else as text)."""
    parts = [p for p in to_ascii_digits(text).replace("،", ",").split(",")]
    if not parts or any(not p.strip() for p in parts):
        raise InputError(f"--values {text!r}: expected a comma-separated list such as 10,20,40")
    return [parse_value(p) for p in parts]


def _config_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean bad input to the simulator (the engine's SimConfigError is a ValueError)."""
    return (ValueError, FileNotFoundError)


def _run_name(profile: str) -> str:
    return Path(profile).stem if profile.endswith((".yaml", ".yml")) else profile


def _list_profiles() -> int:
    from sim.run import list_profiles

    for name in list_profiles():
        print(name)
    return 0


# --------------------------------------------------------------------------------- simulate


class _Counter(logging.FileHandler):
    def __init__(self, path: Path) -> None:
        super().__init__(path, mode="w", encoding="utf-8", delay=True)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        super().emit(record)


@contextlib.contextmanager
def core_log(path: Path) -> Iterator[_Counter]:
    """The core's warnings during a run (lost callbacks, refunds to retry: what faults make it
    do) go to ``path`` instead of through the progress bar; the caller says how many there were."""
    logger = logging.getLogger("rbench")
    handler = _Counter(path)
    handler.setLevel(logging.WARNING)
    saved = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.propagate = saved
        logger.removeHandler(handler)
        handler.close()



def run_simulate(args: argparse.Namespace) -> int:
    if args.list_profiles:
        return _list_profiles()
    if not args.profile:
        return _fail("simulate", "missing PROFILE: name one of `rbench simulate --list-profiles` or a YAML path")
    try:
        subscribers = parse_count("--subscribers", args.subscribers) if args.subscribers is not None else None
        hours = parse_number("--hours", args.hours) if args.hours is not None else None
        seed = parse_int("--seed", args.seed)
        overrides = parse_overrides(args.set)
    except InputError as e:
        return _fail("simulate", str(e))

    from sim.run import load_config, run

    try:
        config = load_config(args.profile, subscribers=subscribers, hours=hours, seed=seed,
                             faults=args.faults, db=args.db, overrides=overrides or None)
    except _config_errors() as e:
        return _fail("simulate", str(e))

    from sim.progress import Progress
    from sim.report import summary_text, write_report

    out = Path(args.out) if args.out else Path("reports") / f"{_run_name(args.profile)}-seed{seed}"
    bar = Progress(_run_name(args.profile), stream=sys.stderr) if not args.quiet else None
    out.mkdir(parents=True, exist_ok=True)
    try:
        with core_log(out / "core.log") as log:
            result = run(config, progress=bar)
    finally:
        if bar is not None:
            bar.close()
    report = write_report(result, out, plots=not args.no_plots)
    sim_s = float(result.config.get("hours") or 0) * 3600 + float(result.config.get("drain_s") or 0)
    speed = f" ({sim_s / result.wall_s:,.0f}x real time)" if result.wall_s > 0 and sim_s else ""
    print(summary_text(result))
    print(f"{result.events:,} SimPy events in {result.wall_s:,.1f} s wall{speed}, "
          f"peak memory {result.peak_rss_mb:,.0f} MB; report written in {report.seconds:.1f} s")
    if log.count:
        print(f"the core logged {log.count:,} warning(s) during the run: {out / 'core.log'}")
    print(f"report: {report.html}")
    return 0 if result.ok else 1


# ------------------------------------------------------------------------------------ sweep


def _print_run(done: int, total: int, a: dict, kpi: str, parameter: str) -> None:
    from sim.sweep import kpi_value

    verdict = "" if a["ok"] else "  CONSERVATION FAILED"
    print(f"[{done}/{total}] {parameter}={a['value']} replication {a['replication']} seed {a['seed']}: "
          f"{kpi} {kpi_value(a['kpis'], kpi):.6g} ({a['wall_s']:.1f} s){verdict}", file=sys.stderr, flush=True)


def _list_params(profile: str) -> int:
    from sim.config import override_keys
    from sim.run import load_config

    try:
        config = load_config(profile)
    except _config_errors() as e:
        return _fail("sweep", str(e))
    for key in override_keys(config):
        print(key)
    return 0


def run_sweep(args: argparse.Namespace) -> int:
    if not args.profile:
        return _fail("sweep", "missing PROFILE: name one of `rbench simulate --list-profiles` or a YAML path")
    if args.list_params:
        return _list_params(args.profile)
    for flag, value in (("--param", args.param), ("--values", args.values)):
        if value is None:
            return _fail("sweep", f"missing {flag}: e.g. --param smsc.throughput_per_s --values 10,20,40 "
                         "(rbench sweep PROFILE --list-params lists the keys)")
    try:
        values = parse_values(args.values)
        replications = parse_int("--replications", args.replications, minimum=1)
        processes = parse_int("--processes", args.processes, minimum=1)
        subscribers = parse_count("--subscribers", args.subscribers) if args.subscribers is not None else None
        hours = parse_number("--hours", args.hours) if args.hours is not None else None
        seed = parse_int("--seed", args.seed)
        overrides = parse_overrides(args.set)
    except InputError as e:
        return _fail("sweep", str(e))
    if args.param in overrides:
        return _fail("sweep", f"--set {args.param}: that is the swept --param; give its values with --values")

    from sim.sweep import SweepError, sweep, validate

    try:                     # every value checked before any run starts
        validate(args.profile, args.param, values, replications, seed=seed, subscribers=subscribers,
                 hours=hours, faults=args.faults, overrides=overrides or None)
    except _config_errors() as e:
        return _fail("sweep", str(e))
    out = Path(args.out) if args.out else Path("reports") / f"sweep-{_run_name(args.profile)}-{args.param}"
    started = time.perf_counter()
    try:
        s = sweep(args.profile, args.param, values, replications, seed=seed, subscribers=subscribers, hours=hours,
                  faults=args.faults, processes=processes, scheduler_address=args.scheduler, kpi=args.kpi,
                  overrides=overrides or None, out=out,
                  on_run=lambda d, t, a: _print_run(d, t, a, args.kpi, args.param))
    except SweepError as e:  # a KPI name the runs do not have, Dask missing or unreachable
        return _fail("sweep", str(e))
    print(f"{args.kpi} vs {args.param} ({replications} replications per value, 95% CI, Student t):")
    width = max(len(str(v)) for v in values + [args.param])
    print(f"{args.param:<{width}}  {'mean':>12}  {'95% CI':>27}")
    for p in s.points:
        iv = p.interval
        ci = "-" if iv.half_width is None else f"[{iv.low:.6g}, {iv.high:.6g}]"
        failed = f"  {p.failed_runs} run(s) FAILED conservation" if p.failed_runs else ""
        print(f"{p.value!s:<{width}}  {iv.mean:>12.6g}  {ci:>27}{failed}")
    print(f"{len(s.runs)} runs on {s.workers} in {time.perf_counter() - started:,.1f} s")
    print(f"sweep: {out / 'sweep.html'}")
    return 0 if s.ok else 1


# ------------------------------------------------------------------------------ the parsers


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``simulate`` and ``sweep`` to ``rbench``'s subcommands."""
    p = sub.add_parser("simulate", help="simulate subscribers, channels and network on the real core; "
                       "writes a report folder")
    p.add_argument("profile", nargs="?", metavar="PROFILE", help="a profile name (--list-profiles) or a YAML path")
    p.add_argument("--list-profiles", action="store_true", help="print the profile names, one a line")
    _common(p)
    p.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file in a temp dir)")
    p.add_argument("--out", default=None, metavar="DIR", help="report folder (default reports/PROFILE-seedS)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots (faster; the HTML has no pictures)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_simulate)

    p = sub.add_parser("sweep", help="what-if: vary one parameter over replications, KPI with 95%% CIs")
    p.add_argument("profile", nargs="?", metavar="PROFILE", help="a profile name or a YAML path")
    p.add_argument("--param", default=None, metavar="KEY", help="the dotted config key to vary, "
                   "e.g. smsc.throughput_per_s (--list-params lists them)")
    p.add_argument("--values", default=None, metavar="V1,V2,...", help="its values, e.g. 10,20,40")
    p.add_argument("--list-params", action="store_true", help="print the keys PROFILE lets a sweep vary, one a line")
    p.add_argument("--replications", default="3", metavar="R", help="runs per value, seeds derived (default 3)")
    p.add_argument("--processes", default="2", metavar="P", help="local worker processes (default 2)")
    p.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="a Dask scheduler (tcp://HOST:8786) instead of local processes; "
                   "needs pip install 'rechargebench[dask]'")
    p.add_argument("--kpi", default="success_rate", metavar="NAME",
                   help="a totals key (success_rate, latency_s.p95) or a dotted path in kpis.json "
                   "(markets.DZ.channels.web.latency_s.p95); default success_rate")
    _common(p)
    p.add_argument("--out", default=None, metavar="DIR", help="sweep folder (default reports/sweep-PROFILE-KEY)")
    p.set_defaults(run=run_sweep)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subscribers", default=None, metavar="N", help="population (20000, 20k, 1M; default: the profile's)")
    p.add_argument("--hours", default=None, metavar="H", help="simulated hours (default: the profile's)")
    p.add_argument("--seed", default="0", metavar="S", help="the seed: same seed, same kpis.json (default 0)")
    p.add_argument("--faults", default=None, metavar="F", help="a fault file name (sim/faults) or a YAML path")
    p.add_argument("--set", action="append", default=None, metavar="KEY=VALUE",
                   help="override a profile key (dotted), repeatable")
