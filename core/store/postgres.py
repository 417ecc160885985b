"""PostgreSQL store (psycopg 3), for scale and for the load tests.

READ COMMITTED plus row locks (``FOR UPDATE``) and conditional updates; serialization
failures and deadlocks surface as ``Retryable`` so ``Store.run`` can replay the transaction.

Each thread keeps one connection of its own (up to ``pool_size`` threads) instead of checking
one out of a pool for every transaction: the checkout and return cost 40-55 µs of client CPU
each (measured in docs/benchmarks.md), and a recharge uses the store seven times. Threads
beyond ``pool_size``, and a transaction opened while the thread's own connection is already in
one (nesting must stay a separate transaction), use the shared pool. A connection that broke
is dropped and replaced on the thread's next use.
"""
from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager
from typing import ContextManager, Iterator

import psycopg
from psycopg import errors, pq
from psycopg_pool import ConnectionPool

from core.store.base import Retryable, Row, Store, Tx, UniqueViolation
from core.store.pg_statements import Statements


_LAZY_COMMIT = " AND set_config('synchronous_commit', 'off', true) = 'off'"


class _PgTx(Tx):
    """Rows come back as tuples and are zipped with the column names, kept per SQL text:
    psycopg's ``dict_row`` decodes every name again for every result, a third of the client's
    cost of reading an orders row (measured in docs/benchmarks.md). Statements go through
    ``Statements`` (libpq with psycopg's adapters), not a cursor."""

    dialect = "postgresql"
    for_update = " FOR UPDATE"

    def __init__(self, st: Statements, names: dict[str, tuple[str, ...]], *, autocommit: bool = False) -> None:
        self.st = st
        self._names = names
        # set_config(..., true) lasts until the end of the statement's own (implicit)
        # transaction. In an explicit transaction it would last to its COMMIT: not offered there.
        self.lazy_commit = _LAZY_COMMIT if autocommit else ""

    def _columns(self, sql: str, res: pq.abc.PGresult) -> tuple[str, ...]:
        names = self._names.get(sql)
        if names is None or len(names) != res.nfields:
            names = self._names[sql] = tuple(res.fname(i).decode() for i in range(res.nfields))
        return names

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        try:
            res = self.st.run(sql, params)
        except errors.UniqueViolation as e:
            raise UniqueViolation(str(e)) from e
        return self.st.rowcount(res)

    def one(self, sql: str, params: tuple | list = ()) -> Row | None:
        res = self.st.run(sql, params)
        row = self.st.first(res)
        return None if row is None else dict(zip(self._columns(sql, res), row))

    def all(self, sql: str, params: tuple | list = ()) -> list[Row]:
        res = self.st.run(sql, params)
        rows = self.st.rows(res)
        if not rows:
            return []
        names = self._columns(sql, res)
        return [dict(zip(names, r)) for r in rows]


class _Connection(psycopg.Connection):
    """A connection that carries its statements (their prepared names and loaders belong to
    this server session), so they live and go with it, pooled or pinned."""

    _statements: Statements | None = None

    def statements(self) -> Statements:
        st = self._statements
        if st is None:
            st = self._statements = Statements(self)
        return st


