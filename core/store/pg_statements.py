"""Statements on one PostgreSQL connection straight through libpq, with psycopg's own adapters.

psycopg's cursor spends about 20 µs of client CPU per statement in its generator machinery
before and after the round trip (41 against 20 µs for a 3-parameter SELECT, measured in
docs/benchmarks.md), and a recharge runs 10 statements. This keeps what matters of the
cursor, with none of the rest: parameters are dumped and rows loaded by psycopg's C
``Transformer``, so every value is adapted exactly as the cursor would adapt it, and errors
are psycopg's exception classes (``UniqueViolation``, ``SerializationFailure``, ...).

A statement text is sent unnamed until it has run ``PREPARE_AFTER`` times on the connection,
then prepared under a name of its own (as psycopg's ``prepare_threshold`` does); at most
``MAX_PREPARED`` per connection, the rest stay unnamed. A prepared statement's result columns
are fixed, so it keeps a ``Transformer`` of its own with their loaders chosen once: choosing
them for every result cost 24 µs for an orders row of 28 columns, four times what loading it
costs. One object per connection, used by one thread at a time (as a connection is).
"""
from __future__ import annotations

import itertools
import re
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

PREPARE_AFTER = 2
MAX_PREPARED = 200

_PLACEHOLDER = re.compile(r"\?")
_names = itertools.count(1)          # process-wide: a name is never reused on any connection
_TUPLES_OK, _COMMAND_OK = int(pq.ExecStatus.TUPLES_OK), int(pq.ExecStatus.COMMAND_OK)
_AUTO = PyFormat.AUTO
_queries: dict[str, bytes] = {}


def numbered(sql: str) -> bytes:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...``, encoded (kept per SQL text)."""
    out = _queries.get(sql)
    if out is None:
        n = itertools.count(1)
        out = _queries[sql] = _PLACEHOLDER.sub(lambda _m: f"${next(n)}", sql).encode()
    return out


class Statements:
    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self._tr = Transformer(conn)
        self._encoding = conn.info.encoding
        self._seen: dict[tuple, int] = {}          # (sql, parameter types) -> runs while unnamed
        self._prepared: dict[tuple, tuple[bytes, _Reader]] = {}   # (sql, parameter types) -> name, reader
        self._formats: dict[int, list[PyFormat]] = {}
        self._reader: _Reader | None = None        # how to load the last result: None, with fresh loaders

    def run(self, sql: str, params: tuple | list) -> pq.abc.PGresult:
        """Run one statement; its result, or psycopg's exception for its error."""
        tr, pg = self._tr, self.pgconn
        n = len(params)
        formats = self._formats.get(n)
        if formats is None:
            formats = self._formats[n] = [_AUTO] * n
        values = tr.dump_sequence(params, formats) if n else ()
        types = tuple(tr.types) if n else ()
        key = (sql, types)
        prepared = self._prepared.get(key)
        if prepared is None:
            runs = self._seen.get(key, 0) + 1
            if runs <= PREPARE_AFTER or len(self._prepared) >= MAX_PREPARED:
                if len(self._seen) >= 8 * MAX_PREPARED:
                    self._seen.clear()             # SQL texts built per call: keep it bounded
                self._seen[key] = runs
                self._reader = None
                res = pg.exec_params(numbered(sql), values, types, tr.formats if n else None)
                return self._check(res)
            name = f"_rb_{next(_names)}".encode()
            self._check(pg.prepare(name, numbered(sql), types))
            prepared = self._prepared[key] = (name, _Reader(Transformer(self.conn)))
            self._seen.pop(key, None)
        name, self._reader = prepared
        try:
            return self._check(pg.exec_prepared(name, values, tr.formats if n else None))
        except errors.FeatureNotSupported:
            # "cached plan must not change result type": a migration changed a table under a
            # prepared statement (another process's). Prepare it again on the next run.
            del self._prepared[key]
            raise

    def _check(self, res: pq.abc.PGresult) -> pq.abc.PGresult:
        status = res.status
        if status == _TUPLES_OK or status == _COMMAND_OK:
            return res
        if status == pq.ExecStatus.FATAL_ERROR:
            e = errors.error_from_result(res, encoding=self._encoding)
            if self.pgconn.status == pq.ConnStatus.BAD and not isinstance(e, psycopg.OperationalError):
                raise psycopg.OperationalError(str(e)) from None    # the connection is gone
            raise e
        raise psycopg.InterfaceError(f"unexpected result status {pq.ExecStatus(status).name}")

    def _loading(self, res: pq.abc.PGresult) -> Transformer:
        """The transformer to load ``res`` (the last result) with, set to it."""
        reader = self._reader
        if reader is None:
            self._tr.set_pgresult(res)
            return self._tr
        if reader.ready:
            reader.tr.set_pgresult(res, set_loaders=False)
        else:
            reader.tr.set_pgresult(res)
            reader.ready = True
        return reader.tr

    def rows(self, res: pq.abc.PGresult) -> list[tuple[Any, ...]]:
        """The rows of the last result ``run`` gave."""
        if not res.ntuples:
            return []
        return self._loading(res).load_rows(0, res.ntuples, tuple)

    def first(self, res: pq.abc.PGresult) -> tuple[Any, ...] | None:
        """The first row of the last result ``run`` gave."""
        if not res.ntuples:
            return None
        return self._loading(res).load_row(0, tuple)

    def command(self, sql: bytes) -> None:
        """BEGIN, COMMIT, ROLLBACK: a plain query, no parameters, no result rows."""
        self._check(self.pgconn.exec_(sql))

    @staticmethod
    def rowcount(res: pq.abc.PGresult) -> int:
        n = res.command_tuples
        return -1 if n is None else n


class _Reader:
    """A prepared statement's transformer; ``ready`` once its loaders are chosen."""

    __slots__ = ("ready", "tr")

    def __init__(self, tr: Transformer) -> None:
        self.tr, self.ready = tr, False
