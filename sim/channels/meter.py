"""F5 and F6: buying electricity for a prepaid meter, and getting it into the meter.

Card meters (F5): at a kiosk (insert the card, choose the amount, pay cash: the kiosk writes
the signed credit record onto the card), in an e-wallet or a bank app (the record waits in the
app and goes onto the card when it touches the meter). Later the household inserts the card
in the meter: ``card_load``, judged by the meter's own rule (purchase count + 1, the
registered card, the hoarding limit); a dirty card is unreadable and is tried again.

Keypad meters (F6): the token is bought (card + OTP on the web, or a wallet, bank app or
kiosk) and its 20 digits typed on the meter, sometimes wrongly: the meter decodes under its
key, rejects a mistyped token ("authentication") and the person types it again.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generator

from core.errors import RechargeError
from core.money import Money
from core.orders import State
from protocols import utility_card as uc
from sim.channels import card as card_step
from sim.channels.attempt import Outcome, attempt
from sim.channels.card import mistype, settle
from sim.channels.direct import METHOD, provider
from sim.channels.outcome import error_reason
from sim.draw import LogNormal

if TYPE_CHECKING:
    from sim.world import World


def vend_amount(w: World, m: str) -> int:
    book = w.meters[m]
    t = book.tariff
    raw = int(LogNormal.of(w.pops[m].cfg["meters"]["amount"]).draw(w.people[m]))
    step = 1 if t.currency == "IRR" else 100
    return max(t.min_charge.minor, min(t.max_credit.minor, raw // (step * 10) * step * 10 or step))


def card_vend(w: World, m: str, channel: str, h: int, amount: int) -> Generator:
    env, hu, rng = w.env, w.human, w.people[m]
    book = w.meters[m]
    yield env.timeout(hu.think.draw(rng))
    w.up()
    number = book.number(h)
    payer = w.provision(m, w.pops[m].hh_start[h])
    yield env.timeout(w.provider_latency.draw(rng))
    w.up()
    try:
        order = w.core.vending.vend(number, Money(amount, book.tariff.currency).major_str(), method=METHOD[channel],
                                    method_account=provider(w, m, channel), channel=METHOD[channel], payer=payer)
    except RechargeError as e:
        return Outcome.fail(error_reason(e))
    if order.state is not State.CREDITED:
        return settle(order)
    record = w.core.vending.result(order.id)["record"]
    book.card_records.setdefault(h, []).append(uc.from_text(record))
    delay = LogNormal.of(w.pops[m].cfg["meters"]["load_delay_s"]).draw(rng)
    if channel == "kiosk":
        delay *= 0.5                       # straight home with the card
    if env.now + delay < w.end_s:
        ev = env.timeout(delay)
        ev.callbacks.append(lambda _e: _go_load(w, m, h))
    return Outcome.ok(order)


def _go_load(w: World, m: str, h: int) -> None:
    """The household goes to the meter with its card, unless an earlier trip loaded it all."""
    if w.meters[m].card_records.get(h):
        w.env.process(attempt(w, m, "card_load", lambda: card_load(w, m, h)))


def card_load(w: World, m: str, h: int) -> Generator:
    env, hu, rng = w.env, w.human, w.people[m]
    book = w.meters[m]
    yield env.timeout(hu.think.draw(rng))
    if rng.random() < w.pops[m].cfg["meters"]["card_read_error"]:
        return Outcome.fail("card_unreadable")
    status, _credited = book.insert_card(h)
    if status == "credited":
        return Outcome.ok(revenue=0)
    if status == "empty":
        return Outcome.fail("nothing_to_load")
    return Outcome.fail(status.replace(":", "_"))


def sts_vend(w: World, m: str, h: int, amount: int, method: str) -> Generator:
    env, hu, rng = w.env, w.human, w.people[m]
    book, pop = w.meters[m], w.pops[m]
    payer_i = pop.hh_start[h]
    yield env.timeout(hu.think.draw(rng))
    w.up()
    number = book.number(h)
    payer = w.provision(m, payer_i)
    major = Money(amount, book.tariff.currency).major_str()
    try:
        if method == "card":
            order = yield from w.desk.call(pop.mkt.web_gateway, lambda: w.core.vending.vend(
                number, major, method="card", channel="web", payer=payer))
        else:
            yield env.timeout(w.provider_latency.draw(rng))
            w.up()
            channel = {"bank": "bank_app"}.get(method, method)
            order = w.core.vending.vend(number, major, method=method, method_account=provider(w, m, channel),
                                        channel=method, payer=payer)
    except RechargeError as e:
        return Outcome.fail(error_reason(e))
    if method == "card" and order.state is State.PENDING_PAYMENT:
        out = yield from card_step.pay(w, m, order, payer_i)
        if out.kind != "ok":
            return out
        order = out.order
    if order.state is not State.CREDITED:
        return settle(order)
    token = w.core.vending.result(order.id)["token"]
    yield env.timeout(LogNormal.of(pop.cfg["meters"]["load_delay_s"]).draw(rng) * 0.05)   # to the meter
    for _ in range(3):
        yield env.timeout(hu.typing(rng, 20) * 1.5)
        typed = mistype(token, rng) if rng.random() < pop.cfg["meters"]["keypad_typo"] else token
        verdict = book.enter_token(h, typed)
        if verdict == "accepted":
            return Outcome.ok(order)
        if typed == token:                 # the meter refused the right digits: nothing to retype
            return Outcome.fail(f"token_{verdict.replace(' ', '_')}")
        w.kpis.counters["sts_mistyped"] += 1
    return Outcome.fail("token_mistyped")
