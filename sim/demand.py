"""Who comes, when, and by which channel: the demand side of one market.

Each kind of traffic is a non-homogeneous Poisson process whose rate follows the shape (local
time, calendar modifiers): self top-ups, gifts (an hour later), bills, meter purchases, and
airtime usage, which drains balances and, when a balance falls under the market's threshold,
sends some subscribers to recharge. A meter that runs out sends its household to buy; the
post runs its mandate debits at fixed local times. Each arrival picks the person and the
channel (the profile's mix) and starts that channel's process as one attempt.
"""
from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from core.money import Money
from sim.arrivals import arrival_times
from sim.channels import bill, direct, mandate, meter, ussd, web
from sim.channels.attempt import Outcome, attempt
from sim.draw import Choice, LogNormal
from sim.population import CARD, STS
from sim.shape import interpolate, window_peak

if TYPE_CHECKING:
    from sim.world import World


class Demand:
    def __init__(self, w: World, m: str) -> None:
        self.w, self.m, self.env = w, m, w.env
        pop = w.pops[m]
        self.pop, self.cfg = pop, pop.cfg
        self.offset_s = self.cfg["utc_offset_h"] * 3600.0
        book = w.meters[m]
        self.bill_households = array("i", (h for h in range(pop.households) if pop.biller[h]))
        self.mandate_households = array("i", (h for h in range(pop.households) if pop.mandate[h]))
        self.meter_households = book.with_meter[STS] + book.with_meter[CARD]
        prepaid = pop.n - sum(pop.kind)
        self.base = {   # arrivals per second at weight 1
            "topup": prepaid * self.cfg["topup"]["per_day"] / 86_400,
            "gift": pop.n * self.cfg["topup"]["gift_per_day"] / 86_400,
            "bill": len(self.bill_households) * self.cfg["bills"]["per_day"] / 86_400,
            "meter": len(self.meter_households) * self.cfg["meters"]["per_day"] / 86_400,
            "usage": pop.n * self.cfg["usage"]["per_hour"] / 3_600,
        }
        self.hourly = {k: w.shape.hourly(k, w.cfg.calendar) for k in self.base}
        self.channels = Choice(self.cfg["topup"]["channels"])
        self.amounts = Choice(self.cfg["topup"]["amounts"])
        self.card_channels = Choice(self.cfg["meters"]["card_channels"])
        self.sts_methods = Choice(self.cfg["meters"]["sts_methods"])
        self.charge = LogNormal.of(self.cfg["usage"]["charge"])
        self.low = self.cfg["low_balance"]
        self.low_delay = LogNormal.of(self.low["delay_s"])
        self.cut_delay = LogNormal.of(self.cfg["meters"]["cut_buy_delay_s"])
        self.first_tier = pop.mkt.bonus_tiers[0].min.minor if pop.mkt.bonus_tiers else math.inf
        self.rng = {k: w.rng(f"arrivals:{m}:{k}") for k in (*self.base, "low", "cut", "mandate")}

    def local_hour(self, t: float) -> float:
        return ((self.w.cfg.start + t + self.offset_s) % 86_400) / 3600.0

    def start(self) -> None:
        for kind, base in self.base.items():
            if base > 0:
                self.env.process(self.arrivals(kind))
        self.w.meters[self.m].on_cut = self.meter_cut
        mcfg = self.cfg["mandates"]
        if mcfg and mcfg["households"] > 0 and self.mandate_households:
            self.env.process(self.mandate_runs(mcfg))

    def arrivals(self, kind: str):  # type: ignore[no-untyped-def]
        w, env, rng, base, hourly = self.w, self.env, self.rng[kind], self.base[kind], self.hourly[kind]
        h0 = self.local_hour(0.0)
        peak = base * window_peak(hourly, h0, w.end_s / 3600.0)
        usage = kind == "usage"
        for t in arrival_times(rng, lambda t: base * interpolate(hourly, h0 + t / 3600.0), peak, 0.0, w.end_s):
            yield env.timeout(t - env.now)
            if usage:
                self.use(rng)
            else:
                w.kpis.arrival()
                getattr(self, kind)(rng)

    # -- airtime ------------------------------------------------------------------------------
    def use(self, rng) -> None:  # type: ignore[no-untyped-def]
        pop, w = self.pop, self.w
        i = rng.randrange(pop.n)
        w.kpis.counters["usage_events"] += 1
        if pop.kind[i]:
            return
        b = pop.balance[i]
        take = min(b, int(self.charge.draw(rng)))
        if take <= 0:
            return
        pop.balance[i] = b - take
        if pop.provisioned[i]:
            w.use(self.m, i, take)
        threshold = self.low["threshold"]
        if b >= threshold > b - take and i not in pop.low_pending and rng.random() < self.low["recharge"]:
            pop.low_pending.add(i)
            delay = self.low_delay.draw(rng)
            if self.env.now + delay < w.end_s:
                ev = self.env.timeout(delay)
                ev.callbacks.append(lambda _e: self.recharge(i, self.rng["low"]))

    def recharge(self, i: int, rng) -> None:  # type: ignore[no-untyped-def]
        self.w.kpis.arrival()
        self.w.kpis.counters["low_balance_recharges"] += 1
        self.start_topup(rng, i, i)

    def topup(self, rng) -> None:  # type: ignore[no-untyped-def]
        pop = self.pop
        for _ in range(20):
            i = rng.randrange(pop.n)
            if not pop.kind[i]:
                self.start_topup(rng, i, i)
                return

    def gift(self, rng) -> None:  # type: ignore[no-untyped-def]
        i = rng.randrange(self.pop.n)
        j = self.pop.someone_else(i, rng)
        if j is not None:
            self.start_topup(rng, i, j)

    def start_topup(self, rng, payer: int, recipient: int) -> None:  # type: ignore[no-untyped-def]
        w, m, pop = self.w, self.m, self.pop
        channel = pop.channel(payer, rng, self.channels)
        amount = self.amounts.draw(rng)
        product = "amazing" if amount >= self.first_tier and rng.random() < self.cfg["topup"]["amazing"] else "normal"
        if channel == "web":
            flow = lambda: web.topup(w, m, payer, recipient, amount, product)  # noqa: E731
        elif channel == "ussd":
            flow = lambda: ussd.topup(w, m, payer, recipient, amount, product)  # noqa: E731
        else:
            flow = lambda: direct.topup(w, m, channel, payer, recipient, amount, product)  # noqa: E731

        def credited(out: Outcome) -> None:
            bonus = out.order.bonus.minor if out.order is not None else 0
            pop.balance[recipient] = pop.balance[recipient] + out.revenue + bonus
            pop.low_pending.discard(recipient)
        self.env.process(attempt(w, m, channel, flow, on_ok=credited))

    # -- bills, mandates ------------------------------------------------------------------------
    def bill(self, rng) -> None:  # type: ignore[no-untyped-def]
        w, m = self.w, self.m
        if not w.core_up:
            w.kpis.counters["arrivals_lost_core_down"] += 1
            return
        h = self.bill_households[rng.randrange(len(self.bill_households))]
        b, account = bill.open_account(w, m, h)
        amount = bill.amount_to_pay(w, m, b, account)
        if amount == 0:
            w.kpis.counters["bills_nothing_owed"] += 1
            return
        self.env.process(attempt(w, m, "bill", lambda: bill.pay(w, m, h, b, account, amount)))

    def mandate_runs(self, cfg: dict):  # type: ignore[no-untyped-def]
        env, w, rng = self.env, self.w, self.rng["mandate"]
        day0 = w.cfg.start + self.offset_s - self.local_hour(0.0) * 3600.0   # local midnight, epoch
        times = []
        for day in range(int(w.end_s // 86_400) + 2):
            for hhmm in cfg["runs"]:
                hh, mm = map(int, hhmm.split(":"))
                t = day0 + day * 86_400 + hh * 3600 + mm * 60 - self.offset_s - w.cfg.start
                if 0 <= t < w.end_s:
                    times.append(t)
        for t in sorted(times):
            yield env.timeout(t - env.now)
            w.kpis.counters["mandate_runs"] += 1
            for k, h in enumerate(self.mandate_households):
                if rng.random() < cfg["due_per_run"]:
                    ev = env.timeout(k * 0.05)
                    ev.callbacks.append(lambda _e, h=h: env.process(mandate.debit(w, self.m, h)))

    # -- meters ------------------------------------------------------------------------------
    def meter(self, rng, h: int | None = None) -> None:  # type: ignore[no-untyped-def]
        w, m, pop = self.w, self.m, self.pop
        if h is None:
            h = self.meter_households[rng.randrange(len(self.meter_households))]
        amount = meter.vend_amount(w, m)
        if pop.meter[h] == CARD:
            channel = self.card_channels.draw(rng)
            self.env.process(attempt(w, m, channel, lambda: meter.card_vend(w, m, channel, h, amount)))
        else:
            method = self.sts_methods.draw(rng)
            self.env.process(attempt(w, m, "sts", lambda: meter.sts_vend(w, m, h, amount, method)))

    def meter_cut(self, h: int) -> None:
        rng = self.rng["cut"]
        if rng.random() < self.cfg["meters"]["cut_buy"]:
            delay = self.cut_delay.draw(rng)
            if self.env.now + delay < self.w.end_s:
                ev = self.env.timeout(delay)
                ev.callbacks.append(lambda _e: self._cut_buy(h))

    def _cut_buy(self, h: int) -> None:
        self.w.kpis.arrival()
        self.w.kpis.counters["meter_cut_purchases"] += 1
        self.meter(self.rng["cut"], h)


def deposit_floats(w: World) -> None:
    """Kiosk agents pay their float in before the day starts (cash to the operator's bank)."""
    for m in w.markets:
        amount = Money(w.cfg.markets[m]["kiosks"]["float"], w.pops[m].mkt.currency)
        for agent in w.agents[m]:
            w.core.payments.deposit_float(agent, amount, f"sim-float:{agent}")
