"""The world a story runs in: the core on a fake clock, its HTTP API in process, the network
between handsets and the core, and the bench's devices opened on the faces the bench gives.

One world per test, in the test's own temporary folder (its SQLite file), with no port of its
own: the HTTP API runs in process (starlette's TestClient), handsets and meters on the
emulator face use ptys, the card reader goes through pcscd's vpcd reader (held by one process
at a time). Time is the core's ``FakeClock``: ``advance`` runs what the core scheduled (SMS
deliveries, gateway callbacks, USSD and verify timers) in order, and moves the meters' time.
"""
from __future__ import annotations

import json
import os
import random
import uuid
import warnings
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.adapters.gateway_profile import GatewayProfile, fixed
from core.adapters.issuer import IssuedCard
from core.adapters.keystore import KeyStore
from core.adapters.smsc import DeliveryDelay, EmulatedSmsc
from core.api.auth import DEV_KEYS
from core.clock import FakeClock, ManualScheduler
from core.mandates import parse_ccp
from core.market import market as market_of
from core.money import Money
from core.ports import SmsMessage
from core.subscribers import save_recipient
from core.tariffs import tariff as tariff_of
from core.wiring import Core, build_core, stream
from hil.bench import Bench, all_models
from hil.roles import card_master_key as bench_card_key
from scenarios.scenario import Scenario
from scenarios.transcript import Transcript
from scenarios.values import Context, parse_duration

KEYS = {channel: key for key, channel in DEV_KEYS.items()}
START = 1_767_225_600.0          # 2026-01-01T00:00:00Z, the FakeClock's default start


class FaceUnsupported(Exception):
    """The story cannot run on the face the bench gives a role; the message says why and what to do."""


class StoryError(Exception):
    """A story step could not be carried out (not an expectation: the action itself)."""


def worker_index() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


