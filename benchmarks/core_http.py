"""Full web recharges per second over HTTP: the core on PostgreSQL with the gateway and SMSC
emulator services, driven by Locust at increasing rates, beside pgbench TPC-B measured on the
same server in the same run.

    python -m benchmarks.core_http                          # the default ladder, 20 s a rate
    python -m benchmarks.core_http --rates 40,80,120 --step-seconds 30 --core-workers 2
    python -m benchmarks.core_http --quick                  # CI smoke: 2 low rates, 5 s each
    python -m benchmarks.core_http --pg-url postgresql://postgres@127.0.0.1:5432/postgres --json out.json

One recharge is the whole web flow a customer's browser drives (``loadtests`` profile
``web-recharge``: DZ, SATIM style): ``POST /v1/topups``, ``POST .../card`` (the core registers
and submits the card to the gateway service over HTTP; the gateway texts the OTP through the
SMSC service), the OTP read from the SMSC service's inbox of the card's phone (long poll), and
``POST .../otp`` (the core confirms with the gateway and credits; the notice goes out through
the SMSC service). The gateways also call the core back (signed) after each change, as the
``instant`` emulator profile says (no latency, no faults, callbacks 0.2 s later). Arrivals are
paced at a constant rate (open model) with one user per recharge per second. The subscribers
the users top up (every slot of each user's MSISDN range) are created over the API before each
step, outside its timing and CPU count, and the step runs ``rbench load --provisioned``: a
step's CPU per recharge is the flow's alone (``--provision-in-step``: as before, the users
provision on first use and that CPU counts too).

A warm-up (``--warmup-seconds``, 10) at the first rate comes before the timed rates. A rate is
*sustained* when every recharge of its step ended credited (zero errors, none shed),
the p99 of the whole flow is under 250 ms, and the recharges completed reach 95% of the rate.
The ladder stops after two rates in a row that are not sustained. At the end the post-run check
(sweep, each gateway's settlement file matched against the core, conservation with what the
gateways say they captured) must pass, or the benchmark exits 1.

Baseline, same server, same run: ``pgbench -i -s 10`` then ``pgbench -c 8 -j 2 -T 15 -M prepared``
(TPC-B); both it and the core reach a throwaway server through its Unix socket unless
``--pg-transport tcp``. The ratio is the highest sustained recharges/s over TPC-B TPS. Target on a 2-core
machine, load generator included: >= 300 full recharges/s (reported, not enforced).
Exit status: 0 the run completed and the post-run check passed, 1 otherwise, 2 no set-up.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.core_recharge import (BenchFailure, BenchPg, BenchSetupError, bench_pg, cpu_pressure_us, machine,
                                       pg_sql, pgbench_baseline, process_tree_cpu_s as tree_cpu_s)

TARGET_PER_S = 300.0
P99_MS = 250.0
DEFAULT_RATES = [10, 20, 40, 60, 80, 100, 130, 160, 200, 250, 300, 400]
ROOT = Path(__file__).resolve().parent.parent


def start_stack(db_url: str, workdir: Path, core_workers: int) -> tuple[subprocess.Popen, dict[str, str]]:
    from hil.emulator_services import wait_healthy
    from hil.server import free_port

    port, gw, smsc = free_port(), free_port(), free_port()
    env = dict(os.environ, RBENCH_RATE_LIMITS="off")     # capacity, not per-client abuse limits
    log = workdir / "core.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "serve", "--with-emulators", "--port", str(port),
                                 "--gateway-port", str(gw), "--smsc-port", str(smsc), "--db", db_url,
                                 "--emulator-profile", "instant", "--log-level", "warning", "--emulator-logs",
                                 str(workdir), "--workers", str(core_workers)],
                                env=env, stdout=f, stderr=subprocess.STDOUT, cwd=str(ROOT))
    urls = {"host": f"http://127.0.0.1:{port}", "gateway": f"http://127.0.0.1:{gw}",
            "smsc": f"http://127.0.0.1:{smsc}"}
    wait_healthy(urls["host"], proc, "the core (rbench serve --with-emulators)", log, timeout_s=90)
    return proc, urls


def provision_ahead(host: str, rate: float, seconds: float, locust_processes: int,
                    done: set[tuple[str, str]]) -> int:
    """Create the subscribers the users of a step will top up (every slot of every user's range),
    before its CPU is counted: the step then runs with ``--provisioned`` and measures the flow
    only. Returns how many were created now (``done``: the ones of earlier steps)."""
    from concurrent.futures import ThreadPoolExecutor

    from core.adapters.http_client import HttpClient
    from loadtests.plan import build_plan
    from loadtests.shapes import users_for
    from loadtests.testdata import RECIPIENTS, range_msisdns

    plan = build_plan("web-recharge", tps=rate, duration_s=seconds, seed=int(rate))
    users = max(users_for(tps, plan.per_user_tps) for _, tps in plan.stages)
    todo = [(m, n) for m in plan.markets_for("web_topup")
            for n in range_msisdns(m, locust_processes, users, RECIPIENTS + 1) if (m, n) not in done]
    client = HttpClient(timeout_s=30.0, max_connections=8)

    def one(item: tuple[str, str]) -> None:
        market, msisdn = item
        r = client.post(f"{host}/v1/subscribers", json={"market": market, "msisdn": msisdn},
                        headers={"X-API-Key": "dev-admin-key", "Idempotency-Key": f"bench-{market}-{msisdn}"})
        if r.status_code not in (200, 201, 409):
            raise BenchFailure(f"provisioning {msisdn} ahead: HTTP {r.status_code} {r.text[:160]}")
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, todo))
    finally:
        client.close()
    done.update(todo)
    return len(todo)


def one_rate(rate: float, seconds: float, urls: dict[str, str], db_url: str, out: Path,
             locust_processes: int, *, provisioned: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "hil.load", "web-recharge", "--tps", f"{rate:g}", "--duration", f"{seconds:g}s",
           "--host", urls["host"], "--gateway-url", urls["gateway"], "--smsc-url", urls["smsc"], "--db", db_url,
           "--emulator-profile", "instant", "--no-check", "--seed", str(int(rate)), "--out", str(out)]
    if provisioned:
        cmd.append("--provisioned")
    if locust_processes > 1:
        cmd += ["--processes", str(locust_processes)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 300, cwd=str(ROOT))
    if not (out / "summary.json").is_file():
        raise BenchFailure(f"rate {rate:g}: no summary ({r.returncode}):\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    s = json.loads((out / "summary.json").read_text())
    tx = s["transactions"].get("web_topup") or {"count": 0, "failures": 0, "tps": 0.0}
    others = {n: v["count"] for n, v in s["transactions"].items() if n not in ("web_topup", "total") and v["count"]}
    failures = tx["failures"] + sum(others.values())         # setup failures and business outcomes count too
    return {"rate": rate, "seconds": seconds, "count": tx["count"], "failures": failures, "per_s": tx["tps"],
            "p50_ms": tx.get("p50"), "p95_ms": tx.get("p95"), "p99_ms": tx.get("p99"), "max_ms": tx.get("max"),
            "other_outcomes": others, "errors": tx.get("errors", {}),
            "sustained": bool(failures == 0 and tx["count"] and (tx.get("p99") or 1e9) < P99_MS
                              and tx["tps"] >= 0.95 * rate)}


def print_table(results: list[dict], baseline: dict) -> None:
    print(f"{'offered/s':>9} {'done/s':>8} {'recharges':>9} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
          f"{'sut cpu ms':>10} {'db cpu ms':>9} {'psi':>5}  sustained")
    print("-" * 96)
    for r in results:
        print(f"{r['rate']:>9g} {r['per_s']:>8.1f} {r['count']:>9} {r['failures']:>6} {_f(r['p50_ms']):>7} "
              f"{_f(r['p95_ms']):>7} {_f(r['p99_ms']):>7} {_f(r.get('sut_cpu_ms'), 2):>10} "
              f"{_f(r.get('db_cpu_ms'), 2):>9} {_f(r.get('psi'), 2):>5}  {'yes' if r['sustained'] else 'no'}")
    print(f"baseline: {baseline['name']}: {baseline['per_s']:.0f} TPS")


def _f(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def run(args: argparse.Namespace) -> int:
    from hil.load_check import post_run_check
    from hil.postgres import create_database, drop_database

    rates = [5.0, 10.0] if args.quick else [float(x) for x in args.rates.split(",")] if args.rates else \
        [float(x) for x in DEFAULT_RATES]
    seconds = 5.0 if args.quick else args.step_seconds
    started = dt.datetime.now(dt.UTC)
    info = machine()
    print(f"core_http {started:%Y-%m-%d %H:%M} UTC; {info['nproc']} CPUs ({info['cpu']}); Python {info['python']}; "
          f"commit {info.get('commit')}{' + uncommitted core/ changes' if info.get('core_uncommitted_changes') else ''}")
    print(f"rates {', '.join(f'{r:g}' for r in rates)} recharges/s, {seconds:g} s each; core worker processes "
          f"{args.core_workers}; Locust processes {args.locust_processes}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="rbench-http-", dir="/tmp"))
    pg: BenchPg | None = None
    proc = None
    results: list[dict] = []
    failures: list[str] = []
    baseline: dict = {}
    check: dict | None = None
    try:
        try:
            pg = bench_pg(args.pg_url, "rbench-http-pg-", transport=args.pg_transport)
        except BenchSetupError as e:
            print(e, file=sys.stderr)
            return 2
        server_url, pgbench, server_cpu = pg.url, pg.pgbench, pg.server_cpu
        info["postgresql"] = pg_sql(server_url, "SHOW server_version")[0][0]
        print(f"PostgreSQL {info['postgresql']}; pgbench ({args.pgbench_seconds} s)...", flush=True)
        baseline = pgbench_baseline(pgbench, server_url, scale=10, clients=8, jobs=2, seconds=args.pgbench_seconds)
        print(f"baseline: {baseline['per_s']:.0f} TPS", flush=True)
        name = f"rb_http_{os.getpid()}"
        drop_database(server_url, name)
        db_url = create_database(server_url, name)
        try:
            proc, urls = start_stack(db_url, workdir, args.core_workers)
            t0 = time.time()
            ahead = not args.provision_in_step
            provisioned: set[tuple[str, str]] = set()
            if args.warmup_seconds > 0:                   # pools, caches, the first users: not timed
                if ahead:
                    provision_ahead(urls["host"], rates[0], args.warmup_seconds, args.locust_processes, provisioned)
                w = one_rate(rates[0], args.warmup_seconds, urls, db_url, workdir / "warmup", args.locust_processes,
                             provisioned=ahead)
                print(f"warm-up: {w['count']} recharges at {rates[0]:g}/s in {args.warmup_seconds:g} s", flush=True)
                pg_sql(db_url, "ANALYZE")   # plans for tables that have rows now (core_recharge.settle_pg)
            misses = 0
            for rate in rates:
                if ahead:                                 # the subscribers of this step's users: not timed
                    provision_ahead(urls["host"], rate, seconds, args.locust_processes, provisioned)
                pg0, sut0, psi0, w0 = (server_cpu() if server_cpu else None), tree_cpu_s(proc.pid), \
                    cpu_pressure_us(), time.monotonic()
                r = one_rate(rate, seconds, urls, db_url, workdir / f"rate-{rate:g}", args.locust_processes,
                             provisioned=ahead)
                wall = time.monotonic() - w0
                done = max(1, r["count"])
                r["sut_cpu_ms"] = (tree_cpu_s(proc.pid) - sut0) * 1000 / done
                r["db_cpu_ms"] = (server_cpu() - pg0) * 1000 / done if server_cpu and pg0 is not None else None
                psi1 = cpu_pressure_us()
                r["psi"] = (psi1 - psi0) / 1e6 / wall if psi0 is not None and psi1 is not None else None
                results.append(r)
                print(f"{rate:>6g}/s offered: {r['per_s']:.1f}/s done, p99 {_f(r['p99_ms'])} ms, {r['failures']} "
                      f"errors -> {'sustained' if r['sustained'] else 'not sustained'}"
                      + (f" ({'; '.join(f'{n} x {e}' for e, n in list(r['errors'].items())[:2])})" if r['errors'] else ""),
                      flush=True)
                misses = 0 if r["sustained"] else misses + 1
                if misses >= 2:
                    break
            check = post_run_check(urls["host"], {"admin": "dev-admin-key"}, db_url=db_url, gateway_url=urls["gateway"],
                                   smsc_url=urls["smsc"], since=t0, until=time.time(), out=workdir,
                                   grace_s=1.5).to_dict()
            if not check["ok"]:
                failures += check["problems"][:20]
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            drop_database(server_url, name)
    except BenchFailure as e:
        failures.append(str(e))
    finally:
        if pg is not None:
            pg.stop(keep=args.keep)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    if results and baseline:
        print_table(results, baseline)
    best = max((r for r in results if r["sustained"]), key=lambda r: r["rate"], default=None)
    verdict = None
    if baseline:
        per_s = best["per_s"] if best else 0.0
        verdict = "PASS" if best and best["rate"] >= TARGET_PER_S else "FAIL"
        print(f"highest sustained: {per_s:.1f} full recharges/s (offered {best['rate']:g}/s)" if best else
              "highest sustained: none of the rates")
        print(f"ratio to pgbench TPC-B: {per_s:.1f} / {baseline['per_s']:.0f} = {per_s / baseline['per_s']:.4f}")
        print(f"target: >= {TARGET_PER_S:.0f} full recharges/s with p99 < {P99_MS:.0f} ms and zero errors -> {verdict}")
    if check is not None:
        print("post-run check: " + ("OK" if check["ok"] else "FAILED") + "; " + "; ".join(check["lines"][-2:]))
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    if args.keep:
        print(f"kept: {workdir}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "benchmark": "core_http", "started_utc": started.isoformat(timespec="seconds"), "machine": info,
            "args": vars(args), "baseline": baseline, "results": results, "best": best,
            "ratio": (best["per_s"] / baseline["per_s"]) if best and baseline else None,
            "target": {"per_s": TARGET_PER_S, "p99_ms": P99_MS, "verdict": verdict}, "check": check,
            "failures": failures}, indent=2, default=str) + "\n")
    return 1 if failures or check is None else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.core_http", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rates", help="offered recharges/s, comma-separated (default " +
                    ",".join(map(str, DEFAULT_RATES)) + ")")
    ap.add_argument("--step-seconds", type=float, default=20.0, help="seconds at each rate (20)")
    ap.add_argument("--warmup-seconds", type=float, default=10.0, help="untimed run at the first rate first (10)")
    ap.add_argument("--core-workers", type=int, default=2, help="core worker processes (2)")
    ap.add_argument("--locust-processes", type=int, default=1, help="Locust processes (1)")
    ap.add_argument("--pgbench-seconds", type=int, default=15, help="pgbench -T (15)")
    ap.add_argument("--pg-url", help="a PostgreSQL server's postgres database URL (default: a throwaway one)")
    ap.add_argument("--pg-transport", choices=("socket", "tcp"), default="socket",
                    help="how the core and pgbench reach the throwaway server: its Unix socket (default) "
                         "or 127.0.0.1")
    ap.add_argument("--provision-in-step", action="store_true",
                    help="let the users provision their recipients on first use, inside the timed step (its "
                         "CPU then counts as recharge CPU); default: created ahead of each step")
    ap.add_argument("--quick", action="store_true", help="CI smoke: rates 5 and 10, 5 s each")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (Locust reports per rate, logs)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.quick and args.pgbench_seconds == 15:
        args.pgbench_seconds = 3
    if args.quick and args.warmup_seconds == 10.0:
        args.warmup_seconds = 3.0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
