"""Airtime top-ups (F1 web, F4 USSD): self or gift, normal or "amazing" (bonus tiers), the
balance cap checked when the order is created and again when it is credited.

``Topups`` creates the order; paying it is :class:`core.payments.Payments`' job, and
``TopupPurpose`` is what that job calls inside the capture transaction to credit the line.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Callable

from core import ledger
from core.clock import Clock
from core.digits import to_local_digits
from core.errors import GatewayUnavailable, InvalidInput, Refused
from core.market import Market, market as market_of
from core.money import Money
from core.orders import Order
from core.payments import DIRECT_METHODS, Notice, Payments
from core.store import Store, Tx
from core.subscribers import Subscribers, find as find_subscriber, from_row as subscriber_from_row, save_recipient

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")
CHANNELS = ("web", "ussd", "app", "kiosk", "wallet", "bank", "sim")
PRODUCTS = ("normal", "amazing")


@dataclass(frozen=True)
class TopupRequest:
    market: str
    recipient: str | None
    amount: object
    currency: str | None = None
    payer: str | None = None
    product: str = "normal"
    channel: str = "web"
    save_recipient: bool = False
    email: str | None = None
    language: str | None = None
    method: str = "card"                 # or a direct method: kiosk, wallet, bank
    method_account: str | None = None    # the agent, wallet provider or bank


def fmt(mkt: Market, money: Money) -> str:
    return to_local_digits(money.display(), mkt.display_digits)


def national(mkt: Market, msisdn: str) -> str:
    return to_local_digits("0" + msisdn[len(mkt.numbering.country_code):], mkt.display_digits)


def cap_notice(mkt: Market, to: str, recipient: str, lang: str) -> Notice:
    return Notice(mkt.code, to, "sms_cap_refused", lang,
                  dict(msisdn=national(mkt, recipient), cap=fmt(mkt, mkt.balance_cap)))


class TopupPurpose:
    """Credit the recipient's main balance (and bonus), unless the cap forbids it."""

    name = "topup"

    def __init__(self, store: Store) -> None:
        self.store = store

    def decision_account(self, order: Order) -> str:
        """The account ``refusal`` decides on (Payments reads it ahead, locked, with the order)."""
        return ledger.sub_main(order.recipient)

    def refusal(self, tx: Tx, order: Order) -> str | None:
        cap = market_of(order.market).balance_cap.minor
        balance = ledger.liability_balance(tx, self.decision_account(order), lock=True)
        return "balance_cap" if balance + order.amount.minor > cap else None

    def fulfil(self, batch: ledger.Batch, order: Order) -> None:
        cur, tx, now_ms = order.amount.currency, batch.tx, batch.at_ms
        batch.add(f"credit:{order.id}", ledger.held(cur), ledger.sub_main(order.recipient),
                  order.amount, kind="credit", order_id=order.id)
        if order.bonus.minor > 0:
            batch.add(f"bonus:{order.id}", ledger.bonus_expense(order.market, cur),
                      ledger.sub_bonus(order.recipient), order.bonus, kind="bonus", order_id=order.id)
            tx.execute("INSERT INTO bonus_buckets (order_id, msisdn, currency, amount, remaining,"
                       " granted_ms, expires_ms, state) VALUES (?,?,?,?,?,?,?, 'active')",
                       (order.id, order.recipient, cur, order.bonus.minor, order.bonus.minor,
                        now_ms, now_ms + order.bonus_hours * 3_600_000))
        if order.save_recipient and order.kind == "gift":
            save_recipient(tx, order.payer, order.recipient, now_ms)

    def notices(self, order: Order, event: str, balances: dict[str, int] | None = None) -> list[Notice]:
        """The credited notice tells the balance the credit left, taken from the capture's own
        postings when the store gives it (one read fewer per top-up). The recipient's language
        is read only for a notice to the recipient (a gift, a bonus)."""
        mkt = market_of(order.market)
        if event == "refused":
            return [cap_notice(mkt, order.payer, order.recipient, order.language)]
        if event == "failed":
            return [Notice(mkt.code, order.payer, "sms_topup_failed", order.language, dict(
                amount=fmt(mkt, order.amount), msisdn=national(mkt, order.recipient),
                reason=order.reason or "", order=order.id))]
        account = ledger.sub_main(order.recipient)
        main_minor = (balances or {}).get(account)
        recipient_lang = order.language
        if main_minor is None or order.kind == "gift" or order.bonus.minor > 0:
            with self.store.autocommit() as tx:
                row = tx.one("SELECT language, (SELECT credits - debits FROM accounts WHERE id = ?) AS main"
                             " FROM subscribers WHERE msisdn = ?", (account, order.recipient))
            recipient_lang = row["language"]
            main_minor = int(row["main"] or 0) if main_minor is None else main_minor
        main = Money(main_minor, mkt.currency)
        out = [Notice(mkt.code, order.payer, "sms_topup_ok", order.language, dict(
            amount=fmt(mkt, order.amount), msisdn=national(mkt, order.recipient),
            balance=fmt(mkt, main), order=order.id))]
        if order.kind == "gift":
            out.append(Notice(mkt.code, order.recipient, "sms_gift_received", recipient_lang, dict(
                amount=fmt(mkt, order.amount), payer=national(mkt, order.payer))))
        if order.bonus.minor > 0:
            expiry = time.strftime("%Y-%m-%d %H:%M", time.gmtime((order.credited_ms or 0) / 1000
                                                                  + order.bonus_hours * 3600))
            out.append(Notice(mkt.code, order.recipient, "sms_bonus", recipient_lang, dict(
                bonus=fmt(mkt, order.bonus), expiry=to_local_digits(expiry, mkt.display_digits))))
        return out


