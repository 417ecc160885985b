"""PostgreSQL store (psycopg 3 with a connection pool), for scale and for the load tests.

READ COMMITTED plus row locks (``FOR UPDATE``) and conditional updates; serialization
failures and deadlocks surface as ``Retryable`` so ``Store.run`` can replay the transaction.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg import errors
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from core.store.base import Retryable, Row, Store, Tx, UniqueViolation

_PLACEHOLDER = re.compile(r"\?")
_cache: dict[str, str] = {}


def _pg(sql: str) -> str:
    out = _cache.get(sql)
    if out is None:
        out = _cache[sql] = _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))
    return out


class _PgTx(Tx):
    dialect = "postgresql"
    for_update = " FOR UPDATE"

    def __init__(self, conn: psycopg.Connection) -> None:
        self.cur = conn.cursor(row_factory=dict_row)

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        try:
            self.cur.execute(_pg(sql), params)
        except errors.UniqueViolation as e:
            raise UniqueViolation(str(e)) from e
        return self.cur.rowcount

    def one(self, sql: str, params: tuple | list = ()) -> Row | None:
        self.cur.execute(_pg(sql), params)
        return self.cur.fetchone()

    def all(self, sql: str, params: tuple | list = ()) -> list[Row]:
        self.cur.execute(_pg(sql), params)
        return self.cur.fetchall()


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 16, migrate: bool = True) -> None:
        self.url = url
        self.pool = ConnectionPool(url, min_size=1, max_size=pool_size, open=True,
                                   kwargs={"autocommit": True}, name="rbench")
        self.pool.wait(timeout=30)
        if migrate:
            self.migrate()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self.pool.connection() as conn:
            try:
                with conn.transaction():
                    yield _PgTx(conn)
            except (errors.SerializationFailure, errors.DeadlockDetected) as e:
                raise Retryable(str(e)) from e

    @contextmanager
    def autocommit(self) -> Iterator[Tx]:
        with self.pool.connection() as conn:
            yield _PgTx(conn)

    def _lock_for_migration(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(7243501)")

    def close(self) -> None:
        self.pool.close()
