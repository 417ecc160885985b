"""One torture seed's world. Everything outside the core (the clock, the scheduler, the card
issuer, the gateways, the SMSC) lives for the whole run, as the real ones outlive a core
restart; the core itself is rebuilt on the same database whenever it restarts or dies.
"""
from __future__ import annotations

import random
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from core.adapters.gateway_profile import GatewayProfile, Latency
from core.adapters.issuer import IssuedCard, Issuer
from core.adapters.keystore import KeyStore
from core.adapters.smsc import DeliveryDelay, EmulatedSmsc
from core.api.problems import from_error
from core.clock import FakeClock, ManualScheduler
from core.errors import RechargeError
from core.money import Money
from core.store import open_store
from core.store.base import Retryable
from core.wiring import Core, build_core, emulated_gateways, seeded_ids
from hil.torture import checks
from hil.torture.clients import AGENT, CARD_METER, CARD_SERIAL, MAX_ACTIVE, STS_METER, Clients, Flow
from hil.torture.faults import CoreCrash, FaultPlan, FaultyStore, InjectedDbError

_LINES = {"DZ": [("0550000001", "100"), ("0550000002", None), ("0660000003", "18800"), ("0770000004", "5000")],
          "IR": [("09120000001", "10000"), ("09350000002", "1950000"), ("09900000003", None)]}


def _caused_by_fault(e: BaseException) -> bool:
    seen = 0
    cur: BaseException | None = e
    while cur is not None and seen < 20:
        if isinstance(cur, (InjectedDbError, CoreCrash, Retryable)):
            return True
        cur, seen = cur.__cause__ or cur.__context__, seen + 1
    return False