class StoryWorld:
    def __init__(self, scenario: Scenario, market: str, *, bench: Bench | None = None, seed: int = 1,
                 workdir: Path, worker: int | None = None, io_timeout: float = 10.0) -> None:
        self.scenario, self.market = scenario, market_of(market)
        self.bench = bench or all_models(market)
        self.seed, self.workdir, self.io_timeout = seed, Path(workdir), io_timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.step_io_timeout: float | None = None     # a step's own timeout, while it runs
        self.last_chance = True                       # the step's deadline has come: wait for I/O
        self.rng = random.Random(f"{seed}:{scenario.name}:{market}")
        self.clock = FakeClock(START)
        self.scheduler = ManualScheduler(self.clock)
        self.transcript = Transcript(self.clock.now)
        self.ctx = Context(self.market, random.Random(f"{seed}:{scenario.name}:{market}:values"),
                           worker=worker_index() if worker is None else worker, seed=seed)
        self.stack = ExitStack()
        self.core = self._build_core()
        self.stack.callback(self.core.close)
        with warnings.catch_warnings():        # starlette asks for httpx2; httpx is what we have
            warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
            from fastapi.testclient import TestClient
        from hil.server import app_for
        self.http_client = self.stack.enter_context(
            TestClient(app_for(self.core, dict(DEV_KEYS)), raise_server_exceptions=False))
        from hil.modem_network import CoreNetwork
        self.network = CoreNetwork(self.core)
        self.stack.callback(self.network.close)
        self.stack.callback(self.core.sms.on_delivery(self._heard_sms))
        self.bank_cards: dict[str, IssuedCard] = {}
        self.devices: dict[str, Any] = {}            # device ports and models, see scenarios.devices
        self.ussd_sessions: dict[str, dict] = {}
        self.settlement_files: dict[str, Any] = {}
        self._meter_models: list[Any] = []

    # -- the core ---------------------------------------------------------------------------------
    def _build_core(self) -> Core:
        smsc_cfg = self.scenario.world.get("smsc", {})
        delay = (DeliveryDelay.fixed(parse_duration(smsc_cfg["delay_s"])) if "delay_s" in smsc_cfg
                 else DeliveryDelay())
        sms = EmulatedSmsc(self.clock, self.scheduler, stream(self.seed, "smsc"), delay=delay,
                           loss_rate=float(smsc_cfg.get("loss_rate", 0.0)))
        overrides = {}
        if self.bench.face("card_reader") == "driver" or self.bench.face("meter") == "driver":
            # a real card or meter holds the bench's test key: the core must sign with it
            role = "card_reader" if self.bench.face("card_reader") == "driver" else "meter"
            utility = tariff_of(f"{self.market.code}-RES").utility
            overrides[f"card-master:{utility}:1"] = bench_card_key(self.bench.roles[role].params)
        keys = KeyStore(f"rbench-dev-keys:{self.seed}", overrides=overrides)
        core = build_core(f"sqlite:///{self.workdir / 'core.db'}", clock=self.clock, scheduler=self.scheduler,
                          seed=self.seed, sms=sms, keys=keys)
        for name, profile in self.scenario.world.get("gateways", {}).items():
            self.set_gateway(core, name, profile)
        return core

    def set_gateway(self, core: Core, name: str, changes: dict) -> GatewayProfile:
        if name not in core.gateways:
            raise StoryError(f"gateway {name!r} is not configured; expected one of {', '.join(sorted(core.gateways))}")
        gw = core.gateways[name]
        fields = {k: float(v) for k, v in changes.items() if k.endswith("_rate")}
        if "callback_s" in changes:
            fields["callback_latency"] = fixed(parse_duration(changes["callback_s"]))
        if "answer_s" in changes:
            fields["answer_latency"] = fixed(parse_duration(changes["answer_s"]))
        current = gw.profile
        gw.profile = GatewayProfile(**{**{f: getattr(current, f) for f in (
            "answer_latency", "callback_latency", "decline_rate", "timeout_rate", "callback_loss_rate", "outages")},
            **fields})
        return gw.profile

    def close(self) -> None:
        self.stack.close()

    # -- time -------------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, running what the core scheduled at its time, in order."""
        target = self.clock.now() + max(0.0, seconds)
        for _ in range(100_000):
            due = self.scheduler.next_due()
            if due is None or due > target:
                break
            self._tick(max(0.0, due - self.clock.now()))
        self._tick(max(0.0, target - self.clock.now()))

    def next_event_within(self, deadline: float) -> float:
        """Seconds to the next scheduled event, or to ``deadline`` if nothing is due before it."""
        due = self.scheduler.next_due()
        now = self.clock.now()
        if due is None or due > deadline:
            return max(0.0, deadline - now)
        return max(0.0, due - now)

    def _tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for model in self._meter_models:
            if seconds > 0:
                model.advance(seconds)

    def add_meter_model(self, model: Any) -> None:
        self._meter_models.append(model)

    def meter_clock(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC).replace(tzinfo=None)

    # -- HTTP ---------------------------------------------------------------------------------------
    def http(self, method: str, path: str, channel: str | None, body: dict | None = None, *,
             idempotent: bool = False, content: bytes | None = None, headers: dict | None = None) -> dict:
        """One call to the core's API, written to the transcript; returns the JSON answer with
        ``http`` (the status code) added, or ``{"http", "text"}`` for a text answer. ``channel``
        None sends no API key (signed gateway callbacks); ``content`` sends raw bytes."""
        sent = dict(headers or {})
        if channel is not None:
            sent["X-API-Key"] = KEYS[channel]
        if idempotent:
            sent["Idempotency-Key"] = str(uuid.UUID(int=self.rng.getrandbits(128)))
        if content is not None:
            response = self.http_client.request(method, path, content=content, headers=sent)
        else:
            response = self.http_client.request(method, path, json=body, headers=sent)
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        shown = content.decode("utf-8", "replace") if content is not None else \
            json.dumps(body, ensure_ascii=False) if body is not None else ""
        said = json.dumps(answer, ensure_ascii=False) if answer is not None else response.text
        self.transcript.add("http", f"{method} {path} [{channel or 'signed'}] {shown} -> {response.status_code} "
                                    f"{said[:600]}")
        if isinstance(answer, dict):
            return {**answer, "http": response.status_code}
        if isinstance(answer, list):
            return {"items": answer, "http": response.status_code}
        return {"http": response.status_code, "text": response.text}

    # -- SMS ----------------------------------------------------------------------------------------
    def _heard_sms(self, message: SmsMessage) -> None:
        self.transcript.add("sms", f"{message.sender} -> {message.to}: {message.text}")

    def e164(self, number: Any, field: str = "msisdn") -> str:
        return self.core.subscribers.parse(str(number), self.market, field=field).e164

    # -- money and names ------------------------------------------------------------------------
    def money(self, amount: Any, currency: str | None = None) -> Money:
        return Money.parse(str(amount), currency or self.market.currency)

    def gateway_name(self, name: str | None) -> str:
        return name or self.market.web_gateway

    def tariff_id(self, given: str | None = None) -> str:
        return given or f"{self.market.code}-RES"

    # -- given ----------------------------------------------------------------------------------------
    def setup(self) -> None:
        """Create what ``given`` says exists before the first step; put its names in the context."""
        for name, value in self.scenario.vars.items():      # first: given may use them
            self.ctx.set(name, self.ctx.render(value))
        g = self.ctx.render(self.scenario.given)
        core, mkt = self.core, self.market
        for sub in g.get("subscribers", ()):
            core.subscribers.provision(mkt.code, sub["msisdn"], kind=sub.get("kind", "prepaid"),
                                       language=sub.get("language"),
                                       opening_balance=self.money(sub["balance"]) if "balance" in sub else None)
        for name, card in g.get("cards", {}).items():
            phone = self.e164(card["phone"], "phone")
            balances = {mkt.currency: self.money(card["balance"]).minor} if "balance" in card else None
            issued = core.issuer.generate(random.Random(f"{self.seed}:card:{name}"), 1, [phone], balances=balances)[0]
            self.bank_cards[name] = issued
            self.ctx.set(name, {"pan": issued.pan, "phone": issued.phone, "holder": issued.holder,
                                "cvc2": issued.cvc2, "pin2": issued.pin2,
                                "expiry": f"{issued.expiry_month:02d}/{issued.expiry_year % 100:02d}",
                                "expiry_mmyy": f"{issued.expiry_month:02d}{issued.expiry_year % 100:02d}"})
        for i, pair in enumerate(g.get("saved_recipients", ())):       # saved in this order
            owner, recipient = self.e164(pair["payer"], "payer"), self.e164(pair["recipient"], "recipient")
            at_ms = int(self.clock.now() * 1000) - 1000 * (len(g["saved_recipients"]) - i)
            core.store.run(lambda tx, o=owner, r=recipient, t=at_ms: save_recipient(tx, o, r, t))
        from scenarios.devices import setup_cards, setup_meters
        setup_meters(self, g.get("meters", {}))
        setup_cards(self, g.get("utility_cards", {}))
        for agent, amount in g.get("agents", {}).items():
            core.payments.deposit_float(agent, self.money(amount), f"float:{agent}:setup")
        for bill in g.get("bills", ()):
            core.bills.issue(bill["biller"], bill["account"], bill["period"], str(bill["amount"]), bill["due"])
        for acct in g.get("ccp_accounts", ()):
            core.postal.open_account(parse_ccp(acct["ccp"]), acct["holder"],
                                     self.money(acct["balance"], "DZD") if "balance" in acct else None)
        if "handset" in g:
            self.ctx.set("handset", g["handset"])
