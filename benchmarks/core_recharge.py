"""Full card + OTP recharges per second through the core's service layer (no HTTP), on SQLite
and on PostgreSQL, each printed beside a baseline measured on the same machine in the same run.

    python -m benchmarks.core_recharge              # SQLite 1x1, 1x4; PostgreSQL 1x1, 1x4, 2x1, 2x2, 2x4
    python -m benchmarks.core_recharge --threads 2,4                  # PostgreSQL 2x2, 2x4 (2 processes)
    python -m benchmarks.core_recharge --processes 1,2 --threads 4 --recharges 5000 --json out/bench.json
    python -m benchmarks.core_recharge --grid 2x4 --pg-url postgresql://postgres@127.0.0.1:5433/postgres
    python -m benchmarks.core_recharge --sqlite-only
    python -m benchmarks.core_recharge --grid 2x1,2x2 --repeat 3          # the verdict on each cell's median
    python -m benchmarks.core_recharge --profile /tmp/recharge.pstats   # + cProfile of the PostgreSQL path

One recharge is what a customer's browser drives, called in-process: ``topups.create`` (DZ,
SATIM style) -> ``payments.submit_card`` -> read the OTP from the emulated SMSC inbox of the
card's phone -> ``payments.confirm_otp``; it must end ``credited``. The core runs on the system
clock with an ``ImmediateScheduler`` and emulated gateways and SMSC without delays, so gateway
callbacks and SMS deliveries happen synchronously inside the call that caused them (their
cost is part of the recharge). Each worker thread has its own card and its own recipients
(one per 10 recharges of 100-1000 DZD, so the 20,000 DZD balance cap is never hit).

A measurement is P x T: P worker processes (``spawn``), each with its own core on the same
database, its own emulated gateways and SMSC, and T threads. One Python process uses one core
at most (the GIL), so P = 2 is what uses both cores of a 2-core machine. Each process
provisions its threads' recipients and cards (numbered apart from the other processes'),
warms up (counting the statements it sends, through ``store.transaction`` and
``store.autocommit``), then waits on a start barrier; the timed recharges are shared between
all threads of all processes. The parent aggregates rates, latencies and CPU, checks that every
order ended ``credited``, and runs the conservation check over the whole database, with each
gateway's own net capture summed over the processes' emulators.

Baselines, measured in the same run because these shared machines vary 2x between runs:
  - PostgreSQL: ``pgbench -i -s 10`` then ``pgbench -c 8 -j 2 -T 15 -M prepared`` (TPC-B) on a
    separate database of the same server, just before the PostgreSQL measurements.
  - SQLite: raw ``sqlite3`` commits/s of 1 INSERT + 1 UPDATE per transaction, WAL +
    synchronous=FULL (the core's settings), one thread, in a file next to the benchmark's DB.
The ratio is ours / baseline. The target is >= 500 recharges/s on PostgreSQL at the best
processes x threads.

Without ``--pg-url`` a throwaway PostgreSQL cluster (``hil.postgres``) is started under /tmp
and stopped at the end; the workers and pgbench reach it through its Unix socket, as a core
on the database's host would (``--pg-transport tcp``: through 127.0.0.1, which costs about
twice the CPU per round trip on both sides). With ``--pg-url``, databases are created (and dropped) on that server, so its
user needs CREATEDB. Every measurement runs on a fresh database (or SQLite file).

Exit status: 0 when every order ended ``credited`` and every conservation check passed (the
target verdict is reported, not enforced), 1 otherwise, 2 when the run could not be set up.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import functools
import json
import math
import os
import platform
import pstats
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.machine import cpu_model
from core.cards import parse_card
from core.clock import ImmediateScheduler, SystemClock
from core.ledger import conservation_check
from core.orders import State
from core.store import Tx, open_store
from core.topups import TopupRequest
from core.wiring import Core, build_core, uuid_ids

TARGET_PG_PER_S = 500.0
MARKET = "DZ"
RECHARGES_PER_RECIPIENT = 10          # x at most 1,000 DZD: far below the 20,000 DZD cap
AMOUNT_MIN_DZD, AMOUNT_MAX_DZD = 100, 1000
CARD_BALANCE_MINOR = 10 ** 15         # never the reason a payment is declined
_OTP = re.compile(r"(?<!\d)(\d{6})(?!\d)")
_CORE_DIR = str(Path(__import__("core").__file__).parent)
_STORE_DIR = os.path.join(_CORE_DIR, "store")


class BenchFailure(RuntimeError):
    """An order did not end credited, or the ledger does not balance: the figures mean nothing."""


# ============================================================== counting store transactions


class _CountingTx(Tx):
    """A transaction that counts its statements (and, when asked, which SQL they were)."""

    def __init__(self, tx: Any, counter: TxCounter, *, autocommit: bool = False) -> None:
        self._tx, self._counter, self._auto = tx, counter, autocommit
        self.speak_as(tx)
        self.statements = 0

    def _count(self, sql: str) -> None:
        self.statements += 1
        if self._counter.by_sql is not None:
            text = " ".join(sql.split())
            self._counter.note_sql(("(autocommit) " if self._auto else "") +
                                   (text if len(text) <= 64 else text[:58] + " ..." +
                                    (" FOR UPDATE" if text.endswith("FOR UPDATE") else "")))

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        self._count(sql)
        return self._tx.execute(sql, params)

    def one(self, sql: str, params: tuple | list = ()) -> Any:
        self._count(sql)
        return self._tx.one(sql, params)

    def all(self, sql: str, params: tuple | list = ()) -> Any:
        self._count(sql)
        return self._tx.all(sql, params)


class TxCounter:
    """Counts ``store.transaction()`` calls and their statements, and the statements run through
    ``store.autocommit()`` (each its own round trip), by wrapping the store's two methods in this
    process (the core is not changed). ``origins=True`` also records which chain of core
    functions opened each transaction (slower: for the profile only)."""

    def __init__(self, store: Any, *, origins: bool = False) -> None:
        self.store, self.origins = store, origins
        self._lock = threading.Lock()
        self.transactions = 0
        self.statements = 0                 # inside transactions
        self.autocommit_statements = 0
        self.by_origin: Counter[str] | None = Counter() if origins else None
        self.by_sql: Counter[str] | None = Counter() if origins else None
        self._inner: Callable[[], Any] | None = None
        self._inner_auto: Callable[[], Any] | None = None

    def install(self) -> TxCounter:
        self._inner = self.store.transaction            # the bound methods of the store's class
        self._inner_auto = self.store.autocommit
        self.store.transaction = self._transaction      # instance attributes: Store.run uses them too
        self.store.autocommit = self._autocommit
        return self

    def remove(self) -> None:
        for name in ("transaction", "autocommit"):
            if name in vars(self.store):
                delattr(self.store, name)

    def counts(self) -> dict:
        return {"transactions": self.transactions, "statements_in_tx": self.statements,
                "autocommit_statements": self.autocommit_statements}

    def note_sql(self, head: str) -> None:
        with self._lock:
            assert self.by_sql is not None
            self.by_sql[head] += 1

    @staticmethod
    def _origin() -> str:
        chain = []
        f = sys._getframe(3)
        while f is not None:
            fn = f.f_code.co_filename
            if fn.startswith(_CORE_DIR) and not fn.startswith(_STORE_DIR):
                name = f.f_code.co_name
                if name not in ("<lambda>", "op", "run", "insert", "send"):
                    chain.append(f"{Path(fn).stem}.{name}")
            f = f.f_back
        return " > ".join(reversed(chain)) or "(benchmark)"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        origin = self._origin() if self.origins else None
        assert self._inner is not None
        with self._inner() as tx:
            counting = _CountingTx(tx, self)
            yield counting
        with self._lock:
            self.transactions += 1
            self.statements += counting.statements
            if self.by_origin is not None:
                self.by_origin[origin or "?"] += 1

    @contextlib.contextmanager
    def _autocommit(self) -> Iterator[Any]:
        origin = self._origin() if self.origins else None
        assert self._inner_auto is not None
        counting = None
        try:
            with self._inner_auto() as tx:
                counting = _CountingTx(tx, self, autocommit=True)
                yield counting
        finally:
            if counting is not None:
                with self._lock:
                    self.autocommit_statements += counting.statements
                    if self.by_origin is not None and counting.statements:
                        self.by_origin[f"(autocommit x{counting.statements}) {origin}"] += 1


def round_trips(c: dict) -> float:
    """Statements plus BEGIN and COMMIT of each transaction: what the client waits for."""
    return c["statements_in_tx"] + c["autocommit_statements"] + 2 * c["transactions"]


# ===================================================================== one recharge, threads


@dataclass
class Worker:
    """One thread's share: its card (and the phone the OTPs go to), its recipients, its amounts."""

    index: int
    core: Core
    phone: str
    card: Any
    recipients: list[str]
    rng: random.Random
    latencies: list[float] = field(default_factory=list)
    states: Counter = field(default_factory=Counter)
    error: BaseException | None = None
    started: float = 0.0
    finished: float = 0.0
    _turn: int = 0

    def card_data(self) -> Any:
        c = self.card
        return parse_card(pan=c.pan, expiry=f"{c.expiry_month:02d}/{c.expiry_year % 100:02d}",
                          cvc2=c.cvc2, now=self.core.clock.now())

    def recharge(self) -> State:
        """create -> submit_card -> OTP from the SMS inbox -> confirm_otp."""
        topups, payments, sms = self.core.topups, self.core.payments, self.core.sms
        recipient = self.recipients[self._turn % len(self.recipients)]
        self._turn += 1
        amount = str(self.rng.randint(AMOUNT_MIN_DZD, AMOUNT_MAX_DZD))
        order = topups.create(TopupRequest(market=MARKET, recipient=recipient, amount=amount))
        if order.state is not State.PENDING_PAYMENT:
            return order.state
        before = sms.last(self.phone)
        order = payments.submit_card(order.id, self.card_data())
        if order.state is not State.OTP_PENDING:
            return order.state
        last = sms.last(self.phone)      # (a copy of the whole inbox would grow with every recharge)
        if last is None or (before is not None and last.message_id == before.message_id):
            raise BenchFailure(f"order {order.id}: no OTP reached {self.phone}")
        m = _OTP.search(last.text)
        if m is None:
            raise BenchFailure(f"order {order.id}: no 6-digit code in {last.text!r}")
        return payments.confirm_otp(order.id, m.group(1)).state

    def run(self, count: int, barrier: threading.Barrier | None, *, timed: bool) -> None:
        try:
            if barrier is not None:
                barrier.wait()
            self.started = time.monotonic()
            for _ in range(count):
                t0 = time.monotonic()
                state = self.recharge()
                if timed:
                    self.latencies.append(time.monotonic() - t0)
                self.states[str(state)] += 1
            self.finished = time.monotonic()
        except Exception as e:  # noqa: BLE001 - reported by the caller; the other threads stop
            self.error = e
            self.finished = time.monotonic()
            if barrier is not None:
                barrier.abort()


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


