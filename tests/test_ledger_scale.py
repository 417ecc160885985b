"""The ledger under concurrency: the system accounts every card payment posts to (gateway
clearing, held) keep their totals in shard rows, so concurrent captures on one gateway do not
queue on one row lock; and the conservation check still proves every total, shards included."""
import threading
import time
import zlib

import pytest

from core import ledger
from core.money import Money
from core.store import open_store
from support import race

GW, HELD = "gw:satim:DZD", "held:DZD"


def dzd(minor: int) -> Money:
    return Money(minor, "DZD")


def pay(tx, order: str, recipient: str, minor: int) -> set[str]:
    """What one card recharge posts: the capture and the credit, in one batch."""
    return (ledger.Batch(tx, 1)
            .add(f"capture:{order}", GW, HELD, dzd(minor), kind="capture", order_id=None)
            .add(f"credit:{order}", HELD, ledger.sub_main(recipient), dzd(minor), kind="credit", order_id=None)
            .post())


def orders_in_distinct_shards(n: int) -> list[str]:
    """``n`` order ids whose transactions land in ``n`` different shards."""
    out, seen = [], set()
    for i in range(10_000):
        shard = zlib.crc32(f"capture:o{i}".encode()) % ledger.SHARDS
        if shard not in seen:
            seen.add(shard)
            out.append(f"o{i}")
            if len(out) == n:
                return out
    raise AssertionError("not enough distinct shards")


def lock_waiters(url: str) -> int:
    """Sessions of this database waiting on a lock (a row lock is a wait on a transaction)."""
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock'").fetchone()[0]


def hold_open(store, post, parties: int, release: threading.Event, errors: list):
    """Threads that each post in a transaction, then keep it open (locks held) until released."""
    arrived = threading.Barrier(parties + 1)

    def run(i: int) -> None:
        try:
            with store.transaction() as tx:
                post(tx, i)
                arrived.wait(timeout=20)
                release.wait(timeout=20)
        except Exception as e:       # noqa: BLE001 - the test reads them
            errors.append(e)
            arrived.abort()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(parties)]
    for t in threads:
        t.start()
    return arrived, threads


def test_eight_concurrent_captures_on_one_gateway_hold_eight_different_rows(pg_url):
    s = open_store(pg_url, pool_size=12)
    with s.transaction() as tx:           # the accounts exist (their first creation is serialised)
        pay(tx, "warm", "2135500", 100)
    orders = orders_in_distinct_shards(8)
    release, errors = threading.Event(), []
    arrived, threads = hold_open(s, lambda tx, i: pay(tx, orders[i], f"21355{i:02d}", 100 + i),
                                 8, release, errors)
    try:
        # All 8 transactions have posted to gw:satim:DZD and held:DZD and are still open: had
        # they shared a row, 7 would be blocked before the barrier and it would time out.
        arrived.wait(timeout=20)
        assert lock_waiters(pg_url) == 0
    finally:
        release.set()
        for t in threads:
            t.join()
    assert not errors, errors
    with s.transaction() as tx:
        rows = tx.all("SELECT shard, debits, credits FROM accounts_shards WHERE account = ?", (GW,))
        assert len(rows) == 9                             # 8 + the warm-up's
        assert ledger.liability_balance(tx, GW) == -(100 + sum(100 + i for i in range(8)))
        assert tx.one("SELECT debits, credits FROM accounts WHERE id = ?", (GW,)) == {"debits": 0, "credits": 0}
    assert ledger.conservation_check(s, {("satim", "DZD"): 100 + sum(100 + i for i in range(8))}).ok
    s.close()


def test_the_method_sees_a_queue_on_an_unsharded_account(pg_url):
    """Control: two float deposits credit the same plain account (a kiosk agent's float, one
    lockable row because decisions read it): the second waits for the first's COMMIT."""
    s = open_store(pg_url, pool_size=4)
    with s.transaction() as tx:
        ledger.transfer(tx, "float:0", "bank:DZD", "agent:a1:DZD", dzd(1), kind="float", order_id=None, at_ms=0)
    release, errors = threading.Event(), []
    arrived, threads = hold_open(s, lambda tx, i: ledger.transfer(
        tx, f"float:{i + 1}", "bank:DZD", "agent:a1:DZD", dzd(5), kind="float", order_id=None, at_ms=0),
        2, release, errors)
    try:
        deadline = time.monotonic() + 10
        while lock_waiters(pg_url) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lock_waiters(pg_url) >= 1
        assert arrived.n_waiting == 1                     # only one got past its upsert
    finally:
        release.set()
        arrived.abort()
        for t in threads:
            t.join()
    s.close()


def test_threads_posting_to_one_gateway_spread_over_shards(store_url):
    s = open_store(store_url)
    per_thread, threads_n = 25, 8

    def work(k: int) -> None:
        for j in range(per_thread):
            s.run(lambda tx, j=j: pay(tx, f"t{k}-{j}", f"2135{k:02d}0", 10 + j))
    race(work, threads_n)
    total = threads_n * sum(10 + j for j in range(per_thread))
    with s.transaction() as tx:
        gw_rows = tx.all("SELECT shard, debits, credits FROM accounts_shards WHERE account = ?", (GW,))
        held_rows = tx.all("SELECT shard, debits, credits FROM accounts_shards WHERE account = ?", (HELD,))
        assert len(gw_rows) >= ledger.SHARDS // 2                       # 200 transactions, spread
        assert sum(int(r["debits"]) for r in gw_rows) == total
        # A recharge's capture and credit land in the same shard: each held shard nets to zero.
        assert all(int(r["debits"]) == int(r["credits"]) for r in held_rows)
        assert {r["shard"] for r in held_rows} == {r["shard"] for r in gw_rows}
        assert ledger.liability_balance(tx, GW) == -total
        with pytest.raises(ValueError, match="gw:satim:DZD is sharded: its balance is for reports"):
            ledger.liability_balance(tx, GW, lock=True)
        assert ledger.liability_balance(tx, HELD) == 0
        view = {r["id"]: int(r["credits"]) - int(r["debits"]) for r in
                tx.all("SELECT id, debits, credits FROM account_totals")}
        assert view == {r["id"]: ledger.liability_balance(tx, r["id"]) for r in tx.all("SELECT id FROM accounts")}
        assert view[GW] == -total and view["sub:2135000:main"] == sum(10 + j for j in range(per_thread))
        # Subscriber accounts are never sharded: their one row is what the cap check locks.
        assert tx.one("SELECT COUNT(*) AS n FROM accounts_shards WHERE account LIKE 'sub:%'")["n"] == 0
    assert ledger.conservation_check(s, {("satim", "DZD"): total}).ok
    s.close()