class Topups:
    def __init__(self, store: Store, clock: Clock, subscribers: Subscribers, payments: Payments,
                 new_id: Callable[[], str]) -> None:
        self.store, self.clock, self.subscribers = store, clock, subscribers
        self.payments, self.new_id = payments, new_id
        payments.add_purpose(TopupPurpose(store))

    def validate(self, req: TopupRequest) -> dict:
        """Everything about a request that can be checked without the database."""
        mkt = market_of(req.market)
        if req.currency is not None and str(req.currency).strip().upper() != mkt.currency:
            raise InvalidInput(f"currency: {req.currency!r} is not the currency of {mkt.code}; "
                               f"expected {mkt.currency}", field="currency")
        amount = mkt.money(req.amount)
        if amount < mkt.topup_min:
            raise InvalidInput(f"amount: {amount} is below the minimum top-up of {mkt.topup_min}",
                               field="amount")
        if amount > mkt.topup_max:
            raise InvalidInput(f"amount: {amount} is above the maximum top-up of {mkt.topup_max}",
                               field="amount")
        if req.product not in PRODUCTS:
            raise InvalidInput(f"product: {req.product!r}; expected one of {', '.join(PRODUCTS)}",
                               field="product")
        if req.channel not in CHANNELS:
            raise InvalidInput(f"channel: {req.channel!r}; expected one of {', '.join(CHANNELS)}",
                               field="channel")
        if req.method != "card" and (req.method not in DIRECT_METHODS or not req.method_account):
            raise InvalidInput(f"method: {req.method!r}; expected card, or one of "
                               f"{', '.join(DIRECT_METHODS)} with its account", field="method")
        payer = self.subscribers.parse(req.payer, mkt, field="payer") if req.payer is not None else None
        if req.recipient is None and payer is None:
            raise InvalidInput("recipient: expected the number to top up", field="recipient")
        recipient = (self.subscribers.parse(req.recipient, mkt, field="recipient")
                     if req.recipient is not None else payer)
        if req.email is not None and (not isinstance(req.email, str) or not _EMAIL.match(req.email)):
            raise InvalidInput(f"email: {req.email!r} is not an e-mail address", field="email")
        if req.language is not None and req.language not in mkt.languages:
            raise InvalidInput(f"language: {req.language!r}; expected one of {', '.join(mkt.languages)}",
                               field="language")
        bonus, hours = Money.zero(mkt.currency), 0
        if req.product == "amazing":
            tier = mkt.bonus_for(amount)
            if tier is None:
                raise InvalidInput(f"amount: the amazing top-up starts at {mkt.bonus_tiers[0].min}",
                                   field="amount")
            bonus, hours = tier.bonus, tier.valid_hours
        gateway = req.method if req.method != "card" else (
            mkt.ussd_gateway if req.channel == "ussd" else mkt.web_gateway)
        if req.method == "card" and gateway not in self.payments.gateways:
            raise GatewayUnavailable(f"no card gateway {gateway!r} is configured for {mkt.code}")
        return dict(mkt=mkt, amount=amount, payer=(payer or recipient).e164, recipient=recipient.e164,
                    recipient_national=recipient.national, bonus=bonus, hours=hours, gateway=gateway)

    def create(self, req: TopupRequest, *, order_id: str | None = None) -> Order:
        """Create the order and start its payment (card: register with the gateway; direct:
        take the money and credit at once). With ``order_id`` fixed by the caller (derived from
        an idempotency key or a USSD session), a repeated call resumes the same order.

        A card order is registered with its gateway before it is written, so it is written once,
        already pending payment: a registration whose order never got written is harmless (the
        gateway's session expires, nothing was paid) and a retry re-registers the same order_ref.
        """
        v = self.validate(req)
        mkt: Market = v["mkt"]
        amount: Money = v["amount"]
        order_id_given = order_id is not None
        order_id = order_id or self.new_id()
        with self.store.autocommit() as tx:
            existing = tx.one("SELECT * FROM orders WHERE id = ?", (order_id,)) if order_id_given else None
            if existing is not None:
                return self.payments.resume(Order.from_row(existing), f"top-up {v['recipient_national']}")
            row = tx.one("SELECT s.*, (SELECT credits - debits FROM accounts WHERE id = ?) AS balance"
                         " FROM subscribers s WHERE msisdn = ?", (ledger.sub_main(v["recipient"]), v["recipient"]))
            sub = subscriber_from_row(row) if row else None
            payer = sub if v["payer"] == v["recipient"] else find_subscriber(tx, v["payer"])
            balance = int(row["balance"] or 0) if row else 0
        if sub is None:
            raise Refused(f"recipient: {v['recipient_national']} is not a subscriber of a "
                          f"{mkt.code} operator we serve", field="recipient")
        if sub.kind != "prepaid":
            raise Refused(f"recipient: {v['recipient_national']} is a postpaid line; top-ups "
                          "and gifts go to prepaid lines", field="recipient")
        lang = req.language or (payer.language if payer else sub.language)
        refused = "balance_cap" if balance + amount.minor > mkt.balance_cap.minor else None  # again at credit
        return self.payments.open(dict(
            id=order_id, market=mkt.code, channel=req.channel, purpose="topup", target=sub.msisdn,
            method=req.method, method_account=req.method_account,
            kind="self" if v["payer"] == sub.msisdn else "gift", product=req.product, payer=v["payer"],
            recipient=sub.msisdn, amount=amount.minor, currency=amount.currency, bonus=v["bonus"].minor,
            bonus_hours=v["hours"], gateway=v["gateway"], save_recipient=int(bool(req.save_recipient)),
            language=lang, email=req.email), description=f"top-up {v['recipient_national']}", refused=refused)

    def expire_bonuses(self) -> int:
        """Post the expiry of every bonus bucket whose validity has ended; returns how many."""
        now_ms = self.payments.now_ms()

        def run(tx: Tx) -> int:
            rows = tx.all("SELECT b.*, o.market FROM bonus_buckets b JOIN orders o ON o.id = b.order_id"
                          " WHERE b.state = 'active' AND b.expires_ms <= ?" + tx.for_update, (now_ms,))
            for r in rows:
                if int(r["remaining"]) > 0:
                    ledger.transfer(tx, f"bonus_expiry:{r['order_id']}", ledger.sub_bonus(r["msisdn"]),
                                    ledger.bonus_expense(r["market"], r["currency"]),
                                    Money(int(r["remaining"]), r["currency"]), kind="bonus_expiry",
                                    order_id=r["order_id"], at_ms=now_ms)
                tx.execute("UPDATE bonus_buckets SET state = 'expired', remaining = 0 WHERE order_id = ?",
                           (r["order_id"],))
            return len(rows)
        return self.store.run(run)
