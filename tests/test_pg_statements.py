"""The PostgreSQL store's statements go through libpq with psycopg's adapters, not a cursor:
the values must come and go exactly as the cursor would have them, and the errors must be
psycopg's own classes."""
from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import psycopg
import pytest
from psycopg.types.json import Jsonb

from core.store import pg_statements
from core.store.base import UniqueViolation
from core.store.pg_statements import Statements, numbered
from core.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def conn(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v BIGINT, f BOOLEAN, d NUMERIC, j JSONB,"
                  " a TEXT[], ts TIMESTAMPTZ)")
        yield c


@pytest.fixture
def store(pg_url):
    s = PostgresStore(pg_url, pool_size=2)
    with s.transaction() as tx:
        tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    yield s
    s.close()


def _prepared(conn) -> int:
    return conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE '\\_rb\\_%'").fetchone()[0]


def test_placeholders_are_numbered_in_order():
    assert numbered("SELECT ? + ?, ?") == b"SELECT $1 + $2, $3"
    assert numbered("SELECT '100%'") == b"SELECT '100%'"        # no %-escaping as the cursor needs


@pytest.mark.parametrize("value", [
    0, 1, -32768, 2**31, -(2**63), 2**63 - 1, 10**30, True, False, None, "", "نص عربي و فارسی ۱۲۳",
    Decimal("12.345"), Jsonb({"a": [1, "ب"]}), ["x", "y"], dt.datetime(2026, 11, 22, 7, 0, tzinfo=dt.UTC),
])
def test_a_value_comes_back_as_the_cursor_gives_it(conn, value):
    st = Statements(conn)
    for _ in range(pg_statements.PREPARE_AFTER + 2):            # unnamed, then prepared
        got = st.first(st.run("SELECT ? AS x", (value,)))
        expected = conn.execute("SELECT %s AS x", (value,)).fetchone()
        assert got == expected


def test_a_row_of_every_column_type_reads_as_the_cursor_reads_it(conn):
    st = Statements(conn)
    row = ("k1", 2**40, True, Decimal("1.50"), Jsonb({"n": 1}), ["a", None],
           dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert st.rowcount(st.run("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?)", row)) == 1
    for _ in range(4):
        assert st.rows(st.run("SELECT * FROM t WHERE k = ?", ("k1",))) == conn.execute(
            "SELECT * FROM t WHERE k = %s", ("k1",)).fetchall()


def test_rowcount_is_zero_for_a_statement_that_touched_nothing(conn):
    st = Statements(conn)
    st.run("INSERT INTO t (k) VALUES (?)", ("a",))
    assert st.rowcount(st.run("INSERT INTO t (k) VALUES (?) ON CONFLICT DO NOTHING", ("a",))) == 0
    assert st.rowcount(st.run("UPDATE t SET v = 1 WHERE k = ?", ("none",))) == 0
    assert st.rowcount(st.run("UPDATE t SET v = 1 WHERE k = ?", ("a",))) == 1
    assert st.first(st.run("SELECT * FROM t WHERE k = ?", ("none",))) is None
    assert st.rows(st.run("SELECT * FROM t WHERE k = ?", ("none",))) == []


def test_a_statement_is_prepared_after_its_first_runs_and_only_up_to_the_cap(conn, monkeypatch):
    st = Statements(conn)
    for _ in range(pg_statements.PREPARE_AFTER):
        st.run("SELECT ? AS x", (1,))
    assert _prepared(conn) == 0
    st.run("SELECT ? AS x", (1,))
    assert _prepared(conn) == 1
    st.run("SELECT ? AS x", ("text",))            # other parameter types: a statement of its own
    st.run("SELECT ? AS x", ("text",))
    st.run("SELECT ? AS x", ("text",))
    assert _prepared(conn) == 2
    monkeypatch.setattr(pg_statements, "MAX_PREPARED", 2)
    for _ in range(5):
        assert st.first(st.run("SELECT ? + 1 AS x", (1,))) == (2,)
    assert _prepared(conn) == 2                   # the cap: the rest run unnamed


def test_errors_are_psycopg_classes(conn):
    st = Statements(conn)
    st.run("INSERT INTO t (k) VALUES (?)", ("a",))
    with pytest.raises(psycopg.errors.UniqueViolation):
        st.run("INSERT INTO t (k) VALUES (?)", ("a",))
    with pytest.raises(psycopg.errors.SyntaxError):
        st.run("SELEC ?", (1,))
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        st.run("SELECT CAST(? AS INTEGER)", ("seven",))
    assert st.first(st.run("SELECT ? AS x", ("still usable",))) == ("still usable",)


def test_the_store_maps_unique_violations_and_keeps_going(store):
    with store.autocommit() as tx:
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 1))
        with pytest.raises(UniqueViolation):
            tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("a", 2))
        assert tx.one("SELECT v FROM t WHERE k = ?", ("a",)) == {"v": 1}


def test_a_transaction_whose_error_was_swallowed_does_not_pretend_to_commit(store):
    with pytest.raises(psycopg.errors.InFailedSqlTransaction), store.transaction() as tx:
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("kept?", 1))
        try:
            tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("bad", None))    # NOT NULL
        except psycopg.errors.NotNullViolation:
            pass
    with store.autocommit() as tx:
        assert tx.one("SELECT count(*) AS n FROM t")["n"] == 0
        tx.execute("INSERT INTO t (k, v) VALUES (?, ?)", ("after", 1))   # the connection is fine


def test_threads_wait_for_the_server_without_holding_the_gil(store):
    """libpq's blocking calls release the GIL: two threads' queries run in the server at once
    (their server-side intervals overlap; a held GIL would run them one after the other)."""
    barrier = threading.Barrier(2)
    spans: list[tuple] = []

    def sleep() -> None:
        with store.autocommit() as tx:
            tx.one("SELECT 1 AS ready")                       # connected before the barrier
            barrier.wait(timeout=30)
            row = tx.one("SELECT clock_timestamp() AS t0, pg_sleep(?) AS s, clock_timestamp() AS t1", (0.5,))
            spans.append((row["t0"], row["t1"]))

    threads = [threading.Thread(target=sleep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(spans) == 2
    assert max(t0 for t0, _ in spans) < min(t1 for _, t1 in spans)