def test_conservation_catches_tampering_with_shards_and_totals(store_url):
    s = open_store(store_url)
    for i in range(20):
        s.run(lambda tx, i=i: pay(tx, f"o{i}", "2135501", 100))
    net = {("satim", "DZD"): 2000}
    assert ledger.conservation_check(s, net).ok
    with s.transaction() as tx:
        shard = tx.one("SELECT MIN(shard) AS s FROM accounts_shards WHERE account = ?", (HELD,))["s"]
        first, other = (tx.one("SELECT MIN(shard) AS a, MAX(shard) AS b FROM accounts_shards"
                               " WHERE account = ?", (GW,)).values())
    assert first != other

    def tamper(sql: str, params=(), *more):
        with s.transaction() as tx:
            tx.execute(sql, params)
            for extra_sql, extra_params in zip(more[::2], more[1::2]):
                tx.execute(extra_sql, extra_params)
        return ledger.conservation_check(s, net)

    report = tamper("UPDATE accounts_shards SET credits = credits + 5 WHERE account = ? AND shard = ?", (HELD, shard))
    assert any(e.startswith("account held:DZD: totals") and "differ from its transfers" in e for e in report.errors)
    assert any("DZD: debits 4000 != credits 4005" in e for e in report.errors)
    assert "captured 2000 != credited 2000 + refunded 0 + held 5" in report.summary()
    assert tamper("UPDATE accounts_shards SET credits = credits - 5 WHERE account = ? AND shard = ?",
                  (HELD, shard)).ok
    # Where within one account its totals sit is not part of the ledger's meaning.
    move = "UPDATE accounts_shards SET debits = debits + ? WHERE account = ? AND shard = ?"
    assert tamper(move, (7, GW, other), move, (-7, GW, first)).ok
    # A shard row taken away, the account's own row changed, a shard in another currency.
    with s.transaction() as tx:
        row = tx.one("SELECT * FROM accounts_shards WHERE account = ? AND shard = ?", (GW, other))
    report = tamper("DELETE FROM accounts_shards WHERE account = ? AND shard = ?", (GW, other))
    assert any(e.startswith("account gw:satim:DZD: totals") for e in report.errors)
    assert any("gateway satim says it captured 2000 DZD net; our clearing says" in e for e in report.errors)
    assert tamper("INSERT INTO accounts_shards (account, shard, currency, debits, credits) VALUES (?, ?, ?, ?, ?)",
                  (row["account"], row["shard"], row["currency"], row["debits"], row["credits"])).ok
    report = tamper("UPDATE accounts SET debits = debits + 7 WHERE id = ?", (GW,))
    assert any(e.startswith("account gw:satim:DZD: totals 2007/0") for e in report.errors)
    assert tamper("UPDATE accounts SET debits = debits - 7 WHERE id = ?", (GW,)).ok
    report = tamper("UPDATE accounts_shards SET currency = 'EGP' WHERE account = ? AND shard = ?", (GW, other))
    assert any(f"shard {other} of account gw:satim:DZD is in EGP, its account in DZD" in e for e in report.errors)
    assert tamper("UPDATE accounts_shards SET currency = 'DZD' WHERE account = ? AND shard = ?", (GW, other)).ok
    # A transfer naming an account that has no row: SQLite's foreign key refuses it; PostgreSQL
    # has no key there (migration 0013), and the check names it.
    stray = ("INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, order_id, at_ms)"
             " VALUES ('stray', ?, 'sub:nobody:main', 5, 'DZD', 'credit', NULL, 0)")
    if s.dialect == "sqlite":
        with pytest.raises(Exception, match="FOREIGN KEY"):
            tamper(stray, (GW,))
    else:
        report = tamper(stray, (GW,))
        assert "transfer stray (gw:satim:DZD -> sub:nobody:main) names an account that does not exist" in report.errors
    s.close()


def test_sharded_accounts_keep_their_currency(store_url):
    s = open_store(store_url)
    with pytest.raises(ValueError, match="held:EGP is not in DZD"), s.transaction() as tx:
        ledger.transfer(tx, "capture:x", GW, "held:EGP", dzd(5), kind="capture", order_id=None, at_ms=0)
    with s.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM transfers")["n"] == 0
        ledger.transfer(tx, "capture:y", GW, HELD, dzd(5), kind="capture", order_id=None, at_ms=0)
    assert ledger.sharded(GW) and ledger.sharded(HELD) and ledger.sharded("op:DZ:bonus:DZD")
    assert not any(ledger.sharded(a) for a in ("sub:2135:main", "agent:a:DZD", "op:DZ:revenue:DZD", "bank:DZD"))
    s.close()
