"""Paying an order by bank card, as a person does it on the gateway's page.

SATIM style (F1, F3): card number, expiry, CVC2 -> "send code" -> the OTP travels through the
SMSC to the phone linked to the card (maybe a relative's, who reads it out) -> the person types
it (maybe wrong) -> paid. Patience runs out while the SMS is stuck: ask for a new code (if
allowed) or leave. A code that arrives after its validity fails as expired. Shaparak style:
card + PIN2, the core verifies at once. Pressing "pay" twice, and closing the browser once the
code is in (the core then learns the outcome from the callback or its sweeper), happen too.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Generator

from core.digits import to_ascii_digits
from core.errors import RechargeError
from core.orders import Order, State
from core.ports import GatewayError, GatewayTimeout
from sim.channels.attempt import Inbox, Outcome
from sim.channels.outcome import error_reason, order_reason
from sim.draw import LogNormal

if TYPE_CHECKING:
    from sim.world import World

_PENDING = {State.CREATED, State.PENDING_PAYMENT, State.OTP_PENDING, State.AUTHORISED, State.PAID}


def settle(order: Order) -> Outcome:
    """What the person learns from the order's state."""
    if order.state is State.CREDITED:
        return Outcome.ok(order)
    if order.state in _PENDING:
        return Outcome.orphan(order)
    return Outcome.fail(order_reason(order), order)


def otp_in(text: str, length: int) -> str | None:
    m = re.search(rf"(?<!\d)(\d{{{length}}})(?!\d)", to_ascii_digits(text))
    return m.group(1) if m else None


def mistype(code: str, rng) -> str:  # type: ignore[no-untyped-def]
    k = rng.randrange(len(code))
    return code[:k] + str((int(code[k]) + 1 + rng.randrange(9)) % 10) + code[k + 1:]


def pay(w: World, m: str, order: Order, payer: int) -> Generator:
    """The card step of any card order; returns an Outcome."""
    if order.state is not State.PENDING_PAYMENT:
        return settle(order)
    env, h, rng = w.env, w.human, w.people[m]
    gw = w.gateways[order.gateway]
    yield env.timeout(h.think.draw(rng))
    if rng.random() < h.abandon_form:
        return Outcome.abandon("left_card_page")
    card = w.card(m, payer)
    shaparak = gw.style == "shaparak"
    yield env.timeout(h.typing(rng, 16 + 4 + (6 if shaparak else 3)))
    override = {}
    if not shaparak and rng.random() < h.card_typo:
        override["cvc2"] = mistype(card.cvc2, rng)
    if shaparak and rng.random() < h.pin2_wrong:
        override["pin2"] = mistype(card.pin2, rng)
    data = card.card(with_pin2=shaparak, **override)
    inbox = Inbox(env)
    stop = None if shaparak else w.smsc.expect(card.phone, inbox)
    try:
        w.up()
        try:
            order = yield from w.desk.call(order.gateway, lambda: w.core.payments.submit_card(order.id, data))
        except RechargeError as e:
            return Outcome.fail(error_reason(e))
        if rng.random() < h.double_submit:
            w.kpis.counters["double_submits"] += 1
            try:
                w.up()
                w.core.payments.submit_card(order.id, data)
                w.kpis.counters["double_submits_accepted"] += 1
            except RechargeError:
                pass
        if order.state is not State.OTP_PENDING:
            return settle(order)
        return (yield from _otp(w, m, order, payer, card, inbox))
    finally:
        if stop is not None:
            stop()


def _otp(w: World, m: str, order: Order, payer: int, card, inbox: Inbox) -> Generator:  # type: ignore[no-untyped-def]
    env, h, rng = w.env, w.human, w.people[m]
    pop = w.pops[m]
    gw = w.gateways[order.gateway]
    rules = gw.otp_rules
    relay = 0.0 if card.phone == pop.msisdn(payer) else LogNormal.of(pop.cfg["cards"]["other_phone_delay_s"]).draw(rng)
    resends = 0
    patience = h.patience.draw(rng)
    waited_since = issued = env.now
    while True:
        if not inbox.messages:
            left = patience - (env.now - waited_since)
            got = inbox.wait()
            yield got | env.timeout(max(0.0, left))
            if not got.triggered:
                if resends < rules.max_resends and rng.random() < h.resend:
                    resends += 1
                    w.kpis.counters["otp_resends"] += 1
                    w.up()
                    try:
                        order = yield from w.desk.call(order.gateway, lambda: w.core.payments.resend_otp(order.id))
                    except RechargeError as e:
                        return Outcome.fail(error_reason(e))
                    if order.state is not State.OTP_PENDING:
                        return settle(order)
                    patience, waited_since = h.patience.draw(rng), env.now
                    issued = env.now
                    continue
                return Outcome.abandon("otp_not_received")
        text = inbox.messages.pop()            # the newest code
        inbox.messages.clear()
        if env.now > issued + rules.validity_s:
            w.kpis.counters["otp_delivered_late"] += 1
        code = otp_in(text, rules.length)
        if code is None:
            continue
        yield env.timeout(relay + h.otp_read.draw(rng))
        typed = mistype(code, rng) if rng.random() < h.otp_typo else code
        if typed == code and rng.random() < h.close_browser:
            w.kpis.counters["browser_closed"] += 1
            try:    # the gateway's own page takes the code; nobody comes back to the operator
                yield from w.desk.call(order.gateway, lambda: gw.confirm_otp(order.gateway_ref, typed))
            except (GatewayError, GatewayTimeout):
                pass
            return Outcome.orphan(order)
        w.up()
        try:
            order = yield from w.desk.call(order.gateway, lambda: w.core.payments.confirm_otp(order.id, typed))
        except RechargeError as e:
            reason = error_reason(e)
            if reason != "otp_wrong":
                w.up()
                return settle(w.core.payments.get(order.id)) if e.extra.get("state") else Outcome.fail(reason)
            if typed != code:                  # saw the typo: types it again
                inbox.messages.append(text)
            continue
        return settle(order)
