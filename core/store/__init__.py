"""Stores: one schema on SQLite (the embedded default, WAL) or PostgreSQL (``DATABASE_URL``).

    store = open_store("sqlite:///rbench.db")           # or "postgresql://user@host/db"
    with store.transaction() as tx:
        tx.execute("UPDATE accounts SET credits = credits + ? WHERE id = ?", (100, "a"))

SQL is written once with ``?`` placeholders; the PostgreSQL store rewrites them. Migrations
are the numbered files in ``migrations/``, applied in order on open.
"""
from __future__ import annotations

from core.store.base import Store, Tx, UniqueViolation


def open_store(url: str, **options: object) -> Store:
    if url.startswith("sqlite:"):
        from core.store.sqlite import SqliteStore
        return SqliteStore(url, **options)
    if url.startswith(("postgresql:", "postgres:")):
        from core.store.postgres import PostgresStore
        return PostgresStore(url, **options)
    raise ValueError(f"database URL {url!r}: expected sqlite:///PATH or postgresql://...")


__all__ = ["Store", "Tx", "UniqueViolation", "open_store"]
