"""``rbench torture``: a fixed range of seeds passes, a seed replays exactly, the invariants
catch a core that loses money or issues a token twice (and print the replay command), and
the fault-injecting store does what each fault says."""
import argparse
import logging
import random
from collections import Counter

import pytest

from core import vending
from core.payments import Payments
from core.store import open_store
from core.store.base import Retryable
from hil.torture import add_parser, parse_seeds, run_seed
from hil.torture.faults import CoreCrash, FaultPlan, FaultyStore, InjectedDbError

CI_SEEDS = range(1, 31)


@pytest.fixture(autouse=True)
def quiet_core():
    logging.getLogger("rbench").setLevel(logging.CRITICAL)     # faults make the core log by design
    yield
    logging.getLogger("rbench").setLevel(logging.NOTSET)


def rbench_torture(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["torture", *argv])
    return args.run(args)


def test_the_ci_range_of_seeds_passes_and_really_injects_faults():
    # (how many seeds a minute is a benchmark figure, in docs/benchmarks.md, not a timed test:
    # this range took 10.8 s on a quiet machine and 39.8 s on a crowded one)
    totals, failed = Counter(), []
    for seed in CI_SEEDS:
        r = run_seed(seed)
        totals.update(r.counts)
        if not r.ok:
            failed.append(r.line())
    assert not failed, "\n".join(failed)
    # the range must exercise every fault class and the paths they lead to, or it proves little
    for what in ("db_errors", "restarts", "crashes", "gateway_timeouts", "callbacks_lost", "client_retries",
                 "duplicate_callbacks", "ussd_drops", "credited", "refunded", "refused", "failed"):
        assert totals[what] > 0, f"no {what} in seeds {CI_SEEDS.start}..{CI_SEEDS.stop - 1}: {dict(totals)}"


def test_a_seed_replays_exactly():
    a, b = run_seed(7, steps=80), run_seed(7, steps=80)
    assert a.digest == b.digest and a.counts == b.counts and a.plan == b.plan
    assert run_seed(8, steps=80).digest != a.digest


def test_a_core_that_forgets_refunds_is_caught_and_the_replay_command_printed(monkeypatch, capsys):
    monkeypatch.setattr(Payments, "_refunded", lambda self, order_id: self.get(order_id))
    # the CI range: the test above makes sure its seeds refund (which seed does moves with the
    # number of statements a flow takes, since database faults are injected by count)
    assert rbench_torture("--seeds", f"{CI_SEEDS.start}..{CI_SEEDS.stop - 1}", "--quiet") == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "refund" in out
    replay = [line.split("replay: ", 1)[1] for line in out.splitlines() if "replay: " in line][0]
    seed = int(replay.split("--seeds ")[1].split("..")[0])
    assert replay == f"rbench torture --seeds {seed}..{seed} --steps 120"
    again = run_seed(seed)                                    # the command replays the same failure
    assert not again.ok and any("refund" in v for v in again.violations)


def test_a_core_that_loses_callbacks_and_never_sweeps_is_caught(monkeypatch):
    monkeypatch.setattr(Payments, "reconcile_pending", lambda self, older_than_s=60.0, limit=500: 0)
    results = [run_seed(seed, steps=120) for seed in range(1, 16)]
    bad = [v for r in results for v in r.violations]
    assert any("captured" in v and "but the order is" in v for v in bad), bad[:5]


def test_a_vend_that_reuses_a_tid_is_caught(monkeypatch):
    fulfil = vending.VendPurpose.fulfil

    def forgetful(self, batch, order):
        execute = batch.tx.execute
        batch.tx.execute = lambda sql, params=(): 0 if sql.startswith("UPDATE meters SET last_tid") \
            else execute(sql, params)
        fulfil(self, batch, order)
    monkeypatch.setattr(vending.VendPurpose, "fulfil", forgetful)
    bad = [v for seed in range(1, 8) for v in run_seed(seed).violations]
    assert any("STS TIDs" in v and "do not grow" in v for v in bad), bad[:5]


def test_a_core_that_raises_a_bug_is_reported_with_where(monkeypatch):
    def broken(self, gateway, gateway_ref):
        raise KeyError("a bug")
    monkeypatch.setattr(Payments, "on_gateway_notify", broken)
    r = run_seed(3, steps=60)
    assert not r.ok and any("the core raised KeyError" in v and "test_torture.py" in v for v in r.violations)


def test_seeds_and_steps_are_checked(capsys):
    assert list(parse_seeds("3..5")) == [3, 4, 5] and list(parse_seeds("٧")) == [7]
    assert list(parse_seeds("۱..۲")) == [1, 2]
    assert rbench_torture("--seeds", "9..2") == 2
    assert "first seed not above the last" in capsys.readouterr().err
    assert rbench_torture("--seeds", "a-b") == 2
    assert "expected A..B" in capsys.readouterr().err
    assert rbench_torture("--seeds", "1", "--steps", "0") == 2
    assert rbench_torture("--seeds", "4..5", "--steps", "30") == 0
    out = capsys.readouterr().out
    assert "seed 4: ok" in out and "2 seeds in" in out and "seeds/minute" in out


