"""The simulator's speed and size: simulated events per second of the full model beside a bare
SimPy timeout loop measured in the same run, and wall time and peak memory of one simulated
peak hour at 10k, 100k and 1M subscribers.

    python -m benchmarks.sim_throughput                         # 10k, 100k, 1M; dz-peak-hour, 1 h
    python -m benchmarks.sim_throughput --quick                 # CI-sized: 2k and 10k, 0.25 h
    python -m benchmarks.sim_throughput --sizes 10k,100k --profile mixed-peak-hour --json out/sim.json

Each size runs in its own child process (``python -m benchmarks.sim_throughput --child N``), so
its peak RSS (``ru_maxrss`` of the child itself, read by the child at its end) is that size's
alone; the child builds the config, runs the model (the real core on a fresh SQLite file in a
temp folder, as ``rbench simulate`` does, without the report) and prints one JSON line.
``wall_s`` is the run as the engine measures it; ``total_s`` adds loading the profile and
starting the interpreter's imports.

Baseline, measured in this run just before the sizes, on the same interpreter: a bare SimPy
loop of 1,000 generator processes, each yielding ``env.timeout(d)`` over a fixed cycle of
pre-drawn exponential delays, counted as one event per timeout plus two per process (its start
and its end): every event SimPy processes, as the model counts its own (``env.step`` calls).
Best of three passes.
The ratio is model events/s over bare events/s: the share of SimPy's own speed left after the
model's work (channels, core calls, SQLite, KPI recording).

Targets on one core (reported, not enforced): the full model at >= 0.25x the bare event rate;
a peak hour of 100k subscribers in <= 60 s; 1M subscribers within 2 GB peak RSS; cost per
subscriber roughly flat from each size to the next (at most 1.5x: linear growth). Exit status:
0 when every run ended with the ledger conserved, 1 otherwise, 2 when the run could not start.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.machine import cpu_model

TARGET_RATIO = 0.25
TARGET_100K_S = 60.0
TARGET_1M_MB = 2048.0
LINEAR_SLACK = 1.5          # cost per subscriber, each size vs the next smaller one: <= 1.5x is "linear"
SEED = 20261122


def parse_size(text: str) -> int:
    t = text.strip().lower().replace("_", "")
    mult = 1_000_000 if t.endswith("m") else 1_000 if t.endswith("k") else 1
    return int(float(t.rstrip("km")) * mult)


def peak_rss_mb() -> float:
    """This process's peak resident set (Linux reports kB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


# --------------------------------------------------------------------------- the baseline


