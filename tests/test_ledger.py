"""The ledger and the stores: migrations, transfers at most once, the conservation check."""
import threading

import pytest

from core import ledger
from core.money import Money
from core.store import open_store
from core.store.base import migrations, split_sql


def test_migrations_apply_once(store_url):
    s = open_store(store_url)
    assert s.migrate() == []                     # applied on open; a second run does nothing
    with s.transaction() as tx:
        applied = [r["version"] for r in tx.all("SELECT version FROM schema_migrations ORDER BY version")]
    assert applied == [version for version, _, _ in migrations(s.dialect)] and applied[0] == 1
    s.close()


def test_a_transfer_posts_once(store_url):
    s = open_store(store_url)
    m = Money(500, "DZD")
    with s.transaction() as tx:
        assert ledger.transfer(tx, "credit:o1", "held:DZD", "sub:1:main", m, kind="credit", order_id="o1", at_ms=1)
        assert not ledger.transfer(tx, "credit:o1", "held:DZD", "sub:1:main", m, kind="credit", order_id="o1", at_ms=2)
        assert ledger.liability_balance(tx, "sub:1:main") == 500
        assert ledger.liability_balance(tx, "held:DZD") == -500
    s.close()


def test_concurrent_posts_of_one_event_land_once(store_url):
    s = open_store(store_url)
    barrier = threading.Barrier(6)

    def post():
        barrier.wait()
        s.run(lambda tx: ledger.transfer(tx, "capture:o9", "gw:x:DZD", "held:DZD", Money(700, "DZD"),
                                         kind="capture", order_id=None, at_ms=1))
    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with s.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM transfers")["n"] == 1
        assert ledger.liability_balance(tx, "held:DZD") == 700
    s.close()


def test_a_batch_with_a_repeated_event_adds_only_the_new_ones_totals(store_url):
    s = open_store(store_url)
    dzd = lambda minor: Money(minor, "DZD")       # noqa: E731
    with s.transaction() as tx:
        ledger.transfer(tx, "capture:o1", "gw:satim:DZD", "held:DZD", dzd(900), kind="capture", order_id="o1", at_ms=1)
    with s.transaction() as tx:       # a retry: the capture again, with the credit that is new
        posted = (ledger.Batch(tx, 2).add("capture:o1", "gw:satim:DZD", "held:DZD", dzd(900), kind="capture", order_id="o1")
                  .add("credit:o1", "held:DZD", "sub:1:main", dzd(900), kind="credit", order_id="o1").post())
        assert posted == {"credit:o1"}
        assert ledger.liability_balance(tx, "held:DZD") == 0
        assert ledger.liability_balance(tx, "sub:1:main") == 900
        assert ledger.liability_balance(tx, "gw:satim:DZD") == -900
        assert not ledger.Batch(tx, 3).add("credit:o1", "held:DZD", "sub:1:main", dzd(900), kind="credit",
                                           order_id="o1").post()      # all seen: nothing changes
        assert ledger.liability_balance(tx, "sub:1:main") == 900
    assert ledger.conservation_check(s).ok
    s.close()


def test_a_batch_tells_the_balances_it_left(store_url):
    """What a credited notice says without reading again: the plain accounts' credits - debits
    as the posting left them (sharded ones are not told: nothing decides on their balance)."""
    s = open_store(store_url)
    dzd = lambda minor: Money(minor, "DZD")       # noqa: E731
    with s.transaction() as tx:
        ledger.transfer(tx, "opening:1", "op:DZ:revenue:DZD", "sub:1:main", dzd(500), kind="opening", order_id=None, at_ms=1)
    with s.transaction() as tx:
        batch = (ledger.Batch(tx, 2).add("capture:o1", "gw:satim:DZD", "held:DZD", dzd(900), kind="capture", order_id="o1")
                 .add("credit:o1", "held:DZD", "sub:1:main", dzd(900), kind="credit", order_id="o1"))
        batch.post()
        told = batch.balances
        assert ledger.liability_balance(tx, "sub:1:main") == 1400
    assert told == {"sub:1:main": 1400}
    with s.transaction() as tx:           # a retry with one new transfer: told by the second statement
        batch = (ledger.Batch(tx, 3).add("credit:o1", "held:DZD", "sub:1:main", dzd(900), kind="credit", order_id="o1")
                 .add("credit:o2", "op:DZ:revenue:DZD", "sub:1:main", dzd(100), kind="credit", order_id="o2"))
        assert batch.post() == {"credit:o2"}
    assert batch.balances == {"sub:1:main": 1500, "op:DZ:revenue:DZD": -600}
    s.close()


