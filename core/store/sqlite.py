"""SQLite store: the embedded default. WAL, one connection per thread, writers serialised
by ``BEGIN IMMEDIATE`` so read-then-write logic never races."""
from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from typing import Iterator

from core.store.base import Retryable, Row, Store, Tx, UniqueViolation


class _SqliteTx(Tx):
    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        try:
            return self.conn.execute(sql, params).rowcount
        except sqlite3.IntegrityError as e:
            if "UNIQUE" in str(e) or "PRIMARY KEY" in str(e):
                raise UniqueViolation(str(e)) from e
            raise

    def one(self, sql: str, params: tuple | list = ()) -> Row | None:
        row = self.conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: tuple | list = ()) -> list[Row]:
        return [dict(r) for r in self.conn.execute(sql, params).fetchall()]


class SqliteStore(Store):
    dialect = "sqlite"

    def __init__(self, url: str, *, synchronous: str = "FULL", migrate: bool = True) -> None:
        self.url = url
        self.path = url.split("sqlite:///", 1)[1] if url.startswith("sqlite:///") else url[len("sqlite:"):]
        if not self.path or self.path == ":memory:":
            raise ValueError("sqlite store needs a file path (sqlite:///PATH): threads share it")
        self.synchronous = synchronous
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if migrate:
            self.migrate()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=30)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise Retryable(str(e)) from e
        try:
            yield _SqliteTx(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def autocommit(self) -> Iterator[Tx]:
        conn = self._conn()
        if conn.in_transaction:
            raise RuntimeError("autocommit() inside an open transaction of this thread")
        yield _SqliteTx(conn)

    def close(self) -> None:
        with self._lock:
            for c in self._conns:
                try:
                    c.close()
                except sqlite3.ProgrammingError:
                    pass
            self._conns.clear()
        self._local = threading.local()