class Run(Clients):
    """One seed: the world outside the core (clock, scheduler, issuer, gateways, SMSC) lives
    for the whole run; the core is rebuilt on the same database whenever it restarts."""

    def __init__(self, seed: int, steps: int, db_url: str) -> None:
        self.seed, self.steps, self.db_url = seed, steps, db_url
        self.plan = FaultPlan.draw(seed, steps)
        self.rng = random.Random(f"torture:{seed}:clients")
        self.fault_rng = random.Random(f"torture:{seed}:faults")
        self.db_rng = random.Random(f"torture:{seed}:db")
        self.clock = FakeClock()
        self.scheduler = ManualScheduler(self.clock)
        self.issuer = Issuer(self.clock)
        p = self.plan
        self.smsc = EmulatedSmsc(self.clock, self.scheduler, random.Random(f"torture:{seed}:smsc"),
                                 delay=DeliveryDelay(p.sms_delay_s), loss_rate=p.sms_loss_rate)
        self.profile = GatewayProfile(callback_latency=Latency(max(p.callback_delay_s, 0.1), 1.0),
                                      decline_rate=p.decline_rate, timeout_rate=p.gateway_timeout_rate,
                                      callback_loss_rate=p.callback_loss_rate)
        self.gateways = emulated_gateways(self.clock, self.scheduler, f"torture:{seed}", self.issuer,
                                          self.smsc, self.profile)
        self.new_id = seeded_ids(random.Random(f"torture:{seed}:ids"))
        self.keys = KeyStore(f"rbench-dev-keys:{seed}")
        self.counts: Counter = Counter()
        self.violations: list[str] = []
        self.trace: list[str] = []
        self.flows: list[Flow] = []
        self.vend_results: dict[str, set[str]] = {}
        self.key_orders: dict[str, set[str]] = {}
        self.sent: list[tuple[str, str, dict, Callable[[Core], tuple[int, dict]]]] = []
        self.n = 0
        self.step_no = 0
        self.down_for = 0
        self.store: FaultyStore | None = None
        self.core: Core | None = None
        self.boot()

    # -- the core's life ---------------------------------------------------------------------
    def boot(self) -> None:
        inner = open_store(self.db_url, **({"synchronous": "NORMAL"} if self.db_url.startswith("sqlite") else {}))
        self.store = FaultyStore(inner, self.db_rng, self.plan.db_error_rate)
        self.store.enabled = self.counts["boots"] > 0        # no faults while the world is set up
        self.core = build_core(self.store, clock=self.clock, scheduler=self.scheduler, seed=f"torture:{self.seed}",
                               gateways=self.gateways, sms=self.smsc, new_id=self.new_id, keys=self.keys)
        for gw in self.gateways.values():
            gw.set_notify(self.on_callback)
        self.counts["boots"] += 1

    def go_down(self, downtime_steps: int) -> None:
        """The core process is gone: its connections close, callbacks find nobody."""
        if self.core is not None:
            self.counts["db_errors"] += self.store.injected if self.store else 0
            try:
                self.core.close()
            except Exception:      # a closing store may complain about a dead connection
                pass
        self.core, self.store, self.down_for = None, None, downtime_steps
        if downtime_steps == 0:
            self.boot()

    def on_callback(self, gateway: str, gateway_ref: str) -> None:
        if self.core is None:
            self.counts["callbacks_lost"] += 1
            return
        self.counts["callbacks"] += 1
        self.guard("callback", lambda core: core.payments.on_gateway_notify(gateway, gateway_ref))

    def guard(self, what: str, fn: Callable[[Core], Any]) -> Any:
        """Call the core as a request would: None when it did not answer (down, died, a
        database error: an HTTP 500 or a refused connection for the client)."""
        if self.core is None:
            self.counts["refused_while_down"] += 1
            return None
        try:
            return fn(self.core)
        except CoreCrash:
            self.counts["crashes"] += 1
            self.trace.append(f"{self.step_no} crash in {what}")
            self.go_down(self.fault_rng.choice([0, 0, 1, 2]))
        except RechargeError as e:
            return e
        except (InjectedDbError, Retryable):
            pass
        except Exception as e:                # noqa: BLE001: judged below
            if not _caused_by_fault(e):
                frames = traceback.extract_tb(e.__traceback__)[-2:]
                where = "; ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in frames)
                self.violations.append(f"step {self.step_no} {what}: the core raised {type(e).__name__}: {e} "
                                       f"({where})")
        return None

    def request(self, scope: str, key: str, payload: dict, fn: Callable[[Core], tuple[int, dict]]
                ) -> tuple[int, dict] | None:
        """One mutating request through the core's idempotency layer, as an HTTP handler makes it."""
        def run(core: Core) -> tuple[int, dict]:
            out = core.idempotency.run(scope, key, payload, lambda: fn(core), from_error)
            return out.status, out.body
        answer = self.guard(scope, run)
        if isinstance(answer, RechargeError):
            return answer.status, from_error(answer)
        return answer

    # -- setup -------------------------------------------------------------------------------
    def setup(self) -> None:
        assert self.core is not None and self.store is not None
        self.store.enabled = False
        core = self.core
        self.lines: dict[str, list[str]] = {}
        self.cards: dict[str, IssuedCard] = {}
        for market, lines in _LINES.items():
            cur = {"DZ": "DZD", "IR": "IRR"}[market]
            for national, balance in lines:
                msisdn = core.subscribers.provision(
                    market, national, opening_balance=Money.parse(balance, cur) if balance else None).msisdn
                self.lines.setdefault(market, []).append(msisdn)
                self.cards[msisdn] = self.issuer.generate(self.rng, 1, [msisdn])[0]
        self.eg_card = self.issuer.generate(self.rng, 1, ["201000000001"])[0]
        core.meters.register("EG", STS_METER, kind="sts", tariff="EG-RES", customer="Mona Hassan")
        core.meters.register("EG", CARD_METER, kind="card", tariff="EG-RES", customer="Omar Farouk")
        core.meters.issue_card(CARD_METER, CARD_SERIAL)
        core.payments.deposit_float(AGENT, Money.parse("3000", "EGP"), "float-1")
        self.store.enabled = True

    # -- one step ----------------------------------------------------------------------------
    def step(self) -> None:
        self.step_no += 1
        p, f = self.plan, self.fault_rng
        if self.core is None:
            self.down_for -= 1
            if self.down_for <= 0:
                self.boot()
        if f.random() < p.restart_rate and self.core is not None:
            self.counts["restarts"] += 1
            self.trace.append(f"{self.step_no} restart")
            self.go_down(f.choice([0, 0, 1, 3]))
        if f.random() < p.crash_rate and self.store is not None and self.store.crash_in is None:
            self.store.arm_crash(f.randint(1, 40))
        if f.random() < p.duplicate_callback_rate:
            self.duplicate_callback()
        if f.random() < p.sweep_rate:
            older = f.choice([0.0, 30.0, 120.0])
            self.guard("sweep", lambda core: core.payments.reconcile_pending(older))
            self.guard("bonus expiry", lambda core: core.topups.expire_bonuses())
            self.guard("ussd expiry", lambda core: core.ussd.expire_sessions())
        if self.rng.random() < p.client_retry_rate:
            self.retry()
        if self.rng.random() < 0.15:
            self.use_airtime()
        action = self.rng.choices(["web", "ussd", "vend", "kiosk", "progress"], [10, 8, 5, 2, 50])[0]
        if action == "progress" or len([x for x in self.flows if x.stage != "done"]) >= MAX_ACTIVE:
            self.progress()
        elif action == "kiosk":
            self.kiosk_vend()
        else:
            self.start(action)
        wait = f.choice([130.0, 950.0, 1300.0]) if f.random() < p.long_wait_rate else \
            self.rng.choice([0.0, 1.0, 3.0, 8.0, 20.0])
        self.advance(wait)

    def advance(self, seconds: float) -> None:
        """Time passes; due callbacks, SMS deliveries and gateway expiries run."""
        self.clock.t += seconds
        self.scheduler.run_due()          # callbacks go through on_callback, which never raises

    def duplicate_callback(self) -> None:
        names = sorted(n for n, g in self.gateways.items() if g.stats()["orders"])
        if not names:
            return
        gw = self.gateways[self.fault_rng.choice(names)]
        p = self.fault_rng.choice(gw.payments())
        delay = self.fault_rng.choice([0.0, 0.0, 45.0, 700.0])
        self.counts["duplicate_callbacks"] += 1
        self.scheduler.call_later(delay, lambda: self.on_callback(gw.name, p.gateway_ref))

    # -- the end -----------------------------------------------------------------------------
    def finish(self) -> None:
        """Faults stop; time runs past every window (OTP, verify, session); sweeps reconcile."""
        if self.core is None:
            self.boot()
        assert self.store is not None and self.core is not None
        self.counts["db_errors"] += self.store.injected
        self.store.injected = 0
        self.store.enabled, self.store.crash_in = False, None
        for gw in self.gateways.values():
            gw.profile = GatewayProfile(callback_latency=self.profile.callback_latency)
        for _ in range(8):
            self.advance(900.0)
            self.guard("final sweep", lambda core: core.payments.reconcile_pending(0.0, limit=100_000))
        self.guard("bonus expiry", lambda core: core.topups.expire_bonuses())
        self.counts["gateway_timeouts"] = sum(g.stats()["timeouts"] for g in self.gateways.values())
        self.counts["callbacks_lost"] += sum(g.stats()["callbacks_lost"] for g in self.gateways.values())

    def judge(self) -> list[str]:
        core = self.core
        assert core is not None
        out = list(self.violations)
        out += checks.conservation(core)
        out += checks.credited_once(core)
        out += checks.paid_orders_settled(core)
        out += checks.vends_once(core, self.vend_results)
        out += checks.tokens_decode(core)
        out += checks.notices_once(core, [s.message.text for s in self.smsc.sent()])
        for key, ids in sorted(self.key_orders.items()):
            if len(ids) > 1:
                out.append(f"{key}: one Idempotency-Key answered with {len(ids)} orders")
        with core.store.autocommit() as tx:
            for r in tx.all("SELECT state, COUNT(*) AS n FROM orders GROUP BY state"):
                self.counts[r["state"]] += int(r["n"])
                self.counts["orders"] += int(r["n"])
        return out


