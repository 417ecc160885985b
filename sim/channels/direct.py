"""Airtime bought at a kiosk, in an e-wallet or in a bank app: paid at once from the provider.

The person tells the agent (or types in the app) the number and the amount; the provider's
back end answers after its latency and the core takes the money from the provider's clearing
account (a kiosk agent's float must cover it) and credits in one transaction.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Generator

from core.errors import RechargeError
from core.topups import TopupRequest
from sim.channels.attempt import Outcome
from sim.channels.card import settle
from sim.channels.outcome import error_reason

if TYPE_CHECKING:
    from sim.world import World

METHOD = {"kiosk": "kiosk", "wallet": "wallet", "bank_app": "bank"}   # channel -> core method


def provider(w: World, m: str, channel: str) -> str:
    rng, cfg = w.people[m], w.cfg.markets[m]
    if channel == "kiosk":
        return w.agent(m, rng)
    return rng.choice(cfg["wallets"] if channel == "wallet" else cfg["banks"])


def topup(w: World, m: str, channel: str, payer: int, recipient: int, amount: int, product: str) -> Generator:
    env, h, rng = w.env, w.human, w.people[m]
    yield env.timeout(h.think.draw(rng) + h.typing(rng, 10 + 4))
    w.up()
    payer_no, target = w.provision(m, payer), w.provision(m, recipient)
    w.flush_usage(m, recipient)
    yield env.timeout(w.provider_latency.draw(rng))
    w.up()
    try:
        order = w.core.topups.create(TopupRequest(
            market=m, recipient=target, payer=payer_no, amount=w.money(m, amount).major_str(), product=product,
            channel=METHOD[channel], method=METHOD[channel], method_account=provider(w, m, channel)))
    except RechargeError as e:
        return Outcome.fail(error_reason(e))
    return settle(order)
