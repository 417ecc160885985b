"""The moving parts of ``rbench load`` (:mod:`hil.load`): the system under test it starts (a core
with the emulator services, on SQLite or a throwaway PostgreSQL), the Locust processes, and the
end of a run (settlement check, thresholds, summary).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hil.emulator_services import ServiceError, wait_healthy
from hil.load import LOCUSTFILE, ROOT, LoadError
from hil.server import free_port
from loadtests import report
from loadtests.plan import Plan
from loadtests.steps import StepStats
from loadtests.thresholds import Threshold, evaluate

LOCUST_GRACE_S = 180.0          # start-up, stop timeout and final reports beyond the shape's length


class Stack:
    """The core and the emulators ``rbench load`` runs against (nothing when ``--host`` is given)."""

    def __init__(self, args: argparse.Namespace, plan: Plan, out: Path) -> None:
        self.args, self.plan, self.out = args, plan, out
        self.db_url: str | None = args.db if args.db != "pg" else None
        self.proc: subprocess.Popen | None = None
        self.cluster = None
        self.pg_dir: str | None = None

    def start(self) -> None:
        if self.args.host is not None:
            return
        if self.args.db == "pg":
            self.db_url = self._postgres()
        elif not self.db_url:
            for suffix in ("", "-wal", "-shm"):
                (self.out / f"core.db{suffix}").unlink(missing_ok=True)
            self.db_url = f"sqlite:///{self.out / 'core.db'}"
        port, gw_port, smsc_port = free_port(), free_port(), free_port()
        env = dict(os.environ)
        env.setdefault("RBENCH_RATE_LIMITS", "key=off")     # one load generator speaks for every customer
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "hil.cli", "serve", "--with-emulators", "--host", "127.0.0.1",
               "--port", str(port), "--gateway-port", str(gw_port), "--smsc-port", str(smsc_port),
               "--db", self.db_url, "--emulator-profile", self.plan.emulators, "--seed", str(self.plan.seed),
               "--log-level", "warning", "--emulator-logs", str(self.out), "--workers", str(self.args.core_workers)]
        log = self.out / "core.log"
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, cwd=str(ROOT))
        self.plan.host = f"http://127.0.0.1:{port}"
        self.plan.gateway_url, self.plan.smsc_url = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{smsc_port}"
        try:
            wait_healthy(self.plan.host, self.proc, "the core (rbench serve --with-emulators)", log, timeout_s=60)
        except ServiceError as e:
            raise LoadError(str(e).replace("\n", " | ")) from None

    def _postgres(self) -> str:
        from hil.postgres import PgCluster, PgError, pg_available

        ok, why = pg_available()
        if not ok:
            raise LoadError(f"--db pg: {why}")
        self.pg_dir = tempfile.mkdtemp(prefix="rbench-load-pg-", dir="/tmp")
        try:
            self.cluster = PgCluster(self.pg_dir).start()
            return self.cluster.create_database("rbench_load")
        except PgError as e:
            raise LoadError(f"--db pg: {e}") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        if self.pg_dir:
            shutil.rmtree(self.pg_dir, ignore_errors=True)
            self.pg_dir = None


def locust_commands(args: argparse.Namespace, plan: Plan, out: Path) -> tuple[list[str], list[list[str]]]:
    """The master's (or only) command and the local workers' commands."""
    base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", plan.host,
            "--loglevel", os.environ.get("RBENCH_LOCUST_LOGLEVEL", "WARNING"), "--exit-code-on-error", "0",
            "--stop-timeout", "10"]
    reports = ["--csv", str(out / "locust"), "--csv-full-history", "--html", str(out / "report.html")]
    if args.worker:
        return base + ["--worker", "--master-host", args.master_host, "--master-port", str(args.master_port)], []
    if args.processes:
        return base + reports + ["--processes", str(args.processes)], []
    if args.workers or args.master:
        port = args.master_port if args.master else free_port()
        expect = args.expect_workers if args.master else args.workers
        master = base + reports + ["--master", "--expect-workers", str(expect), "--expect-workers-max-wait", "120",
                                   "--master-bind-host", "0.0.0.0" if args.master else "127.0.0.1",
                                   "--master-bind-port", str(port)]
        workers = [] if args.master else [base + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
                                          for _ in range(args.workers)]
        return master, workers
    return base + reports, []


def run_locust(args: argparse.Namespace, plan: Plan, out: Path) -> int:
    env = dict(os.environ, RBENCH_LOAD_PLAN=str(out / "plan.json"))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    master, workers = locust_commands(args, plan, out)
    if args.master:
        same = [f"--{flag.replace('_', '-')} {getattr(args, flag)}" for flag in
                ("shape", "only", "market", "pace", "arrivals") if getattr(args, flag) is not None]
        print(f"waiting for {args.expect_workers} worker(s); on each worker machine run:\n  rbench load "
              f"{args.profile} --tps {args.tps} --duration {args.duration} --seed {plan.seed} {' '.join(same)}"
              f"{' ' if same else ''}--worker --master-host <this host> --master-port {args.master_port} "
              f"--host {plan.host} --gateway-url {plan.gateway_url} --smsc-url {plan.smsc_url}", flush=True)
    procs: list[subprocess.Popen] = []
    logs = []
    try:
        for i, cmd in enumerate([master, *workers]):
            log = open(out / ("locust.log" if i == 0 else f"locust-worker-{i}.log"), "wb")
            logs.append(log)
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, cwd=str(out)))
        try:
            code = procs[0].wait(timeout=plan.duration_s + LOCUST_GRACE_S)
        except subprocess.TimeoutExpired:
            procs[0].kill()
            code = procs[0].wait()
            print(f"rbench load: Locust ran past {plan.duration_s + LOCUST_GRACE_S:.0f} s and was stopped",
                  file=sys.stderr)
        for p in procs[1:]:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return code
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for log in logs:
            log.close()


def callback_grace(profile: str) -> float:
    """Seconds for callbacks still on their way after the run: 1 s plus the profile's callback p95."""
    from hil.emulator_profiles import EmulatorProfileError, emulator_profile

    try:
        latency = emulator_profile(profile).gateway.callback_latency
    except EmulatorProfileError:
        return 3.0
    return 1.0 + min(latency.median_s * math.exp(1.6448536 * latency.sigma), latency.cap_s or 30.0)


