"""F1: the web top-up. The operator's page (number, amount, "next"), then the card gateway:
the core registers the order with the gateway (queue and latency included) and the person
pays on the gateway's page (``card.pay``: card data, OTP by SMS, or card + PIN2)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Generator

from core.errors import RechargeError
from core.topups import TopupRequest
from sim.channels import card
from sim.channels.attempt import Outcome
from sim.channels.outcome import error_reason

if TYPE_CHECKING:
    from sim.world import World


def topup(w: World, m: str, payer: int, recipient: int, amount: int, product: str) -> Generator:
    env, h, rng = w.env, w.human, w.people[m]
    pop = w.pops[m]
    yield env.timeout(h.think.draw(rng) + h.typing(rng, 10 + 4))
    w.up()
    payer_no, target = w.provision(m, payer), w.provision(m, recipient)
    w.flush_usage(m, recipient)
    req = TopupRequest(market=m, recipient=target, payer=payer_no, amount=w.money(m, amount).major_str(),
                       product=product, channel="web", language=pop.language(payer))
    try:
        order = yield from w.desk.call(pop.mkt.web_gateway, lambda: w.core.topups.create(req))
    except RechargeError as e:
        return Outcome.fail(error_reason(e))
    return (yield from card.pay(w, m, order, payer))
