"""``rbench serve --with-emulators``: the gateway service and the SMSC service as their own
processes, and the core talking to them over HTTP (several core worker processes with
``--workers N``). Stopping the command stops the services.

    rbench serve --with-emulators --port 8080 --emulator-profile normal --db postgresql://...
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


def shed_env(args: argparse.Namespace) -> None:
    """``--max-inflight/--max-queue/--max-wait`` as the environment the core's app reads
    (:class:`core.api.shedding.ShedLimits`), so worker processes see them too."""
    for flag, var in (("max_inflight", "RBENCH_MAX_INFLIGHT"), ("max_queue", "RBENCH_MAX_QUEUE"),
                      ("max_wait", "RBENCH_MAX_WAIT_S")):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[var] = str(value)


def serve_with_emulators(args: argparse.Namespace) -> int:
    import uvicorn

    from core.api.auth import keys_from_env
    from hil.emulator_profiles import EmulatorProfileError, emulator_profile
    from hil.emulator_services import CONFIG_ENV, EmulatorServices, ServiceError, config_env, networked_core
    from hil.load_fixtures import networked_app
    from hil.server import start_sweeper

    try:
        emulator_profile(args.emulator_profile)
    except EmulatorProfileError as e:
        print(f"rbench serve: --emulator-profile: {e}", file=sys.stderr)
        return 2
    keys = keys_from_env()
    core_url = f"http://{args.host}:{args.port}"
    # uvicorn re-raises SIGTERM once it has shut down; as an exception, it lets `finally` stop
    # the services (the services also exit by themselves within a second of losing us).
    signal.signal(signal.SIGTERM, _terminated)
    log_dir = Path(args.emulator_logs) if args.emulator_logs else None
    try:
        net = EmulatorServices.start(profile=args.emulator_profile, seed=args.seed, core_url=core_url,
                                     host=args.host, gateway_port=args.gateway_port, smsc_port=args.smsc_port,
                                     log_dir=log_dir, callback_secret=_gateway_secret())
    except ServiceError as e:
        print(f"rbench serve: {e}", file=sys.stderr)
        return 1
    try:
        print(f"gateway emulators on {net.gateway_url}  (profile {args.emulator_profile}; "
              f"logs {net.logs[1].parent})", flush=True)
        print(f"SMSC emulator on {net.smsc_url}  (inbox: GET /inbox/<msisdn>)", flush=True)
        workers = max(1, args.workers)
        if workers > 1:
            os.environ.update(config_env(db=args.db, gateway_url=net.gateway_url, smsc_url=net.smsc_url,
                                         seed=args.seed, sweep_every=args.sweep_every))
            print(f"rbench core on {core_url}  {workers} worker processes  OpenAPI: /openapi.json", flush=True)
            uvicorn.run("hil.emulator_services:app_from_env", factory=True, workers=workers, host=args.host,
                        port=args.port, log_level=args.log_level, access_log=False, loop="uvloop",
                        http="httptools")
            os.environ.pop(CONFIG_ENV, None)
            return 0
        core = networked_core(args.db, net.gateway_url, net.smsc_url, seed=args.seed)
        start_sweeper(core, args.sweep_every)
        print(f"rbench core on {core_url}  store={core.store.dialect}  OpenAPI: /openapi.json  docs: /docs",
              flush=True)
        if "RBENCH_API_KEYS" not in os.environ:
            print("development API keys (set RBENCH_API_KEYS=channel=key,... to change): " +
                  ", ".join(f"{c}={k}" for k, c in keys.items()), flush=True)
        uvicorn.run(networked_app(core, keys), host=args.host, port=args.port, log_level=args.log_level,
                    access_log=False, loop="uvloop", http="httptools")
        return 0
    finally:
        net.stop()


def _gateway_secret() -> str | None:
    """The secret the gateway service signs callbacks with: the core's own (``RBENCH_CALLBACK_SECRETS``,
    the ``*`` entry or the first one) unless ``RBENCH_CALLBACK_SECRET`` says otherwise."""
    from core.adapters.callback_signature import secrets_from_env

    if os.environ.get("RBENCH_CALLBACK_SECRET"):
        return None                          # the service reads it itself
    table = secrets_from_env()
    chosen = table.get("*") or next(iter(table.values()), ())
    return chosen[0] if chosen else None


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``serve`` flags of the network side and of load shedding."""
    p.add_argument("--with-emulators", action="store_true",
                   help="start the gateway and SMSC emulators as their own HTTP services and talk to "
                        "them over the network (default: emulated in-process)")
    p.add_argument("--emulator-profile", default="normal", metavar="NAME|FILE",
                   help="with --with-emulators: instant, normal, degraded or a YAML file (hil/emulator_profiles.yaml)")
    p.add_argument("--gateway-port", type=int, default=None, help="with --with-emulators (default: a free port)")
    p.add_argument("--smsc-port", type=int, default=None, help="with --with-emulators (default: a free port)")
    p.add_argument("--emulator-logs", default=None, metavar="DIR", help="where the services write their logs")
    p.add_argument("--workers", type=int, default=1,
                   help="with --with-emulators: core worker processes (postal mandates need 1)")
    p.add_argument("--max-inflight", type=int, default=None, metavar="N",
                   help="load shedding: requests handled at once (default 64; 0 = no shedding)")
    p.add_argument("--max-queue", type=int, default=None, metavar="N",
                   help="load shedding: requests waiting for a slot; more get 503 (default 128)")
    p.add_argument("--max-wait", type=float, default=None, metavar="S",
                   help="load shedding: longest wait for a slot before 503 + Retry-After (default 1.0)")
