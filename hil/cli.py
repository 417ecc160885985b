"""``rbench``: the command line of the bench.

    rbench serve [--db URL] [--host H] [--port P]    the core over HTTP (emulated gateways, SMSC)
                 [--with-emulators [--emulator-profile P] [--workers N]] [--max-inflight N ...]
                                                     ... or gateways and SMSC as their own HTTP services
    rbench demo [--db URL] [--seed N]                one web and one USSD top-up, step by step
    rbench settle --date D [--db URL] [--gateway NAME] [--file PATH]... [--out DIR]
                                                     reconcile settlement files, post payouts
    rbench simulate PROFILE [--subscribers N] [--hours H] [--seed S] [--faults F] [--out DIR]
                    [--db URL] [--set KEY=VALUE]... | --list-profiles
                                                     a simulated day on the core; report folder
    rbench sweep PROFILE --param KEY --values V1,V2,... [--replications R] [--processes P]
                 [--scheduler ADDR] [--kpi NAME] [--out DIR] | PROFILE --list-params
                                                     what-if: a KPI vs a parameter, 95% CIs
    rbench load PROFILE --tps T --duration D [--shape S] [--workers N | --processes N | --master | --worker]
                [--host URL] [--db URL|pg] [--threshold EXPR]... [--thresholds FILE] [--out DIR]
                                                     Locust load test, thresholds, settlement check
    rbench scenarios [PATH]... [--bench B] [--market M] [--seed S] [--report R] [--junit J] [-m EXPR] [-n N]
                                                     QA scenario suites (pytest): stories, population runs
    rbench torture --seeds A..B [--steps N] [--db URL] [--fail-fast] [--quiet]
                                                     deterministic fault-injection runs of the core
    rbench devices                                   serial ports and PC/SC readers on this machine
    rbench check BENCH                               open each role of a bench file, say what answered
    rbench validate BENCH [--suite ROLE]... [--out DIR]
                                                     meter / card reader conformance suites: record + JUnit
"""
from __future__ import annotations

import argparse
import logging
import os
import sys


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from core.api.auth import keys_from_env
    from hil.serve_network import serve_with_emulators, shed_env
    from hil.server import app_for, start_sweeper, wall_clock_core

    shed_env(args)                             # --max-inflight/--max-queue/--max-wait
    if args.with_emulators:
        return serve_with_emulators(args)
    keys = keys_from_env()
    core = wall_clock_core(args.db, seed=args.seed)
    start_sweeper(core, args.sweep_every)
    print(f"rbench core on http://{args.host}:{args.port}  store={core.store.dialect}  "
          f"OpenAPI: /openapi.json  docs: /docs", flush=True)
    if "RBENCH_API_KEYS" not in os.environ:
        print("development API keys (set RBENCH_API_KEYS=channel=key,... to change): " +
              ", ".join(f"{c}={k}" for k, c in keys.items()), flush=True)
    uvicorn.run(app_for(core, keys), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from hil.demo import run_demo
    return run_demo(args.db, seed=args.seed, keep=args.keep)


def _settle(args: argparse.Namespace) -> int:
    from hil.settle import run_settle
    return run_settle(args.date, db=args.db, gateway=args.gateway, file_paths=args.file,
                      out=args.out, seed=args.seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rbench", description="rechargebench: test bench and simulator "
                                     "for prepaid recharge and bill-payment systems")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    default_db = os.environ.get("DATABASE_URL", "sqlite:///rbench.db")

    p = sub.add_parser("serve", help="serve the recharge core over HTTP")
    p.add_argument("--db", default=default_db, help="sqlite:///PATH or postgresql://... (default: "
                   "$DATABASE_URL or sqlite:///rbench.db)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--seed", type=int, default=0, help="seed of the emulated gateways and SMSC")
    p.add_argument("--sweep-every", type=float, default=30.0, metavar="S",
                   help="seconds between sweeps: status queries for silent orders, bonus expiry")
    p.add_argument("--log-level", default="info")
    __import__("hil.serve_network", fromlist=["add_arguments"]).add_arguments(p)   # --with-emulators, shedding
    p.set_defaults(run=_serve)

    p = sub.add_parser("demo", help="walk one web top-up and one USSD top-up through the core")
    p.add_argument("--db", default=None, help="store URL (default: a fresh SQLite file in a temp dir)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--keep", action="store_true", help="keep the demo's SQLite file for a look afterwards")
    p.set_defaults(run=_demo)

    p = sub.add_parser("settle", help="reconcile the gateways' end-of-day settlement files and post payouts")
    p.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the business day (UTC)")
    p.add_argument("--db", default=None, help="with --file: the store (default $DATABASE_URL or "
                   "sqlite:///rbench.db); without: an empty store for the demo day (default: a temp SQLite file)")
    p.add_argument("--gateway", default=None, metavar="NAME",
                   help="this gateway only (its file's trailer must name it)")
    p.add_argument("--file", action="append", default=None, metavar="PATH",
                   help="a gateway's settlement file, once per gateway; without it, a demo day on emulated gateways")
    p.add_argument("--out", default=".", metavar="DIR", help="where settlement-<date>.csv and .txt go")
    p.add_argument("--seed", type=int, default=7, help="seed of the demo day")
    p.set_defaults(run=_settle)

    p = sub.add_parser("devices", help="list serial ports and PC/SC readers a bench could bind")
    p.set_defaults(run=lambda a: __import__("hil.inventory", fromlist=["run_devices"]).run_devices())

    p = sub.add_parser("check", help="open each role of a bench file and report what answered")
    p.add_argument("bench", metavar="BENCH", help="a bench file, or a shipped one: model, emulated, example-lab")
    p.set_defaults(run=lambda a: __import__("hil.check", fromlist=["run_check"]).run_check(a.bench))

    p = sub.add_parser("validate", help="run the bench validation suites (meter, card reader) on a bench")
    p.add_argument("bench", metavar="BENCH", help="a bench file, or a shipped one: model, emulated, example-lab")
    p.add_argument("--suite", action="append", choices=["meter", "card_reader"], default=None,
                   help="only this suite (repeatable; default: every suite whose role the bench binds)")
    p.add_argument("--out", default="validation", metavar="DIR", help="where record.json and junit.xml go")
    p.set_defaults(run=lambda a: __import__("hil.validate", fromlist=["run_validate"]).run_validate(
        a.bench, suites=a.suite, out=a.out))

    from hil.simulate import add_parsers as add_simulate_parsers
    add_simulate_parsers(sub)                  # simulate, sweep

    p = sub.add_parser("load", help="load-test the core with Locust: users per channel, peak-hour/step/spike/soak "
                                    "shapes, thresholds, post-run settlement check")
    __import__("hil.load", fromlist=["add_arguments"]).add_arguments(p)
    p.set_defaults(run=lambda a: __import__("hil.load", fromlist=["run_load"]).run_load(a))

    from hil.scenarios_cmd import add_parser as add_scenarios_parser
    add_scenarios_parser(sub)                  # scenarios

    from hil.torture import add_parser as add_torture_parser
    add_torture_parser(sub)                    # torture

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