MAX_WORKERS = 100                     # two digits of worker number in the recipients' numbers


def make_workers(core: Core, threads: int, per_thread_total: list[int], seed: int,
                 first: int = 0) -> list[Worker]:
    """Provision each thread's recipients and issue each thread its card (on its own phone).
    Threads are numbered from ``first`` so that the processes of one run never share a number."""
    workers = []
    assert core.issuer is not None, "the benchmark needs the emulated issuer (build_core without gateways)"
    for k in range(first, first + threads):
        if k >= MAX_WORKERS:
            raise ValueError(f"at most {MAX_WORKERS} threads in all processes (numbering scheme)")
        n_recipients = max(1, math.ceil(per_thread_total[k - first] / RECHARGES_PER_RECIPIENT))
        if n_recipients > 10 ** 6:
            raise ValueError("too many recharges per thread for the numbering scheme")
        recipients = []
        for j in range(n_recipients):
            nsn = f"5{k:02d}{j:06d}"                    # DZ, Ooredoo prefix 5, 9 digits
            recipients.append(core.subscribers.provision(MARKET, "0" + nsn).msisdn)
        phone = f"21377{k:07d}"                         # the card's phone: where its OTPs go
        rng = random.Random(f"{seed}:worker:{k}")
        card = core.issuer.generate(rng, 1, [phone], balances={"DZD": CARD_BALANCE_MINOR})[0]
        workers.append(Worker(k, core, phone, card, recipients, rng))
    return workers