def bare_simpy_rate(events: int, processes: int = 1000, passes: int = 3, seed: int = SEED) -> dict:
    """Events/s of a bare SimPy timeout loop; best of ``passes``."""
    import simpy

    rng = random.Random(seed)
    delays = [rng.expovariate(1.0) for _ in range(4096)]
    per_process = max(1, events // processes)

    def loop(env: simpy.Environment, offset: int):
        d, n = delays, len(delays)
        for i in range(per_process):
            yield env.timeout(d[(offset + i) % n])

    best = float("inf")
    for _ in range(passes):
        env = simpy.Environment()
        for k in range(processes):
            env.process(loop(env, k * 7))
        t0 = time.perf_counter()
        env.run()
        best = min(best, time.perf_counter() - t0)
    counted = processes * (per_process + 2)      # + its start (Initialize) and its end (the Process event)
    return {"events": counted, "seconds": best, "per_s": counted / best, "processes": processes}


# ------------------------------------------------------------------------- one size (child)


def child(subscribers: int, hours: float, profile: str, seed: int) -> int:
    started = time.perf_counter()
    from sim.run import load_config, run

    config = load_config(profile, subscribers=subscribers, hours=hours, seed=seed)
    result = run(config)
    totals = result.kpis.get("totals", {})
    print(json.dumps({"subscribers": subscribers, "hours": hours, "profile": profile, "seed": seed,
                      "events": result.events, "wall_s": result.wall_s,
                      "total_s": time.perf_counter() - started, "peak_rss_mb": peak_rss_mb(),
                      "engine_peak_rss_mb": result.peak_rss_mb, "ok": result.ok, "problems": result.problems,
                      "attempts": totals.get("attempts", 0), "success_rate": totals.get("success_rate")}))
    return 0


def measure_size(subscribers: int, hours: float, profile: str, seed: int, timeout_s: float) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.sim_throughput", "--child", str(subscribers), "--hours", str(hours),
           "--profile", profile, "--seed", str(seed)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return {"subscribers": subscribers, "error": f"timed out after {timeout_s:.0f} s"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"subscribers": subscribers, "error": f"exit {proc.returncode}: {tail}"}
    return json.loads(lines[-1])


# ------------------------------------------------------------------------------------ report


def verdicts(rows: list[dict], ratio: float | None) -> list[tuple[str, str, str]]:
    out = []
    if ratio is not None:
        out.append(("model events/s >= 0.25x bare SimPy", f"{ratio:.3f}x", "PASS" if ratio >= TARGET_RATIO else "FAIL"))
    by = {r["subscribers"]: r for r in rows if "error" not in r}
    if 100_000 in by:
        w = by[100_000]["wall_s"]
        out.append(("peak hour of 100k subscribers <= 60 s", f"{w:.1f} s", "PASS" if w <= TARGET_100K_S else "FAIL"))
    if 1_000_000 in by:
        m = by[1_000_000]["peak_rss_mb"]
        out.append(("1M subscribers within 2 GB", f"{m:,.0f} MB", "PASS" if m <= TARGET_1M_MB else "FAIL"))
    ok_rows = sorted(by.values(), key=lambda r: r["subscribers"])
    if len(ok_rows) >= 2:           # the worst step between consecutive sizes: a bend shows where it starts
        steps = [((b["wall_s"] / b["subscribers"]) / (a["wall_s"] / a["subscribers"]), a, b)
                 for a, b in itertools.pairwise(ok_rows)]
        growth, small, large = max(steps, key=lambda s: s[0])
        what = f"linear: wall per subscriber at {large['subscribers']:,} vs {small['subscribers']:,} <= {LINEAR_SLACK}x"
        out.append((what, f"{growth:.2f}x", "PASS" if growth <= LINEAR_SLACK else "FAIL"))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sim_throughput", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=None, help="subscriber counts (default 10k,100k,1M; --quick 2k,10k)")
    parser.add_argument("--hours", type=float, default=None, help="simulated hours per size (default 1; --quick 0.25)")
    parser.add_argument("--profile", default="dz-peak-hour")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--baseline-events", type=int, default=None, help="bare SimPy events (default 1M; --quick 200k)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed per size (default 1800)")
    parser.add_argument("--quick", action="store_true", help="a short CI-sized run")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    hours = args.hours if args.hours is not None else (0.25 if args.quick else 1.0)
    if args.child is not None:
        return child(args.child, hours, args.profile, args.seed)
    try:
        sizes = [parse_size(s) for s in (args.sizes or ("2k,10k" if args.quick else "10k,100k,1M")).split(",")]
    except ValueError:
        print(f"--sizes {args.sizes!r}: expected counts such as 10k,100k,1M", file=sys.stderr)
        return 2
    if hours <= 0 or any(n < 1 for n in sizes):
        print("--hours and every size must be above 0", file=sys.stderr)
        return 2

    print(f"simulator throughput, profile {args.profile}, {hours:g} simulated hour(s) per size, seed {args.seed}; "
          f"Python {platform.python_version()}, nproc {os.cpu_count()}, {cpu_model()}", flush=True)
    base = bare_simpy_rate(args.baseline_events or (200_000 if args.quick else 1_000_000))
    print(f"baseline: bare SimPy timeout loop, {base['processes']:,} processes, {base['events']:,} events: "
          f"{base['per_s']:,.0f} events/s (best of 3)", flush=True)
    rows = []
    for n in sizes:
        print(f"  {n:,} subscribers ...", end="", flush=True)
        r = measure_size(n, hours, args.profile, args.seed, args.timeout)
        rows.append(r)
        print(" " + (r["error"] if "error" in r else f"{r['wall_s']:.1f} s, {r['peak_rss_mb']:,.0f} MB"), flush=True)

    print()
    print(f"{'subscribers':>11} {'events':>11} {'wall s':>8} {'total s':>8} {'events/s':>10} {'bare/s':>10} "
          f"{'ratio':>6} {'us/subscriber':>13} {'peak MB':>8} {'attempts':>9}  conservation")
    print("-" * 116)
    best_ratio = None
    for r in rows:
        if "error" in r:
            print(f"{r['subscribers']:>11,}  FAILED: {r['error']}")
            continue
        rate = r["events"] / r["wall_s"] if r["wall_s"] > 0 else 0.0
        r["events_per_s"], r["ratio"] = rate, rate / base["per_s"]
        best_ratio = r["ratio"] if best_ratio is None else max(best_ratio, r["ratio"])
        print(f"{r['subscribers']:>11,} {r['events']:>11,} {r['wall_s']:>8.1f} {r['total_s']:>8.1f} {rate:>10,.0f} "
              f"{base['per_s']:>10,.0f} {r['ratio']:>6.3f} {r['wall_s'] / r['subscribers'] * 1e6:>13.1f} "
              f"{r['peak_rss_mb']:>8,.0f} {r['attempts']:>9,}  {'OK' if r['ok'] else 'FAILED'}")
    ratio = min((r["ratio"] for r in rows if "ratio" in r), default=None)
    print()
    for what, figure, verdict in verdicts(rows, ratio):
        print(f"target: {what}: {figure} -> {verdict}")
    failures = [f"{r['subscribers']:,}: {r['error']}" for r in rows if "error" in r]
    failures += [f"{r['subscribers']:,}: {'; '.join(r['problems'])}" for r in rows if "error" not in r and not r["ok"]]
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "benchmark": "sim_throughput", "profile": args.profile, "hours": hours, "seed": args.seed,
            "machine": {"python": platform.python_version(), "nproc": os.cpu_count(), "cpu": cpu_model()},
            "baseline": base, "results": rows, "ratio_min": ratio, "ratio_best": best_ratio,
            "targets": [{"target": w, "figure": f, "verdict": v} for w, f, v in verdicts(rows, ratio)],
            "failures": failures}, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
