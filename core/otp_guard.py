"""OTP brute force across orders: wrong codes per payer MSISDN per hour.

The gateway already allows 3 wrong codes per payment; an attacker who owns a web session can
open many orders and try 3 codes on each. This guard counts, in the core's own store, every
code a payer entered that did not pay (wrong, exhausting, or with an unknown outcome) over the
last rolling hour, and refuses further codes with ``TooManyAttempts`` once the market's
``otp.max_failures_per_msisdn_hour`` is reached. An attempt is reserved *before* the code goes
to the gateway, under a per-MSISDN lock (the payer's otp_guard row on SQLite, an advisory lock
on PostgreSQL), so concurrent requests cannot overshoot, and
released when the code paid or was never judged (malformed, expired).
"""
from __future__ import annotations

import itertools
import math
import os
from functools import lru_cache

from core.clock import Clock
from core.errors import TooManyAttempts
from core.market import load_markets, market as market_of
from core.store import Store, Tx
from core.store.base import Row

HOUR_MS = 3_600_000
_serial = itertools.count()      # attempt ids: unique per process without a query per code


class OtpGuard:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def reserve(self, market: str, msisdn: str, order_id: str) -> str:
        """Count one attempt for ``msisdn``; its id (to ``release``), or ``TooManyAttempts``."""
        limit = market_of(market).otp.max_failures_per_msisdn_hour
        now_ms = int(self.clock.now() * 1000)
        attempt_id = f"{order_id}:{now_ms}:{os.getpid()}:{next(_serial)}"
        since = now_ms - HOUR_MS
        if self.store.dialect == "postgresql":
            # The same steps as below, in one server-side call (migrations 0009, 0011, 0014).
            with self.store.autocommit() as tx:
                row = tx.one("SELECT n, first FROM otp_reserve(?, ?, ?, ?, ?, ?)",
                             (msisdn, attempt_id, order_id, now_ms, since, limit))
            self._check(row, limit, now_ms)
            return attempt_id

        def run(tx: Tx) -> str:
            # One statement creates the payer's row or locks it (an upsert takes the row lock):
            # concurrent codes of one payer queue here and cannot both take the hour's last one.
            tx.execute("INSERT INTO otp_guard (msisdn) VALUES (?) ON CONFLICT (msisdn) "
                       "DO UPDATE SET msisdn = excluded.msisdn", (msisdn,))
            self._check(tx.one("SELECT COUNT(*) AS n, MIN(at_ms) AS first FROM otp_attempts "
                               "WHERE msisdn = ? AND at_ms > ?", (msisdn, since)), limit, now_ms)
            tx.execute("INSERT INTO otp_attempts (id, msisdn, order_id, at_ms) VALUES (?, ?, ?, ?)",
                       (attempt_id, msisdn, order_id, now_ms))
            return attempt_id
        return self.store.run(run)

    def read_and_reserve(self, order_id: str) -> tuple[Row | None, str | None]:
        """PostgreSQL: the order's row and, if it waits for a code (``otp_pending``), an
        attempt reserved for its payer as ``reserve`` would, in one statement: the confirm
        step's read of its order and its reservation share a round trip. (The attempt's id,
        or None when the order was not waiting for a code; no row: no such order.)"""
        now_ms = int(self.clock.now() * 1000)
        attempt_id = f"{order_id}:{now_ms}:{os.getpid()}:{next(_serial)}"
        sql, limits = _read_and_reserve_sql()
        with self.store.autocommit() as tx:
            row = tx.one(sql, (attempt_id, now_ms, now_ms - HOUR_MS, *limits, order_id))
        if row is None or row["otp_n"] is None:
            return row, None
        self._check({"n": row["otp_n"], "first": row["otp_first"]},
                    market_of(row["market"]).otp.max_failures_per_msisdn_hour, now_ms)
        return row, attempt_id

    @staticmethod
    def _check(counted: dict, limit: int, now_ms: int) -> None:
        """Refuse when the hour's attempts before this one reached the limit."""
        if int(counted["n"]) >= limit:
            wait_s = max(1, math.ceil((int(counted["first"]) + HOUR_MS - now_ms) / 1000))
            raise TooManyAttempts(
                f"otp: {limit} wrong codes for this payer in the last hour; expected a new "
                f"attempt after {wait_s} s", field="otp", retry_after=wait_s)

    def release(self, attempt_id: str, tx: Tx | None = None, *,
                then: tuple[str, tuple] | None = None) -> Row | None:
        """The code paid or was never judged: it does not count against the payer. (A paying
        customer's path is one locked count and insert, and this delete, which ``tx`` (the
        capture's transaction) carries when the code paid, sparing a commit of its own.)

        ``then``, a query and its parameters, is run in ``tx`` after the delete and its first
        row returned: on PostgreSQL in the same statement (a data-modifying ``WITH``), one
        round trip fewer for the capture, which reads its order next."""
        delete = "DELETE FROM otp_attempts WHERE id = ?"
        if tx is not None:
            if then is None:
                tx.execute(delete, (attempt_id,))
                return None
            query, params = then
            if tx.dialect == "postgresql":
                return tx.one(f"WITH released AS ({delete}) {query}", (attempt_id, *params))
            tx.execute(delete, (attempt_id,))
            return tx.one(query, params)
        with self.store.autocommit() as auto:
            auto.execute(delete, (attempt_id,))
        return None

    def forget_expired(self, msisdn: str) -> None:
        """Drop ``msisdn``'s attempts older than the hour (they no longer count): called when a
        wrong code is kept, so the table stays bounded without work on the paying path."""
        now_ms = int(self.clock.now() * 1000)
        with self.store.autocommit() as tx:
            tx.execute("DELETE FROM otp_attempts WHERE msisdn = ? AND at_ms <= ?", (msisdn, now_ms - HOUR_MS))

    def failures(self, msisdn: str) -> int:
        """Attempts counted for ``msisdn`` in the last hour (for tests and support screens)."""
        now_ms = int(self.clock.now() * 1000)
        with self.store.autocommit() as tx:
            row = tx.one("SELECT COUNT(*) AS n FROM otp_attempts WHERE msisdn = ? AND at_ms > ?",
                         (msisdn, now_ms - HOUR_MS))
        return int(row["n"])


@lru_cache(maxsize=1)
def _read_and_reserve_sql() -> tuple[str, tuple]:
    """``read_and_reserve``'s statement, and the markets' limits it takes (market, limit, ...).

    otp_reserve() runs only for an order waiting for a code: the condition on the order alone
    gates the lateral call as a one-time filter checked before it. OFFSET 0 keeps the subquery
    from being flattened into the join, where the condition would become a filter on the
    function's output, applied after the call."""
    limits = [(code, m.otp.max_failures_per_msisdn_hour) for code, m in sorted(load_markets().items())]
    sql = ("SELECT o.*, r.n AS otp_n, r.first AS otp_first FROM orders o LEFT JOIN LATERAL"
           " (SELECT * FROM otp_reserve(COALESCE(o.payer, o.id), ?, o.id, ?, ?, (SELECT l.n FROM (VALUES "
           + ", ".join(["(?, ?)"] * len(limits)) + ") AS l (market, n) WHERE l.market = o.market))"
           " WHERE o.state = 'otp_pending' OFFSET 0) r ON TRUE WHERE o.id = ?")
    return sql, tuple(v for pair in limits for v in pair)
