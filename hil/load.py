"""``rbench load``: a Locust load test of the core, with the emulators, shape, thresholds and the
post-run settlement check (``python -m hil.load`` runs the same command).

    rbench load dz-peak-hour --tps 50 --duration 5m                      # SQLite core + emulators
    rbench load mixed-peak-hour --tps 100 --duration 10m --db pg --workers 2 --threshold "*.p95 < 1s"
    rbench load dz-peak-hour --tps 20 --duration 2m --host http://core:8080 \\
        --gateway-url http://core:8081 --smsc-url http://core:8082 --db postgresql://...

Unless ``--host`` is given it starts ``rbench serve --with-emulators`` on free ports (the store:
``--db``, ``pg`` for a throwaway PostgreSQL, default a fresh SQLite file in ``--out``). Locust
runs headless: one process, ``--processes N`` (Locust forks), ``--workers N`` (a master and N
worker processes here), or ``--master``/``--worker`` across machines. Writes into ``--out``:
plan.json, locust_*.csv, report.html, steps.json, settlement/*.csv, summary.txt and .json.
Exit status: 0 thresholds met and money conserved, 1 a threshold or the settlement check
failed, 2 bad input or the run could not start (one line on stderr, before any load).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx

from loadtests import plan as plans
from loadtests.plan import PlanError
from loadtests.thresholds import ThresholdError

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "loadtests" / "locustfile.py"
CARD_FLOWS = ("web_topup", "ussd_topup", "bill_payment")
FIXTURE_FLOWS = ("bill_payment", "mandate_debit")


class LoadError(RuntimeError):
    """The run could not be set up (exit 2)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("profile", nargs="?", metavar="PROFILE", help="a load profile (loadtests/profiles) or a .yaml file")
    p.add_argument("--list-profiles", action="store_true", help="list the load profiles and exit")
    p.add_argument("--tps", help="offered transactions per second at the shape's peak")
    p.add_argument("--duration", help="how long: 90s, 5m, 1h30m")
    p.add_argument("--shape", choices=["peak_hour", "step", "spike", "soak"], help="instead of the profile's shape")
    p.add_argument("--only", metavar="TX[,TX]", help="only these transaction types (of " + ", ".join(plans.TX_TYPES) + ")")
    p.add_argument("--market", metavar="M[,M]", help="only these markets of the profile")
    p.add_argument("--pace", metavar="TPS", help="transactions per second per user (default: the profile's, 0.2)")
    p.add_argument("--arrivals", choices=plans.ARRIVALS, help="poisson (default) or constant intervals")
    p.add_argument("--seed", type=int, default=1, help="seeds every random choice of the users (1)")
    p.add_argument("--threshold", action="append", metavar="EXPR", help='e.g. "web_topup.p95 < 800ms"; repeatable')
    p.add_argument("--thresholds", metavar="FILE", help="a YAML file of thresholds")
    p.add_argument("--out", default=None, metavar="DIR", help="default load-out/<profile>-<time>")
    g = p.add_argument_group("the system under test")
    g.add_argument("--host", help="a core already running (default: start one with the emulators)")
    g.add_argument("--gateway-url", help="with --host: the gateway emulator service its core uses")
    g.add_argument("--smsc-url", help="with --host: the SMSC emulator service its core uses")
    g.add_argument("--db", help="the core's store: sqlite:///PATH, postgresql://..., or pg (a throwaway PostgreSQL)")
    g.add_argument("--emulator-profile", help="instant, normal, degraded or a YAML file (default: the profile's)")
    g.add_argument("--core-workers", type=int, default=1, help="core worker processes (postal mandates need 1)")
    g.add_argument("--no-check", action="store_true", help="skip the post-run settlement check")
    g.add_argument("--provisioned", action="store_true",
                   help="the subscribers of every user's MSISDN range exist already (created ahead, e.g. by "
                        "benchmarks.core_http): users make no provisioning calls")
    d = p.add_argument_group("Locust processes")
    d.add_argument("--processes", type=int, default=0, help="Locust --processes N: it forks N workers")
    d.add_argument("--workers", type=int, default=0, help="a master and N worker processes on this machine")
    d.add_argument("--master", action="store_true", help="be the master of --expect-workers remote workers")
    d.add_argument("--expect-workers", type=int, default=1, help="with --master (1)")
    d.add_argument("--worker", action="store_true", help="be a worker of --master-host (needs --host, --gateway-url, --smsc-url)")
    d.add_argument("--master-host", default="127.0.0.1")
    d.add_argument("--master-port", type=int, default=5557)


def _fail(message: str) -> int:
    print(f"rbench load: {message}", file=sys.stderr)
    return 2