def run_threads(workers: list[Worker], counts: list[int], *, timed: bool) -> float:
    """Run every worker's share at once; returns the wall time from the common start."""
    barrier = threading.Barrier(len(workers))
    ts = [threading.Thread(target=w.run, args=(c, barrier), kwargs={"timed": timed},
                           name=f"recharge-{w.index}") for w, c in zip(workers, counts, strict=True)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    errors = [w.error for w in workers if w.error is not None]
    if errors:
        raise BenchFailure(f"{len(errors)} worker(s) failed; first: {errors[0]!r}") from errors[0]
    return max(w.finished for w in workers) - min(w.started for w in workers)


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i]


def new_core(url: str, seed: int | str) -> Core:
    return build_core(url, clock=SystemClock(), scheduler=ImmediateScheduler(), seed=seed,
                      new_id=uuid_ids())


def process_tree_cpu_s(root_pid: int) -> float:
    """CPU seconds (user + system) of a process, of its children alive now, and of the children
    it has reaped (cutime/cstime): a postmaster's backends that came and went count too."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == root_pid:
            total += sum(int(x) for x in fields[11:15])
        elif int(fields[1]) == root_pid:
            total += int(fields[11]) + int(fields[12])
    return total / hz


class BenchSetupError(RuntimeError):
    """What a benchmark needs is missing; the message says what to install."""


@dataclass
class BenchPg:
    """The PostgreSQL server a benchmark measures on: the one at ``--pg-url``, or a throwaway
    cluster of its own (then its CPU can be counted too)."""

    url: str
    pgbench: str
    server_cpu: Any = None               # () -> CPU seconds of the server, own cluster only
    cluster: Any = None
    directory: Path | None = None

    def stop(self, *, keep: bool = False) -> None:
        if self.cluster is not None:
            self.cluster.stop()
        if self.directory is not None and not keep:
            shutil.rmtree(self.directory, ignore_errors=True)


def bench_pg(pg_url: str | None, prefix: str, *, transport: str = "tcp") -> BenchPg:
    """``transport``: how clients reach a throwaway cluster, "tcp" (127.0.0.1) or "socket"
    (its Unix socket, as a database on the core's own host would be reached)."""
    from hil.postgres import PgCluster, PgError, find_bindir

    if pg_url:
        bindir = find_bindir()
        pgbench = str(bindir / "pgbench") if bindir and (bindir / "pgbench").is_file() else shutil.which("pgbench")
        if pgbench is None:
            raise BenchSetupError("pgbench not found (apt-get install -y postgresql-client)")
        return BenchPg(pg_url, pgbench)
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        cluster = PgCluster(directory).start()
    except PgError as e:
        shutil.rmtree(directory, ignore_errors=True)
        raise BenchSetupError(f"PostgreSQL unavailable: {e}") from None
    postmaster = int((cluster.data / "postmaster.pid").read_text().split()[0])
    url = cluster.socket_url if transport == "socket" else cluster.url
    return BenchPg(url, cluster.bin("pgbench"), functools.partial(process_tree_cpu_s, postmaster),
                   cluster, directory)


def cpu_pressure_us() -> int | None:
    """Linux PSI: total microseconds during which some runnable task waited for a CPU."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return int(line.rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


# ========================================================================= worker processes

PHASE_TIMEOUT_S = 1800.0              # a phase (set-up + warm-up, timed run) taking longer: abort


def _process_main(spec: dict, ready: Any, go: Any, done: Any, results: Any) -> None:
    """One worker process (spawned): its own core on the shared database, its own threads,
    recipients and card. Warm up (counting statements), wait for the start, run its share,
    wait for the others to finish, report."""
    p = spec["process"]
    out: dict[str, Any] = {"process": p, "pid": os.getpid()}
    core = None
    try:
        if spec.get("unsharded"):
            unshard_ledger()
        # Its own seed: the emulated gateways' references and OTPs differ from other processes'.
        core = new_core(spec["url"], f"{spec['seed']}:process:{p}")
        threads = spec["threads"]
        workers = make_workers(core, threads, [a + b for a, b in zip(spec["timed"], spec["warm"], strict=True)],
                               spec["seed"], first=p * threads)
        counter = TxCounter(core.store).install()
        try:
            run_threads(workers, spec["warm"], timed=False)
        finally:
            counter.remove()
        for w in workers:
            w.states.clear()
        ready.wait(timeout=PHASE_TIMEOUT_S)      # the parent settles the server, then starts all
        go.wait(timeout=PHASE_TIMEOUT_S)
        cpu0 = time.process_time()
        run_threads(workers, spec["timed"], timed=True)
        cpu1 = time.process_time()
        done.wait(timeout=PHASE_TIMEOUT_S)
        net: dict[str, int] = {}                 # "gateway/CUR" -> what it says it captured net
        for name, gw in core.gateways.items():
            stats = getattr(gw, "stats", None)
            if stats is not None:
                for cur, amount in stats()["net_captured"].items():
                    net[f"{name}/{cur}"] = amount
        states: Counter = Counter()
        for w in workers:
            states.update(w.states)
        out.update(counts=counter.counts(), warm_recharges=sum(spec["warm"]),
                   started=min(w.started for w in workers), finished=max(w.finished for w in workers),
                   cpu_s=cpu1 - cpu0, latencies=[x for w in workers for x in w.latencies],
                   states=dict(states), gateway_net=net)
    except BaseException as e:  # noqa: BLE001 - the parent reports it; the others must not wait
        import traceback
        out["error"] = f"{e!r}\n{traceback.format_exc()}"
        for b in (ready, go, done):
            b.abort()
    finally:
        if core is not None:
            core.close()
        results.put(out)


def unshard_ledger() -> None:
    """For comparison only: every account keeps its totals in its own row, as before migration
    0004 (the hot system accounts' rows are then locked by every capture and credit until COMMIT)."""
    import core.ledger
    core.ledger.sharded = lambda account: False


def measure(url: str, store: str, processes: int, threads: int, recharges: int, warmup: int, seed: int,
            settle: Callable[[], None] | None = None, server_cpu: Callable[[], float] | None = None,
            unsharded: bool = False) -> dict:
    """``processes`` worker processes of ``threads`` threads each on a fresh database: warm up
    (counting statements), then time ``recharges`` full recharges shared between them all.

    Also reports the CPU time per recharge of the worker processes (``process_time``, all
    threads, summed over processes) and, when ``server_cpu`` is given, of the database server:
    on a shared machine these move less than the wall-clock rate does. The parent then checks
    every order and the conservation of the whole ledger, with the gateways' own figures
    summed over the processes."""
    import multiprocessing

    parent_store = open_store(url)               # applies the migrations once, before the workers
    ctx = multiprocessing.get_context("spawn")
    n = processes * threads
    timed_counts = _split(recharges, n)
    warm_counts = _split(max(warmup, n), n)
    ready, go, done = (ctx.Barrier(processes + 1) for _ in range(3))
    results = ctx.Queue()
    procs = [ctx.Process(target=_process_main, name=f"recharge-p{p}", daemon=True, args=(
        {"url": url, "process": p, "threads": threads, "seed": seed, "unsharded": unsharded,
         "timed": timed_counts[p * threads:(p + 1) * threads], "warm": warm_counts[p * threads:(p + 1) * threads]},
        ready, go, done, results)) for p in range(processes)]
    try:
        for proc in procs:
            proc.start()
        srv0 = srv1 = psi0 = psi1 = wal0 = wal1 = None
        phases_over = threading.Event()

        def watch() -> None:
            """A worker that dies without reporting (killed, or failed to start) would leave the
            others and this process waiting at a barrier: break them."""
            while not phases_over.wait(0.5):
                if any(not proc.is_alive() and proc.exitcode != 0 for proc in procs):
                    for b in (ready, go, done):
                        b.abort()
                    return
        watcher = threading.Thread(target=watch, name="watch-workers", daemon=True)
        watcher.start()
        try:
            ready.wait(timeout=PHASE_TIMEOUT_S)
            if settle is not None:
                settle()
            srv0 = server_cpu() if server_cpu else None
            psi0, wal0 = cpu_pressure_us(), wal_position(parent_store)
            go.wait(timeout=PHASE_TIMEOUT_S)
            done.wait(timeout=PHASE_TIMEOUT_S)
            srv1 = server_cpu() if server_cpu else None
            psi1, wal1 = cpu_pressure_us(), wal_position(parent_store)
        except threading.BrokenBarrierError:
            pass                                 # a worker failed: its report says why
        finally:
            phases_over.set()
        reports = []
        deadline = time.monotonic() + PHASE_TIMEOUT_S
        while len(reports) < processes and time.monotonic() < deadline:
            try:
                reports.append(results.get(timeout=1.0))
            except Exception:  # noqa: BLE001 - queue.Empty: wait while a worker may still report
                if all(not proc.is_alive() for proc in procs):
                    try:
                        reports.append(results.get(timeout=1.0))
                    except Exception:  # noqa: BLE001 - a worker died without reporting
                        break
        for proc in procs:
            proc.join(timeout=60)
        errors = [r["error"] for r in reports if "error" in r]
        if errors or len(reports) != processes:
            dead = [f"{proc.name} exit {proc.exitcode}" for proc in procs if proc.exitcode not in (0, None)]
            raise BenchFailure(f"{store} {processes}x{threads}: {len(errors)} worker process(es) failed"
                               f"{'; ' + ', '.join(dead) if dead else ''}; first: "
                               f"{errors[0] if errors else 'no report'}")
        reports.sort(key=lambda r: r["process"])
        wall = max(r["finished"] for r in reports) - min(r["started"] for r in reports)
        lat = sorted(x for r in reports for x in r["latencies"])
        states: Counter = Counter()
        gateway_net: Counter = Counter()
        counts: Counter = Counter()
        for r in reports:
            states.update(r["states"])
            counts.update(r["counts"])
            for key, amount in r["gateway_net"].items():
                gateway_net[tuple(key.split("/", 1))] += amount
        with parent_store.autocommit() as tx:
            db_states = {r["state"]: int(r["n"]) for r in
                         tx.all("SELECT state, COUNT(*) AS n FROM orders GROUP BY state")}
        report = conservation_check(parent_store, dict(gateway_net))
        warm_done = sum(warm_counts)
        total = recharges + warm_done
        not_credited = {s: k for s, k in states.items() if s != str(State.CREDITED)}
        if db_states.get(str(State.CREDITED), 0) != total or len(db_states) != 1:
            not_credited.setdefault("in_db", db_states)
        cpu_s = sum(r["cpu_s"] for r in reports)
        return {
            "store": store,
            "ledger": "unsharded" if unsharded else "sharded",
            "processes": processes,
            "threads": threads,
            "recharges": recharges,
            "seconds": wall,
            "per_s": recharges / wall,
            "per_process_per_s": [sum(1 for _ in r["latencies"]) / (r["finished"] - r["started"])
                                  for r in reports],
            "p50_ms": _quantile(lat, 0.50) * 1000,
            "p95_ms": _quantile(lat, 0.95) * 1000,
            "p99_ms": _quantile(lat, 0.99) * 1000,
            "client_cpu_ms": cpu_s / recharges * 1000,
            "client_cores": cpu_s / wall,
            "server_cpu_ms": None if srv0 is None or srv1 is None else (srv1 - srv0) / recharges * 1000,
            # Share of the timed run during which some task on this machine waited for a CPU.
            "cpu_pressure": None if psi0 is None or psi1 is None else (psi1 - psi0) / 1e6 / wall,
            "tx_per_recharge": counts["transactions"] / warm_done,
            "statements_per_recharge": (counts["statements_in_tx"] + counts["autocommit_statements"]) / warm_done,
            "autocommit_statements_per_recharge": counts["autocommit_statements"] / warm_done,
            "round_trips_per_recharge": round_trips(counts) / warm_done,
            # What the server wrote to its WAL per timed recharge: unlike rates and CPU times,
            # it does not move with the machine's other tenants (the whole cluster's WAL).
            "wal_bytes_per_recharge": None if wal0 is None or wal1 is None else (wal1 - wal0) / recharges,
            "orders_by_state": db_states,
            "gateway_net": {f"{g}/{c}": v for (g, c), v in sorted(gateway_net.items())},
            "all_credited": not not_credited,
            "not_credited": not_credited,
            "conservation_ok": report.ok,
            "conservation": report.summary(),
        }
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=10)
        parent_store.close()


# ============================================================================== baselines


def sqlite_baseline(path: Path, seconds: float = 3.0) -> dict:
    """Raw sqlite3 commits/s of 1 INSERT + 1 UPDATE per transaction, WAL + synchronous=FULL."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, account INTEGER NOT NULL,"
                     " amount INTEGER NOT NULL, at_ms INTEGER NOT NULL)")
        conn.execute("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")
        conn.executemany("INSERT INTO accounts VALUES (?, 0)", [(i,) for i in range(1000)])
        for _ in range(200):                            # warm-up
            conn.execute("BEGIN")
            conn.execute("INSERT INTO events (account, amount, at_ms) VALUES (1, 1, 0)")
            conn.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
            conn.execute("COMMIT")
        n, t0 = 0, time.perf_counter()
        deadline = t0 + seconds
        while True:
            for _ in range(100):
                acct = n % 1000
                conn.execute("BEGIN")
                conn.execute("INSERT INTO events (account, amount, at_ms) VALUES (?, ?, ?)", (acct, 100, n))
                conn.execute("UPDATE accounts SET balance = balance + ? WHERE id = ?", (100, acct))
                conn.execute("COMMIT")
                n += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        return {"name": "sqlite3 WAL+FULL, 1 insert + 1 update per commit, 1 thread",
                "unit": "commits/s", "per_s": n / (now - t0), "seconds": now - t0,
                "sqlite_version": sqlite3.sqlite_version}
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)


def wal_position(store: Any) -> int | None:
    """PostgreSQL's WAL insert position in bytes, or None on another store."""
    if store.dialect != "postgresql":
        return None
    with store.autocommit() as tx:
        return int(tx.one("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0') AS b")["b"])


def settle_pg(server_url: str, db_url: str) -> None:
    """Between the warm-up and the timed run: ANALYZE the benchmark's database, then CHECKPOINT.

    The schema starts empty, and a statement prepared then keeps its plan: a sequential scan
    of a one-page table, still used when the table has thousands of rows, until autovacuum
    gets to analyze it (within a minute or so, or never in a short run). A recharge then read
    its order in 52 buffers instead of 3 (pg_stat_statements). The timed run measures the
    steady state a live system is in, as pgbench's own set-up does with VACUUM ANALYZE."""
    pg_sql(db_url, "ANALYZE")
    pg_sql(server_url, "CHECKPOINT")


def pg_sql(url: str, statement: str) -> list[tuple]:
    import psycopg
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []


def pgbench_baseline(pgbench: str, server_url: str, *, scale: int, clients: int, jobs: int,
                     seconds: int) -> dict:
    """pgbench TPC-B on a database of its own on the same server (created, then dropped)."""
    from hil.postgres import create_database, drop_database

    name = f"rb_pgbench_{os.getpid()}"
    drop_database(server_url, name)
    url = create_database(server_url, name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    try:
        init = subprocess.run([pgbench, "-i", "-s", str(scale), "-q", url], capture_output=True, check=False,
                              text=True, env=env, timeout=600, stdin=subprocess.DEVNULL)
        if init.returncode != 0:
            raise BenchFailure(f"pgbench -i failed:\n{init.stdout}{init.stderr}")
        pg_sql(server_url, "CHECKPOINT")
        cmd = [pgbench, "-c", str(clients), "-j", str(jobs), "-T", str(seconds), "-M", "prepared", url]
        r = subprocess.run(cmd, capture_output=True, check=False, text=True, env=env, timeout=seconds + 300,
                           stdin=subprocess.DEVNULL)
        m = re.search(r"^tps = ([0-9.]+)", r.stdout, re.MULTILINE)
        if r.returncode != 0 or m is None:
            raise BenchFailure(f"pgbench failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return {"name": f"pgbench TPC-B -s {scale} -c {clients} -j {jobs} -T {seconds} -M prepared",
                "unit": "TPS", "per_s": float(m.group(1)), "seconds": seconds}
    finally:
        drop_database(server_url, name)


# ================================================================================ profile


def profile_recharges(url: str, count: int, seed: int, out: Path | None, top: int = 25) -> dict:
    """One thread: which core code opens which transactions (counted), then cProfile."""
    core = new_core(url, seed)
    try:
        w = make_workers(core, 1, [2 * count + 50], seed)[0]
        w.run(50, None, timed=False)                    # warm caches and the pool
        counter = TxCounter(core.store, origins=True).install()
        try:
            w.run(count, None, timed=False)
        finally:
            counter.remove()
        if w.error:
            raise BenchFailure(f"profile run failed: {w.error!r}") from w.error
        t0 = time.perf_counter()
        plain = cProfile.Profile()
        w.run(count, None, timed=False)                 # the same load, unprofiled, for the wall time
        unprofiled_s = time.perf_counter() - t0
        plain.enable()
        w.run(count, None, timed=False)
        plain.disable()
        if w.error:
            raise BenchFailure(f"profile run failed: {w.error!r}") from w.error
        if out is not None:
            plain.dump_stats(str(out))
        stats = pstats.Stats(plain)
        rows = []
        for (fn, line, name), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            rows.append({"func": f"{_short(fn)}:{line}({name})", "calls_per_recharge": nc / count,
                         "tottime_us": tt / count * 1e6, "cumtime_us": ct / count * 1e6,
                         "core": fn.startswith(_CORE_DIR)})
        total_us = sum(r["tottime_us"] for r in rows)
        by_package: Counter[str] = Counter()
        for (fn, _line, name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            by_package[_package(fn, name)] += tt / count * 1e6
        by_tot = sorted(rows, key=lambda r: -r["tottime_us"])[:top]
        core_cum = sorted((r for r in rows if r["core"]), key=lambda r: -r["cumtime_us"])[:top]
        return {
            "recharges": count,
            "unprofiled_us_per_recharge": unprofiled_s / count * 1e6,
            "profiled_us_per_recharge": total_us,
            "tx_per_recharge": counter.transactions / count,
            "statements_per_recharge": (counter.statements + counter.autocommit_statements) / count,
            "autocommit_statements_per_recharge": counter.autocommit_statements / count,
            "round_trips_per_recharge": round_trips(counter.counts()) / count,
            "tx_by_origin": {k: v / count for k, v in counter.by_origin.most_common()},   # type: ignore[union-attr]
            "statements_by_kind": {k: v / count for k, v in counter.by_sql.most_common()},  # type: ignore[union-attr]
            "own_time_by_package_us": dict(by_package.most_common()),
            "top_tottime": by_tot,
            "top_core_cumtime": core_cum,
            "states": dict(w.states),
            "pstats_file": str(out) if out else None,
        }
    finally:
        core.close()


def _package(filename: str, name: str) -> str:
    """Where a function's own time goes: the driver, the pool, the store, the domain, ..."""
    if filename == "~":   # C functions: by what they are
        if "psycopg" in name or "pq" in name:
            return "psycopg (driver)"
        return "C builtins (str, dict, sqlite3, socket...)"
    for key, label in (("psycopg_pool", "psycopg_pool"), ("psycopg", "psycopg (driver)"),
                       (_STORE_DIR, "core/store"), (os.path.join(_CORE_DIR, "adapters"), "core/adapters (emulators)"),
                       (_CORE_DIR, "core (domain)"), ("protocols", "protocols (GSM text)"),
                       ("benchmarks", "benchmark driver")):
        if key in filename:
            return label
    return "Python stdlib"


def _short(filename: str) -> str:
    for root in (str(Path(_CORE_DIR).parent) + os.sep, sys.prefix + os.sep, sys.base_prefix + os.sep):
        if filename.startswith(root):
            return filename[len(root):]
    return filename


def print_profile(p: dict) -> None:
    print(f"\nProfile ({p['recharges']} recharges, 1 thread): {p['unprofiled_us_per_recharge'] / 1000:.2f} ms"
          f" per recharge unprofiled, {p['profiled_us_per_recharge'] / 1000:.2f} ms under cProfile")
    print(f"  {p['tx_per_recharge']:.1f} store transactions and {p['statements_per_recharge']:.1f} SQL"
          f" statements per recharge ({p['autocommit_statements_per_recharge']:.1f} of them autocommit):"
          f" {p['round_trips_per_recharge']:.1f} round trips with BEGIN and COMMIT")
    print("  own time per recharge by package (under cProfile; psycopg's wait() includes waiting for the server):")
    for pkg, us in p["own_time_by_package_us"].items():
        print(f"    {us:8.1f} us  {pkg}")
    print("  transactions (and autocommit uses) per recharge, by the core code that opened them:")
    for origin, n in p["tx_by_origin"].items():
        print(f"    {n:5.2f}  {origin}")
    print("  statements per recharge, by kind:")
    for kind, n in p["statements_by_kind"].items():
        print(f"    {n:5.2f}  {kind}")
    print("  top functions by own time (us per recharge, under cProfile):")
    for r in p["top_tottime"]:
        print(f"    {r['tottime_us']:8.1f} us own {r['cumtime_us']:8.1f} us cum {r['calls_per_recharge']:7.1f} calls"
              f"  {r['func']}")
    print("  core functions by cumulative time (us per recharge, under cProfile):")
    for r in p["top_core_cumtime"]:
        print(f"    {r['cumtime_us']:8.1f} us cum {r['tottime_us']:8.1f} us own {r['calls_per_recharge']:7.1f} calls"
              f"  {r['func']}")


# ================================================================================ the run


def machine() -> dict:
    return {"nproc": os.cpu_count(), "cpu": cpu_model(), "python": platform.python_version(),
            "platform": platform.platform(), "sqlite": sqlite3.sqlite_version, **_source_version()}


def _source_version() -> dict:
    """The commit measured, and whether core/ had changes not yet committed (read-only git)."""
    root = Path(_CORE_DIR).parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], check=False,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "core"], check=False,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"commit": head or None, "core_uncommitted_changes": bool(dirty)}


