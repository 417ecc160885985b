"""The fault schedule of one torture run, drawn from its seed, and the store that injects
database errors and crashes into the core.

Swarm testing (as TigerBeetle's VOPR and FoundationDB's simulator do): each run switches every
fault class on or off at random and draws its intensity, so some seeds hammer one fault alone
and others mix them all; a single fixed mix would leave combinations untried.

    plan = FaultPlan.draw(seed=17, steps=120)
    store = FaultyStore(open_store(url), random.Random("17:db"), plan.db_error_rate)
    store.arm_crash(after_statements=5)    # the core "dies" at its 5th statement from now
"""
from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

from core.store import Store, Tx
from core.store.base import Retryable, Row


@dataclass(frozen=True)
class FaultPlan:
    seed: int
    steps: int
    gateway_timeout_rate: float      # a gateway call is processed, then no answer comes
    callback_loss_rate: float        # a gateway's notification never arrives
    callback_delay_s: float          # median delay of a notification (late callbacks)
    duplicate_callback_rate: float   # per step: a callback for a known payment, again
    decline_rate: float              # the gateway's own random declines
    sms_loss_rate: float             # OTP and notice SMS lost
    sms_delay_s: float               # median SMS delay (late OTPs)
    ussd_drop_rate: float            # a USSD dialogue step dropped by the network
    client_retry_rate: float         # a client repeats a request with the same Idempotency-Key
    wrong_otp_rate: float            # a cardholder types a wrong code
    db_error_rate: float             # per statement: an error, a failed commit or a lost ack
    restart_rate: float              # per step: the core restarts (between two steps)
    crash_rate: float                # per step: the core dies at a statement inside the next steps
    sweep_rate: float                # per step: a reconciliation sweep
    long_wait_rate: float            # per step: time jumps past OTP, verify or session windows

    @classmethod
    def draw(cls, seed: int, steps: int) -> FaultPlan:
        rng = random.Random(f"torture:{seed}:plan")

        def maybe(high: float) -> float:
            """Off for about a third of the seeds, else a uniform intensity up to ``high``."""
            return 0.0 if rng.random() < 0.35 else round(rng.uniform(0.02, high), 3)
        return cls(seed=seed, steps=steps,
                   gateway_timeout_rate=maybe(0.3), callback_loss_rate=maybe(0.6),
                   callback_delay_s=round(rng.choice([0.0, 2.0, 30.0, 400.0]), 1),
                   duplicate_callback_rate=maybe(0.3), decline_rate=maybe(0.2),
                   sms_loss_rate=maybe(0.4), sms_delay_s=round(rng.choice([0.5, 4.0, 90.0]), 1),
                   ussd_drop_rate=maybe(0.3), client_retry_rate=maybe(0.4), wrong_otp_rate=maybe(0.4),
                   db_error_rate=maybe(0.04), restart_rate=maybe(0.08), crash_rate=maybe(0.08),
                   sweep_rate=round(rng.uniform(0.02, 0.2), 3), long_wait_rate=maybe(0.08))

    def describe(self) -> str:
        """The non-zero faults, one short line."""
        skip = {"seed", "steps"}
        return " ".join(f"{k}={v:g}" for k, v in asdict(self).items() if k not in skip and v)


class InjectedDbError(RuntimeError):
    """A database error the torture run injected (the core sees it as any driver error)."""


class CoreCrash(BaseException):
    """The core process died here: nothing after this point reaches the database. A
    ``BaseException`` so that no ``except Exception`` in the core can swallow it."""


class FaultyTx(Tx):
    def __init__(self, inner: Tx, store: FaultyStore) -> None:
        self.inner, self.store = inner, store
        self.speak_as(inner)

    def execute(self, sql: str, params: tuple | list = ()) -> int:
        self.store.before_statement()
        n = self.inner.execute(sql, params)
        self.store.after_statement()
        return n

    def one(self, sql: str, params: tuple | list = ()) -> Row | None:
        self.store.before_statement()
        row = self.inner.one(sql, params)
        self.store.after_statement()
        return row

    def all(self, sql: str, params: tuple | list = ()) -> list[Row]:
        self.store.before_statement()
        rows = self.inner.all(sql, params)
        self.store.after_statement()
        return rows


class FaultyStore(Store):
    """Wraps a real store. With probability ``rate`` at each point: a statement fails before
    it runs, or its answer is lost after it ran (autocommit: it stays done), a transaction
    fails at BEGIN (sometimes as a retryable conflict), fails at COMMIT (rolled back), or
    commits and then loses its answer. ``arm_crash`` makes the core die at a later statement;
    once dead every statement raises ``CoreCrash`` until the core is rebuilt."""

    def __init__(self, inner: Store, rng: random.Random, rate: float) -> None:
        self.inner, self.rng, self.rate = inner, rng, rate
        self.dialect, self.url = inner.dialect, inner.url
        self.enabled = True
        self.crash_in: int | None = None
        self.crashed = False
        self.injected = 0
        self.in_tx = False

    # -- faults -----------------------------------------------------------------------------
    def arm_crash(self, after_statements: int) -> None:
        self.crash_in = max(1, after_statements)

    def _hit(self) -> bool:
        return self.enabled and self.rate > 0 and self.rng.random() < self.rate

    def _fail(self, what: str) -> None:
        self.injected += 1
        raise InjectedDbError(f"injected: {what}")

    def before_statement(self) -> None:
        if self.crashed:
            raise CoreCrash("the core is down")
        if self.crash_in is not None and self.enabled:
            self.crash_in -= 1
            if self.crash_in <= 0:
                self.crash_in, self.crashed = None, True
                raise CoreCrash("the core died mid-operation")
        if self._hit():
            self._fail("statement failed (connection reset)")

    def after_statement(self) -> None:
        if not self.in_tx and self._hit():
            self._fail("answer lost after the statement ran")

    # -- Store --------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        if self.crashed:
            raise CoreCrash("the core is down")
        if self._hit():
            if self.rng.random() < 0.5:
                self.injected += 1
                raise Retryable("injected: could not serialize access")
            self._fail("BEGIN failed")
        with self.inner.transaction() as tx:
            self.in_tx = True
            try:
                yield FaultyTx(tx, self)
            finally:
                self.in_tx = False
            if self._hit():
                self._fail("COMMIT failed; rolled back")
        if self._hit():
            self._fail("committed, but the answer was lost")

    @contextmanager
    def autocommit(self) -> Iterator[Tx]:
        if self.crashed:
            raise CoreCrash("the core is down")
        with self.inner.autocommit() as tx:
            yield FaultyTx(tx, self)

    def migrate(self) -> list[int]:
        return self.inner.migrate()

    def close(self) -> None:
        self.inner.close()
