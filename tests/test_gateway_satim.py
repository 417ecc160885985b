"""SATIM-style emulated gateway: card page, SMS OTP to the card's phone, capture, refund, faults."""
from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from typing import Callable

import pytest

from core.adapters.gateway_profile import GatewayProfile, fixed, lognormal
from core.adapters.gateways import emulated_gateway
from core.adapters.issuer import IssuedCard, Issuer, luhn_check_digit
from core.adapters.satim import SatimGateway
from core.clock import FakeClock, ImmediateScheduler, ManualScheduler, Scheduler
from core.digits import to_local_digits
from core.market import OtpRules, market
from core.money import Money
from core.ports import CardGateway, GatewayError, GatewayTimeout, PaymentStatus as S

CARD_PHONE, OTHER_PHONE = "213661112233", "213770000000"
DZD = lambda major: Money(major * 100, "DZD")  # noqa: E731


class RecordingSms:
    """The SmsSender port, recording (to, text)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def send(self, to: str, text: str, *, sender: str = "RBENCH") -> str:
        if self.fail:
            raise RuntimeError("SMSC refused")
        self.sent.append((to, text))
        return f"sms-{len(self.sent)}"

    def last_code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.sent[-1][1])
        assert found, self.sent[-1]
        return found.group(1)


class DroppingScheduler:
    """Never runs anything: only the lazy checks can expire payments."""

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        pass


@dataclass
class World:
    clock: FakeClock
    issuer: Issuer
    cards: list[IssuedCard]
    gw: SatimGateway
    sms: RecordingSms
    notes: list[tuple[float, str, str]] = field(default_factory=list)

    def pay_until_otp(self, order_ref: str = "o-1", amount: Money = DZD(1500),
                      card: IssuedCard | None = None) -> str:
        ref = self.gw.register(order_ref, amount).gateway_ref
        p = self.gw.submit_card(ref, (card or self.cards[0]).card())
        assert p.status is S.OTP_PENDING, p
        return ref


def world(seed: int = 7, *, sms: RecordingSms | None = None, scheduler: Scheduler | None = None,
          **kw: object) -> World:
    clock = FakeClock()
    issuer = Issuer(clock)
    cards = issuer.generate(random.Random(seed), 4, [CARD_PHONE, OTHER_PHONE])
    sms = sms or RecordingSms()
    gw = SatimGateway("satim", clock, scheduler or ManualScheduler(clock), random.Random(seed),
                      issuer, sms, **kw)  # type: ignore[arg-type]
    w = World(clock, issuer, cards, gw, sms)
    gw.set_notify(lambda name, ref: w.notes.append((clock.now(), name, ref)))
    return w


def test_it_is_a_card_gateway() -> None:
    gw: CardGateway = world().gw
    assert gw.style == "satim" and gw.name == "satim"


def test_happy_path_sends_the_otp_to_the_cards_phone_and_captures() -> None:
    w = world()
    before = w.issuer.balance(w.cards[0].card_id, "DZD")
    reg = w.gw.register("o-1", DZD(1500), description="flexy 0661")
    assert w.gw.status(reg.gateway_ref).status is S.REGISTERED
    assert reg.form_url.endswith(reg.gateway_ref)
    p = w.gw.submit_card(reg.gateway_ref, w.cards[0].card())
    assert (p.status, p.otp_attempts_left, p.otp_resends_left) == (S.OTP_PENDING, 3, 3)
    assert p.masked_pan == w.cards[0].pan[:6] + "******" + w.cards[0].pan[-4:]
    to, text = w.sms.sent[-1]
    assert to == CARD_PHONE == w.cards[0].phone
    assert "1,500.00 DZD" in text and "2 min" in text
    assert w.gw.last_otp(reg.gateway_ref) is None          # the SMS path is the real one
    paid = w.gw.confirm_otp(reg.gateway_ref, w.sms.last_code())
    assert paid.status is S.PAID and re.fullmatch(r"\d{6}", paid.approval_code or "")
    assert w.issuer.balance(w.cards[0].card_id, "DZD") == before - DZD(1500)
    stats = w.gw.stats()
    assert stats["captured"] == {"DZD": 150000} and stats["by_status"] == {"paid": 1}
    assert stats["otp_sent"] == 1


def test_second_card_texts_its_own_phone() -> None:
    w = world()
    w.pay_until_otp(card=w.cards[1])
    assert w.sms.sent[-1][0] == OTHER_PHONE


def test_notify_comes_after_the_callback_latency_for_every_change() -> None:
    w = world(profile=GatewayProfile(callback_latency=fixed(3.0)))
    ref = w.pay_until_otp()
    assert w.notes == []
    w.clock.advance(2.9)
    assert w.notes == []
    w.clock.advance(0.2)
    assert w.notes == [(w.clock.now(), "satim", ref)]
    w.gw.confirm_otp(ref, w.sms.last_code())
    w.clock.advance(3.0)
    assert len(w.notes) == 2 and w.gw.stats()["callbacks_sent"] == 2


def test_lognormal_callback_latency_is_reproducible() -> None:
    def run() -> list[float]:
        w = world(seed=3, profile=GatewayProfile(callback_latency=lognormal(2.0, 6.0)))
        for i in range(5):
            w.pay_until_otp(f"o-{i}")
        for _ in range(600):                 # small steps: notes carry their due time
            w.clock.advance(0.1)
        return [t for t, _, _ in w.notes]
    first = run()
    assert first == run() and len(first) == 5 and len(set(first)) > 1


def test_lost_callback_leaves_the_status_to_be_asked() -> None:
    w = world(profile=GatewayProfile(callback_loss_rate=1.0))
    ref = w.pay_until_otp()
    w.gw.confirm_otp(ref, w.sms.last_code())
    w.clock.advance(60)
    assert w.notes == [] and w.gw.stats()["callbacks_lost"] == 2
    assert w.gw.status(ref).status is S.PAID


def test_timeout_still_processes_the_call_card_charged_browser_never_back() -> None:
    w = world()
    ref = w.pay_until_otp()
    before = w.issuer.balance(w.cards[0].card_id, "DZD")
    w.gw.profile = GatewayProfile(timeout_rate=1.0, callback_loss_rate=1.0)
    with pytest.raises(GatewayTimeout, match="processed"):
        w.gw.confirm_otp(ref, w.sms.last_code())
    w.gw.profile = GatewayProfile()
    assert w.gw.status(ref).status is S.PAID
    assert w.issuer.balance(w.cards[0].card_id, "DZD") == before - DZD(1500)
    assert w.gw.stats()["timeouts"] == 1


def test_outage_refuses_every_call_and_processes_nothing() -> None:
    t0 = FakeClock().now()
    w = world(profile=GatewayProfile(outages=[(t0 + 100, t0 + 200)],
                                     callback_latency=fixed(150)))
    ref = w.pay_until_otp()            # its callback would land inside the outage
    w.clock.advance(100)
    for call in (lambda: w.gw.register("o-2", DZD(100)), lambda: w.gw.status(ref),
                 lambda: w.gw.confirm_otp(ref, "000000")):
        with pytest.raises(GatewayError) as e:
            call()
        assert e.value.code == "unavailable" and "until" in e.value.message
    w.clock.advance(60)                # the callback falls due inside the outage
    w.clock.advance(40)
    assert w.gw.stats()["orders"] == 1 and w.gw.stats()["unavailable"] == 3
    assert w.notes == [] and w.gw.stats()["callbacks_lost"] == 1
    assert w.gw.status(ref).otp_attempts_left == 3      # the refused confirm never counted


def test_duplicate_register_returns_the_same_registration() -> None:
    w = world()
    a = w.gw.register("o-1", DZD(500))
    assert w.gw.register("o-1", DZD(500)) == a
    with pytest.raises(GatewayError) as e:
        w.gw.register("o-1", DZD(600))
    assert (e.value.code, e.value.field) == ("duplicate_order", "order_ref")
    assert "500.00 DZD" in e.value.message
    assert w.gw.stats()["orders"] == 1


@pytest.mark.parametrize("order_ref, amount, fld", [("", DZD(1), "order_ref"),
                                                    ("x" * 65, DZD(1), "order_ref"),
                                                    ("o", Money(0, "DZD"), "amount")])
def test_register_checks_its_input(order_ref: str, amount: Money, fld: str) -> None:
    with pytest.raises(GatewayError) as e:
        world().gw.register(order_ref, amount)
    assert e.value.field == fld


def test_three_wrong_codes_decline_and_charge_nothing() -> None:
    w = world()
    ref = w.pay_until_otp()
    before = w.issuer.balance(w.cards[0].card_id, "DZD")
    bad = f"{(int(w.sms.last_code()) + 1) % 10**6:06d}"
    for left in (2, 1):
        with pytest.raises(GatewayError) as e:
            w.gw.confirm_otp(ref, bad)
        assert (e.value.code, e.value.field) == ("wrong_otp", "otp")
        assert f"{left} attempt" in e.value.message
        assert w.gw.status(ref).otp_attempts_left == left
    p = w.gw.confirm_otp(ref, bad)
    assert p.status is S.DECLINED and "3 wrong codes" in (p.reason or "")
    assert w.issuer.balance(w.cards[0].card_id, "DZD") == before
    with pytest.raises(GatewayError, match="declined; expected otp_pending"):
        w.gw.confirm_otp(ref, w.sms.last_code())


def test_malformed_code_costs_nothing_and_persian_digits_pass() -> None:
    w = world()
    ref = w.pay_until_otp()
    with pytest.raises(GatewayError) as e:
        w.gw.confirm_otp(ref, "12ab")
    assert e.value.code == "invalid_otp" and "expected 6 digits" in e.value.message
    assert w.gw.status(ref).otp_attempts_left == 3
    assert w.gw.confirm_otp(ref, to_local_digits(w.sms.last_code(), "pers")).status is S.PAID


def test_resend_limit_and_each_resend_texts_a_new_code() -> None:
    w = world()
    ref = w.pay_until_otp()
    for left in (2, 1, 0):
        assert w.gw.resend_otp(ref).otp_resends_left == left
    assert len(w.sms.sent) == 4 and {to for to, _ in w.sms.sent} == {CARD_PHONE}
    with pytest.raises(GatewayError) as e:
        w.gw.resend_otp(ref)
    assert (e.value.code, e.value.field) == ("resend_limit", "otp")
    assert "at most 3" in e.value.message
    assert w.gw.confirm_otp(ref, w.sms.last_code()).status is S.PAID


def test_expired_code_expires_the_payment_but_resend_revives_the_code() -> None:
    w = world()
    ref = w.pay_until_otp()
    w.clock.advance(121)
    w.gw.resend_otp(ref)                                  # after expiry: a new code
    w.clock.advance(60)
    assert w.gw.confirm_otp(ref, w.sms.last_code()).status is S.PAID
    ref2 = w.pay_until_otp("o-2")
    w.clock.advance(120)
    p = w.gw.confirm_otp(ref2, w.sms.last_code())
    assert p.status is S.EXPIRED and "120 s" in (p.reason or "")


def test_session_timeout_is_scheduled_and_notified() -> None:
    w = world(session_timeout_s=600)
    ref = w.gw.register("o-1", DZD(100)).gateway_ref
    w.clock.advance(599)
    assert w.notes == []
    w.clock.advance(1)
    assert w.notes == [(w.clock.now(), "satim", ref)]
    p = w.gw.status(ref)
    assert p.status is S.EXPIRED and "600 s" in (p.reason or "")


def test_session_timeout_applies_lazily_without_a_scheduler() -> None:
    w = world(scheduler=DroppingScheduler(), session_timeout_s=600)
    ref = w.pay_until_otp()
    w.clock.advance(600)
    assert w.gw.status(ref).status is S.EXPIRED
    with pytest.raises(GatewayError, match="expired; expected otp_pending"):
        w.gw.confirm_otp(ref, w.sms.last_code())


@pytest.mark.parametrize("override, fld", [
    ({"pan": "6280581111111111"}, "pan"), ({"pan": "62805811"}, "pan"),
    ({"expiry_month": 13}, "expiry_month"), ({"expiry_year": 28}, "expiry_year"),
    ({"expiry_month": 12, "expiry_year": 2025}, "expiry"),
    ({"cvc2": "12"}, "cvc2"), ({"cvc2": None}, "cvc2")])
def test_bad_card_input_names_the_field_and_keeps_the_payment_open(override: dict, fld: str
                                                                    ) -> None:
    w = world()
    ref = w.gw.register("o-1", DZD(100)).gateway_ref
    with pytest.raises(GatewayError) as e:
        w.gw.submit_card(ref, w.cards[0].card(**override))
    assert (e.value.field, e.value.code) == (fld, "invalid_card")
    assert e.value.message.startswith(f"{fld}: ") and "expected" in e.value.message
    assert w.cards[0].pan not in e.value.message
    assert w.gw.status(ref).status is S.REGISTERED
    assert w.gw.submit_card(ref, w.cards[0].card()).status is S.OTP_PENDING


def test_card_typed_with_spaces_and_arabic_digits_is_accepted() -> None:
    w = world()
    ref = w.gw.register("o-1", DZD(100)).gateway_ref
    pan = " ".join(w.cards[0].pan[i:i + 4] for i in range(0, 16, 4))
    card = w.cards[0].card(pan=to_local_digits(pan, "arab"),
                           cvc2=to_local_digits(w.cards[0].cvc2, "arab"))
    assert w.gw.submit_card(ref, card).status is S.OTP_PENDING


@pytest.mark.parametrize("setup, reason", [
    (lambda c: c.balances.update(DZD=100), "insufficient funds"),
    (lambda c: setattr(c, "blocked", True), "blocked"),
    (lambda c: setattr(c, "stolen", True), "stolen"),
    (None, "wrong CVC2"),
    (None, "not issued")])
def test_issuer_declines_end_the_payment(setup: Callable | None, reason: str) -> None:
    w = world()
    card = w.cards[0]
    typed = card.card()
    if setup is not None:
        setup(card)
    elif reason == "wrong CVC2":
        typed = card.card(cvc2=f"{(int(card.cvc2) + 1) % 1000:03d}")
    else:
        body = "628058" + "9" * 9
        typed = card.card(pan=body + luhn_check_digit(body))
    ref = w.gw.register("o-1", DZD(100)).gateway_ref
    p = w.gw.submit_card(ref, typed)
    assert p.status is S.DECLINED and reason in (p.reason or "")
    assert w.sms.sent == []
    w.clock.advance(1)
    assert len(w.notes) == 1


def test_funds_spent_between_otp_and_capture_decline_at_capture() -> None:
    w = world()
    ref = w.pay_until_otp()
    w.cards[0].balances["DZD"] = 0
    p = w.gw.confirm_otp(ref, w.sms.last_code())
    assert p.status is S.DECLINED and "insufficient funds" in (p.reason or "")
    assert w.gw.stats()["captured"] == {}


def test_random_declines_follow_the_profile() -> None:
    w = world(profile=GatewayProfile(decline_rate=1.0))
    ref = w.gw.register("o-1", DZD(100)).gateway_ref
    p = w.gw.submit_card(ref, w.cards[0].card())
    assert p.status is S.DECLINED and "risk" in (p.reason or "")
    assert w.gw.stats()["random_declines"] == 1


def test_refund_credits_the_card_once_and_only_in_full() -> None:
    w = world()
    start = w.issuer.balance(w.cards[0].card_id, "DZD")
    ref = w.pay_until_otp()
    with pytest.raises(GatewayError, match="otp_pending; expected paid"):
        w.gw.refund(ref, DZD(1500))
    w.gw.confirm_otp(ref, w.sms.last_code())
    with pytest.raises(GatewayError) as e:
        w.gw.refund(ref, DZD(100))
    assert e.value.field == "amount" and "1500.00 DZD" in e.value.message
    assert w.gw.refund(ref, DZD(1500)).status is S.REFUNDED
    assert w.gw.refund(ref, DZD(1500)).status is S.REFUNDED     # asked again: nothing moves
    assert w.issuer.balance(w.cards[0].card_id, "DZD") == start
    stats = w.gw.stats()
    assert stats["refunded"] == {"DZD": 150000} and stats["net_captured"] == {"DZD": 0}


def test_verify_and_settle_only_report_on_satim() -> None:
    w = world()
    ref = w.pay_until_otp()
    assert w.gw.verify(ref).status is S.OTP_PENDING
    w.gw.confirm_otp(ref, w.sms.last_code())
    assert w.gw.settle(ref).status is S.PAID and w.gw.verify(ref).status is S.PAID


def test_unknown_gateway_ref() -> None:
    with pytest.raises(GatewayError) as e:
        world().gw.status("nope")
    assert (e.value.code, e.value.field) == ("unknown_order", "gateway_ref")


def test_without_sms_the_last_code_is_kept_for_tests() -> None:
    clock = FakeClock()
    issuer = Issuer(clock)
    card = issuer.generate(random.Random(1), 1, [CARD_PHONE])[0]
    gw = SatimGateway("s", clock, ManualScheduler(clock), random.Random(1), issuer, None)
    ref = gw.register("o", DZD(10)).gateway_ref
    gw.submit_card(ref, card.card())
    assert gw.confirm_otp(ref, gw.last_otp(ref) or "").status is S.PAID


def test_a_failing_smsc_is_counted_and_resend_helps() -> None:
    w = world(sms=RecordingSms(fail=True))
    ref = w.pay_until_otp()
    assert w.gw.stats()["otp_send_failed"] == 1
    w.sms.fail = False
    w.gw.resend_otp(ref)
    assert w.gw.confirm_otp(ref, w.sms.last_code()).status is S.PAID


def test_card_data_is_never_kept() -> None:
    w = world()
    ref = w.pay_until_otp()
    w.gw.confirm_otp(ref, w.sms.last_code())
    card = w.cards[0]
    for order in w.gw._orders.values():
        values = [str(v) for v in vars(order).values()]
        assert card.pan not in " ".join(values)
        assert card.cvc2 not in values and card.pin2 not in values


def test_notify_may_call_straight_back_into_the_gateway() -> None:
    w = world(scheduler=ImmediateScheduler())
    seen: list[S] = []
    w.gw.set_notify(lambda name, ref: seen.append(w.gw.status(ref).status))
    ref = w.pay_until_otp()
    w.gw.confirm_otp(ref, w.sms.last_code())
    assert seen == [S.OTP_PENDING, S.PAID]


def test_same_seed_same_run() -> None:
    def run() -> tuple[list[str], list[tuple[str, str]], dict]:
        w = world(seed=11, profile=GatewayProfile(decline_rate=0.3, callback_loss_rate=0.3))
        refs = []
        for i in range(12):
            ref = w.gw.register(f"o-{i}", DZD(100 + i)).gateway_ref
            refs.append(ref)
            if w.gw.submit_card(ref, w.cards[i % 4].card()).status is S.OTP_PENDING:
                w.gw.confirm_otp(ref, w.sms.last_code())
        return refs, list(w.sms.sent), w.gw.stats()
    assert run() == run()


def test_threads_share_one_gateway_safely() -> None:
    w = world(scheduler=ImmediateScheduler())
    for c in w.cards:
        c.balances["DZD"] = 10**9
    errors: list[BaseException] = []

    def buyer(k: int) -> None:
        try:
            for i in range(25):
                ref = w.gw.register(f"t{k}-{i}", DZD(10)).gateway_ref
                w.gw.submit_card(ref, w.cards[k % 4].card())
                w.gw.confirm_otp(ref, w.gw.last_otp(ref) or "")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
    w.gw.sms = None
    threads = [threading.Thread(target=buyer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stats = w.gw.stats()
    assert stats["by_status"] == {"paid": 200} and stats["captured"] == {"DZD": 200 * 1000}
    spent = sum(10**9 - c.balances["DZD"] for c in w.cards)
    assert spent == 200 * 1000


def test_for_market_uses_the_profile_rules_and_text() -> None:
    dz = market("DZ")
    clock = FakeClock()
    issuer = Issuer(clock)
    card = issuer.generate(random.Random(2), 1, [CARD_PHONE])[0]
    sms = RecordingSms()
    gw = emulated_gateway(dz.web_gateway, "satim", clock, ManualScheduler(clock),
                          random.Random(2), issuer, sms)
    assert isinstance(gw, SatimGateway)
    gw = SatimGateway.for_market(dz, "satim", clock, ManualScheduler(clock), random.Random(2),
                                 issuer, sms)
    assert gw.otp_rules == dz.otp and gw.session_timeout_s == dz.session_timeout_s
    ref = gw.register("o", DZD(200)).gateway_ref
    gw.submit_card(ref, card.card())
    assert "رمز التأكيد" in sms.sent[-1][1] and sms.last_code() in sms.sent[-1][1]


def test_otp_rules_are_honoured() -> None:
    w = world(otp_rules=OtpRules(length=4, validity_s=60, max_attempts=1, max_resends=0))
    ref = w.pay_until_otp()
    code = re.search(r"\b(\d{4})\b", w.sms.sent[-1][1])
    assert code is not None
    with pytest.raises(GatewayError, match="at most 0"):
        w.gw.resend_otp(ref)
    p = w.gw.confirm_otp(ref, f"{(int(code.group(1)) + 1) % 10**4:04d}")
    assert p.status is S.DECLINED


def test_profile_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="decline_rate"):
        GatewayProfile(decline_rate=1.5)
    with pytest.raises(ValueError, match="start < end"):
        GatewayProfile(outages=[(10, 5)])
    with pytest.raises(ValueError, match="p50_s < p95_s"):
        lognormal(5, 2)


@pytest.mark.parametrize("month, year, last_valid", [
    (1, 2027, "2027-01-31T23:59:59"), (2, 2028, "2028-02-29T23:59:59"), (12, 2026, "2026-12-31T23:59:59"),
])
def test_a_card_is_valid_through_the_last_second_of_its_expiry_month(month, year, last_valid) -> None:
    from datetime import datetime, timezone

    from core.adapters.issuer import expired
    t = datetime.fromisoformat(last_valid).replace(tzinfo=timezone.utc).timestamp()
    for _ in range(2):                              # the second time from the kept month boundary
        assert not expired(month, year, t) and expired(month, year, t + 1)