def finish(args: argparse.Namespace, plan: Plan, stack: Stack, thresholds: list[Threshold], out: Path,
           started: float, ended: float, *, locust_code: int) -> int:
    from hil.load_check import post_run_check

    steps = StepStats(plan.stages)
    steps_file = out / "steps.json"
    missing = not steps_file.is_file()
    if not missing:
        steps.merge_json(steps_file.read_text(encoding="utf-8"))
    stats = steps.totals(plan.duration_s)
    per_step = steps.per_step()
    settlement = None
    if not args.no_check:
        settlement = post_run_check(plan.host, plan.keys, db_url=stack.db_url, gateway_url=plan.gateway_url or None,
                                    smsc_url=plan.smsc_url or None, since=started, until=ended, out=out,
                                    grace_s=callback_grace(plan.emulators)).to_dict()
    verdicts = evaluate(thresholds, stats, plan.tx_types)
    failed = [v for v in verdicts if not v.ok]
    code = 1 if failed or missing or locust_code != 0 or (settlement is not None and not settlement["ok"]) else 0
    mode = (f"{args.processes} Locust processes" if args.processes else f"Locust master + {args.workers} workers"
            if args.workers else "Locust master + remote workers" if args.master else "1 Locust process")
    head = (f"rbench load {plan.profile}: peak {plan.tps:g} tx/s, {plan.duration_s:g} s, shape {plan.shape['kind']}"
            f" ({len(plan.stages)} steps), {plan.per_user_tps:g} tx/s per user ({plan.arrivals}), {mode}\n"
            f"core {plan.host} ({'store ' + stack.db_url.split('://')[0] if stack.db_url else 'store unknown'}), "
            f"emulators {plan.emulators}, markets " + ", ".join(f"{m} {s:.0%}" for m, s in plan.markets.items()))
    if missing:
        head += "\nWARNING: no steps.json: no transaction figures (see locust.log)"
    text = report.render(head, stats, per_step, settlement, verdicts, code)
    (out / "summary.txt").write_text(text + "\n", encoding="utf-8")
    (out / "summary.json").write_text(report.to_json(
        {"profile": plan.profile, "tps": plan.tps, "duration_s": plan.duration_s, "shape": plan.shape,
         "stages": plan.stages, "host": plan.host, "store": stack.db_url, "emulators": plan.emulators,
         "started": started, "ended": ended, "locust_exit": locust_code}, stats, per_step, settlement, verdicts, code)
        + "\n", encoding="utf-8")
    print(text)
    print(f"\nreports: {out / 'summary.txt'}  {out / 'report.html'}  {out / 'locust_stats.csv'}", flush=True)
    return code


def read_summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))

