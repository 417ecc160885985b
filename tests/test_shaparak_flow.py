"""Shaparak-style payments (F4): verify within the window, or the gateway reverses."""

from core.adapters.gateway_profile import GatewayProfile
from core.cards import parse_card
from core.orders import State
from support import make_world

PAYER, FRIEND = "989121234567", "989351234567"


def pin_card(w, c):
    return parse_card(pan=c.pan, expiry=f"{c.expiry_month:02d}/{c.expiry_year % 100:02d}", pin2=c.pin2,
                      now=w.clock.now())


def test_callback_verify_credit_settle(store_url):
    w = make_world(store_url)
    w.line("IR", "09121234567", "20000", language="fa")
    w.line("IR", "09351234567", language="fa")
    card = w.card(PAYER)
    order = w.topup("IR", "09351234567", "50000", payer="09121234567", save_recipient=True)
    assert order.gateway == "shaparak"
    order = w.core.payments.submit_card(order.id, pin_card(w, card))
    assert order.state in (State.AUTHORISED, State.CREDITED)
    w.settle_time()
    order = w.core.payments.get(order.id)
    assert order.state is State.CREDITED
    assert w.core.gateways["shaparak"].status(order.gateway_ref).status.value == "settled"
    assert w.balance(FRIEND) == 50000
    assert any("شارژ" in t for t in w.sms_to(PAYER))
    assert w.core.conservation().ok


def test_verify_window_missed_reverses_and_nothing_is_credited(store_url):
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("IR", "09121234567", language="fa")
    card = w.card(PAYER)
    before = w.core.issuer.balance(card.card_id, "IRR")
    order = w.topup("IR", "09121234567", "50000")
    gw = w.core.gateways["shaparak"]
    gw.submit_card(order.gateway_ref, pin_card(w, card))    # paid on the gateway page; no callback
    w.clock.advance(w.core.gateways["shaparak"].verify_window_s + 1)
    order = w.core.payments.reconcile(order.id)
    assert order.state is State.FAILED
    assert w.balance(PAYER) == 0
    assert w.core.issuer.balance(card.card_id, "IRR") == before
    assert w.core.conservation().ok


def test_cap_hit_before_verify_reverses_instead(store_url):
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("IR", "09121234567", "1900000", language="fa")
    card = w.card(PAYER)
    a = w.topup("IR", "09121234567", "100000")
    b = w.topup("IR", "09121234567", "100000")
    gw = w.core.gateways["shaparak"]
    gw.submit_card(a.gateway_ref, pin_card(w, card))
    gw.submit_card(b.gateway_ref, pin_card(w, card))
    assert w.core.payments.reconcile(a.id).state is State.CREDITED
    b = w.core.payments.reconcile(b.id)
    assert b.state is State.FAILED and b.reason == "balance_cap"
    assert w.balance(PAYER) == 2000000
    assert gw.status(b.gateway_ref).status.value == "reversed"
    w.settle_time()
    assert any("سقف" in t for t in w.sms_to(PAYER))
    assert w.core.conservation().ok
