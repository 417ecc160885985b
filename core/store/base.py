"""What both stores share: the transaction interface, migrations and retry on conflicts."""
from __future__ import annotations

import logging
from abc import ABC, abstractmethod
import re
import time
from importlib import resources
from typing import Any, Callable, ContextManager, TypeVar

log = logging.getLogger("rbench.store")
T = TypeVar("T")
Row = dict[str, Any]


class UniqueViolation(Exception):
    """An insert hit a unique key: used to make credits and idempotency keys exactly-once."""


class Retryable(Exception):
    """A serialization failure or deadlock: the whole transaction may be run again."""


class Tx(ABC):
    """One open transaction. ``?`` placeholders on every backend."""

    dialect: str = ""
    for_update: str = ""     # " FOR UPDATE" where the backend has row locks
    # ANDed into the WHERE of a single autocommit write whose loss in a crash the design
    # tolerates: its commit then does not wait for the WAL flush (PostgreSQL; the next durable
    # commit of any connection flushes it). Always true; empty where commits do not fsync, and
    # in an explicit transaction (whose every write would then be lazy).
    lazy_commit: str = ""

    def speak_as(self, inner: Tx) -> None:
        """A wrapper of ``inner`` (fault injection, statement counting) takes its SQL dialect:
        every fragment the backend offers, so a new one cannot be forgotten by a wrapper."""
        self.dialect, self.for_update, self.lazy_commit = inner.dialect, inner.for_update, inner.lazy_commit

    @abstractmethod
    def execute(self, sql: str, params: tuple | list = ()) -> int:
        """Run a statement; returns the number of rows it changed."""

    @abstractmethod
    def one(self, sql: str, params: tuple | list = ()) -> Row | None: ...

    @abstractmethod
    def all(self, sql: str, params: tuple | list = ()) -> list[Row]: ...


class Store(ABC):
    dialect: str = ""
    url: str = ""

    @abstractmethod
    def transaction(self) -> ContextManager[Tx]:
        """A context manager yielding an open transaction; commits on a clean exit."""

    @abstractmethod
    def autocommit(self) -> ContextManager[Tx]:
        """Statements that each commit on their own: for reads, and for single-statement
        writes (a guarded ``UPDATE ... RETURNING``) that need no BEGIN/COMMIT round trips."""

    def close(self) -> None:
        pass

    def run(self, fn: Callable[[Tx], T], *, attempts: int = 8) -> T:
        """Run ``fn`` in a transaction, again from the start on a serialization conflict."""
        for attempt in range(attempts):
            try:
                with self.transaction() as tx:
                    return fn(tx)
            except Retryable:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.001 * 2 ** attempt)
        raise AssertionError("unreachable")

    # -- migrations ---------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied; returns their numbers."""
        applied: list[int] = []
        with self.transaction() as tx:
            self._lock_for_migration(tx)
            tx.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                       "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
            done = {r["version"] for r in tx.all("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations(self.dialect):
                if version in done:
                    continue
                for statement in split_sql(sql):
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                           (version, name, int(time.time())))
                applied.append(version)
        if applied:
            log.info("applied migrations %s to %s", applied, self.dialect)
        return applied

    def _lock_for_migration(self, tx: Tx) -> None:
        pass


def migrations(dialect: str | None = None) -> list[tuple[int, str, str]]:
    """The migration files as (version, name, sql), in order. ``NNNN_name.sql`` applies to
    every store; ``NNNN_name.DIALECT.sql`` only to that dialect's (server-side functions that
    only PostgreSQL has), and is left out when ``dialect`` is another one."""
    out = []
    for entry in resources.files("core.store").joinpath("migrations").iterdir():
        m = re.match(r"^(\d{4})_(\w+?)(?:\.(sqlite|postgresql))?\.sql$", entry.name)
        if m and (m.group(3) is None or dialect is None or m.group(3) == dialect):
            out.append((int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    return sorted(out)


def split_sql(sql: str) -> list[str]:
    """Statements of a migration file: separated by ``;`` at the end of a line, except inside a
    ``$$``-quoted function body; ``--`` comment lines dropped."""
    statements, current, quoted = [], [], False
    for line in sql.splitlines():
        if line.strip().startswith("--") and not quoted:
            continue
        current.append(line)
        quoted ^= line.count("$$") % 2 == 1
        if not quoted and line.rstrip().endswith(";"):
            statements.append("\n".join(current).rstrip()[:-1].strip())
            current = []
    tail = "\n".join(current).strip()
    return [s for s in statements if s] + ([tail] if tail else [])