def print_table(results: list[dict], baselines: dict[str, dict]) -> None:
    head = (f"{'store':<15}{'procs':>5}{'thr':>4}{'recharges':>10}{'rech/s':>9}{'p50 ms':>8}{'p95 ms':>8}"
            f"{'cpu ms':>7}{'cores':>6}{'db ms':>6}{'psi':>5}  {'baseline':<27}{'base/s':>7}{'ratio':>8}")
    print(head)
    print("-" * len(head))
    for r in results:
        b = baselines.get(r["store"])
        short = {"sqlite": "sqlite3 WAL+FULL 1ins+1upd",
                 "postgresql": "pgbench TPC-B -c8 -j2 TPS"}[r["store"]]
        base = f"{b['per_s']:7.0f}" if b else f"{'n/a':>7}"
        ratio = f"{r['per_s'] / b['per_s']:8.4f}" if b else f"{'n/a':>8}"
        srv = f"{r['server_cpu_ms']:6.2f}" if r.get("server_cpu_ms") is not None else f"{'-':>6}"
        psi = f"{r['cpu_pressure']:5.2f}" if r.get("cpu_pressure") is not None else f"{'-':>5}"
        store = r["store"] + (" 1row" if r.get("ledger") == "unsharded" else "")
        print(f"{store:<15}{r['processes']:>5}{r['threads']:>4}{r['recharges']:>10}{r['per_s']:9.1f}"
              f"{r['p50_ms']:8.2f}{r['p95_ms']:8.2f}{r['client_cpu_ms']:7.2f}{r['client_cores']:6.2f}{srv}{psi}"
              f"  {short:<27}{base}{ratio}")
    print("cpu ms: CPU time per recharge of the worker processes (all threads, summed); cores: how many\n"
          "cores they kept busy (cpu ms x rech/s); db ms: CPU time per recharge of the PostgreSQL server\n"
          "(own cluster only); psi: share of the run during which some task of this machine waited for\n"
          "a CPU (/proc/pressure/cpu): high means other jobs (or the run itself) wanted more than 2 cores")


