"""A small world for the core's tests: a core on a fake clock, with helpers that read like
the flows (provision a line, issue a card, pay an order by card + OTP)."""
from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass
from typing import Callable, TypeVar

from core.adapters.issuer import IssuedCard
from core.cards import parse_card
from core.clock import FakeClock, ManualScheduler
from core.money import Money
from core.orders import Order
from core.topups import TopupRequest
from core.wiring import Core, build_core


@dataclass
class World:
    core: Core
    clock: FakeClock
    scheduler: ManualScheduler
    rng: random.Random

    def line(self, market: str, msisdn: str, balance: str | None = None, **kw) -> str:
        mkt_cur = {"DZ": "DZD", "IR": "IRR", "EG": "EGP"}[market]
        opening = Money.parse(balance, mkt_cur) if balance else None
        return self.core.subscribers.provision(market, msisdn, opening_balance=opening, **kw).msisdn

    def card(self, phone: str, **balances: int) -> IssuedCard:
        return self.core.issuer.generate(self.rng, 1, [phone], balances=balances or None)[0]

    def card_data(self, c: IssuedCard, *, pin2: bool = False, cvc2: bool = True):
        return parse_card(pan=c.pan, expiry=f"{c.expiry_month:02d}/{c.expiry_year % 100:02d}",
                          cvc2=c.cvc2 if cvc2 else None, pin2=c.pin2 if pin2 else None, now=self.clock.now())

    def topup(self, market: str, recipient: str, amount: str, **kw) -> Order:
        return self.core.topups.create(TopupRequest(market=market, recipient=recipient, amount=amount, **kw))

    def last_otp(self, phone: str) -> str:
        self.clock.advance(0)
        inbox = self.core.sms.inbox(phone)
        assert inbox, f"no SMS reached {phone}"
        return re.search(r"(\d{6})", inbox[-1].text).group(1)

    def pay_web(self, order: Order, c: IssuedCard) -> Order:
        order = self.core.payments.submit_card(order.id, self.card_data(c))
        return self.core.payments.confirm_otp(order.id, self.last_otp(c.phone))

    def settle_time(self, seconds: float = 60) -> None:
        """Let scheduled callbacks and SMS deliveries happen."""
        self.clock.advance(seconds)

    def balance(self, msisdn: str) -> int:
        return self.core.subscribers.balances(msisdn).main.minor

    def sms_to(self, msisdn: str) -> list[str]:
        return [m.text for m in self.core.sms.inbox(msisdn)]


def make_world(store_url: str, *, seed: int = 1, **kw) -> World:
    clock = FakeClock()
    scheduler = ManualScheduler(clock)
    core = build_core(store_url, clock=clock, scheduler=scheduler, seed=seed, **kw)
    return World(core, clock, scheduler, random.Random(seed))


T = TypeVar("T")


def race(fn: Callable[[int], T], n: int) -> list[T]:
    """``fn(0)`` ... ``fn(n - 1)`` on ``n`` threads released together by a barrier; their
    results in that order. The first exception a thread raised is raised here, once all ended."""
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def go(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = fn(i)
        except BaseException as e:   # noqa: BLE001 - re-raised below, in the test's thread
            errors.append(e)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results
