"""The PostgreSQL store's connections: one per thread, nesting kept apart, broken ones replaced."""
from __future__ import annotations

import gc
import threading
import time

import psycopg
import pytest

from core.store.postgres import PostgresStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pg_url):
    s = PostgresStore(pg_url, pool_size=3)
    with s.transaction() as tx:
        tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    yield s
    s.close()


def _backend_pid(store: PostgresStore) -> int:
    with store.autocommit() as tx:
        return tx.one("SELECT pg_backend_pid() AS pid")["pid"]


def test_a_thread_keeps_its_connection(store):
    pid = _backend_pid(store)
    assert _backend_pid(store) == pid
    with store.transaction() as tx:
        assert tx.one("SELECT pg_backend_pid() AS pid")["pid"] == pid


def test_a_nested_transaction_is_a_transaction_of_its_own(store):
    with store.transaction() as outer:
        outer.execute("INSERT INTO t (k, v) VALUES ('outer', 1)")
        outer_pid = outer.one("SELECT pg_backend_pid() AS pid")["pid"]
        with store.transaction() as inner:
            assert inner.one("SELECT pg_backend_pid() AS pid")["pid"] != outer_pid
            inner.execute("INSERT INTO t (k, v) VALUES ('inner', 2)")
            # the outer transaction's row is not visible to the inner one: not a savepoint
            assert inner.one("SELECT count(*) AS n FROM t WHERE k = 'outer'")["n"] == 0
        # the inner one committed on its own
        assert outer.one("SELECT count(*) AS n FROM t WHERE k = 'inner'")["n"] == 1
    with store.autocommit() as tx:
        assert tx.one("SELECT count(*) AS n FROM t")["n"] == 2


def test_a_failed_transaction_rolls_back_and_the_connection_is_reused(store):
    pid = _backend_pid(store)
    with pytest.raises(ZeroDivisionError):
        with store.transaction() as tx:
            tx.execute("INSERT INTO t (k, v) VALUES ('x', 1)")
            1 / 0
    with store.autocommit() as tx:
        assert tx.one("SELECT count(*) AS n FROM t")["n"] == 0
    assert _backend_pid(store) == pid


def test_a_broken_connection_is_replaced(store, pg_url):
    pid = _backend_pid(store)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError):
        _backend_pid(store)
    assert _backend_pid(store) != pid      # the next use connects again


def test_threads_beyond_the_limit_share_the_pool_and_all_close(store, pg_url):
    pids: list[int] = []
    autos: list[int] = []
    barrier = threading.Barrier(5)

    def work() -> None:
        with store.transaction() as tx:
            barrier.wait(timeout=10)       # all five hold a transaction at once
            pids.append(tx.one("SELECT pg_backend_pid() AS pid")["pid"])
        with store.autocommit() as auto:       # two of the five: through the pool
            autos.append(auto.one("SELECT 1 AS one")["one"])

    threads = [threading.Thread(target=work) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(set(pids)) == 5 and autos == [1] * 5
    assert store._pinned_count <= store.pool_size
    del threads
    gc.collect()
    store.close()
    db = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        for _ in range(100):      # a closed connection's backend leaves the list when it has exited
            left = admin.execute("SELECT pid, state, query FROM pg_stat_activity WHERE datname = %s"
                                 " AND pid <> pg_backend_pid()", (db,)).fetchall()
            if not left:
                break
            time.sleep(0.05)
    assert left == []
