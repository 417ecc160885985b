"""Paying for an order, whatever it buys: by card through a gateway, or directly from a
kiosk agent's float, a wallet provider, a bank app or a postal mandate.

Nothing here waits on a gateway while holding a transaction: each step is a short transaction,
then a port call, then another short transaction that applies what the gateway *says* (its
status answer), guarded by the order's state and by transfer ids. That is what makes a retried
call, a duplicate or late callback, or a crash between two steps change nothing.

What an order buys is a ``Purpose`` (top-up, bill, meter vend): it may refuse at the last
moment (the balance cap) and it fulfils inside the same transaction as the capture, so money
is never captured without being either delivered or sent back.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Protocol

from core import ledger
from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound, Refused
from core.market import market as market_of
from core.money import Money
from core.orders import UNPAID, Order, State
from core.otp_guard import OtpGuard
from core.ports import Card, CardGateway, GatewayError, GatewayTimeout, Payment, PaymentStatus, SmsSender
from core.store import Store, Tx

log = logging.getLogger("rbench.payments")

# The states the sweep asks the gateway about. Migration 0012's partial index orders_waiting
# carries this very condition (SQLite uses a partial index only for the same words).
WAITING = (*UNPAID[1:], State.PAID, State.REFUND_PENDING)
WAITING_SQL = "state IN (" + ", ".join(f"'{s}'" for s in WAITING) + ")"
SWEEP_SQL = (f"SELECT id FROM orders WHERE {WAITING_SQL} AND method = 'card' AND updated_ms <= ?"
             " ORDER BY updated_ms LIMIT ?")
DIRECT_METHODS = ("kiosk", "wallet", "bank", "mandate")


@dataclass(frozen=True)
class Notice:
    """An SMS to send once the transaction that caused it has committed."""

    market: str
    to: str
    key: str
    lang: str
    values: dict


class Purpose(Protocol):
    name: str

    def refusal(self, tx: Tx, order: Order) -> str | None:
        """A reason to refuse delivery now (money goes back), or None."""

    def fulfil(self, batch: ledger.Batch, order: Order) -> None:
        """Deliver: add ``credit:<order>`` from ``held`` to the target to the batch (posted with
        the capture, in the same transaction), and write its side effects with ``batch.tx``."""

    def notices(self, order: Order, event: str, balances: dict[str, int] | None = None) -> list[Notice]:
        """SMS for ``event``: "credited", "refused" (at credit time) or "failed". ``balances``:
        the accounts as the capture's postings left them, when the store says (ledger.Batch)."""


def clearing_account(method: str, account: str, cur: str) -> str:
    """Where a direct payment's money comes from (what the payer's side owes or holds)."""
    return {"kiosk": f"agent:{account}:{cur}", "wallet": f"wallet:{account}:{cur}",
            "bank": f"bankapp:{account}:{cur}", "mandate": f"postal:{account}:{cur}"}[method]


