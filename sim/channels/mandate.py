"""F2: the post's debit runs over standing mandates (postal CCP account -> biller).

At each of the profile's run times the post works through the mandates whose item is due
(``due_per_run`` of the mandate households). A household's mandate is made the first time it
is due: the biller account (with this month's bill unless it recharges ADSL), a CCP account
at the post with its balance, the mandate form signed at the counter and activated with the
code the clerk handed out. Each debit is one attempt of channel ``mandate``: paid, or a
failure (insufficient funds, given up after the biller's attempts, post unavailable).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Generator

from core import billers
from core.errors import RechargeError
from core.money import Money
from sim.channels.bill import _period
from sim.draw import LogNormal

if TYPE_CHECKING:
    from sim.world import World


def setup(w: World, m: str, h: int) -> str | None:
    """The household's active mandate id (made on first need), or None if the core refused."""
    known = w.mandates.get((m, h))
    if known is not None:
        return known
    pop = w.pops[m]
    cfg = pop.cfg["mandates"]
    b = billers.biller(cfg["biller"])
    account = pop.account(h, b.id)
    core = w.core
    rng = w.rng(f"mandates:{m}:{h}")
    now = datetime.fromtimestamp(w.clock.now(), timezone.utc)
    customer = w.provision(m, pop.hh_start[h])
    try:
        core.bills.enrol(b.id, account)
        if not cfg["product"]:
            amount = LogNormal.of(pop.cfg["bills"]["amount"]).draw(rng)
            core.bills.issue(b.id, account, _period(b, now), Money(max(b.min_payment.minor, int(amount) // 100 * 100),
                                                                   b.currency).major_str(),
                             (now - timedelta(days=1)).date().isoformat())
        ccp = f"{h % 10**10:010d}-{(h * 7) % 100:02d}"
        balance = int(LogNormal.of(cfg["ccp_balance"]).draw(rng))
        if not core.postal.has_account(ccp):
            core.postal.open_account(ccp, pop.identity(pop.hh_start[h]).name, Money(balance, b.currency))
        mandate = core.mandates.request(m, b.id, account, ccp, customer, product=cfg["product"] or None,
                                        language=pop.language(pop.hh_start[h]))
        core.mandates.activate(mandate.id, core.postal.handed_out(mandate.id))
    except RechargeError:
        w.kpis.counters["mandates_refused"] += 1
        return None
    w.mandates[(m, h)] = mandate.id
    w.kpis.counters["mandates_signed"] += 1
    return mandate.id


def debit(w: World, m: str, h: int) -> Generator:
    """One mandate's turn in the post's run: a SimPy process recording its own attempts."""
    env, k = w.env, w.kpis
    if not w.core_up:
        return
    mandate_id = setup(w, m, h)
    if mandate_id is None:
        return
    started = env.now
    yield env.timeout(w.postal_latency.draw(w.people[m]))
    if not w.core_up:
        a = k.begin(m, "mandate")
        k.fail(a, "core_unavailable")
        return
    try:
        run = w.core.mandates.debit_due(mandate_id=mandate_id)
    except RechargeError:
        k.counters["mandate_debits_refused"] += 1
        return
    for line in run.lines:
        a = k.begin(m, "mandate")
        if line.outcome == "paid":
            k.succeed(a, started, line.amount.minor)
        else:
            k.fail(a, line.outcome)
