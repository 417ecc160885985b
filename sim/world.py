"""The world: one SimPy environment driving the REAL core (the system under test) on virtual time.

    world = World(cfg, "sqlite:///tmp/x.db")
    start(world)                       # sim.run: arrivals, usage, meters, mandates, sweeper, faults
    world.env.run(until=world.stop_s)
    kpis, minutes = close(world)       # sim.closing: final sweep, settlement, conservation

What it holds: the core (built by ``core.wiring.build_core`` on a SimPy clock and scheduler,
with emulated gateways configured from the profile and the fault file, and our SMSC), the
network models, the populations, the meter books and the KPI collectors. What it offers the
channel processes: ``provision`` (the core gets a line the first time someone needs it),
``card`` (the issuer gets the subscriber's bank card the first time it is used), ``flush_usage``
(airtime used since provisioning is charged before a top-up, so the balance cap sees it),
``orphan`` (an attempt whose outcome the person never saw: resolved from the order at the end).
"""
from __future__ import annotations

import random
from dataclasses import replace

import simpy

from core.adapters.gateway_profile import GatewayProfile, Latency
from core.adapters.issuer import IssuedCard, Issuer
from core.adapters.satim import SatimGateway
from core.adapters.shaparak import ShaparakGateway
from core.errors import RechargeError
from core.market import load_markets
from core.money import Money
from core.store import open_store
from core.wiring import Core, build_core, seeded_ids, stream
from sim.clock import SimClock, SimScheduler
from sim.config import SimConfig
from sim.draw import LogNormal
from sim.kpis import Kpis
from sim.meters import MeterBook
from sim.network import GatewayDesk, SimSmsc, UssdGateway
from sim.population import Population
from sim.shape import load_shape


class Human:
    """Behaviour of the people in the world, from the profile's ``human`` block."""

    def __init__(self, h: dict) -> None:
        self.think, self.type_char = LogNormal.of(h["think_s"]), LogNormal.of(h["type_char_s"])
        self.otp_read, self.patience = LogNormal.of(h["otp_read_s"]), LogNormal.of(h["patience_s"])
        self.retry_after = LogNormal.of(h["retry_after_s"])
        for k in ("card_typo", "pin2_wrong", "otp_typo", "resend", "abandon_form", "retry", "double_submit",
                  "close_browser", "ussd_direct", "ussd_slow_step"):
            setattr(self, k, h[k])

    def typing(self, rng: random.Random, chars: int) -> float:
        return self.type_char.draw(rng) * chars


def _latency(pair: tuple[float, float]) -> Latency:
    p = LogNormal.of(pair)
    return Latency(p.p50, p.sigma)


