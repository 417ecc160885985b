"""Assemble a core: store, clock, emulated (or given) gateways, SMSC and e-mail, services.

One seed drives every random source (OTP codes, gateway latencies and declines, SMS delays,
test cards), each from its own stream derived from the seed, so adding a draw in one place
does not change the others.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Callable

from core.adapters.email import EmailOutbox
from core.adapters.gateway_profile import GatewayProfile
from core.adapters.issuer import Issuer
from core.adapters.keystore import KeyStore
from core.adapters.postal import PostalBank
from core.adapters.satim import SatimGateway
from core.adapters.shaparak import ShaparakGateway
from core.adapters.smsc import DeliveryDelay, EmulatedSmsc
from core.bills import Bills
from core.clock import Clock, ImmediateScheduler, Scheduler, SystemClock
from core.idempotency import Idempotency
from core.instalments import Instalments
from core.ledger import ConservationReport, conservation_check
from core.mandates import Mandates
from core.market import load_markets
from core.meters import Meters
from core.payments import Payments
from core.ports import CardGateway, Email, SmsSender
from core.receipts import Receipts
from core.store import Store, open_store
from core.subscribers import Subscribers
from core.topups import Topups
from core.ussd import UssdApp
from core.vending import Vending


def stream(seed: int | str, purpose: str) -> random.Random:
    """An independent, reproducible random stream for one purpose."""
    return random.Random(f"{seed}:{purpose}")


def seeded_ids(rng: random.Random, prefix: str = "ord_") -> Callable[[], str]:
    return lambda: prefix + "".join(rng.choice("0123456789abcdef") for _ in range(24))


def uuid_ids(prefix: str = "ord_") -> Callable[[], str]:
    return lambda: prefix + uuid.uuid4().hex[:24]


@dataclass
class Core:
    store: Store
    clock: Clock
    scheduler: Scheduler
    subscribers: Subscribers
    payments: Payments
    topups: Topups
    ussd: UssdApp
    receipts: Receipts
    idempotency: Idempotency
    sms: SmsSender
    email: Email
    gateways: dict[str, CardGateway]
    meters: Meters
    vending: Vending
    keys: KeyStore
    bills: Bills
    instalments: Instalments
    mandates: Mandates
    postal: PostalBank
    issuer: Issuer | None = None
    extras: dict = field(default_factory=dict)

    def conservation(self) -> ConservationReport:
        """The ledger's invariants, plus what each emulated gateway says it captured net."""
        net: dict[tuple[str, str], int] = {}
        for name, gw in self.gateways.items():
            stats = getattr(gw, "stats", None)
            if stats is not None:
                for cur, amount in stats()["net_captured"].items():
                    net[(name, cur)] = amount
        return conservation_check(self.store, net)

    def close(self) -> None:
        self.store.close()


def emulated_gateways(clock: Clock, scheduler: Scheduler, seed: int | str, issuer: Issuer,
                      sms: SmsSender | None, profile: GatewayProfile | None = None, *,
                      page_url: str | None = None) -> dict[str, CardGateway]:
    """Every gateway every market profile names, emulated with that market's rules.
    ``page_url``: where their payment pages are, a template with ``{name}`` and ``{ref}``."""
    gateways: dict[str, CardGateway] = {}
    pages = {} if page_url is None else {"page_url": page_url}
    for mkt in load_markets().values():
        for name, style in mkt.gateways.items():
            if name in gateways:
                continue
            cls = SatimGateway if style == "satim" else ShaparakGateway
            gateways[name] = cls.for_market(mkt, name, clock, scheduler, stream(seed, f"gateway:{name}"),
                                            issuer, sms, profile=profile or GatewayProfile(), **pages)
    return gateways


def build_core(db_url: str | Store, *, clock: Clock | None = None, scheduler: Scheduler | None = None,
               seed: int | str = 0, gateways: dict[str, CardGateway] | None = None,
               gateway_profile: GatewayProfile | None = None, sms: SmsSender | None = None,
               sms_delay: DeliveryDelay | None = None, email: Email | None = None,
               new_id: Callable[[], str] | None = None, keys: KeyStore | None = None) -> Core:
    clock = clock or SystemClock()
    scheduler = scheduler or ImmediateScheduler()
    store = open_store(db_url) if isinstance(db_url, str) else db_url
    sms = sms or EmulatedSmsc(clock, scheduler, stream(seed, "smsc"),
                              delay=sms_delay or DeliveryDelay.none())
    email = email or EmailOutbox()
    issuer = None
    if gateways is None:
        issuer = Issuer(clock)
        gateways = emulated_gateways(clock, scheduler, seed, issuer, sms, gateway_profile)
    subscribers = Subscribers(store, clock)
    payments = Payments(store, clock, gateways, sms)
    new_id = new_id or seeded_ids(stream(seed, "order-ids"))
    topups = Topups(store, clock, subscribers, payments, new_id)
    keys = keys or KeyStore(f"rbench-dev-keys:{seed}")
    meters = Meters(store, clock)
    bills = Bills(store, clock, payments, subscribers, new_id)
    postal = PostalBank(clock, stream(seed, "postal"))
    return Core(store=store, clock=clock, scheduler=scheduler, subscribers=subscribers, payments=payments,
                topups=topups, ussd=UssdApp(store, clock, subscribers, topups), receipts=Receipts(payments, email),
                idempotency=Idempotency(store, clock), sms=sms, email=email, gateways=gateways,
                meters=meters, vending=Vending(store, clock, payments, meters, keys, new_id), keys=keys,
                bills=bills, instalments=Instalments(store, clock, sms), postal=postal,
                mandates=Mandates(store, clock, bills, postal, seeded_ids(stream(seed, "mandate-ids"), "mdt_")),
                issuer=issuer)
