"""Top-up service: create an order, take the card payment through a gateway, credit once.

Nothing here waits on a gateway while holding a transaction: each step is a short transaction,
then a port call, then another short transaction that applies what the gateway *says* (its
status answer), guarded by the order's state and by transfer ids. That is what makes a retried
call, a duplicate or late callback, or a crash between two steps change nothing.
"""
from __future__ import annotations

import logging
import time
import re
from dataclasses import dataclass
from typing import Callable

from core import ledger
from core.clock import Clock
from core.digits import to_local_digits
from core.errors import Conflict, GatewayUnavailable, InvalidInput, NotFound, Refused
from core.market import Market, market as market_of
from core.money import Money
from core.orders import UNPAID, Order, State
from core.ports import Card, CardGateway, GatewayError, GatewayTimeout, Payment, PaymentStatus, SmsSender
from core.store import Store, Tx
from core.subscribers import Subscribers, find as find_subscriber, save_recipient

log = logging.getLogger("rbench.topups")
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


@dataclass(frozen=True)
class Notice:
    market: str
    to: str
    key: str
    lang: str
    values: dict


class Topups:
    def __init__(self, store: Store, clock: Clock, subscribers: Subscribers,
                 gateways: dict[str, CardGateway], sms: SmsSender, new_id: Callable[[], str],
                 *, sms_sender: str = "RBENCH") -> None:
        self.store, self.clock, self.subscribers = store, clock, subscribers
        self.gateways, self.sms, self.new_id, self.sms_sender = gateways, sms, new_id, sms_sender
        for gw in gateways.values():
            gw.set_notify(self.on_gateway_notify)

    # -- reading -------------------------------------------------------------------------
    def get(self, order_id: str) -> Order:
        with self.store.transaction() as tx:
            row = tx.one("SELECT * FROM orders WHERE id = ?", (order_id,))
        if row is None:
            raise NotFound(f"order {order_id!r} does not exist", field="order_id")
        return Order.from_row(row)

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- creating ------------------------------------------------------------------------
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
        gateway = mkt.ussd_gateway if req.channel == "ussd" else mkt.web_gateway
        if gateway not in self.gateways:
            raise GatewayUnavailable(f"no card gateway {gateway!r} is configured for {mkt.code}")
        return dict(mkt=mkt, amount=amount, payer=(payer or recipient).e164, recipient=recipient.e164,
                    recipient_national=recipient.national, bonus=bonus, hours=hours, gateway=gateway)

    def create(self, req: TopupRequest, *, order_id: str | None = None) -> Order:
        """Create and register an order. With ``order_id`` fixed by the caller (derived from an
        idempotency key or a USSD session), a repeated call resumes the same order."""
        v = self.validate(req)
        mkt: Market = v["mkt"]
        amount: Money = v["amount"]
        order_id = order_id or self.new_id()
        now_ms = self._now_ms()
        notices: list[Notice] = []

        def insert(tx: Tx) -> Order:
            existing = tx.one("SELECT * FROM orders WHERE id = ?", (order_id,))
            if existing is not None:
                return Order.from_row(existing)
            sub = find_subscriber(tx, v["recipient"])
            if sub is None:
                raise Refused(f"recipient: {v['recipient_national']} is not a subscriber of a "
                              f"{mkt.code} operator we serve", field="recipient")
            if sub.kind != "prepaid":
                raise Refused(f"recipient: {v['recipient_national']} is a postpaid line; top-ups "
                              "and gifts go to prepaid lines", field="recipient")
            payer = find_subscriber(tx, v["payer"])
            lang = req.language or (payer.language if payer else sub.language)
            state, reason = State.CREATED, None
            balance = ledger.liability_balance(tx, ledger.sub_main(sub.msisdn))
            if balance + amount.minor > mkt.balance_cap.minor:
                state, reason = State.REFUSED, "balance_cap"
                notices.append(self._cap_notice(mkt, v["payer"], sub.msisdn, lang))
            tx.execute(
                "INSERT INTO orders (id, market, channel, kind, product, payer, recipient, amount,"
                " currency, bonus, bonus_hours, gateway, state, reason, save_recipient, language,"
                " email, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (order_id, mkt.code, req.channel, "self" if v["payer"] == sub.msisdn else "gift",
                 req.product, v["payer"], sub.msisdn, amount.minor, amount.currency, v["bonus"].minor,
                 v["hours"], v["gateway"], str(state), reason, int(bool(req.save_recipient)), lang,
                 req.email, now_ms, now_ms))
            return Order.from_row(tx.one("SELECT * FROM orders WHERE id = ?", (order_id,)))

        order = self.store.run(insert)
        self._send(notices)
        if order.state is not State.CREATED:
            return order
        gw = self.gateways[order.gateway]
        try:
            reg = gw.register(order.id, amount, description=f"top-up {v['recipient_national']}",
                              language=order.language)
        except (GatewayError, GatewayTimeout) as e:
            reason = e.message if isinstance(e, GatewayError) else "gateway did not answer the registration"
            return self._move(order.id, (State.CREATED,), State.FAILED, reason=reason)
        return self._move(order.id, (State.CREATED,), State.PENDING_PAYMENT,
                          gateway_ref=reg.gateway_ref, form_url=reg.form_url)

    # -- paying ----------------------------------------------------------------------------
    def submit_card(self, order_id: str, card: Card) -> Order:
        order = self.get(order_id)
        if order.state is not State.PENDING_PAYMENT:
            raise Conflict(f"order {order_id} is {order.state}; card details are taken while it is "
                           "pending_payment", field="order_id")
        gw = self.gateways[order.gateway]
        try:
            payment = gw.submit_card(order.gateway_ref, card)
        except GatewayError as e:
            self.reconcile(order_id)
            raise Refused(e.message, field=e.field or "card", gateway_code=e.code) from None
        except GatewayTimeout:
            return self.reconcile(order_id)
        return self._apply(order_id, payment, masked_pan=card.masked)

    def confirm_otp(self, order_id: str, otp: object) -> Order:
        order = self.get(order_id)
        if not isinstance(otp, str):
            raise InvalidInput("otp: expected the code from the SMS as a string of digits", field="otp")
        if order.state is not State.OTP_PENDING:
            raise Conflict(f"order {order_id} is {order.state}; a code is expected while it is "
                           "otp_pending", field="order_id")
        try:
            payment = self.gateways[order.gateway].confirm_otp(order.gateway_ref, otp)
        except GatewayError as e:
            after = self.reconcile(order_id)
            raise Refused(e.message, field="otp", gateway_code=e.code, state=str(after.state)) from None
        except GatewayTimeout:
            return self.reconcile(order_id)
        return self._apply(order_id, payment)

    def resend_otp(self, order_id: str) -> Order:
        order = self.get(order_id)
        if order.state is not State.OTP_PENDING:
            raise Conflict(f"order {order_id} is {order.state}; a code can be resent while it is "
                           "otp_pending", field="order_id")
        try:
            payment = self.gateways[order.gateway].resend_otp(order.gateway_ref)
        except GatewayError as e:
            raise Refused(e.message, field="otp", gateway_code=e.code) from None
        return self._apply(order_id, payment)

    # -- learning outcomes -----------------------------------------------------------------
    def on_gateway_notify(self, gateway: str, gateway_ref: str) -> None:
        """A callback: never trusted for its content, only as a reason to ask for the status."""
        with self.store.transaction() as tx:
            row = tx.one("SELECT * FROM orders WHERE gateway = ? AND gateway_ref = ?", (gateway, gateway_ref))
        if row is None:
            log.warning("callback for unknown payment %s/%s ignored", gateway, gateway_ref)
            return
        self._reconcile(Order.from_row(row))

    def reconcile(self, order_id: str) -> Order:
        """Ask the gateway where the payment stands and apply it (safe to call any time)."""
        return self._reconcile(self.get(order_id))

    def _reconcile(self, order: Order) -> Order:
        # A credited order has nothing left to learn: a later refund by the gateway is a
        # settlement discrepancy, not something a callback may undo. A FAILED order is still
        # asked: the gateway may have captured after we gave up.
        if order.gateway_ref is None or order.state in (State.REFUSED, State.REFUNDED, State.CREDITED):
            return order
        order_id = order.id
        try:
            payment = self.gateways[order.gateway].status(order.gateway_ref)
        except (GatewayError, GatewayTimeout) as e:
            log.info("status of %s unavailable: %s", order_id, e)
            return order
        return self._apply(order_id, payment)

    def reconcile_pending(self, older_than_s: float = 60.0, limit: int = 500) -> int:
        """Sweep orders whose outcome we have not heard of (the browser never came back)."""
        cutoff = self._now_ms() - int(older_than_s * 1000)
        waiting = tuple(str(s) for s in (*UNPAID[1:], State.PAID, State.REFUND_PENDING))
        with self.store.transaction() as tx:
            rows = tx.all(f"SELECT id FROM orders WHERE state IN ({','.join('?' * len(waiting))})"
                          " AND updated_ms <= ? ORDER BY updated_ms LIMIT ?", (*waiting, cutoff, limit))
        for row in rows:
            self.reconcile(row["id"])
        return len(rows)

    def _apply(self, order_id: str, p: Payment, *, masked_pan: str | None = None) -> Order:
        s = p.status
        if s in (PaymentStatus.REGISTERED, PaymentStatus.OTP_PENDING):
            return self._move(order_id, (State.PENDING_PAYMENT, State.OTP_PENDING),
                              State.OTP_PENDING if s is PaymentStatus.OTP_PENDING else None,
                              masked_pan=masked_pan or p.masked_pan)
        if s is PaymentStatus.AUTHORISED:
            order = self._move(order_id, (State.PENDING_PAYMENT, State.OTP_PENDING, State.AUTHORISED),
                               State.AUTHORISED, masked_pan=masked_pan or p.masked_pan)
            return self._verify(order) if order.state is State.AUTHORISED else order
        if s.captured:
            order, moved = self.store.run(lambda tx: self._capture_and_credit(tx, order_id, p))
            return self._after_capture(order, p, moved)
        if s in (PaymentStatus.REFUNDED, PaymentStatus.REVERSED):
            order = self.get(order_id)
            if order.state in (State.PAID, State.REFUND_PENDING):
                return self._refunded(order_id)
            if order.state is State.CREDITED:
                log.error("gateway says %s of credited order %s was %s: left for settlement",
                          p.gateway_ref, order_id, s)
                return order
        if s in (PaymentStatus.DECLINED, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED,
                 PaymentStatus.REVERSED):
            order, moved = self._try_move(order_id, UNPAID, State.FAILED, reason=p.reason or str(s))
            if moved:
                self._send([self._failure_notice(order, order.reason or str(s))])
            return order
        return self.get(order_id)

    def _verify(self, order: Order) -> Order:
        """Shaparak style: verify within the window, or reverse if the credit would be refused."""
        gw = self.gateways[order.gateway]
        mkt = market_of(order.market)
        with self.store.transaction() as tx:
            balance = ledger.liability_balance(tx, ledger.sub_main(order.recipient))
        try:
            if balance + order.amount.minor > mkt.balance_cap.minor:
                payment = gw.refund(order.gateway_ref, order.amount)
                self._send([self._cap_notice(mkt, order.payer, order.recipient, order.language)])
                return self._move(order.id, (State.AUTHORISED,), State.FAILED, reason="balance_cap")
            payment = gw.verify(order.gateway_ref)
        except GatewayError as e:
            log.info("verify of %s refused: %s", order.id, e.message)
            return self.reconcile(order.id)
        except GatewayTimeout:
            return self.reconcile(order.id)
        return self._apply(order.id, payment)

    def _capture_and_credit(self, tx: Tx, order_id: str, p: Payment) -> tuple[Order, bool]:
        """Post the capture and, if the balance cap allows, the credit: at most once each.

        A FAILED order can still be captured (the gateway took the money after we gave up on
        it): the capture is posted and the money goes back through REFUND_PENDING.
        """
        row = tx.one("SELECT * FROM orders WHERE id = ?" + tx.for_update, (order_id,))
        order = Order.from_row(row)
        now_ms = self._now_ms()
        if order.state in (State.CREDITED, State.REFUND_PENDING, State.REFUNDED, State.REFUSED):
            return order, False
        if p.amount != order.amount:
            log.error("gateway captured %s for order %s of %s: refunding", p.amount, order_id, order.amount)
        cur = order.amount.currency
        ledger.transfer(tx, f"capture:{order.id}", ledger.gateway_clearing(order.gateway, cur),
                        ledger.held(cur), p.amount, kind="capture", order_id=order.id, at_ms=now_ms)
        mkt = market_of(order.market)
        balance = ledger.liability_balance(tx, ledger.sub_main(order.recipient), lock=True)
        if (p.amount != order.amount or order.state is State.FAILED
                or balance + order.amount.minor > mkt.balance_cap.minor):
            reason = ("amount_mismatch" if p.amount != order.amount else
                      "captured_after_failure" if order.state is State.FAILED else "balance_cap")
            self._update(tx, order.id, State.REFUND_PENDING, now_ms, reason=reason,
                         paid_ms=now_ms, masked_pan=p.masked_pan)
        else:
            ledger.transfer(tx, f"credit:{order.id}", ledger.held(cur), ledger.sub_main(order.recipient),
                            order.amount, kind="credit", order_id=order.id, at_ms=now_ms)
            if order.bonus.minor > 0:
                ledger.transfer(tx, f"bonus:{order.id}", ledger.bonus_expense(order.market, cur),
                                ledger.sub_bonus(order.recipient), order.bonus, kind="bonus",
                                order_id=order.id, at_ms=now_ms)
                tx.execute("INSERT INTO bonus_buckets (order_id, msisdn, currency, amount, remaining,"
                           " granted_ms, expires_ms, state) VALUES (?,?,?,?,?,?,?, 'active')",
                           (order.id, order.recipient, cur, order.bonus.minor, order.bonus.minor,
                            now_ms, now_ms + order.bonus_hours * 3_600_000))
            if order.save_recipient and order.kind == "gift":
                save_recipient(tx, order.payer, order.recipient, now_ms)
            self._update(tx, order.id, State.CREDITED, now_ms, paid_ms=order.paid_ms or now_ms,
                         credited_ms=now_ms, masked_pan=p.masked_pan)
        return Order.from_row(tx.one("SELECT * FROM orders WHERE id = ?", (order_id,))), True

    def _after_capture(self, order: Order, p: Payment, moved: bool) -> Order:
        gw = self.gateways[order.gateway]
        mkt = market_of(order.market)
        if order.state is State.REFUND_PENDING:
            try:
                gw.refund(order.gateway_ref, p.amount)
            except (GatewayError, GatewayTimeout) as e:
                log.warning("refund of %s not done yet (%s): the sweep retries", order.id, e)
                return order
            if order.reason == "balance_cap" and moved:
                self._send([self._cap_notice(mkt, order.payer, order.recipient, order.language)])
            return self._refunded(order.id)
        if order.state is State.CREDITED and moved:
            if gw.style == "shaparak" and p.status is PaymentStatus.PAID:
                try:
                    gw.settle(order.gateway_ref)
                except (GatewayError, GatewayTimeout) as e:
                    log.warning("settle of %s failed: %s", order.id, e)
            self._send(self._success_notices(order, mkt))
        return order

    def _refunded(self, order_id: str) -> Order:
        def run(tx: Tx) -> Order:
            order = Order.from_row(tx.one("SELECT * FROM orders WHERE id = ?" + tx.for_update, (order_id,)))
            if order.state not in (State.PAID, State.REFUND_PENDING):
                return order
            captured = tx.one("SELECT amount FROM transfers WHERE id = ?", (f"capture:{order_id}",))
            cur = order.amount.currency
            ledger.transfer(tx, f"refund:{order_id}", ledger.held(cur), ledger.gateway_clearing(order.gateway, cur),
                            Money(int(captured["amount"]), cur), kind="refund", order_id=order_id,
                            at_ms=self._now_ms())
            self._update(tx, order_id, State.REFUNDED, self._now_ms())
            return Order.from_row(tx.one("SELECT * FROM orders WHERE id = ?", (order_id,)))
        return self.store.run(run)

    # -- state moves ----------------------------------------------------------------------
    def _update(self, tx: Tx, order_id: str, state: State | None, now_ms: int, *, reason: str | None = None,
                masked_pan: str | None = None, paid_ms: int | None = None, credited_ms: int | None = None,
                gateway_ref: str | None = None, form_url: str | None = None) -> None:
        tx.execute(
            "UPDATE orders SET state = COALESCE(?, state), reason = COALESCE(?, reason),"
            " masked_pan = COALESCE(?, masked_pan), paid_ms = COALESCE(?, paid_ms),"
            " credited_ms = COALESCE(?, credited_ms), gateway_ref = COALESCE(?, gateway_ref),"
            " form_url = COALESCE(?, form_url), updated_ms = ? WHERE id = ?",
            (str(state) if state else None, reason, masked_pan, paid_ms, credited_ms, gateway_ref,
             form_url, now_ms, order_id))

    def _move(self, order_id: str, allowed_from: tuple[State, ...], to: State | None, **fields) -> Order:
        """Move the order to ``to`` if it is in one of ``allowed_from``; else leave it alone."""
        return self._try_move(order_id, allowed_from, to, **fields)[0]

    def _try_move(self, order_id: str, allowed_from: tuple[State, ...], to: State | None,
                  **fields) -> tuple[Order, bool]:
        """As ``_move``, also saying whether this call made the move (so notices go out once)."""
        def run(tx: Tx) -> tuple[Order, bool]:
            row = tx.one("SELECT * FROM orders WHERE id = ?" + tx.for_update, (order_id,))
            if row is None:
                raise NotFound(f"order {order_id!r} does not exist", field="order_id")
            if State(row["state"]) not in allowed_from:
                return Order.from_row(row), False
            self._update(tx, order_id, to, self._now_ms(), **fields)
            return Order.from_row(tx.one("SELECT * FROM orders WHERE id = ?", (order_id,))), True
        return self.store.run(run)

    # -- bonus expiry ----------------------------------------------------------------------
    def expire_bonuses(self) -> int:
        """Post the expiry of every bonus bucket whose validity has ended; returns how many."""
        now_ms = self._now_ms()

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

    # -- notices ---------------------------------------------------------------------------
    def _fmt(self, mkt: Market, money: Money) -> str:
        return to_local_digits(money.display(), mkt.display_digits)

    def _national(self, mkt: Market, msisdn: str) -> str:
        return to_local_digits("0" + msisdn[len(mkt.numbering.country_code):], mkt.display_digits)

    def _cap_notice(self, mkt: Market, to: str, recipient: str, lang: str) -> Notice:
        return Notice(mkt.code, to, "sms_cap_refused", lang, dict(msisdn=self._national(mkt, recipient),
                                                         cap=self._fmt(mkt, mkt.balance_cap)))

    def _failure_notice(self, order: Order, reason: str) -> Notice:
        mkt = market_of(order.market)
        return Notice(mkt.code, order.payer, "sms_topup_failed", order.language, dict(
            amount=self._fmt(mkt, order.amount), msisdn=self._national(mkt, order.recipient),
            reason=reason, order=order.id))

    def _success_notices(self, order: Order, mkt: Market) -> list[Notice]:
        with self.store.transaction() as tx:
            main = Money(ledger.liability_balance(tx, ledger.sub_main(order.recipient)), mkt.currency)
            recipient_lang = find_subscriber(tx, order.recipient).language
        out = [Notice(mkt.code, order.payer, "sms_topup_ok", order.language, dict(
            amount=self._fmt(mkt, order.amount), msisdn=self._national(mkt, order.recipient),
            balance=self._fmt(mkt, main), order=order.id))]
        if order.kind == "gift":
            out.append(Notice(mkt.code, order.recipient, "sms_gift_received", recipient_lang, dict(
                amount=self._fmt(mkt, order.amount), payer=self._national(mkt, order.payer))))
        if order.bonus.minor > 0:
            expiry = time.strftime("%Y-%m-%d %H:%M", time.gmtime((order.credited_ms or 0) / 1000
                                                             + order.bonus_hours * 3600))
            out.append(Notice(mkt.code, order.recipient, "sms_bonus", recipient_lang, dict(
                bonus=self._fmt(mkt, order.bonus), expiry=to_local_digits(expiry, mkt.display_digits))))
        return out

    def _send(self, notices: list[Notice]) -> None:
        for n in notices:
            try:
                text = market_of(n.market).text(n.key, n.lang, **n.values)
                self.sms.send(n.to, text, sender=self.sms_sender)
            except Exception:   # a notice must never undo a committed payment
                log.exception("SMS %s to %s not sent", n.key, n.to)