class _Pinned:
    """A thread's own connection (its statements ride on it); closed when the thread (and so
    its local) goes away."""

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.busy = False


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 16, migrate: bool = True) -> None:
        self.url = url
        self.pool_size = pool_size
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True, connection_class=_Connection,
                                   kwargs={"autocommit": True}, name="rbench")
        self.pool.wait(timeout=30)
        self._local = threading.local()
        self._pinned_count = 0
        self._pinned_lock = threading.RLock()   # re-entered when GC closes a dead thread's connection
        self._releases: dict[int, weakref.finalize] = {}   # every thread's connection, for close()
        self._closed = False
        self._names: dict[str, tuple[str, ...]] = {}   # column names per SQL text, this database's
        if migrate:
            self.migrate()

    # -- connections ----------------------------------------------------------------------
    def _own(self) -> _Pinned | None:
        """This thread's connection when it is free (opening it on first use), else None."""
        pinned: _Pinned | None = getattr(self._local, "pinned", None)
        if pinned is not None:
            if pinned.conn.closed or pinned.conn.broken:
                self._drop(pinned)
                pinned = None
            elif pinned.busy:
                return None
            else:
                return pinned
        with self._pinned_lock:
            if self._closed or self._pinned_count >= self.pool_size:
                return None
            self._pinned_count += 1
        try:
            conn = _Connection.connect(self.url, autocommit=True)
        except BaseException:
            with self._pinned_lock:
                self._pinned_count -= 1
            raise
        pinned = _Pinned(conn)
        release = weakref.finalize(pinned, _close_pinned, conn, self._unpin)
        with self._pinned_lock:
            self._releases[id(pinned)] = release
        self._local.pinned = pinned
        return pinned

    def _unpin(self) -> None:
        with self._pinned_lock:
            self._pinned_count -= 1

    def _drop(self, pinned: _Pinned) -> None:
        self._local.pinned = None
        with self._pinned_lock:
            release = self._releases.pop(id(pinned), None)
        if release is not None:
            release()

    def _connection(self) -> _Checkout:
        return _Checkout(self)

    # -- Store ----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._connection() as st:
            try:
                st.command(b"BEGIN")
                try:
                    yield _PgTx(st, self._names)
                except BaseException:
                    if not st.conn.broken:
                        st.command(b"ROLLBACK")
                    raise
                if st.pgconn.transaction_status == pq.TransactionStatus.INERROR:
                    st.command(b"ROLLBACK")
                    raise errors.InFailedSqlTransaction(
                        "a statement of this transaction failed and its error was caught: rolled back")
                st.command(b"COMMIT")
            except (errors.SerializationFailure, errors.DeadlockDetected) as e:
                raise Retryable(str(e)) from e

    def autocommit(self) -> ContextManager[Tx]:
        return _Autocommit(self)

    def migrate(self) -> list[int]:
        try:
            return super().migrate()
        finally:
            self._names.clear()          # a migration may change what a SELECT * returns

    def _lock_for_migration(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(7243501)")

    def close(self) -> None:
        with self._pinned_lock:
            self._closed = True
            releases, self._releases = list(self._releases.values()), {}
        for release in releases:
            release()
        self.pool.close()


class _Checkout:
    """``PostgresStore._connection()``: the thread's own connection while it is free (busy
    meanwhile, dropped on ``OperationalError``), else one from the pool; its statements.
    Written as a class, not a generator: a recharge checks out six times."""

    __slots__ = ("store", "pinned", "pooled")

    def __init__(self, store: PostgresStore) -> None:
        self.store = store

    def __enter__(self) -> Statements:
        pinned = self.pinned = self.store._own()
        if pinned is None:
            self.pooled = self.store.pool.connection()
            return self.pooled.__enter__().statements()
        pinned.busy = True
        return pinned.conn.statements()

    def __exit__(self, kind: type[BaseException] | None, e: BaseException | None, tb: object) -> bool | None:
        pinned = self.pinned
        if pinned is None:
            return self.pooled.__exit__(kind, e, tb)
        pinned.busy = False
        if kind is not None and issubclass(kind, psycopg.OperationalError):
            self.store._drop(pinned)
        return None


class _Autocommit(_Checkout):
    """``PostgresStore.autocommit()``: a checkout with a ``_PgTx`` of its own statements on it
    (a recharge opens five; no generator context manager around the checkout)."""

    __slots__ = ()

    def __enter__(self) -> Tx:  # type: ignore[override]
        return _PgTx(super().__enter__(), self.store._names, autocommit=True)


def _close_pinned(conn: psycopg.Connection, unpin) -> None:  # type: ignore[no-untyped-def]
    try:
        conn.close()
    finally:
        unpin()