@pytest.mark.postgres
def test_seeds_on_postgresql(pg_server_url):
    for seed in (1, 2, 5):
        r = run_seed(seed, steps=100, db=pg_server_url)
        assert r.ok, r.line()
        assert r.command.endswith(f"--db {pg_server_url}")


def test_fault_plans_are_drawn_from_the_seed():
    assert FaultPlan.draw(5, 100) == FaultPlan.draw(5, 100) != FaultPlan.draw(6, 100)
    plans = [FaultPlan.draw(s, 100) for s in range(60)]
    assert any(p.db_error_rate == 0 for p in plans) and any(p.db_error_rate > 0 for p in plans)   # swarm
    assert "db_error_rate" in next(p for p in plans if p.db_error_rate).describe()


# -- the fault-injecting store ---------------------------------------------------------------------
class Scripted(random.Random):
    """Draws from a list (0.0 hits, 1.0 misses), then misses for ever."""

    def __init__(self, *draws: float) -> None:
        super().__init__(0)
        self.draws = list(draws)

    def random(self) -> float:
        return self.draws.pop(0) if self.draws else 1.0


@pytest.fixture
def store(tmp_path):
    inner = open_store(f"sqlite:///{tmp_path / 'f.db'}")
    with inner.transaction() as tx:
        tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    yield inner
    inner.close()


def rows(store):
    with store.autocommit() as tx:
        return [r["k"] for r in tx.all("SELECT k FROM t ORDER BY k")]


def faulty_with(store, *draws: float) -> FaultyStore:
    return FaultyStore(store, Scripted(*draws), 0.5)


def test_a_failed_commit_rolls_back_and_a_lost_ack_stays_committed(store):
    # draws in a transaction: BEGIN, each statement, COMMIT, the answer after COMMIT
    with pytest.raises(InjectedDbError, match="COMMIT failed"):
        with faulty_with(store, 1.0, 1.0, 0.0).transaction() as tx:
            tx.execute("INSERT INTO t VALUES ('b')")
    assert rows(store) == []
    with pytest.raises(InjectedDbError, match="answer was lost"):
        with faulty_with(store, 1.0, 1.0, 1.0, 0.0).transaction() as tx:
            tx.execute("INSERT INTO t VALUES ('c')")
    assert rows(store) == ["c"]
    with pytest.raises(InjectedDbError, match="statement failed"):
        with faulty_with(store, 0.0).autocommit() as tx:
            tx.execute("INSERT INTO t VALUES ('d')")          # never ran
    with pytest.raises(InjectedDbError, match="answer lost"):
        with faulty_with(store, 1.0, 0.0).autocommit() as tx:
            tx.execute("INSERT INTO t VALUES ('e')")          # ran, then its answer was lost
    assert rows(store) == ["c", "e"]
    quiet = faulty_with(store, 0.0, 0.0, 0.0)
    quiet.enabled = False                                      # off: nothing is drawn or injected
    with quiet.transaction() as tx:
        tx.execute("INSERT INTO t VALUES ('f')")
    assert rows(store) == ["c", "e", "f"] and quiet.injected == 0


def test_a_conflict_at_begin_is_retried_by_the_store(store):
    faulty = faulty_with(store, 0.0, 0.0)            # BEGIN hit, as a retryable conflict
    assert faulty.run(lambda tx: tx.execute("INSERT INTO t VALUES ('x')")) == 1
    assert rows(store) == ["x"] and faulty.injected == 1
    stuck = faulty_with(store, *[0.0] * 6)            # a conflict at every BEGIN
    with pytest.raises(Retryable):
        stuck.run(lambda tx: tx.execute("INSERT INTO t VALUES ('y')"), attempts=3)
    assert rows(store) == ["x"]


def test_a_crash_mid_transaction_rolls_back_and_the_core_stays_dead(store):
    faulty = FaultyStore(store, random.Random(0), 0.0)
    faulty.arm_crash(after_statements=2)
    with pytest.raises(CoreCrash):
        with faulty.transaction() as tx:
            tx.execute("INSERT INTO t VALUES ('p')")
            tx.execute("INSERT INTO t VALUES ('q')")
    assert rows(store) == [] and faulty.crashed
    with pytest.raises(CoreCrash):
        with faulty.autocommit() as tx:
            tx.one("SELECT 1 AS x")
    with pytest.raises(CoreCrash):
        with faulty.transaction():
            pass