def run_load(args: argparse.Namespace) -> int:
    if args.list_profiles:
        for name in plans.list_profiles():
            _, data = plans.load_profile(name)
            print(f"{name:<18} {data.get('description', '')}")
        return 0
    try:
        plan, thresholds = _plan(args)
        _check_modes(args, plan)
    except (PlanError, ThresholdError, LoadError) as e:
        return _fail(str(e))
    out = Path(args.out or f"load-out/{plan.profile}-{datetime.now():%Y%m%d-%H%M%S}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    plan.out = str(out)
    from hil.load_run import Stack, run_locust, finish
    stack = Stack(args, plan, out)
    try:
        stack.start()                  # LoadError: exit 2, nothing offered yet
    except LoadError as e:
        stack.stop()
        return _fail(str(e))
    try:
        (out / "plan.json").write_text(plan.to_json(), encoding="utf-8")
        print(f"rbench load {plan.profile}: {plan.tps:g} tx/s at peak for {plan.duration_s:g} s, shape "
              f"{plan.shape['kind']} ({len(plan.stages)} steps), types {', '.join(plan.tx_types)}; core {plan.host}"
              f"; out {out}", flush=True)
        started = time.time()
        code = run_locust(args, plan, out)
        ended = time.time()
        if args.worker:
            return code
        if code != 0:
            print(f"rbench load: Locust exited with status {code}; see {out / 'locust.log'}", file=sys.stderr)
        return finish(args, plan, stack, thresholds, out, started, ended, locust_code=code)
    finally:
        stack.stop()


def _plan(args: argparse.Namespace) -> tuple[plans.Plan, list]:
    from loadtests.thresholds import parse_all

    if not args.profile:
        raise PlanError("PROFILE: missing; expected one of " + ", ".join(plans.list_profiles())
                        + " (or --list-profiles)")
    if args.tps is None or args.duration is None:
        raise PlanError("--tps and --duration are required, e.g. --tps 20 --duration 2m")
    tps = plans.parse_rate(args.tps)
    duration = plans.parse_duration(args.duration)
    only = plans.parse_list(args.only, plans.TX_TYPES, "--only")
    markets = plans.parse_list(args.market, plans.MARKETS, "--market")
    pace = plans.parse_rate(args.pace, "--pace") if args.pace is not None else None
    plan = plans.build_plan(args.profile, tps=tps, duration_s=duration, seed=args.seed, shape=args.shape,
                            only=only, markets=markets, per_user_tps=pace, arrivals=args.arrivals,
                            emulators=args.emulator_profile)
    plan.keys = plans.keys_from_env(os.environ.get("RBENCH_API_KEYS"))
    plan.provisioned = bool(getattr(args, "provisioned", False))
    thresholds = parse_all(args.threshold, args.thresholds, plan.tx_types)
    return plan, thresholds


def _check_modes(args: argparse.Namespace, plan: plans.Plan) -> None:
    modes = [m for m, on in (("--processes", args.processes), ("--workers", args.workers), ("--master", args.master),
                             ("--worker", args.worker)) if on]
    if len(modes) > 1:
        raise LoadError(f"{' and '.join(modes)}: choose one way to run Locust")
    if args.processes < 0 or args.workers < 0 or args.expect_workers < 1 or args.core_workers < 1:
        raise LoadError("--processes, --workers >= 0; --expect-workers, --core-workers >= 1")
    if args.core_workers > 1 and "mandate_debit" in plan.tx_types:
        raise LoadError("mandate_debit needs --core-workers 1: the emulated post lives in each core process "
                        "(or leave it out with --only)")
    if args.host is None:
        for flag in ("gateway_url", "smsc_url"):
            if getattr(args, flag):
                raise LoadError(f"--{flag.replace('_', '-')}: only with --host (otherwise rbench load starts its own)")
        if args.worker:
            raise LoadError("--worker: needs --host, --gateway-url and --smsc-url (the ones the master printed)")
        return
    if args.db == "pg":
        raise LoadError("--db pg: only without --host (it starts a throwaway PostgreSQL for its own core)")
    _answers(args.host, "--host", "the core's /healthz")
    plan.host = args.host.rstrip("/")
    plan.emulators = args.emulator_profile or "as that core's (unknown here)"
    if any(t in plan.tx_types for t in CARD_FLOWS):
        if not args.gateway_url or not args.smsc_url:
            raise LoadError("--host: card flows (" + ", ".join(t for t in plan.tx_types if t in CARD_FLOWS) +
                            ") need --gateway-url and --smsc-url of the emulators that core uses; "
                            "or leave them out with --only")
    for flag in ("gateway_url", "smsc_url"):
        if getattr(args, flag):
            url = getattr(args, flag).rstrip("/")
            _answers(url, f"--{flag.replace('_', '-')}", "/healthz")
            setattr(plan, flag, url)
    if not args.worker and any(t in plan.tx_types for t in FIXTURE_FLOWS):
        r = httpx.post(f"{plan.host}/emulator/bills", json={}, headers={"X-API-Key": plan.keys["admin"]}, timeout=5)
        if r.status_code in (404, 405):
            raise LoadError(f"--host {plan.host}: no /emulator/bills (the biller's feed of `rbench serve "
                            f"--with-emulators`); bill_payment and mandate_debit need it, or leave them out with --only")


def _answers(url: str, flag: str, what: str) -> None:
    try:
        r = httpx.get(f"{url.rstrip('/')}/healthz", timeout=5)
    except httpx.HTTPError as e:
        raise LoadError(f"{flag} {url}: no answer ({type(e).__name__}); expected {what}") from None
    if r.status_code != 200:
        raise LoadError(f"{flag} {url}: /healthz answered HTTP {r.status_code}; expected 200")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="rbench load", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return run_load(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
