"""One attempt, from start to its single ending in the KPIs, with the person's retry.

A flow is a generator that yields SimPy events and returns an :class:`Outcome`. ``attempt``
runs it, records the ending, and maybe starts the flow again later (a person retries once
after a failure that a retry can fix). A flow that meets a core that is down, or a bug in the
core, ends as a failure with that reason instead of stopping the world.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generator

from core.orders import Order

if TYPE_CHECKING:
    from sim.world import World

log = logging.getLogger("rbench.sim")
NOT_RETRIED = {"balance_cap", "nothing_owed", "over_outstanding", "recipient_postpaid", "recipient_unknown",
               "card_blocked", "already_loaded", "unfinished", "amount_limits", "ussd_timeout"}


class CoreDown(Exception):
    """The core is restarting: the call never reached it."""


@dataclass(frozen=True)
class Outcome:
    kind: str                 # ok | fail | abandon | orphan
    reason: str = ""
    revenue: int = 0
    order: Order | None = None

    @classmethod
    def ok(cls, order: Order | None = None, revenue: int | None = None) -> Outcome:
        return cls("ok", "", order.amount.minor if revenue is None and order is not None else revenue or 0, order)

    @classmethod
    def fail(cls, reason: str, order: Order | None = None) -> Outcome:
        return cls("fail", reason, 0, order)

    @classmethod
    def abandon(cls, reason: str) -> Outcome:
        return cls("abandon", reason)

    @classmethod
    def orphan(cls, order: Order) -> Outcome:
        return cls("orphan", "", 0, order)


Flow = Callable[[], Generator]


def attempt(w: World, m: str, channel: str, flow: Flow, *, retries: int = 1,
            on_ok: Callable[[Outcome], None] | None = None) -> Generator:
    """Run ``flow`` as one attempt on ``channel``; retry a fixable failure ``retries`` times."""
    k, env = w.kpis, w.env
    a = k.begin(m, channel)
    t0 = env.now
    try:
        out = yield from flow()
    except CoreDown:
        out = Outcome.fail("core_unavailable")
    except Exception as e:        # a bug in the system under test: a finding, not a crash
        log.debug("%s %s attempt failed inside the core: %r", m, channel, e)
        out = Outcome.fail(f"core_error:{type(e).__name__}")
    if out.kind == "ok":
        k.succeed(a, t0, out.revenue)
        if on_ok is not None:
            on_ok(out)
        return out
    if out.kind == "orphan":
        w.orphan(a, t0, out.order.id, m, channel, on_ok)
        return out
    if out.kind == "abandon":
        k.abandon(a, out.reason)
        return out
    k.fail(a, out.reason)
    if out.reason == "otp_expired":
        k.otp_expired(m, channel)
    rng = w.people[m]
    if retries > 0 and out.reason not in NOT_RETRIED and rng.random() < w.human.retry:
        yield env.timeout(w.human.retry_after.draw(rng))
        if env.now < w.end_s:
            k.counters["retries"] += 1
            return (yield from attempt(w, m, channel, flow, retries=retries - 1, on_ok=on_ok))
    return out


class Inbox:
    """A handset's inbox while its owner waits for a code: messages and a wake-up event."""

    def __init__(self, env) -> None:  # type: ignore[no-untyped-def]
        self.env, self.messages, self.event = env, [], None

    def __call__(self, text: str, at: float) -> None:
        self.messages.append(text)
        if self.event is not None and not self.event.triggered:
            self.event.succeed()

    def wait(self):  # type: ignore[no-untyped-def]
        self.event = self.env.event()
        return self.event
