"""What a meter does by itself as time passes: consumption, credit running down, relay, months.

``Supply`` is the part of ``PrepaidMeter`` with no keypad and no card slot. Time moves only
when told: ``advance(seconds)`` integrates the load profile exactly (integer millijoules,
stepping at each hour of the profile, band edge, month end and the instant credit reaches
the low-credit threshold or zero), so a simulated month costs a few hundred steps.
``run(env)`` binds the meter to a SimPy environment: from then on every call first brings
the meter to ``env.now``, and the process wakes at the next instant something changes (low
credit, cut at zero, a trip retry, a new month) so listeners hear of it on time.

The relay is closed unless a reason holds it open, checked in this order: ``tamper`` (the
case was opened; cleared by a ClearTamperCondition token or the utility), ``lockout`` (3
over-current trips in a row; cleared by the utility), ``overcurrent`` (tripped, retries after
``trip_retry_s``), ``remote`` (opened by command), ``credit`` (nothing left, emergency
included). A trip is forgotten once the relay has stayed closed for ``trip_retry_s``. A new
month closes the month's consumption into the history and deducts the tariff's monthly fee
(the credit may go below zero: the next charge pays it).
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .load import HOUR_MS, MJ_PER_CENTI_KWH, MJ_PER_KWH, MJ_PER_WH, LoadProfile, MeterTariff
from .registers import utc

EPOCH = datetime(1970, 1, 1)
CREDIT_MAX = 99_999_999                 # register capacity: 999,999.99 kWh or currency units


@dataclass(frozen=True)
class MeterEvent:
    at: datetime
    kind: str            # low_credit, relay_open, relay_close, trip, tamper, month, fee, token, card, emergency...
    detail: str = ""


def _wall_ms(when: datetime) -> int:
    return (utc(when) - EPOCH) // timedelta(milliseconds=1)


def _amount(value: object, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= CREDIT_MAX:
        raise ValueError(f"invalid {what} {value!r}: expected an integer from {low} to {CREDIT_MAX} "
                         "in register units (0.01 kWh, or minor units of money)")
    return value


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _month_end(wall_ms: int) -> int:
    day = EPOCH + timedelta(milliseconds=wall_ms)
    first = datetime(day.year + day.month // 12, day.month % 12 + 1, 1)
    return (first - EPOCH) // timedelta(milliseconds=1)


class Supply:
    """The meter's credit register, load, relay and clock (see the module docstring)."""

    def __init__(self, *, clock: datetime, tariff: MeterTariff | None, credit: int, low_credit: int,
                 low_credit_percent: int | None, emergency_credit: int, power_limit_w: int, trip_retry_s: int,
                 trips_to_lockout: int, load: LoadProfile | None, credit_max: int, history_months: int,
                 event_capacity: int) -> None:
        self.tariff = tariff
        self.unit = "money" if tariff else "energy"
        self.unit_name = tariff.currency if tariff else "kWh"
        self.decimals = tariff.decimals if tariff else 2
        self.credit_max = _amount(credit_max, "credit register capacity", 1)
        self.balance = _amount(credit, "opening credit")
        self.low_credit = _amount(low_credit, "low-credit threshold")
        if low_credit_percent is not None and (isinstance(low_credit_percent, bool)
                                               or not isinstance(low_credit_percent, int)
                                               or not 1 <= low_credit_percent <= 100):
            raise ValueError(f"invalid low-credit share {low_credit_percent!r}: expected 1..100 (% of the last charge)")
        self.low_credit_percent = low_credit_percent
        self.emergency_limit = _amount(emergency_credit, "emergency credit")
        self.power_limit_w = _amount(power_limit_w, "power limit (W)")
        self.trip_retry_ms = 1000 * _amount(trip_retry_s, "trip retry (s)", 1)
        self.trips_to_lockout = _amount(trips_to_lockout, "trips before lock-out", 1)
        self.load = load if load is not None else LoadProfile.constant(0)
        if not isinstance(self.load, LoadProfile):
            raise ValueError(f"invalid load {load!r}: expected a LoadProfile")
        self.history_months = _amount(history_months, "months of history", 1)
        self.events: deque[MeterEvent] = deque(maxlen=_amount(event_capacity, "event capacity", 1))
        self.listeners: list[Callable[[MeterEvent], None]] = []
        # time: the meter's clock is offset + elapsed; consumption follows elapsed
        self._elapsed = 0
        self._offset = _wall_ms(clock)
        self._month_end = _month_end(self._offset)
        self._history: deque[int] = deque(maxlen=self.history_months)     # Wh of past months, newest first
        self.energy_mj = self.month_mj = 0
        self._debt = 0                      # consumption not yet a whole register unit (price x mJ)
        self.emergency_active = False
        self.last_charge = 0
        self.test_load_w = 0
        self.remote_open = self.tamper = self.case_open = False
        self.trips = 0
        self._retry_at: int | None = None
        self._trip_reset_at: int | None = None
        self.disconnected_ms = 0
        self._low = self.low_alert
        self._closed = self.relay_reason == ""
        self._now_fn: Callable[[], int] | None = None
        self._wake: Any = None

    # ------------------------------------------------------------------ derived state
    @property
    def available(self) -> int:
        return self.balance + (self.emergency_limit if self.emergency_active else 0)

    @property
    def low_threshold(self) -> int:
        if self.low_credit_percent is not None and self.last_charge:
            return self.last_charge * self.low_credit_percent // 100
        return self.low_credit

    @property
    def low_alert(self) -> bool:
        return self.available <= self.low_threshold

    @property
    def relay_reason(self) -> str:
        """Why the relay is open ('' when it is closed)."""
        if self.tamper:
            return "tamper"
        if self.trips >= self.trips_to_lockout:
            return "lockout"
        if self._retry_at is not None:
            return "overcurrent"
        if self.remote_open:
            return "remote"
        if self.available <= 0:
            return "credit"
        return ""

    @property
    def relay_closed(self) -> bool:
        return self.relay_reason == ""

    @property
    def demand_w(self) -> int:
        """What the household and the bench's test load ask for now."""
        return self.load.watts_at(self.wall_ms) + self.test_load_w

    @property
    def power_w(self) -> int:
        return self.demand_w if self.relay_closed else 0

    @property
    def wall_ms(self) -> int:
        return self._offset + self._elapsed

    @property
    def clock(self) -> datetime:
        return EPOCH + timedelta(milliseconds=self.wall_ms)

    @property
    def elapsed_s(self) -> float:
        return self._elapsed / 1000

    @property
    def disconnected_s(self) -> float:
        return self.disconnected_ms / 1000

    @property
    def monthly_wh(self) -> tuple[int, ...]:
        return (self.month_mj // MJ_PER_WH, *self._history)

    # ------------------------------------------------------------------ time
    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass: consumption, cuts, trips and month ends happen on the way."""
        if self._now_fn is not None:
            raise RuntimeError("this meter runs on a SimPy environment (run(env)): its time follows env.now")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not seconds >= 0:
            raise ValueError(f"invalid time step {seconds!r}: expected seconds >= 0")
        self._advance_to(self._elapsed + round(seconds * 1000))

    def next_change_s(self) -> float:
        """Seconds until the meter next changes by itself, to the millisecond: the month's end, a
        trip retry or reset, an over-current at a profile hour, credit reaching the low threshold
        or zero. A SimPy process sleeps that long, through the profile's hours."""
        return (self._walk(self._timer(), apply=False) - self._elapsed) / 1000

    def _timer(self, target: int | None = None) -> int:
        """The first of the month's end, a trip retry or reset (and ``target``)."""
        return min(t for t in (self._month_end - self._offset, self._retry_at, self._trip_reset_at, target)
                   if t is not None)

    def _walk(self, end: int, *, apply: bool) -> int:
        """Walk from now towards ``end`` through the profile's hours and the tariff's bands, and
        stop early where something changes (an over-current hour, credit reaching the low
        threshold or zero). With ``apply``, consume on the way and move the clock there.

        Energy is power x milliseconds in mJ; the credit register drops by whole units of
        ``per_unit`` mJ x price, carrying the remainder (``_debt``), so however time is cut into
        walks the outcome is the same to the unit."""
        now = t = self._elapsed
        if not self.relay_closed:
            if apply:
                self.disconnected_ms += end - now
                self._elapsed = end
            return end
        drop = min(a for a in (self.available - self.low_threshold, self.available) if a > 0)
        month_mj, debt, spent = self.month_mj, self._debt, 0
        load, extra, limit, tariff = self.load, self.test_load_w, self.power_limit_w, self.tariff
        while t < end:
            wall = self._offset + t
            power = load.watts_at(wall) + extra
            if t > now and limit and power > limit:
                break                                   # the household's next hour trips the relay
            stop = end if load.is_constant else min(end, t + HOUR_MS - wall % HOUR_MS)
            if power:
                if tariff is None:
                    price, per_unit, band_end = 1, MJ_PER_CENTI_KWH, None
                else:
                    (price, band_end), per_unit = tariff.band_at(month_mj), MJ_PER_KWH
                    if band_end is not None:
                        stop = min(stop, t + _ceil(band_end - month_mj, power))
                reach = t + _ceil(_ceil(drop * per_unit - debt, price), power)   # ms until ``drop`` units are used
                crossed = reach <= stop
                stop = min(stop, reach)
                units, debt = divmod(debt + power * (stop - t) * price, per_unit)
                drop, spent, month_mj = drop - units, spent + units, month_mj + power * (stop - t)
                t = stop
                if crossed:
                    break
            else:
                t = stop
        if apply:
            self.energy_mj += month_mj - self.month_mj
            self.month_mj, self._debt, self.balance, self._elapsed = month_mj, debt, self.balance - spent, t
        return t

    def run(self, env: Any, *, max_step_s: float | None = None):
        """Bind to SimPy ``env`` and return the process to start: ``env.process(meter.run(env))``.

        The process sleeps until the next change (``next_change_s``), or ``max_step_s`` at most.
        """
        base = self._elapsed - round(env.now * 1000)
        self._now_fn = lambda: base + round(env.now * 1000)
        return self._ticks(env, max_step_s)

    def _ticks(self, env: Any, max_step_s: float | None):
        while True:
            self._sync()
            self._wake = env.event()
            delay = self.next_change_s()
            yield env.timeout(delay if max_step_s is None else min(delay, max_step_s)) | self._wake

    def sync(self) -> None:
        """Bring the meter to ``env.now`` (SimPy) before reading its attributes directly."""
        self._sync()

    def _sync(self) -> None:
        if self._now_fn is not None:
            self._advance_to(self._now_fn())

    def _poke(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _advance_to(self, target: int) -> None:
        while True:
            self._due()
            self._settle()
            if self._elapsed >= target:
                return
            self._walk(self._timer(target), apply=True)

    def _due(self) -> None:
        now = self._elapsed
        if self.wall_ms >= self._month_end:
            self._new_month(forward=True)
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._trip_reset_at = now + self.trip_retry_ms
        elif self._trip_reset_at is not None and now >= self._trip_reset_at:
            self._trip_reset_at, self.trips = None, 0

    def _new_month(self, *, forward: bool) -> None:
        self._history.appendleft(self.month_mj // MJ_PER_WH)
        self.month_mj = 0
        self._month_end = _month_end(self.wall_ms)
        self._event("month", f"{self.clock:%Y-%m}")
        fee = self.tariff.monthly_fee if self.tariff else 0
        if fee and forward:
            self.balance -= fee
            self._event("fee", f"monthly fee {fee}")

    def _set_wall(self, wall_ms: int) -> None:
        """The clock is set: no energy flows across the jump; a new month starts if it changed."""
        before = self.wall_ms
        self._offset = wall_ms - self._elapsed
        if f"{self.clock:%Y-%m}" != f"{EPOCH + timedelta(milliseconds=before):%Y-%m}":
            self._new_month(forward=self.wall_ms > before)
        self._month_end = _month_end(self.wall_ms)
        self._event("clock", f"{before // 1000} -> {self.wall_ms // 1000}")

    def _settle(self) -> None:
        if self.emergency_active and self.balance > 0:
            self.emergency_active = False
        low = self.low_alert
        if low and not self._low:
            self._event("low_credit", f"credit {self.available} at or below {self.low_threshold}")
        self._low = low
        if self.relay_closed and self.power_limit_w and self.demand_w > self.power_limit_w:
            self.trips += 1
            self._trip_reset_at = None
            if self.trips >= self.trips_to_lockout:
                self._retry_at = None
                self._event("trip", f"over-current {self.demand_w} W > {self.power_limit_w} W: locked out")
            else:
                self._retry_at = self._elapsed + self.trip_retry_ms
                self._event("trip", f"over-current {self.demand_w} W > {self.power_limit_w} W: trip {self.trips}")
        closed = self.relay_closed
        if closed != self._closed:
            self._closed = closed
            self._event("relay_close" if closed else "relay_open", self.relay_reason)

    def _event(self, kind: str, detail: str = "") -> None:
        event = MeterEvent(self.clock, kind, detail)
        self.events.append(event)
        for listener in self.listeners:
            listener(event)

    def _changed(self) -> None:
        self._settle()
        self._poke()