@pytest.mark.parametrize("debit, credit", [("held:DZD", "sub:1:main"), ("gw:satim:DZD", "held:EGP")])
def test_a_batch_into_an_account_of_another_currency_is_refused_whole(store_url, debit, credit):
    s = open_store(store_url)
    egp = Money(100, "EGP")
    with s.transaction() as tx:
        ledger.transfer(tx, "open:1", "op:DZ:opening:EGP", "sub:1:main", egp, kind="opening", order_id=None, at_ms=1)
    with pytest.raises(ValueError, match="is not in DZD|not in the transfer's currency"):
        with s.transaction() as tx:
            ledger.transfer(tx, "t:1", debit, credit, Money(100, "DZD"), kind="credit", order_id=None, at_ms=2)
    with s.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM transfers")["n"] == 1
        assert ledger.liability_balance(tx, "sub:1:main") == 100
    s.close()


def test_conservation_catches_tampering(store_url):
    s = open_store(store_url)
    with s.transaction() as tx:
        ledger.transfer(tx, "capture:o1", "gw:satim:DZD", "held:DZD", Money(100, "DZD"),
                        kind="capture", order_id="o1", at_ms=1)
    report = ledger.conservation_check(s)
    assert not report.ok and "held 100" in report.summary()     # captured, no paid order holds it
    with s.transaction() as tx:
        tx.execute("UPDATE accounts SET credits = credits + 5 WHERE id = 'held:DZD'")
    report = ledger.conservation_check(s)
    assert any("differ from its transfers" in e for e in report.errors)
    assert any("debits 100 != credits 105" in e for e in report.errors)
    assert not ledger.conservation_check(s, {("satim", "DZD"): 90}).ok
    s.close()


def test_transfer_refuses_non_positive_amounts(sqlite_url):
    s = open_store(sqlite_url)
    with pytest.raises(ValueError):
        with s.transaction() as tx:
            ledger.transfer(tx, "x", "a", "b", Money(0, "DZD"), kind="k", order_id=None, at_ms=0)
    s.close()


def test_rollback_on_error_leaves_nothing(store_url):
    s = open_store(store_url)
    with pytest.raises(RuntimeError):
        with s.transaction() as tx:
            ledger.transfer(tx, "t1", "a", "b", Money(5, "EGP"), kind="k", order_id=None, at_ms=0)
            raise RuntimeError("crash mid-transaction")
    with s.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM transfers")["n"] == 0
    s.close()


def test_split_sql():
    assert split_sql("-- c\nCREATE TABLE a (x INT);\nCREATE INDEX i ON a (x);\n") == [
        "CREATE TABLE a (x INT)", "CREATE INDEX i ON a (x)"]


def test_split_sql_keeps_function_bodies_whole():
    body = ("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n    -- inside\n"
            "    PERFORM 1;\n    RETURN 2;\nEND $$;")
    assert split_sql("-- head\n" + body + "\nDROP TABLE a;\n") == [body[:-1], "DROP TABLE a"]


def test_dialect_migrations_apply_to_their_dialect_only():
    names = {d: {(v, n) for v, n, _ in migrations(d)} for d in ("sqlite", "postgresql")}
    assert (9, "otp_reserve") in names["postgresql"] and (9, "otp_reserve") not in names["sqlite"]
    assert names["sqlite"] < names["postgresql"]


def test_bad_url():
    with pytest.raises(ValueError, match="expected sqlite:///PATH or postgresql://"):
        open_store("mysql://x")