class Payments:
    def __init__(self, store: Store, clock: Clock, gateways: dict[str, CardGateway], sms: SmsSender,
                 *, sms_sender: str = "RBENCH") -> None:
        self.store, self.clock, self.gateways, self.sms, self.sms_sender = store, clock, gateways, sms, sms_sender
        self.purposes: dict[str, Purpose] = {}
        self.otp_guard = OtpGuard(store, clock)
        self._hand = threading.local()
        for gw in gateways.values():
            gw.set_notify(self.on_gateway_notify)

    def add_purpose(self, purpose: Purpose) -> None:
        self.purposes[purpose.name] = purpose

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- reading -------------------------------------------------------------------------
    def get(self, order_id: str) -> Order:
        with self.store.autocommit() as tx:
            row = tx.one("SELECT * FROM orders WHERE id = ?", (order_id,))
        if row is None:
            raise NotFound(f"order {order_id!r} does not exist", field="order_id")
        return Order.from_row(row)

    # -- starting a payment ---------------------------------------------------------------
    def register(self, order: Order, description: str) -> Order:
        """Register a CREATED card order with its gateway: PENDING_PAYMENT, or FAILED."""
        if order.state is not State.CREATED:
            return order
        try:
            reg = self.gateways[order.gateway].register(order.id, order.amount, description=description,
                                                        language=order.language)
        except (GatewayError, GatewayTimeout) as e:
            reason = e.message if isinstance(e, GatewayError) else "gateway did not answer the registration"
            return self.move(order.id, (State.CREATED,), State.FAILED, reason=reason)
        return self.move(order.id, (State.CREATED,), State.PENDING_PAYMENT,
                         gateway_ref=reg.gateway_ref, form_url=reg.form_url)

    def open(self, columns: dict, *, description: str, refused: str | None = None) -> Order:
        """Write a new order and start its payment; ``columns`` are the orders row (id, market,
        purpose, target, method, amount, currency, gateway, language, ...).

        A card order is registered with its gateway *before* it is written, so it is written
        once, already pending payment (a registration whose order never got written is
        harmless: nothing was paid and the gateway's session expires; a retry registers the
        same order_ref again). A direct order is written CREATED and paid at once. ``refused``
        writes it REFUSED for that reason. If the id exists already (a retry, a concurrent
        call), that order is resumed instead.
        """
        state, reason, reg = (State.REFUSED, refused, None) if refused else (State.CREATED, None, None)
        amount = Money(columns["amount"], columns["currency"])
        if refused is None and columns["method"] == "card":
            try:
                reg = self.gateways[columns["gateway"]].register(columns["id"], amount, description=description,
                                                                 language=columns["language"])
                state = State.PENDING_PAYMENT
            except (GatewayError, GatewayTimeout) as e:
                state = State.FAILED
                reason = e.message if isinstance(e, GatewayError) else "gateway did not answer the registration"
        now_ms = self.now_ms()
        row = columns | {"gateway_ref": reg.gateway_ref if reg else None, "form_url": reg.form_url if reg else None,
                         "state": str(state), "reason": reason, "created_ms": now_ms, "updated_ms": now_ms}
        with self.store.autocommit() as tx:
            written = tx.one(f"INSERT INTO orders ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})"
                             " ON CONFLICT (id) DO NOTHING RETURNING *", tuple(row.values()))
        if written is None:
            return self.resume(self.get(columns["id"]), description)
        order = Order.from_row(written)
        if order.state in (State.FAILED, State.REFUSED):
            self.send(self.purposes[order.purpose].notices(
                order, "refused" if order.state is State.REFUSED else "failed"))
        elif order.state is State.CREATED:
            return self.pay_direct(order.id)
        return order

    def resume(self, order: Order, description: str) -> Order:
        """Carry on an order a crash or a retry left CREATED (direct: pay; card: register)."""
        if order.state is not State.CREATED:
            return order
        if order.method != "card":
            return self.pay_direct(order.id)
        return self.register(order, description)

    def pay_direct(self, order_id: str) -> Order:
        """Take a kiosk / wallet / bank / mandate order's money from its clearing account and
        deliver, in one transaction. A kiosk agent's float must cover it."""
        def run(tx: Tx) -> tuple[Order, str | None]:
            balances.clear()             # a replayed transaction starts again
            order = Order.from_row(tx.one("SELECT * FROM orders WHERE id = ?" + tx.for_update, (order_id,)))
            if order.state is not State.CREATED or order.method not in DIRECT_METHODS:
                return order, None
            cur = order.amount.currency
            source = clearing_account(order.method, order.method_account or "", cur)
            purpose = self.purposes[order.purpose]
            now_ms = self.now_ms()
            reason = purpose.refusal(tx, order)
            if order.method == "kiosk" and ledger.liability_balance(tx, source, lock=True) < order.amount.minor:
                reason = f"agent_float_low: agent {order.method_account} must deposit float first"
            if reason is not None:     # nothing taken: the payer's side keeps its money
                return self.update(tx, order.id, State.FAILED, now_ms, reason=reason), "failed"
            batch = ledger.Batch(tx, now_ms).add(f"capture:{order.id}", source, ledger.held(cur), order.amount,
                                                 kind="capture", order_id=order.id)
            purpose.fulfil(batch, order)
            batch.post()
            balances.update(batch.balances)
            return self.update(tx, order.id, State.CREDITED, now_ms, paid_ms=now_ms, credited_ms=now_ms), "credited"
        balances: dict[str, int] = {}
        order, event = self.store.run(run)
        if event is not None:
            self.send(self.purposes[order.purpose].notices(order, event, balances or None))
        return order

    def deposit_float(self, agent: str, amount: Money, ref: str) -> int:
        """A kiosk agent pays float in (cash to the operator's bank); returns the new float."""
        def run(tx: Tx) -> int:
            account = clearing_account("kiosk", agent, amount.currency)
            ledger.transfer(tx, f"float:{ref}", ledger.bank(amount.currency), account, amount,
                            kind="float", order_id=None, at_ms=self.now_ms())
            return ledger.liability_balance(tx, account)
        return self.store.run(run)

    # -- orders in hand --------------------------------------------------------------------
    @contextmanager
    def _in_hand(self, order: Order) -> Iterator[None]:
        """For the length of one customer step, keep the orders it read or committed. A gateway
        may call back while the step waits on it (the emulators do, in the same thread), and
        the step then applies the gateway's own answer: both start from the copy in hand
        instead of reading the row again (two round trips per step). A copy is a hint, never
        a decision: every move re-checks the state in its guarded UPDATE or under a lock."""
        outer = getattr(self._hand, "orders", None)
        if outer is None:
            self._hand.orders = {}
        self._hold(order)
        try:
            yield
        finally:
            if outer is None:
                self._hand.orders = self._hand.attempt = None

    def _hold(self, order: Order) -> Order:
        orders = getattr(self._hand, "orders", None)
        if orders is not None:
            orders[order.id] = order
        return order

    def _attempt(self, order_id: str) -> str | None:
        """The OTP attempt this step reserved for ``order_id`` and has not released yet: a
        capture of that order releases it in its own transaction (the code paid)."""
        held = getattr(self._hand, "attempt", None)
        return held[1] if held is not None and held[0] == order_id else None

    def _held(self, order_id: str | None = None, *, gateway: str = "", gateway_ref: str = "") -> Order | None:
        """The order in hand with this id, or else with this gateway reference."""
        orders = getattr(self._hand, "orders", None) or {}
        if order_id is not None:
            return orders.get(order_id)
        return next((o for o in orders.values() if o.gateway == gateway and o.gateway_ref == gateway_ref), None)

    # -- card steps ------------------------------------------------------------------------
    def submit_card(self, order_id: str, card: Card) -> Order:
        order = self.get(order_id)
        with self._in_hand(order):
            return self._submit_card(order, card)

    def _submit_card(self, order: Order, card: Card) -> Order:
        order_id = order.id
        if order.state is not State.PENDING_PAYMENT:
            raise Conflict(f"order {order_id} is {order.state}; card details are taken while it is "
                           "pending_payment", field="order_id")
        try:
            payment = self.gateways[order.gateway].submit_card(order.gateway_ref, card)
        except GatewayError as e:
            self.reconcile(order_id)
            raise Refused(e.message, field=e.field or "card", gateway_code=e.code) from None
        except GatewayTimeout:
            return self.reconcile(order_id)
        return self._apply(order_id, payment, masked_pan=card.masked, seen=self._held(order_id))

    def confirm_otp(self, order_id: str, otp: object) -> Order:
        attempt = None
        if isinstance(otp, str) and self.store.dialect == "postgresql":
            row, attempt = self.otp_guard.read_and_reserve(order_id)     # one round trip for both
            if row is None:
                raise NotFound(f"order {order_id!r} does not exist", field="order_id")
            order = Order.from_row(row)
        else:
            order = self.get(order_id)
        with self._in_hand(order):
            return self._confirm_otp(order, otp, attempt)

    def _confirm_otp(self, order: Order, otp: object, attempt: str | None = None) -> Order:
        """``attempt``: one already reserved for this code with the order's read."""
        order_id = order.id
        if not isinstance(otp, str):
            raise InvalidInput("otp: expected the code from the SMS as a string of digits", field="otp")
        if order.state is not State.OTP_PENDING:
            raise Conflict(f"order {order_id} is {order.state}; a code is expected while it is "
                           "otp_pending", field="order_id")
        if attempt is None:
            attempt = self.otp_guard.reserve(order.market, order.payer or order.id, order.id)
        self._hand.attempt = (order_id, attempt)
        try:
            payment = self.gateways[order.gateway].confirm_otp(order.gateway_ref, otp)
        except GatewayError as e:
            if e.code != "wrong_otp":        # not judged (malformed, wrong state): not a guess
                self.otp_guard.release(attempt)
            else:
                self.otp_guard.forget_expired(order.payer or order.id)
            after = self.reconcile(order_id)
            raise Refused(e.message, field="otp", gateway_code=e.code, state=str(after.state)) from None
        except GatewayTimeout:               # outcome unknown: the attempt stays counted
            return self.reconcile(order_id)
        if payment.status in (PaymentStatus.AUTHORISED, PaymentStatus.EXPIRED):
            self.otp_guard.release(attempt)
        order = self._apply(order_id, payment, seen=self._held(order_id))
        if payment.status.captured and self._attempt(order_id) is not None:
            self.otp_guard.release(attempt)   # no capture of ours carried it (someone else's did)
        return order

    def resend_otp(self, order_id: str) -> Order:
        order = self.get(order_id)
        if order.state is not State.OTP_PENDING:
            raise Conflict(f"order {order_id} is {order.state}; a code can be resent while it is "
                           "otp_pending", field="order_id")
        try:
            payment = self.gateways[order.gateway].resend_otp(order.gateway_ref)
        except GatewayError as e:
            raise Refused(e.message, field="otp", gateway_code=e.code) from None
        except GatewayTimeout:      # the resend may or may not have happened: ask
            return self.reconcile(order_id)
        return self._apply(order_id, payment)

    # -- learning outcomes -----------------------------------------------------------------
    def on_gateway_notify(self, gateway: str, gateway_ref: str) -> None:
        """A callback: never trusted for its content, only as a reason to ask for the status."""
        order = self._held(gateway=gateway, gateway_ref=gateway_ref)
        if order is None:
            with self.store.autocommit() as tx:
                row = tx.one("SELECT * FROM orders WHERE gateway = ? AND gateway_ref = ?", (gateway, gateway_ref))
            if row is None:
                log.warning("callback for unknown payment %s/%s ignored", gateway, gateway_ref)
                return
            order = Order.from_row(row)
        self._reconcile(order)

    def reconcile(self, order_id: str) -> Order:
        """Ask the gateway where the payment stands and apply it (safe to call any time)."""
        return self._reconcile(self.get(order_id))

    def _reconcile(self, order: Order) -> Order:
        # A credited order has nothing left to learn: a later refund by the gateway is a
        # settlement discrepancy, not something a callback may undo. A FAILED order is still
        # asked: the gateway may have captured after we gave up.
        if (order.gateway_ref is None or order.gateway not in self.gateways
                or order.state in (State.REFUSED, State.REFUNDED, State.CREDITED)):
            return order
        try:
            payment = self.gateways[order.gateway].status(order.gateway_ref)
        except (GatewayError, GatewayTimeout) as e:
            log.info("status of %s unavailable: %s", order.id, e)
            return order
        return self._apply(order.id, payment, seen=order)

    def reconcile_pending(self, older_than_s: float = 60.0, limit: int = 500) -> int:
        """Sweep card orders whose outcome we have not heard of (the browser never came back)."""
        cutoff = self.now_ms() - int(older_than_s * 1000)
        with self.store.transaction() as tx:
            rows = tx.all(SWEEP_SQL, (cutoff, limit))
        for row in rows:
            self.reconcile(row["id"])
        return len(rows)

    def _apply(self, order_id: str, p: Payment, *, masked_pan: str | None = None,
               seen: Order | None = None) -> Order:
        """Bring the order in line with the gateway's answer ``p``. ``seen`` is the order as
        just read by the caller: it spares a read where a stale copy is harmless (every move
        below re-checks the state under a lock or in its guarded UPDATE)."""
        s = p.status
        if s is PaymentStatus.REGISTERED:
            return self.get(order_id)
        if s is PaymentStatus.OTP_PENDING:
            if seen is not None and seen.state is State.OTP_PENDING:
                return seen                     # the callback moved it already
            # No money has moved yet, and a crash that forgets this move leaves the order
            # pending_payment, which the sweep asks the gateway about: its commit need not wait
            # for the flush (docs/security.md). The insert before it and the capture do.
            return self.move(order_id, (State.PENDING_PAYMENT,), State.OTP_PENDING,
                             masked_pan=masked_pan or p.masked_pan, durable=False)
        if s is PaymentStatus.AUTHORISED:
            order = self.move(order_id, (State.PENDING_PAYMENT, State.OTP_PENDING, State.AUTHORISED),
                              State.AUTHORISED, masked_pan=masked_pan or p.masked_pan)
            return self._verify(order) if order.state is State.AUTHORISED else order
        if s.captured:
            order = seen or self.get(order_id)      # a repeated answer costs one read, no lock
            if order.state not in (State.CREDITED, State.REFUND_PENDING, State.REFUNDED, State.REFUSED):
                balances: dict[str, int] = {}
                before = order
                order, moved = self.store.run(lambda tx: self._capture_and_fulfil(tx, order_id, p, balances, before))
                if self._attempt(order_id) is not None:
                    self._hand.attempt = None           # released in that transaction
                return self._after_capture(self._hold(order), p, moved, balances or None)
            return self._after_capture(order, p, False) if order.state is State.REFUND_PENDING else order
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
            order, moved = self.try_move(order_id, UNPAID, State.FAILED, reason=p.reason or str(s))
            if moved:
                self.send(self.purposes[order.purpose].notices(order, "failed"))
            return order
        return self.get(order_id)

    def _verify(self, order: Order) -> Order:
        """Shaparak style: verify within the window, or reverse if delivery would be refused."""
        gw = self.gateways[order.gateway]
        purpose = self.purposes[order.purpose]
        with self.store.transaction() as tx:
            reason = purpose.refusal(tx, order)
        try:
            if reason is not None:
                gw.refund(order.gateway_ref, order.amount)
                order = self.move(order.id, (State.AUTHORISED,), State.FAILED, reason=reason)
                self.send(purpose.notices(order, "refused"))
                return order
            payment = gw.verify(order.gateway_ref)
        except GatewayError as e:
            log.info("verify of %s refused: %s", order.id, e.message)
            return self.reconcile(order.id)
        except GatewayTimeout:
            return self.reconcile(order.id)
        return self._apply(order.id, payment)

    def _capture_and_fulfil(self, tx: Tx, order_id: str, p: Payment, balances: dict[str, int],
                            seen: Order | None = None) -> tuple[Order, bool]:
        """Post the capture and, unless the purpose refuses, deliver: at most once each.
        ``balances`` receives the accounts as the delivery left them (for the notices).

        A FAILED order can still be captured (the gateway took the money after we gave up on
        it): the capture is posted and the money goes back through REFUND_PENDING.

        ``seen``, the order as read before, names the account whose balance the purpose's
        refusal decides on (``decision_account``; an order's purpose and target never change):
        that balance is read and locked in the order's own read, one round trip fewer.
        """
        balances.clear()                 # a replayed transaction starts again
        decides = getattr(self.purposes.get(seen.purpose), "decision_account", None) if seen else None
        account = decides(seen) if decides else None
        if account is None:
            read = ("SELECT * FROM orders WHERE id = ?" + tx.for_update, (order_id,))
        else:
            read = (f"SELECT *, ({ledger.balance_sql(tx, account)}) AS decision_balance FROM orders WHERE id = ?"
                    + tx.for_update, (account, order_id))
        attempt = self._attempt(order_id)
        # The code this step sent paid: it is not a guess, whoever's capture credits the order.
        row = self.otp_guard.release(attempt, tx, then=read) if attempt is not None else tx.one(*read)
        order = Order.from_row(row)
        now_ms = self.now_ms()
        if order.state in (State.CREDITED, State.REFUND_PENDING, State.REFUNDED, State.REFUSED):
            return order, False
        if p.amount != order.amount:
            log.error("gateway captured %s for order %s of %s: refunding", p.amount, order_id, order.amount)
        cur = order.amount.currency
        batch = ledger.Batch(tx, now_ms).add(f"capture:{order.id}", ledger.gateway_clearing(order.gateway, cur),
                                             ledger.held(cur), p.amount, kind="capture", order_id=order.id)
        purpose = self.purposes[order.purpose]
        if account is not None:
            ledger.read_ahead(tx, account, row["decision_balance"])
        reason = ("amount_mismatch" if p.amount != order.amount else
                  "captured_after_failure" if order.state is State.FAILED else purpose.refusal(tx, order))
        if account is not None:
            ledger.read_ahead(tx, None)      # not asked for (no refusal): stale once anything is posted
        if reason is not None:
            return Order.from_row(batch.post_then(*self._set(order.id, State.REFUND_PENDING, now_ms, reason=reason,
                                                             paid_ms=now_ms, masked_pan=p.masked_pan))), True
        purpose.fulfil(batch, order)
        moved = batch.post_then(*self._set(order.id, State.CREDITED, now_ms, paid_ms=order.paid_ms or now_ms,
                                           credited_ms=now_ms, masked_pan=p.masked_pan))
        balances.update(batch.balances)
        return Order.from_row(moved), True

    def _after_capture(self, order: Order, p: Payment, moved: bool,
                       balances: dict[str, int] | None = None) -> Order:
        gw = self.gateways[order.gateway]
        purpose = self.purposes[order.purpose]
        if order.state is State.REFUND_PENDING:
            try:
                gw.refund(order.gateway_ref, p.amount)
            except (GatewayError, GatewayTimeout) as e:
                log.warning("refund of %s not done yet (%s): the sweep retries", order.id, e)
                return order
            if moved and order.reason not in ("amount_mismatch", "captured_after_failure"):
                self.send(purpose.notices(order, "refused"))
            return self._refunded(order.id)
        if order.state is State.CREDITED and moved:
            if gw.style == "shaparak" and p.status is PaymentStatus.PAID:
                try:
                    gw.settle(order.gateway_ref)
                except (GatewayError, GatewayTimeout) as e:
                    log.warning("settle of %s failed: %s", order.id, e)
            self.send(purpose.notices(order, "credited", balances))
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
                            at_ms=self.now_ms())
            return self.update(tx, order_id, State.REFUNDED, self.now_ms())
        return self._hold(self.store.run(run))

    # -- state moves ----------------------------------------------------------------------
    _SET = ("UPDATE orders SET state = COALESCE(?, state), reason = COALESCE(?, reason),"
            " masked_pan = COALESCE(?, masked_pan), paid_ms = COALESCE(?, paid_ms),"
            " credited_ms = COALESCE(?, credited_ms), gateway_ref = COALESCE(?, gateway_ref),"
            " form_url = COALESCE(?, form_url), updated_ms = ? WHERE id = ?")

    def update(self, tx: Tx, order_id: str, state: State | None, now_ms: int, **fields: str | int | None) -> Order:
        return Order.from_row(tx.one(*self._set(order_id, state, now_ms, **fields)))

    def _set(self, order_id: str, state: State | None, now_ms: int, *, reason: str | None = None,
             masked_pan: str | None = None, paid_ms: int | None = None, credited_ms: int | None = None,
             gateway_ref: str | None = None, form_url: str | None = None) -> tuple[str, tuple]:
        """The statement that moves an order the caller holds locked (unguarded), returning it."""
        return self._SET + " RETURNING *", (str(state) if state else None, reason, masked_pan, paid_ms, credited_ms,
                                            gateway_ref, form_url, now_ms, order_id)

    def move(self, order_id: str, allowed_from: tuple[State, ...], to: State | None, *,
             durable: bool = True, **fields) -> Order:
        """Move the order to ``to`` if it is in one of ``allowed_from``; else leave it alone."""
        return self.try_move(order_id, allowed_from, to, durable=durable, **fields)[0]

    def try_move(self, order_id: str, allowed_from: tuple[State, ...], to: State | None, *,
                 durable: bool = True, **fields) -> tuple[Order, bool]:
        """As ``move``, also saying whether this call made the move (so notices go out once).

        One guarded statement, ``UPDATE ... WHERE state IN (...)``: atomic on its own, so it
        needs no transaction, and of two racing callers exactly one sees its row returned.
        ``durable=False`` only for a move a crash may forget (``Tx.lazy_commit``).
        """
        f = {"reason": None, "masked_pan": None, "paid_ms": None, "credited_ms": None,
             "gateway_ref": None, "form_url": None} | fields
        params = (str(to) if to else None, f["reason"], f["masked_pan"], f["paid_ms"], f["credited_ms"],
                  f["gateway_ref"], f["form_url"], self.now_ms(), order_id, *(str(a) for a in allowed_from))
        with self.store.autocommit() as tx:
            update = (self._SET + f" AND state IN ({','.join('?' * len(allowed_from))})"
                      + ("" if durable else tx.lazy_commit) + " RETURNING *")
            if tx.dialect == "postgresql":
                # A repeated answer (the callback already moved it) is common: the row as it
                # stands comes back in the same round trip. It is read in the statement's
                # snapshot, so a row still in ``allowed_from`` there was moved by a concurrent
                # caller while we waited for its lock: only then is it read again.
                row = tx.one("WITH moved AS (" + update + ") SELECT *, TRUE AS moved FROM moved"
                             " UNION ALL SELECT *, FALSE AS moved FROM orders"
                             " WHERE id = ? AND NOT EXISTS (SELECT 1 FROM moved)", (*params, order_id))
                if row is not None and (row["moved"] or row["state"] not in allowed_from):
                    return self._hold(Order.from_row(row)), bool(row["moved"])
            else:
                row = tx.one(update, params)
                if row is not None:
                    return self._hold(Order.from_row(row)), True
        return self._hold(self.get(order_id)), False

    # -- notices ---------------------------------------------------------------------------
    def send(self, notices: list[Notice]) -> None:
        for n in notices:
            try:
                text = market_of(n.market).text(n.key, n.lang, **n.values)
                self.sms.send(n.to, text, sender=self.sms_sender)
            except Exception:   # a notice must never undo a committed payment
                log.exception("SMS %s to %s not sent", n.key, n.to)

