"""F3: utility and fixed-line bills paid on the biller's site by card + OTP; debt in instalments.

A household's account and its bills are made in the core the first time someone in it comes
to pay: this cycle's bill (due within about three weeks either way) and, for a share of
households, two overdue bills already spread over an instalment plan. The payer looks the
account up, then pays what the biller takes: everything, a part (where part payments are
allowed), or the open bills plus the next instalment.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Generator

from core import billers
from core.errors import RechargeError
from core.money import Money
from sim.channels import card
from sim.channels.attempt import Outcome
from sim.channels.outcome import error_reason
from sim.draw import LogNormal

if TYPE_CHECKING:
    from sim.world import World


def _period(b: billers.Biller, at: datetime, back: int = 0) -> str:
    months = at.year * 12 + at.month - 1 - back * b.cycle_months
    y, mo = divmod(months, 12)
    mo = mo // b.cycle_months * b.cycle_months
    return f"{y}-{mo + 1:02d}"


def open_account(w: World, m: str, h: int) -> tuple[billers.Biller, str]:
    """The household's biller account, with its bills (made in the core once)."""
    pop = w.pops[m]
    b = billers.biller(pop.billers[pop.biller[h] - 1])
    account = pop.account(h, b.id)
    done = w.bill_accounts.get((m, h))
    if done is not None:
        return b, account
    rng = w.rng(f"bills:{m}:{h}")
    cfg = pop.cfg["bills"]
    amount = LogNormal.of(cfg["amount"])
    now = datetime.fromtimestamp(w.clock.now(), timezone.utc)
    core = w.core
    core.bills.enrol(b.id, account)

    def money(x: float) -> str:
        minor = max(b.min_payment.minor, int(x) // 100 * 100 if b.currency != "IRR" else int(x) // 1000 * 1000)
        return Money(minor, b.currency).major_str()
    if b.instalments is not None and rng.random() < cfg["in_plan"]:
        for back in (2, 1):
            core.bills.issue(b.id, account, _period(b, now, back), money(amount.draw(rng) * 1.5),
                             (now - timedelta(days=30 * back)).date().isoformat())
        try:
            st = core.bills.lookup(b.id, account)
            monthly = Money(-(-st.outstanding.minor // 6), b.currency)
            core.instalments.accept(core.instalments.propose(b.id, account, monthly.major_str()),
                                    customer=w.provision(m, pop.hh_start[h]))
            w.kpis.counters["instalment_plans"] += 1
        except RechargeError:
            w.kpis.counters["instalment_plans_refused"] += 1
    due = now + timedelta(days=rng.uniform(-20, 20))
    core.bills.issue(b.id, account, _period(b, now), money(amount.draw(rng)), due.date().isoformat())
    w.bill_accounts[(m, h)] = account
    return b, account


def amount_to_pay(w: World, m: str, b: billers.Biller, account: str) -> int:
    """What the payer decides to pay now (0: nothing is owed)."""
    st = w.core.bills.lookup(b.id, account)
    total = st.outstanding.minor
    if total == 0:
        return 0
    if st.plan is not None:
        outside = sum(x.outstanding.minor for x in st.bills if x.state != "in_plan")
        nxt = next((i.outstanding.minor for i in st.plan.instalments if i.outstanding.minor > 0), 0)
        return min(total, outside + nxt)
    rng = w.people[m]
    if b.part_payments and rng.random() < w.pops[m].cfg["bills"]["part"]:
        part = int(total * rng.uniform(0.3, 0.7)) // 100 * 100
        if part >= b.min_payment.minor:
            return part
    return total


def pay(w: World, m: str, h: int, b: billers.Biller, account: str, amount: int) -> Generator:
    env, hu, rng = w.env, w.human, w.people[m]
    pop = w.pops[m]
    payer = pop.hh_start[h]
    yield env.timeout(hu.think.draw(rng) + hu.typing(rng, len(account)))
    w.up()
    phone = w.provision(m, payer)
    gateway = pop.mkt.web_gateway
    try:
        order = yield from w.desk.call(gateway, lambda: w.core.bills.pay(
            b.id, account, Money(amount, b.currency).major_str(), payer=phone, channel="web",
            language=pop.language(payer)))
    except RechargeError as e:
        return Outcome.fail(error_reason(e))
    return (yield from card.pay(w, m, order, payer))
