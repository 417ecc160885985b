"""``rbench torture`` and :func:`run_seed`: one seed, one fresh database, one verdict.

Faults (:class:`hil.torture.faults.FaultPlan`, switched on per seed): gateway timeouts after
the call was processed (captures included), lost, late and duplicate callbacks, random
declines, lost and late SMS (OTPs), dropped USSD steps, client retries with the same
Idempotency-Key, wrong OTPs, time jumps past OTP/verify/session windows, database errors at
any statement or commit (and lost acks after a commit), core restarts between two steps and
core deaths in the middle of an operation, and reconciliation sweeps at random moments. Then
the faults stop, time runs past every window, reconciliation sweeps, and
:mod:`hil.torture.checks` judges. A failing seed prints the command that replays it exactly.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass

from hil.torture.faults import FaultPlan
from hil.torture.run import Run

DEFAULT_STEPS = 120


@dataclass
class SeedResult:
    seed: int
    steps: int
    ok: bool
    violations: list[str]
    counts: Counter
    plan: FaultPlan
    digest: str
    elapsed_s: float
    command: str

    def line(self) -> str:
        c = self.counts
        head = (f"seed {self.seed}: {'ok' if self.ok else 'FAILED'} in {self.elapsed_s:.2f} s, "
                f"{c['orders']} orders ({c['credited']} credited, {c['refunded']} refunded, {c['failed']} failed), "
                f"faults: {c['db_errors']} db errors, {c['restarts']} restarts, {c['crashes']} crashes, "
                f"{c['gateway_timeouts']} gateway timeouts, {c['callbacks_lost']} callbacks lost")
        if self.ok:
            return head
        shown = self.violations[:12] + ([f"... and {len(self.violations) - 12} more"] if len(self.violations) > 12 else [])
        return "\n".join([head, f"  plan: {self.plan.describe()}", *("  - " + v for v in shown),
                          f"  replay: {self.command}"])


def replay_command(seed: int, steps: int, db: str | None) -> str:
    return f"rbench torture --seeds {seed}..{seed} --steps {steps}" + (f" --db {db}" if db else "")


def run_seed(seed: int, steps: int = DEFAULT_STEPS, db: str | None = None) -> SeedResult:
    """One torture run; ``db`` a PostgreSQL server URL (a database is made and dropped for
    the seed) or None for an SQLite file in a temporary folder."""
    t0 = time.perf_counter()
    folder, pg_name = None, None
    if db:
        from hil.postgres import create_database
        pg_name = f"rbtorture_{seed}_{int(time.time() * 1000) % 10**9}"
        url = create_database(db, pg_name)
    else:
        folder = tempfile.mkdtemp(prefix=f"rbench-torture-{seed}-")
        url = f"sqlite:///{folder}/core.db"
    run = None
    try:
        run = Run(seed, steps, url)
        run.setup()
        for _ in range(steps):
            run.step()
        run.finish()
        violations = run.judge()
    except Exception as e:       # noqa: BLE001: a run that cannot finish is a failing seed too
        violations = [f"the run stopped at step {run.step_no if run else 0}: {type(e).__name__}: {e}"]
    finally:
        if run is not None and run.core is not None:
            run.core.close()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        if pg_name and db:
            from hil.postgres import drop_database
            drop_database(db, pg_name)
    trace, counts = (run.trace, run.counts) if run else ([], Counter())
    digest = hashlib.sha256("\n".join(trace).encode()).hexdigest()[:16]
    return SeedResult(seed, steps, not violations, violations, counts, FaultPlan.draw(seed, steps), digest,
                      time.perf_counter() - t0, replay_command(seed, steps, db))


def parse_seeds(text: str) -> range:
    from core.digits import to_ascii_digits
    m = re.fullmatch(r"\s*(\d+)\s*(?:\.\.\s*(\d+))?\s*", to_ascii_digits(text))
    if not m:
        raise ValueError(f"--seeds: {text!r}; expected A..B (e.g. 1..200) or one seed")
    a, b = int(m.group(1)), int(m.group(2) or m.group(1))
    if b < a:
        raise ValueError(f"--seeds: {text!r}; expected the first seed not above the last")
    return range(a, b + 1)


def run_torture(args: argparse.Namespace) -> int:
    try:
        seeds = parse_seeds(args.seeds)
        if args.steps < 1:
            raise ValueError(f"--steps: {args.steps}; expected at least 1")
    except ValueError as e:
        print(f"rbench torture: {e}", file=sys.stderr)
        return 2
    t0, failed = time.perf_counter(), []
    logging.getLogger("rbench").setLevel(logging.CRITICAL)   # faults make the core log by design
    for seed in seeds:
        result = run_seed(seed, args.steps, args.db)
        if not result.ok or not args.quiet:
            print(result.line(), flush=True)
        if not result.ok:
            failed.append(result)
            if args.fail_fast:
                break
    elapsed = time.perf_counter() - t0
    done = len(seeds) if not (failed and args.fail_fast) else seeds.index(failed[-1].seed) + 1
    print(f"{done} seeds in {elapsed:.1f} s ({done / elapsed * 60:.0f} seeds/minute), "
          f"{len(failed)} failed" + ("".join(f"\n  replay: {r.command}" for r in failed)), flush=True)
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``torture`` to ``rbench``'s subcommands."""
    p = sub.add_parser("torture", help="deterministic fault-injection runs of the core, one per seed; "
                       "a failing seed prints the command that replays it")
    p.add_argument("--seeds", required=True, metavar="A..B", help="the seeds to run, e.g. 1..200 (or one seed)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, metavar="N",
                   help=f"client and fault steps per seed (default {DEFAULT_STEPS})")
    p.add_argument("--db", default=None, metavar="URL", help="a PostgreSQL server URL (postgresql://...): "
                   "a fresh database per seed; default a fresh SQLite file per seed")
    p.add_argument("--fail-fast", action="store_true", help="stop at the first failing seed")
    p.add_argument("--quiet", action="store_true", help="print failing seeds and the summary only")
    p.set_defaults(run=run_torture)
