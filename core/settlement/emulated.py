"""An emulated gateway's end-of-day settlement file, with discrepancies injected on demand.

    f = end_of_day_file(core.gateways["satim"], date(2026, 1, 1),
                        inject=[drop("ord_1"), duplicate("ord_2"), change_amount("ord_3", 500),
                                unknown_reference(), phantom_capture("ord_4")])

The file is built from the gateway's own records (read, never changed): one line per payment
whose money left the card on that UTC day (captured, refunded, reversed) or that the issuer
declined. Payments still registered, waiting for an OTP or expired took no money and are not
listed; a Shaparak-style authorisation whose verify window has closed is listed as reversed,
as the gateway will reverse it.

The records keep no capture time, so the line's time is the latest recorded moment before the
money moved: the OTP challenge (SATIM style: the capture follows its check, within its
validity) or the authorisation (Shaparak style: the hold). It never falls after the capture,
so a payment is never listed on a later day than the one the core saw it captured.
"""
from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from core.money import Money
from core.ports import PaymentStatus as S
from core.settlement.files import SettlementFile, SettlementLine, utc

_LISTED = {S.PAID: "captured", S.SETTLED: "captured", S.REFUNDED: "refunded",
           S.REVERSED: "reversed", S.DECLINED: "declined"}
KINDS = ("drop", "duplicate", "amount", "unknown", "phantom")


@dataclass(frozen=True)
class Discrepancy:
    """One thing the file gets wrong. ``order`` is our order number (None: the rng picks)."""

    kind: str
    order: str | None = None
    delta_minor: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r}; expected one of {', '.join(KINDS)}")


def drop(order: str | None = None) -> Discrepancy:
    """The payment's line is missing."""
    return Discrepancy("drop", order)


def duplicate(order: str | None = None) -> Discrepancy:
    """The payment is presented twice (the copy one second later)."""
    return Discrepancy("duplicate", order)


def change_amount(order: str | None = None, delta_minor: int = 100) -> Discrepancy:
    """The line's amount is off by ``delta_minor``."""
    if delta_minor == 0:
        raise ValueError("delta_minor: expected a non-zero change")
    return Discrepancy("amount", order, delta_minor)


def unknown_reference() -> Discrepancy:
    """A captured payment with a reference and order number nobody issued."""
    return Discrepancy("unknown")


def phantom_capture(order: str | None = None) -> Discrepancy:
    """A payment that took no money (declined, expired, never finished) listed as captured."""
    return Discrepancy("phantom", order)


def day_bounds(day: date) -> tuple[float, float]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
    return start, start + 86_400


def _money_moved_at(order: Any) -> float:
    for name in ("captured_at", "authorised_at"):      # captured_at: if gateways ever keep it
        t = getattr(order, name, None)
        if t is not None:
            return float(t)
    otp = getattr(order, "otp", None)
    return float(otp.created_at) if otp is not None else float(order.created_at)


def _status(gateway: Any, order: Any, now: float) -> S:
    if (order.status is S.AUTHORISED and getattr(gateway, "style", "") == "shaparak"
            and order.authorised_at is not None
            and now >= order.authorised_at + gateway.verify_window_s):
        return S.REVERSED
    return order.status


def end_of_day_file(gateway: Any, day: date, *, inject: Sequence[Discrepancy] = (),
                    rng: random.Random | None = None) -> SettlementFile:
    """The file ``gateway`` (an emulated gateway) would send for ``day``, discrepancies added."""
    rng = rng or random.Random(f"settlement:{gateway.name}:{day}")
    start, end = day_bounds(day)
    now = gateway.clock.now()
    lines: list[SettlementLine] = []
    unlisted: list[tuple[Any, float]] = []
    times: dict[str, float] = {}
    with gateway._lock:                      # a consistent snapshot of the records
        for o in sorted(gateway._orders.values(), key=lambda o: (o.created_at, o.gateway_ref)):
            at = _money_moved_at(o)
            if not start <= at < end:
                continue
            times[o.gateway_ref] = at
            kind = _LISTED.get(_status(gateway, o, now))
            if kind is None or (kind == "declined" and o.masked_pan is None):
                unlisted.append((o, at))     # took no money: a candidate for a phantom capture
                continue
            captured_at = None if kind == "declined" else utc(at)
            lines.append(SettlementLine(o.gateway_ref, o.order_ref, o.amount, kind, captured_at,
                                        o.approval_code or ""))
    for d in inject:
        lines = _inject(d, lines, unlisted, times, gateway, rng, start)
    return SettlementFile(gateway.name, day, tuple(lines))


def _pick(d: Discrepancy, lines: list[SettlementLine], rng: random.Random) -> int:
    candidates = [i for i, ln in enumerate(lines)
                  if (d.order is None and ln.status == "captured") or ln.order_number == d.order]
    if not candidates:
        raise ValueError(f"{d.kind}: no line for order {d.order!r} in this file"
                         if d.order else f"{d.kind}: the file has no captured line to alter")
    return candidates[0] if d.order else rng.choice(candidates)


def _inject(d: Discrepancy, lines: list[SettlementLine], unlisted: list[tuple[Any, float]],
            times: dict[str, float], gateway: Any, rng: random.Random, start: float) -> list[SettlementLine]:
    if d.kind == "unknown":
        cur = lines[0].amount.currency if lines else next(
            (o.amount.currency for o, _ in unlisted), "DZD")
        ref = (str(uuid.UUID(int=rng.getrandbits(128), version=4)) if gateway.style == "satim"
               else f"{rng.getrandbits(96):024X}")
        at = utc(start + rng.randrange(86_400))
        order = "ord_" + "".join(rng.choice("0123456789abcdef") for _ in range(24))
        return lines + [SettlementLine(ref, order, Money(rng.randrange(1, 50) * 10_000, cur),
                                       "captured", at, f"{rng.randrange(10**6):06d}")]
    if d.kind == "phantom":
        listed = [i for i, ln in enumerate(lines) if ln.order_number == d.order and ln.status != "captured"]
        if listed:                           # a listed refund/reversal/decline turned captured
            ln = lines[listed[0]]
            moved = ln.captured_at or utc(times.get(ln.reference, start))
            code = ln.approval_code or f"{rng.randrange(10**6):06d}"
            return [replace(ln, status="captured", captured_at=moved, approval_code=code)
                    if i == listed[0] else x for i, x in enumerate(lines)]
        pool = [(o, at) for o, at in unlisted if d.order is None or o.order_ref == d.order]
        if not pool:
            raise ValueError(f"phantom: no payment without a capture for order {d.order!r}")
        o, at = pool[0] if d.order else rng.choice(pool)
        return lines + [SettlementLine(o.gateway_ref, o.order_ref, o.amount, "captured", utc(at),
                                       f"{rng.randrange(10**6):06d}")]
    i = _pick(d, lines, rng)
    ln = lines[i]
    if d.kind == "drop":
        return lines[:i] + lines[i + 1:]
    if d.kind == "duplicate":
        if ln.captured_at is None:
            raise ValueError(f"duplicate: line of {ln.order_number} has no capture time to present twice")
        return lines + [replace(ln, captured_at=ln.captured_at + timedelta(seconds=1))]
    minor = ln.amount.minor + d.delta_minor
    if minor <= 0:
        raise ValueError(f"amount: {ln.amount} changed by {d.delta_minor} is not positive")
    return lines[:i] + [replace(ln, amount=Money(minor, ln.amount.currency))] + lines[i + 1:]
