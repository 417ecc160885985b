"""Ports: what the core needs from the outside world, as small typed interfaces.

Ports are request-and-notify, as in production: the core sends a request and returns at once;
the outcome comes back later as a call into the core (a gateway callback, a delivery receipt).
Adapters live in :mod:`core.adapters`: emulated ones for the simulator, tests and load tests,
HTTP clients for real gateways.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable, Protocol

from core.money import Money


class PaymentStatus(StrEnum):
    """Gateway-side payment states of both styles.

    SATIM order statuses map as 0 REGISTERED, 1 AUTHORISED, 2 PAID, 3 CANCELLED, 4 REFUNDED,
    5 OTP_PENDING, 6 DECLINED; session timeout gives EXPIRED. Shaparak: after the callback the
    payment is AUTHORISED until verified (PAID) within the window, else REVERSED; SETTLED after
    settlement.
    """

    REGISTERED = "registered"
    OTP_PENDING = "otp_pending"
    AUTHORISED = "authorised"
    PAID = "paid"
    SETTLED = "settled"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    REVERSED = "reversed"

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def captured(self) -> bool:
        """Money has left the card for good (until a refund or reversal)."""
        return self in (PaymentStatus.PAID, PaymentStatus.SETTLED)


_FINAL = {PaymentStatus.DECLINED, PaymentStatus.EXPIRED, PaymentStatus.CANCELLED,
          PaymentStatus.REFUNDED, PaymentStatus.REVERSED, PaymentStatus.SETTLED}


@dataclass(frozen=True)
class Card:
    """Card data on its way to the gateway. Never stored: only ``masked`` may be kept or logged."""

    pan: str
    expiry_month: int
    expiry_year: int               # four digits
    holder: str = ""
    cvc2: str | None = field(default=None, repr=False)
    pin2: str | None = field(default=None, repr=False)

    @property
    def masked(self) -> str:
        return f"{self.pan[:6]}{'*' * (len(self.pan) - 10)}{self.pan[-4:]}"

    def __repr__(self) -> str:
        return f"Card({self.masked}, {self.expiry_month:02d}/{self.expiry_year})"


@dataclass(frozen=True)
class Registration:
    gateway_ref: str     # SATIM orderId / Shaparak token
    form_url: str        # where a browser enters the card


@dataclass(frozen=True)
class Payment:
    """What the gateway says about one payment (its answer to a status query)."""

    gateway_ref: str
    order_ref: str
    status: PaymentStatus
    amount: Money
    masked_pan: str | None = None
    approval_code: str | None = None      # SATIM approvalCode / Shaparak RRN
    reason: str | None = None             # decline / expiry reason, human readable
    otp_attempts_left: int | None = None
    otp_resends_left: int | None = None


class GatewayError(Exception):
    """The gateway refused a call (bad card, wrong OTP, wrong state) with a reason to show."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "gateway_refused") -> None:
        super().__init__(message)
        self.message, self.field, self.code = message, field, code


class GatewayTimeout(Exception):
    """No answer in time: the outcome is unknown and must be learnt by status query."""


Notify = Callable[[str, str], None]   # (gateway name, gateway_ref): "ask me about this payment"


class CardGateway(Protocol):
    """A card gateway of either style; ``style`` tells the core which steps apply.

    SATIM style: register -> submit_card (gateway sends an OTP by SMS to the card's phone)
    -> confirm_otp -> PAID | DECLINED | EXPIRED; status; refund.
    Shaparak style: register (pay request) -> submit_card with PIN2 -> callback -> the core
    must ``verify`` within the window or the gateway auto-reverses -> ``settle``; ``refund``
    is a reversal.

    Every outcome is also announced through ``notify`` (the callback); the core always asks
    ``status`` before acting on it, so a forged or duplicated callback changes nothing.
    """

    name: str
    style: str     # "satim" | "shaparak"

    def set_notify(self, notify: Notify) -> None: ...

    def register(self, order_ref: str, amount: Money, *, description: str = "",
                 language: str = "ar") -> Registration: ...

    def submit_card(self, gateway_ref: str, card: Card) -> Payment: ...

    def confirm_otp(self, gateway_ref: str, otp: str) -> Payment: ...

    def resend_otp(self, gateway_ref: str) -> Payment: ...

    def status(self, gateway_ref: str) -> Payment: ...

    def verify(self, gateway_ref: str) -> Payment: ...

    def settle(self, gateway_ref: str) -> Payment: ...

    def refund(self, gateway_ref: str, amount: Money) -> Payment: ...


@dataclass(frozen=True)
class SmsMessage:
    message_id: str
    to: str                 # E.164 digits
    sender: str
    text: str
    segments: int
    encoding: str           # "gsm7" | "ucs2"
    submitted_at: float
    delivered_at: float | None = None


class SmsSender(Protocol):
    """Submit an SMS; returns at once with the message id (delivery happens later)."""

    def send(self, to: str, text: str, *, sender: str = "RBENCH") -> str: ...


@dataclass(frozen=True)
class EmailMessage:
    to: str
    subject: str
    body: str
    attachments: tuple[tuple[str, str, bytes], ...] = ()   # (filename, mime type, content)


class Email(Protocol):
    def send(self, message: EmailMessage) -> None: ...