def _counts(text: str, what: str, top: int) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what} counts like 1,2,4, got {text!r}") from None
    if not out or any(t < 1 or t > top for t in out):
        raise argparse.ArgumentTypeError(f"expected {what} counts between 1 and {top}, got {text!r}")
    return out


def _threads(text: str) -> list[int]:
    return _counts(text, "thread", 64)


def _processes(text: str) -> list[int]:
    return _counts(text, "process", 16)


def _grid(text: str) -> list[tuple[int, int]]:
    out = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", part)
        if m is None or not (1 <= int(m.group(1)) <= 16 and 1 <= int(m.group(2)) <= 64):
            raise argparse.ArgumentTypeError(f"expected PROCESSESxTHREADS like 1x1,2x4, got {part!r}")
        out.append((int(m.group(1)), int(m.group(2))))
    return out


DEFAULT_PG_GRID = [(1, 1), (1, 4), (2, 1), (2, 2), (2, 4)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.core_recharge",
                                 description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recharges", type=int, default=2000, help="timed recharges per measurement (2000)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="PostgreSQL: measure the whole grid this many times over (its cells interleaved); "
                         "the verdict takes each cell's median, as one run on a shared machine can be 2x off")
    ap.add_argument("--warmup", type=int, default=200,
                    help="recharges before timing, also used to count transactions (200)")
    ap.add_argument("--processes", type=_processes, default=None,
                    help="PostgreSQL worker processes, comma-separated (2 when --threads is given)")
    ap.add_argument("--threads", type=_threads, default=None,
                    help="PostgreSQL threads per process, comma-separated (1,2,4 when --processes is given)")
    ap.add_argument("--grid", type=_grid, default=None,
                    help="PostgreSQL measurements as PROCESSESxTHREADS, comma-separated; default "
                         + ",".join(f"{p}x{t}" for p, t in DEFAULT_PG_GRID) + " unless --processes/--threads")
    ap.add_argument("--unsharded", action="store_true",
                    help="for comparison: keep the hot system accounts' totals in one row each, as "
                         "before migration 0004 (PostgreSQL measurements only)")
    ap.add_argument("--sqlite-threads", type=_threads, default=[1, 4],
                    help="SQLite thread counts, one process (1,4): writers are serialised")
    ap.add_argument("--pg-url", help="a PostgreSQL server to use (its 'postgres' database URL); "
                                     "default: start a throwaway one under /tmp")
    ap.add_argument("--pg-transport", choices=("socket", "tcp"), default="socket",
                    help="how the core and pgbench reach the throwaway server: its Unix socket "
                         "(default: the core and the database share this host) or 127.0.0.1")
    ap.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    ap.add_argument("--pgbench-seconds", type=int, default=15, help="pgbench -T (15)")
    ap.add_argument("--profile", metavar="PSTATS", nargs="?", const="", default=None,
                    help="also profile one thread of the PostgreSQL path (SQLite with --sqlite-only) "
                         "with cProfile; write the stats to PSTATS if given")
    ap.add_argument("--profile-recharges", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.recharges < 1 or args.warmup < 0:
        ap.error("--recharges must be >= 1 and --warmup >= 0")
    if args.grid is not None and (args.processes or args.threads):
        ap.error("--grid or --processes/--threads, not both")
    grid = args.grid or ([(p, t) for p in (args.processes or [2]) for t in (args.threads or [1, 2, 4])]
                         if args.processes or args.threads else DEFAULT_PG_GRID)
    if any(p * t > MAX_WORKERS for p, t in grid):
        ap.error(f"at most {MAX_WORKERS} threads in all processes of one measurement")

    started = dt.datetime.now(dt.UTC)
    info = machine()
    command = " ".join(["python -m benchmarks.core_recharge", *(sys.argv[1:] if argv is None else argv)])
    print(f"core_recharge {started:%Y-%m-%d %H:%M} UTC; {info['nproc']} CPUs ({info['cpu']}); "
          f"Python {info['python']}; SQLite {info['sqlite']}; commit {info.get('commit')}"
          f"{' + uncommitted core/ changes' if info.get('core_uncommitted_changes') else ''}")
    print(f"{args.recharges} timed recharges per measurement after {args.warmup} warm-up; "
          f"SQLite threads {args.sqlite_threads} (1 process); PostgreSQL processes x threads "
          f"{'skipped' if args.sqlite_only else ', '.join(f'{p}x{t}' for p, t in grid)}"
          f"{' (unsharded ledger: hot accounts in one row each, for comparison)' if args.unsharded else ''}",
          flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="rbench-bench-", dir="/tmp"))
    pg: BenchPg | None = None
    results: list[dict] = []
    baselines: dict[str, dict] = {}
    profile: dict | None = None
    failures: list[str] = []
    try:
        # ---------------------------------------------------------------- SQLite
        baselines["sqlite"] = sqlite_baseline(workdir / "baseline.db")
        print(f"baseline sqlite: {baselines['sqlite']['per_s']:.0f} commits/s", flush=True)
        for t in args.sqlite_threads:
            url = f"sqlite:///{workdir / f'core_t{t}.db'}"
            r = measure(url, "sqlite", 1, t, args.recharges, args.warmup, args.seed)
            results.append(r)
            print(f"sqlite     1x{t}: {r['per_s']:.1f} recharges/s, p50 {r['p50_ms']:.2f} ms, "
                  f"p95 {r['p95_ms']:.2f} ms, {r['client_cpu_ms']:.2f} ms CPU; {r['conservation']}", flush=True)

        # ------------------------------------------------------------ PostgreSQL
        if not args.sqlite_only:
            from hil.postgres import create_database, drop_database

            try:
                pg = bench_pg(args.pg_url, "rbench-bench-pg-", transport=args.pg_transport)
            except BenchSetupError as e:
                print(f"{e}\n(use --sqlite-only to skip it)", file=sys.stderr)
                return 2
            server_url, pgbench, server_cpu = pg.url, pg.pgbench, pg.server_cpu
            version = pg_sql(server_url, "SHOW server_version")[0][0]
            info["postgresql"] = version
            print(f"PostgreSQL {version} at {server_url}; pgbench ({args.pgbench_seconds} s)...", flush=True)
            baselines["postgresql"] = pgbench_baseline(pgbench, server_url, scale=10, clients=8, jobs=2,
                                                       seconds=args.pgbench_seconds)
            print(f"baseline postgresql: {baselines['postgresql']['per_s']:.0f} TPS", flush=True)
            for procs, t in [cell for _ in range(max(1, args.repeat)) for cell in grid]:
                name = f"rb_bench_p{procs}_t{t}_{os.getpid()}"
                drop_database(server_url, name)
                url = create_database(server_url, name)
                try:
                    r = measure(url, "postgresql", procs, t, args.recharges, args.warmup, args.seed,
                                settle=functools.partial(settle_pg, server_url, url), server_cpu=server_cpu,
                                unsharded=args.unsharded)
                finally:
                    drop_database(server_url, name)
                results.append(r)
                wal = r["wal_bytes_per_recharge"]
                print(f"postgresql {procs}x{t}: {r['per_s']:.1f} recharges/s, p50 {r['p50_ms']:.2f} ms, "
                      f"p95 {r['p95_ms']:.2f} ms, {r['client_cpu_ms']:.2f} ms CPU"
                      + (f", {wal:,.0f} bytes of WAL" if wal is not None else "") + f"; {r['conservation']}",
                      flush=True)
            if args.profile is not None:
                name = f"rb_bench_profile_{os.getpid()}"
                drop_database(server_url, name)
                url = create_database(server_url, name)
                try:
                    profile = profile_recharges(url, args.profile_recharges, args.seed,
                                                Path(args.profile) if args.profile else None)
                finally:
                    drop_database(server_url, name)
        elif args.profile is not None:
            profile = profile_recharges(f"sqlite:///{workdir / 'profile.db'}", args.profile_recharges,
                                        args.seed, Path(args.profile) if args.profile else None)
    except BenchFailure as e:
        failures.append(str(e))
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    for r in results:
        where = f"{r['store']} {r['processes']}x{r['threads']}"
        if not r["all_credited"]:
            failures.append(f"{where}: orders not credited: {r['not_credited']}")
        if not r["conservation_ok"]:
            failures.append(f"{where}: {r['conservation']}")

    print()
    print_table(results, baselines)
    for store in ("sqlite", "postgresql"):
        rs = [r for r in results if r["store"] == store]
        if rs:
            r = rs[0]
            print(f"{store}: {r['tx_per_recharge']:.1f} store transactions and {r['statements_per_recharge']:.1f}"
                  f" SQL statements per recharge, {r['autocommit_statements_per_recharge']:.1f} of them"
                  f" autocommit: {r['round_trips_per_recharge']:.1f} round trips with BEGIN and COMMIT"
                  " (counted by wrapping store.transaction and store.autocommit)")
    verdict, best_median = None, None
    pg = [r for r in results if r["store"] == "postgresql"]
    if pg:
        cells: dict[tuple[int, int], list[float]] = {}
        for r in pg:
            cells.setdefault((r["processes"], r["threads"]), []).append(r["per_s"])
        medians = {cell: statistics.median(rates) for cell, rates in cells.items()}
        (procs, t), best = max(medians.items(), key=lambda kv: kv[1])
        if len(cells[(procs, t)]) > 1:
            for (p_, t_), rates in cells.items():
                print(f"postgresql {p_}x{t_}: median {medians[(p_, t_)]:.1f}/s over {len(rates)} runs "
                      f"({min(rates):.1f} to {max(rates):.1f})")
        verdict, best_median = ("PASS" if best >= TARGET_PG_PER_S else "FAIL"), best
        runs = f" (median of {len(cells[(procs, t)])} runs)" if len(cells[(procs, t)]) > 1 else ""
        print(f"target: >= {TARGET_PG_PER_S:.0f} recharges/s on PostgreSQL: best {best:.1f}/s{runs} at "
              f"{procs} process(es) x {t} thread(s) -> {verdict}")
    if profile is not None:
        print_profile(profile)
    for f in failures:
        print(f"FAILED: {f}", file=sys.stderr)

    if args.json:
        out = {
            "benchmark": "core_recharge", "started_utc": started.isoformat(timespec="seconds"),
            "command": command, "machine": info, "args": {k: v for k, v in vars(args).items()},
            "baselines": baselines,
            "results": [{**r, "baseline_per_s": baselines.get(r["store"], {}).get("per_s"),
                         "ratio": (r["per_s"] / baselines[r["store"]]["per_s"]) if r["store"] in baselines
                         else None} for r in results],
            "target": {"postgresql_per_s": TARGET_PG_PER_S, "verdict": verdict, "best_median_per_s": best_median},
            "profile": profile, "failures": failures,
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
