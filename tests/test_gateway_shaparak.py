"""Shaparak-style emulated gateway: PIN2, hold, verify within the window or auto-reverse."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

import pytest

from core.adapters.gateway_profile import GatewayProfile, fixed
from core.adapters.issuer import PIN2_TRIES, IssuedCard, Issuer
from core.adapters.shaparak import ShaparakGateway
from core.clock import FakeClock, ManualScheduler, Scheduler
from core.digits import to_local_digits
from core.market import market
from core.money import Money
from core.ports import CardGateway, GatewayError, GatewayTimeout, PaymentStatus as S

WINDOW = 900
IRR = lambda rial: Money(rial, "IRR")  # noqa: E731


class DroppingScheduler:
    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        pass


@dataclass
class World:
    clock: FakeClock
    issuer: Issuer
    cards: list[IssuedCard]
    gw: ShaparakGateway
    notes: list[tuple[float, str]] = field(default_factory=list)

    def authorise(self, order_ref: str = "o-1", amount: Money = IRR(500_000),
                  card: IssuedCard | None = None) -> str:
        ref = self.gw.register(order_ref, amount).gateway_ref
        p = self.gw.submit_card(ref, (card or self.cards[0]).card(with_pin2=True))
        assert p.status is S.AUTHORISED, p
        return ref

    def balance(self, i: int = 0) -> Money:
        return self.issuer.balance(self.cards[i].card_id, "IRR")


def world(seed: int = 5, *, scheduler: Scheduler | None = None, **kw: object) -> World:
    clock = FakeClock()
    issuer = Issuer(clock)
    cards = issuer.generate(random.Random(seed), 3, ["989121234567"], prefix="603799")
    kw.setdefault("verify_window_s", WINDOW)
    gw = ShaparakGateway("shaparak", clock, scheduler or ManualScheduler(clock),
                         random.Random(seed), issuer, None, **kw)  # type: ignore[arg-type]
    w = World(clock, issuer, cards, gw)
    gw.set_notify(lambda name, ref: w.notes.append((clock.now(), ref)))
    return w


def test_it_is_a_card_gateway() -> None:
    gw: CardGateway = world().gw
    assert gw.style == "shaparak"


def test_pay_request_pin2_verify_settle() -> None:
    w = world()
    start = w.balance()
    ref = w.gw.register("o-1", IRR(500_000)).gateway_ref
    p = w.gw.submit_card(ref, w.cards[0].card(with_pin2=True))
    assert p.status is S.AUTHORISED and len(p.approval_code or "") == 12
    assert w.balance() == start - IRR(500_000)                     # held
    assert w.gw.stats()["held"] == {"IRR": 500_000}
    w.clock.advance(0)
    assert w.notes == [(w.clock.now(), ref)]                       # the callback
    assert w.gw.verify(ref).status is S.PAID
    assert w.gw.verify(ref).status is S.PAID                       # "already verified"
    assert w.gw.stats()["captured"] == {"IRR": 500_000}            # counted once
    assert w.gw.settle(ref).status is S.SETTLED
    assert w.gw.settle(ref).status is S.SETTLED
    assert w.gw.verify(ref).status is S.SETTLED
    with pytest.raises(GatewayError, match="settled; expected authorised or paid"):
        w.gw.refund(ref, IRR(500_000))
    assert w.balance() == start - IRR(500_000)


def test_auto_reversal_at_the_end_of_the_window() -> None:
    w = world()
    start = w.balance()
    ref = w.authorise()
    w.clock.advance(WINDOW - 1)
    assert w.gw.status(ref).status is S.AUTHORISED
    w.clock.advance(2)                                             # window + 1
    assert len(w.notes) == 2 and w.notes[-1][1] == ref             # reversal notified
    p = w.gw.status(ref)
    assert p.status is S.REVERSED and f"{WINDOW} s" in (p.reason or "")
    assert w.balance() == start
    with pytest.raises(GatewayError) as e:
        w.gw.verify(ref)
    assert e.value.code == "verify_window_missed" and "credited" in e.value.message
    assert w.gw.status(ref).status is S.REVERSED
    stats = w.gw.stats()
    assert stats["reversed"] == {"IRR": 500_000} and stats["captured"] == {}
    assert stats["held"] == {}


def test_late_verify_reverses_lazily_without_a_scheduler() -> None:
    w = world(scheduler=DroppingScheduler())
    start = w.balance()
    ref = w.authorise()
    w.clock.advance(WINDOW + 1)
    with pytest.raises(GatewayError) as e:
        w.gw.verify(ref)
    assert e.value.code == "verify_window_missed" and "1 s after" in e.value.message
    assert w.gw.status(ref).status is S.REVERSED and w.balance() == start


def test_verify_in_time_stops_the_reversal() -> None:
    w = world()
    start = w.balance()
    ref = w.authorise()
    w.clock.advance(WINDOW - 1)
    assert w.gw.verify(ref).status is S.PAID
    w.clock.advance(3600)                                          # the scheduled check runs
    assert w.gw.status(ref).status is S.PAID
    assert w.balance() == start - IRR(500_000)


def test_refund_is_a_reversal() -> None:
    w = world()
    start = w.balance()
    paid = w.authorise("o-1")
    w.gw.verify(paid)
    held = w.authorise("o-2")
    with pytest.raises(GatewayError) as e:
        w.gw.refund(paid, IRR(1))
    assert e.value.field == "amount"
    assert w.gw.refund(paid, IRR(500_000)).status is S.REVERSED
    assert w.gw.refund(held, IRR(500_000)).status is S.REVERSED    # the hold is released
    assert w.gw.refund(held, IRR(500_000)).status is S.REVERSED    # again: nothing moves
    assert w.balance() == start
    stats = w.gw.stats()
    assert stats["refunded"] == {"IRR": 500_000} and stats["reversed"] == {"IRR": 500_000}
    assert stats["net_captured"] == {"IRR": 0}
    with pytest.raises(GatewayError, match="reversed; expected paid"):
        w.gw.settle(paid)


def test_wrong_pin2_declines_and_three_in_a_row_block_the_card() -> None:
    w = world()
    card = w.cards[0]
    bad = f"{(int(card.pin2) + 1) % 10**6:06d}"
    for i in range(PIN2_TRIES):
        ref = w.gw.register(f"o-{i}", IRR(1000)).gateway_ref
        p = w.gw.submit_card(ref, card.card(pin2=bad))
        assert p.status is S.DECLINED and "wrong PIN2" in (p.reason or "")
    assert "card blocked" in (p.reason or "")
    ref = w.gw.register("o-ok", IRR(1000)).gateway_ref
    p = w.gw.submit_card(ref, card.card(with_pin2=True))
    assert p.status is S.DECLINED and "blocked" in (p.reason or "")


def test_right_pin2_resets_the_count() -> None:
    w = world()
    card = w.cards[0]
    bad = f"{(int(card.pin2) + 1) % 10**6:06d}"
    for i in range(PIN2_TRIES - 1):
        w.gw.submit_card(w.gw.register(f"b{i}", IRR(10)).gateway_ref, card.card(pin2=bad))
    w.authorise("good", IRR(10))
    w.gw.submit_card(w.gw.register("b9", IRR(10)).gateway_ref, card.card(pin2=bad))
    w.authorise("good2", IRR(10))


@pytest.mark.parametrize("override, fld", [({"pin2": None}, "pin2"), ({"pin2": "12"}, "pin2"),
                                           ({"cvc2": "12345"}, "cvc2")])
def test_card_input_errors_name_the_field(override: dict, fld: str) -> None:
    w = world()
    ref = w.gw.register("o-1", IRR(1000)).gateway_ref
    with pytest.raises(GatewayError) as e:
        w.gw.submit_card(ref, w.cards[0].card(with_pin2=True, **override))
    assert e.value.field == fld and "expected" in e.value.message
    assert w.gw.status(ref).status is S.REGISTERED


def test_persian_digits_for_pin2_and_cvv2() -> None:
    w = world()
    card = w.cards[0]
    ref = w.gw.register("o-1", IRR(1000)).gateway_ref
    typed = card.card(pin2=to_local_digits(card.pin2, "pers"),
                      cvc2=to_local_digits(card.cvc2, "pers"),
                      pan=to_local_digits(card.pan, "pers"))
    assert w.gw.submit_card(ref, typed).status is S.AUTHORISED


def test_insufficient_funds_hold_nothing() -> None:
    w = world()
    w.cards[0].balances["IRR"] = 999
    ref = w.gw.register("o-1", IRR(1000)).gateway_ref
    p = w.gw.submit_card(ref, w.cards[0].card(with_pin2=True))
    assert p.status is S.DECLINED and "insufficient" in (p.reason or "")
    assert w.balance() == IRR(999)


def test_no_otp_step() -> None:
    w = world()
    ref = w.gw.register("o-1", IRR(1000)).gateway_ref
    for call in (lambda: w.gw.confirm_otp(ref, "123456"), lambda: w.gw.resend_otp(ref)):
        with pytest.raises(GatewayError) as e:
            call()
        assert e.value.code == "not_supported"


def test_verify_before_card_is_a_state_error() -> None:
    w = world()
    ref = w.gw.register("o-1", IRR(1000)).gateway_ref
    with pytest.raises(GatewayError) as e:
        w.gw.verify(ref)
    assert e.value.code == "wrong_state" and "registered; expected authorised" in e.value.message


def test_token_expires_after_the_session_timeout() -> None:
    w = world(session_timeout_s=600)
    ref = w.gw.register("o-1", IRR(1000)).gateway_ref
    w.clock.advance(600)
    assert w.gw.status(ref).status is S.EXPIRED and len(w.notes) == 1


def test_timed_out_verify_was_still_applied() -> None:
    w = world()
    ref = w.authorise()
    w.gw.profile = GatewayProfile(timeout_rate=1.0)
    with pytest.raises(GatewayTimeout):
        w.gw.verify(ref)
    w.gw.profile = GatewayProfile()
    w.clock.advance(WINDOW + 10)
    assert w.gw.status(ref).status is S.PAID                        # no reversal


def test_outage_blocks_verify_and_the_window_keeps_running() -> None:
    t0 = FakeClock().now()
    w = world(profile=GatewayProfile(outages=[(t0 + 500, t0 + 1000)]))
    start = w.balance()
    ref = w.authorise()
    w.clock.advance(600)
    with pytest.raises(GatewayError) as e:
        w.gw.verify(ref)
    assert e.value.code == "unavailable"
    w.clock.advance(400)
    assert w.gw.status(ref).status is S.REVERSED and w.balance() == start


def test_for_market_takes_the_window_from_the_profile() -> None:
    ir = market("IR")
    clock = FakeClock()
    gw = ShaparakGateway.for_market(ir, "shaparak", clock, ManualScheduler(clock),
                                    random.Random(1), Issuer(clock), None)
    assert gw.verify_window_s == ir.verify_window_s


def test_money_is_conserved_under_faults() -> None:
    """Whatever happens, card balances move by exactly what the gateway says it kept."""
    w = world(seed=9, profile=GatewayProfile(decline_rate=0.1, timeout_rate=0.2,
                                             callback_loss_rate=0.3,
                                             callback_latency=fixed(2)))
    rng = random.Random(42)
    start = sum(w.balance(i).minor for i in range(3))
    refs = []
    for n in range(200):
        try:
            ref = w.gw.register(f"o-{n}", IRR(rng.randrange(1000, 20_000)))
        except GatewayTimeout:
            continue
        refs.append(ref.gateway_ref)
        card = w.cards[rng.randrange(3)]
        try:
            w.gw.submit_card(ref.gateway_ref, card.card(with_pin2=True))
            w.clock.advance(rng.choice([10, 300, WINDOW + 5]))
            if rng.random() < 0.8:
                w.gw.verify(ref.gateway_ref)
            if rng.random() < 0.2:
                w.gw.refund(ref.gateway_ref, w.gw.status(ref.gateway_ref).amount)
            elif rng.random() < 0.5:
                w.gw.settle(ref.gateway_ref)
        except (GatewayError, GatewayTimeout):
            pass
    w.clock.advance(WINDOW + 1)
    w.gw.profile = GatewayProfile()
    stats = w.gw.stats()
    end = sum(w.balance(i).minor for i in range(3))
    assert stats["held"] == {}
    assert start - end == stats["net_captured"].get("IRR", 0) > 0
    assert stats["timeouts"] > 0 and stats["callbacks_lost"] > 0
    kept = sum(w.gw.status(r).amount.minor for r in refs
               if w.gw.status(r).status.captured)
    assert kept == start - end
