"""Shared machinery of the emulated card gateways (both styles).

:class:`EmulatedGateway` holds the order records, one lock, the lazy and scheduled expiries,
the callbacks and the counters; :mod:`core.adapters.satim` and :mod:`core.adapters.shaparak`
add the style's steps. Side effects (scheduling, SMS) are queued while the lock is held and run
after it is released, so a callback that calls straight back into the gateway cannot deadlock.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
import threading
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Self, TypeVar

from core.adapters.gateway_profile import GatewayProfile
from core.adapters.issuer import Issuer, expired, luhn_valid
from core.clock import Clock, Scheduler
from core.digits import to_ascii_digits
from core.market import Market, OtpRules
from core.money import Money
from core.otp import OtpChallenge
from core.ports import (Card, GatewayError, GatewayTimeout, Notify, Payment, PaymentStatus,
                        Registration, SmsSender)

if TYPE_CHECKING:
    from core.adapters.satim import SatimGateway
    from core.adapters.shaparak import ShaparakGateway

S = PaymentStatus
T = TypeVar("T")
OtpText = Callable[[str, Money, int], str]      # (code, amount, minutes) -> SMS text


@dataclass
class _Order:
    gateway_ref: str
    order_ref: str
    amount: Money
    created_at: float
    description: str = ""
    language: str = "ar"
    status: PaymentStatus = S.REGISTERED
    masked_pan: str | None = None
    card_id: str | None = None          # the issuer's handle: no PAN kept here
    approval_code: str | None = None
    reason: str | None = None
    otp: OtpChallenge | None = None
    authorised_at: float | None = None
    auto_reversed: bool = False         # Shaparak: reversed because verify never came


def _default_otp_text(code: str, amount: Money, minutes: int) -> str:
    return f"{code} is your code to pay {amount.display()}. Valid {minutes} min. Never share it."


class EmulatedGateway(ABC):
    """Shared machinery; subclasses set ``style`` and implement the style's steps."""

    style = ""

    def __init__(self, name: str, clock: Clock, scheduler: Scheduler, rng: random.Random,
                 issuer: Issuer, sms: SmsSender | None, *,
                 profile: GatewayProfile = GatewayProfile(),
                 otp_rules: OtpRules = OtpRules(6, 120, 3, 3),
                 verify_window_s: float = 900, session_timeout_s: float = 1200,
                 otp_text: OtpText | None = None,
                 page_url: str = "https://{name}.gateway.test/pay/{ref}") -> None:
        self.name, self.clock, self.scheduler, self.rng = name, clock, scheduler, rng
        self.issuer, self.sms, self.profile = issuer, sms, profile
        self.otp_rules, self.verify_window_s = otp_rules, verify_window_s
        self.session_timeout_s, self.page_url = session_timeout_s, page_url
        self.otp_text = otp_text or _default_otp_text
        self._notify: Notify | None = None
        self._lock = threading.Lock()
        self._orders: dict[str, _Order] = {}
        self._by_order_ref: dict[str, str] = {}
        self._outbox: list[Callable[[], None]] = []   # run after the lock is released
        self._counts: Counter[str] = Counter()
        self._totals: dict[str, Counter[str]] = {"captured": Counter(), "refunded": Counter(),
                                                 "reversed": Counter()}

    @classmethod
    def for_market(cls, market: Market, name: str, clock: Clock, scheduler: Scheduler,
                   rng: random.Random, issuer: Issuer, sms: SmsSender | None,
                   **kw: Any) -> Self:
        """A gateway with the market profile's OTP rules, windows and OTP SMS text."""
        def otp_text(code: str, amount: Money, minutes: int) -> str:
            return market.text("sms_otp", otp=code, amount=amount.display(), minutes=minutes)
        kw = {"otp_rules": market.otp, "verify_window_s": market.verify_window_s,
              "session_timeout_s": market.session_timeout_s, "otp_text": otp_text, **kw}
        return cls(name, clock, scheduler, rng, issuer, sms, **kw)

    # -- the port's shared calls --------------------------------------------------------
    def set_notify(self, notify: Notify) -> None:
        self._notify = notify

    def register(self, order_ref: str, amount: Money, *, description: str = "",
                 language: str = "ar") -> Registration:
        if not isinstance(order_ref, str) or not 1 <= len(order_ref.strip()) <= 64:
            raise GatewayError(f"order_ref: expected 1 to 64 characters, got {order_ref!r}",
                               field="order_ref", code="invalid_request")
        if not isinstance(amount, Money) or amount.minor <= 0:
            raise GatewayError(f"amount: expected a positive Money, got {amount!r}",
                               field="amount", code="invalid_request")

        def op(now: float) -> Registration:
            ref = self._by_order_ref.get(order_ref)
            if ref is not None:
                known = self._orders[ref]
                if known.amount != amount:
                    raise GatewayError(
                        f"order_ref {order_ref!r} is already registered for {known.amount}; "
                        f"expected the same amount or a new order_ref",
                        field="order_ref", code="duplicate_order")
                return self._registration(known)
            ref = self._new_ref()
            while ref in self._orders:
                ref = self._new_ref()
            order = _Order(ref, order_ref, amount, now, description, language)
            self._orders[ref], self._by_order_ref[order_ref] = order, ref
            self._later(self.session_timeout_s, ref)
            return self._registration(order)
        return self._call(op)

    def status(self, gateway_ref: str) -> Payment:
        return self._call(lambda now: self._payment(self._get(gateway_ref, now)))

    def payments(self) -> list[Payment]:
        """Every payment as it stands (time's effects applied), in registration order: what
        an auditor compares with the merchant's books (the torture runs do)."""
        with self._lock:
            now = self.clock.now()
            for order in self._orders.values():
                self._refresh(order, now)
            out = [self._payment(o) for o in self._orders.values()]
            outbox, self._outbox = self._outbox, []
        for fn in outbox:
            fn()
        return out

    def currency_of(self, gateway_ref: str) -> str:
        """The payment's currency, for wire formats that send a bare amount (no fault draw)."""
        with self._lock:
            order = self._orders.get(gateway_ref)
        if order is None:
            raise GatewayError(f"gateway_ref: no payment {gateway_ref!r} at {self.name}",
                               field="gateway_ref", code="unknown_order")
        return order.amount.currency

    def answer_delay(self) -> float:
        """Seconds the caller should wait before seeing an answer (server, SimPy model)."""
        with self._lock:
            return self.profile.answer_latency.draw(self.rng)

    def stats(self) -> dict[str, Any]:
        """Counters for tests and KPIs; money in minor units keyed by currency."""
        with self._lock:
            by_status = Counter(o.status.value for o in self._orders.values())
            held: Counter[str] = Counter()
            for o in self._orders.values():
                if o.status is S.AUTHORISED:
                    held[o.amount.currency] += o.amount.minor
            captured, refunded = self._totals["captured"], self._totals["refunded"]
            return {
                "orders": len(self._orders),
                "by_status": dict(by_status),
                "captured": dict(captured),
                "refunded": dict(refunded),
                "reversed": dict(self._totals["reversed"]),
                "net_captured": {c: captured[c] - refunded[c] for c in captured},
                "held": dict(held),
                **{k: self._counts[k] for k in (
                    "callbacks_sent", "callbacks_lost", "timeouts", "unavailable",
                    "random_declines", "otp_sent", "otp_send_failed")},
            }

    # -- for subclasses -----------------------------------------------------------------
    @abstractmethod
    def _new_ref(self) -> str:
        """A new gateway reference in the style's format (SATIM UUID, Shaparak token)."""

    def _refresh(self, order: _Order, now: float) -> None:
        """Apply what time alone does to an order (session timeout); subclasses add more."""
        if order.status in (S.REGISTERED, S.OTP_PENDING) and \
                now >= order.created_at + self.session_timeout_s:
            self._move(order, S.EXPIRED, f"payment session timed out after "
                                         f"{self.session_timeout_s:.0f} s")

    def _call(self, op: Callable[[float], T]) -> T:
        """One call: outage check, the operation under the lock, side effects, timeout."""
        outcome: tuple[T] | GatewayError
        with self._lock:
            now = self.clock.now()
            window = self.profile.outage_at(now)
            if window is not None:
                self._counts["unavailable"] += 1
                raise GatewayError(f"{self.name}: gateway unavailable until {window[1]:.0f}",
                                   code="unavailable")
            timed_out = self._chance(self.profile.timeout_rate)
            self._counts["timeouts"] += timed_out
            try:
                outcome = (op(now),)
            except GatewayError as e:
                outcome = e
            outbox, self._outbox = self._outbox, []
        for fn in outbox:
            fn()
        if timed_out:
            raise GatewayTimeout(f"{self.name}: no answer in time (the call was processed)")
        if isinstance(outcome, GatewayError):
            raise outcome
        return outcome[0]

    def _get(self, gateway_ref: str, now: float) -> _Order:
        order = self._orders.get(gateway_ref)
        if order is None:
            raise GatewayError(f"gateway_ref: no payment {gateway_ref!r} at {self.name}",
                               field="gateway_ref", code="unknown_order")
        self._refresh(order, now)
        return order

    def _expect(self, order: _Order, *allowed: PaymentStatus) -> None:
        if order.status not in allowed:
            raise GatewayError(
                f"payment {order.gateway_ref} is {order.status.value}; expected "
                f"{' or '.join(s.value for s in allowed)}", code="wrong_state")

    def _move(self, order: _Order, new: PaymentStatus, reason: str | None = None) -> None:
        old, order.status = order.status, new
        order.reason = reason if reason is not None else order.reason
        cur, minor = order.amount.currency, order.amount.minor
        if new is S.PAID:
            self._totals["captured"][cur] += minor
        elif new is S.REFUNDED or (new is S.REVERSED and old in (S.PAID, S.SETTLED)):
            self._totals["refunded"][cur] += minor
        elif new is S.REVERSED:
            self._totals["reversed"][cur] += minor
        if self._chance(self.profile.callback_loss_rate):
            self._counts["callbacks_lost"] += 1
            return
        delay, ref = self.profile.callback_latency.draw(self.rng), order.gateway_ref
        self._outbox.append(lambda: self.scheduler.call_later(delay, lambda: self._deliver(ref)))

    def _deliver(self, ref: str) -> None:
        with self._lock:
            lost = self._notify is None or self.profile.outage_at(self.clock.now()) is not None
            self._counts["callbacks_lost" if lost else "callbacks_sent"] += 1
            notify = self._notify
        if not lost and notify is not None:
            notify(self.name, ref)

    def _later(self, delay_s: float, ref: str) -> None:
        """Re-examine ``ref`` after ``delay_s`` (expiries happen even if nobody asks)."""
        self._outbox.append(lambda: self.scheduler.call_later(delay_s, lambda: self._tick(ref)))

    def _tick(self, ref: str) -> None:
        with self._lock:
            self._refresh(self._orders[ref], self.clock.now())
            outbox, self._outbox = self._outbox, []
        for fn in outbox:
            fn()

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def _registration(self, order: _Order) -> Registration:
        return Registration(order.gateway_ref,
                            self.page_url.format(name=self.name, ref=order.gateway_ref))

    def _payment(self, order: _Order) -> Payment:
        otp = order.otp if order.status is S.OTP_PENDING else None
        return Payment(order.gateway_ref, order.order_ref, order.status, order.amount,
                       order.masked_pan, order.approval_code, order.reason,
                       otp.attempts_left if otp else None, otp.resends_left if otp else None)

    def _clean_card(self, card: Card, now: float, *, cvc2_lengths: tuple[int, ...] = (3,),
                    pin2: bool = False) -> Card:
        """Check the card data as the gateway's page does; errors name the field."""
        def bad(fld: str, msg: str) -> GatewayError:
            return GatewayError(f"{fld}: {msg}", field=fld, code="invalid_card")
        pan = "".join(to_ascii_digits(str(card.pan)).replace("-", " ").split())
        if not (pan.isascii() and pan.isdigit() and 16 <= len(pan) <= 19):
            raise bad("pan", f"expected the 16 to 19 digits of the card number, got "
                             f"{len(pan)} characters")
        if not luhn_valid(pan):
            raise bad("pan", "card number fails the check digit (Luhn); expected the number "
                             "exactly as printed on the card")
        m, y = card.expiry_month, card.expiry_year
        if not isinstance(m, int) or not 1 <= m <= 12:
            raise bad("expiry_month", f"expected a month 1 to 12, got {m!r}")
        if not isinstance(y, int) or not 2000 <= y <= 2099:
            raise bad("expiry_year", f"expected a four-digit year such as 2028, got {y!r}")
        if expired(m, y, now):
            raise bad("expiry", f"card expired at the end of {m:02d}/{y}; expected a card "
                                f"that is still valid")
        # With PIN2 (Shaparak style, USSD *1#: "card number and second password") the CVC2
        # is optional; when given it is checked like any other.
        cvc2 = to_ascii_digits(card.cvc2 or "").strip() or None
        if (cvc2 is not None or not pin2) and not (
                cvc2 and cvc2.isascii() and cvc2.isdigit() and len(cvc2) in cvc2_lengths):
            raise bad("cvc2", f"expected the {' or '.join(map(str, cvc2_lengths))} digits "
                              f"on the back of the card")
        pin = None
        if pin2:
            pin = to_ascii_digits(card.pin2 or "").strip()
            if not (pin.isascii() and pin.isdigit() and 5 <= len(pin) <= 12):
                raise bad("pin2", "expected the card's second password (PIN2), 5 to 12 digits")
        return Card(pan, m, y, card.holder, cvc2, pin)

    def _decline_or_hold(self, order: _Order, card: Card, *, debit: bool) -> bool:
        """Ask the issuer (and the profile's random declines); DECLINED on refusal."""
        order.masked_pan = card.masked
        auth = self.issuer.authorise(card, order.amount)
        order.card_id = auth.card_id
        if not auth.ok:
            self._move(order, S.DECLINED, f"declined by the issuer: {auth.reason}")
            return False
        if self._chance(self.profile.decline_rate):
            self._counts["random_declines"] += 1
            self._move(order, S.DECLINED, "declined by the gateway's risk rules")
            return False
        if debit:
            held = self.issuer.debit(auth.card_id or "", order.amount)
            if not held.ok:
                self._move(order, S.DECLINED, f"declined by the issuer: {held.reason}")
                return False
        return True

    def _full_amount(self, order: _Order, amount: Money) -> None:
        if amount != order.amount:
            raise GatewayError(f"amount: expected the full amount {order.amount} (partial "
                               f"refunds are not supported), got {amount}",
                               field="amount", code="invalid_request")

    def _approval_code(self) -> str:
        return f"{self.rng.randrange(10**6):06d}"


def emulated_gateway(style: str, *args: Any, **kw: Any) -> SatimGateway | ShaparakGateway:
    """``SatimGateway`` or ``ShaparakGateway`` by the market's ``web_gateway``/``ussd_gateway``."""
    from core.adapters.satim import SatimGateway
    from core.adapters.shaparak import ShaparakGateway
    if style not in ("satim", "shaparak"):
        raise ValueError(f"style: expected 'satim' or 'shaparak', got {style!r}")
    return (SatimGateway if style == "satim" else ShaparakGateway)(*args, **kw)