class World:
    def __init__(self, cfg: SimConfig, db_url: str, env: simpy.Environment | None = None) -> None:
        self.cfg, self.db_url, self.seed = cfg, db_url, cfg.seed
        self.env = env if env is not None else simpy.Environment()
        self.clock = SimClock(self.env, cfg.start)
        self.scheduler = SimScheduler(self.env)
        self.end_s = cfg.duration_s
        self.stop_s = cfg.duration_s + cfg.drain_s
        self.faults = cfg.faults
        self.markets = sorted(cfg.markets)
        net = cfg.network
        self.issuer = Issuer(self.clock)
        self.smsc = SimSmsc(self.env, self.scheduler, self.rng("smsc"), throughput_per_s=net["smsc"]["throughput_per_s"],
                            delay=LogNormal.of(net["smsc"]["delay_s"]), loss_rate=net["smsc"]["loss_rate"],
                            faults=self.faults)
        self.gateways, capacity = self._gateways()
        self.store = self._open_store()
        self.new_id = seeded_ids(stream(self.seed, "order-ids"))
        self.core_up = True
        self._core = self._build_core()
        self.desk = GatewayDesk(self.env, self.gateways, capacity)
        self.ussd_gw = UssdGateway(self.env, self.rng("ussd"), net["ussd"], self.faults)
        self.provider_latency = LogNormal.of(net["providers"]["answer_s"])
        self.postal_latency = LogNormal.of(net["postal"]["answer_s"])
        self.human = Human(cfg.human)
        self.shape = load_shape(cfg.shape)
        mk = load_markets()
        self.kpis = Kpis(self.env, self.markets, {m: mk[m].currency for m in self.markets})
        counts = cfg.market_counts()
        self.pops = {m: Population.build(cfg.markets[m], m, counts[m], self.rng(f"population:{m}"), seed=self.seed)
                     for m in self.markets}
        self.meters = {m: MeterBook(self, m) for m in self.markets}
        self.people = {m: self.rng(f"people:{m}") for m in self.markets}
        self._card_rng = self.rng("cards")
        self._unposted: dict[tuple[str, int], int] = {}
        self._usage_seq = 0
        self.orphans: list[tuple] = []      # (attempt, started, order id, market, channel, on_ok)
        self.bill_accounts: dict[tuple[str, int], str] = {}
        self.mandates: dict[tuple[str, int], str] = {}
        self.agents = {m: [f"{m.lower()}-agent-{k:03d}" for k in range(cfg.markets[m]["kiosks"]["agents"])]
                       for m in self.markets}
        self._sessions = 0

    # -- construction -------------------------------------------------------------------------
    def rng(self, purpose: str) -> random.Random:
        return stream(self.seed, f"sim:{purpose}")

    def _open_store(self):
        if self.db_url.startswith("sqlite:"):
            return open_store(self.db_url, synchronous="OFF")   # a simulation needs no fsync
        return open_store(self.db_url)

    def _gateways(self) -> tuple[dict, dict[str, int]]:
        """The markets' card gateways, emulated, each with the profile's and the faults' settings."""
        net = self.cfg.network["gateways"]
        gateways, capacity = {}, {}
        for code in self.markets:
            mkt = load_markets()[code]
            otp = replace(mkt.otp, **self.cfg.otp) if self.cfg.otp else mkt.otp
            for name, style in mkt.gateways.items():
                if name in gateways:
                    continue
                g = {**net["default"], **net.get(name, {})}
                outages = [(self.cfg.start + a, self.cfg.start + b) for a, b in
                           (self.faults.outages(name) if self.faults else [])]
                profile = GatewayProfile(answer_latency=_latency(g["answer_s"]), callback_latency=_latency(g["callback_s"]),
                                         decline_rate=g["decline_rate"], timeout_rate=g["timeout_rate"],
                                         callback_loss_rate=g["callback_loss_rate"], outages=outages)
                cls = SatimGateway if style == "satim" else ShaparakGateway
                gateways[name] = cls.for_market(mkt, name, self.clock, self.scheduler, stream(self.seed, f"gateway:{name}"),
                                                self.issuer, self.smsc, profile=profile, otp_rules=otp)
                capacity[name] = g["capacity"]
        return gateways, capacity

    def _build_core(self, postal=None) -> Core:
        core = build_core(self.store, clock=self.clock, scheduler=self.scheduler, seed=self.seed,
                          gateways=self.gateways, sms=self.smsc, new_id=self.new_id)
        if postal is not None:               # the post is not part of the core: it survives restarts
            core.postal = core.mandates.postal = postal
        return core

    @property
    def core(self) -> Core:
        return self._core

    def restart_core(self, downtime_s: float):
        """A SimPy process: the core goes down (calls fail, callbacks are lost) and comes back on
        the same database; the sweeper then finds the orders nobody told it about."""
        self.core_up = False
        for gw in self.gateways.values():
            gw.set_notify(lambda name, ref: None)
        self.kpis.counters["core_restarts"] += 1
        yield self.env.timeout(downtime_s)
        self.revive()

    def revive(self) -> None:
        """The core starts again: a new store connection and new services on the same data."""
        postal = self._core.postal
        self.store.close()
        self.store = self._open_store()
        self._core = self._build_core(postal)
        self.core_up = True
        self._core.payments.reconcile_pending(0.0, limit=100_000)

    # -- what channel processes ask for ---------------------------------------------------------
    def provision(self, m: str, i: int) -> str:
        """The subscriber's line in the core (made on first use, with the balance it has now)."""
        pop = self.pops[m]
        msisdn = pop.msisdn(i)
        if not pop.provisioned[i]:
            bal = pop.balance[i]
            self._core.subscribers.provision(m, msisdn, kind="postpaid" if pop.kind[i] else "prepaid",
                                             language=pop.language(i),
                                             opening_balance=pop.money(bal) if bal > 0 and not pop.kind[i] else None)
            pop.provisioned[i] = 1
            self.kpis.counters["subscribers_provisioned"] += 1
        return msisdn

    def card(self, m: str, i: int) -> IssuedCard:
        """The subscriber's bank card (issued on first use; its OTP may go to a relative's phone)."""
        pop = self.pops[m]
        card = pop.cards.get(i)
        if card is None:
            rng = self._card_rng
            owner = pop.card_phone_owner(i, rng)
            cur = pop.mkt.currency
            bal = LogNormal.of(pop.cfg["cards"]["balance"]).draw(rng)
            holder = pop.identity(i).name
            card = self.issuer.generate(rng, 1, [pop.msisdn(owner)], balances={cur: int(bal)})[0]
            card.holder = holder[:26]
            pop.cards[i] = card
        return card

    def use(self, m: str, i: int, amount: int) -> None:
        """Airtime used by a provisioned line: charged in the core later, in one go."""
        key = (m, i)
        self._unposted[key] = self._unposted.get(key, 0) + amount

    def flush_usage(self, m: str, i: int) -> None:
        amount = self._unposted.pop((m, i), 0)
        if amount <= 0:
            return
        pop = self.pops[m]
        self._usage_seq += 1
        usage_id = f"sim:{m}:{i}:{self._usage_seq}"
        try:
            self._core.subscribers.use_airtime(pop.msisdn(i), pop.money(amount), usage_id)
        except RechargeError:
            b = self._core.subscribers.balances(pop.msisdn(i))
            left = min(amount, b.main.minor + b.bonus.minor)
            if left > 0:
                self._core.subscribers.use_airtime(pop.msisdn(i), pop.money(left), usage_id + "b")
        self.kpis.counters["usage_posted"] += 1

    def orphan(self, attempt: int, started: float, order_id: str, market: str, channel: str,
               on_ok=None) -> None:  # type: ignore[no-untyped-def]
        """The person left before seeing the outcome: the order tells it at the end."""
        self.orphans.append((attempt, started, order_id, market, channel, on_ok))

    def up(self) -> None:
        """Raise ``CoreDown`` while the core restarts (the call would never reach it)."""
        if not self.core_up:
            from sim.channels.attempt import CoreDown
            raise CoreDown()

    def session_id(self, m: str) -> str:
        self._sessions += 1
        return f"sim-{m}-{self._sessions}"

    def agent(self, m: str, rng: random.Random) -> str:
        return rng.choice(self.agents[m])

    def money(self, m: str, minor: int) -> Money:
        return self.pops[m].money(minor)
