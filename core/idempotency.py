"""Idempotency keys with Stripe's semantics, for every mutating call.

Same scope + key + same request: the first answer, replayed (status and body). Same key with
another request: ``IdempotencyConflict`` (422). Same key while the first call still runs:
``IdempotencyInFlight`` (409). Input that fails validation, and a call refused by a rate
limit, save nothing, so the caller can fix it or wait and retry with the same key. Keys expire
after ``ttl_s`` (24 h, as Stripe).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Callable

from core.clock import Clock
from core.errors import IdempotencyConflict, IdempotencyInFlight, InvalidInput, RechargeError, TooManyAttempts
from core.store import Store, Tx


def request_hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()


def derived_id(prefix: str, scope: str, key: str) -> str:
    """A resource id fixed by the idempotency key: a replay after a crash finds the same row."""
    return prefix + hashlib.sha256(f"{scope}\x00{key}".encode()).hexdigest()[:24]


def check_key(key: object) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput("Idempotency-Key: expected 1 to 255 printable characters",
                           field="Idempotency-Key")
    return key


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict
    replayed: bool


class Idempotency:
    def __init__(self, store: Store, clock: Clock, *, ttl_s: int = 86_400, stale_s: int = 60) -> None:
        self.store, self.clock, self.ttl_s, self.stale_s = store, clock, ttl_s, stale_s

    def run(self, scope: str, key: str, payload: object,
            fn: Callable[[], tuple[int, dict]], problem: Callable[[RechargeError], dict]) -> Outcome:
        check_key(key)
        digest = request_hash(payload)
        now_ms = int(self.clock.now() * 1000)

        # A new key (or one past its time to live, replaced) is claimed by one statement with no
        # transaction around it: a request's idempotency then costs two round trips, not seven.
        # Neither that claim nor the answer below waits for the WAL flush (Tx.lazy_commit): a
        # crash that forgets them leaves the key new or in flight, and a retry runs the call
        # again, as after a crash between the call and its answer; every call is idempotent by
        # itself (ids derived from the key, guarded moves, ledger events by id). What the call
        # writes about money waits for the flush, and flushes these with it.
        with self.store.autocommit() as tx:
            claimed = tx.execute(
                "INSERT INTO idempotency (scope, key, request_hash, state, created_ms)"
                " SELECT ?, ?, ?, 'in_flight', ? WHERE TRUE" + tx.lazy_commit +
                " ON CONFLICT (scope, key) DO UPDATE SET"
                " request_hash = excluded.request_hash, state = 'in_flight', status = NULL, body = NULL,"
                " created_ms = excluded.created_ms WHERE idempotency.created_ms < ?",
                (scope, key, digest, now_ms, now_ms - self.ttl_s * 1000))

        def claim(tx: Tx) -> Outcome | None:
            row = tx.one("SELECT * FROM idempotency WHERE scope = ? AND key = ?" + tx.for_update, (scope, key))
            if row is None:        # released since (the request that held it was refused): take it
                if tx.execute("INSERT INTO idempotency (scope, key, request_hash, state, created_ms)"
                              " VALUES (?, ?, ?, 'in_flight', ?) ON CONFLICT (scope, key) DO NOTHING",
                              (scope, key, digest, now_ms)):
                    return None
                raise IdempotencyInFlight(f"a request with Idempotency-Key {key!r} is still "
                                          "being processed; retry later", field="Idempotency-Key")
            if row["request_hash"] != digest:
                raise IdempotencyConflict(
                    f"Idempotency-Key {key!r} was already used with a different request; "
                    "use a new key for a new request", field="Idempotency-Key")
            if row["state"] == "in_flight":
                if int(row["created_ms"]) > now_ms - self.stale_s * 1000:
                    raise IdempotencyInFlight(f"a request with Idempotency-Key {key!r} is still "
                                              "being processed; retry later", field="Idempotency-Key")
                tx.execute("UPDATE idempotency SET created_ms = ? WHERE scope = ? AND key = ?",
                           (now_ms, scope, key))   # taken over after a crash: run again
                return None
            return Outcome(int(row["status"]), json.loads(row["body"]), True)

        done = None if claimed else self.store.run(claim)
        if done is not None:
            return done
        try:
            status, body = fn()
        except (InvalidInput, TooManyAttempts):     # nothing done: the key may be used again
            self._forget(scope, key)
            raise
        except RechargeError as e:
            status, body = e.status, problem(e)
        except BaseException:
            self._forget(scope, key)
            raise
        with self.store.autocommit() as tx:
            tx.execute("UPDATE idempotency SET state = 'done', status = ?, body = ? WHERE scope = ? AND key = ?"
                       + tx.lazy_commit, (status, json.dumps(body, ensure_ascii=False), scope, key))
        return Outcome(status, body, False)

    def _forget(self, scope: str, key: str) -> None:
        with self.store.autocommit() as tx:
            tx.execute("DELETE FROM idempotency WHERE scope = ? AND key = ?", (scope, key))
