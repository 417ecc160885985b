"""Recharge orders: what was asked, where it stands, and which states may follow which.

    created -> pending_payment -> otp_pending -> paid -> credited
                               -> authorised (verify step) -> paid
    paid -> refund_pending -> refunded       (balance cap hit at credit time)
    any unpaid state -> failed               (declined, expired, OTP exhausted, reversed)
    refused                                   (balance cap hit when the order was created)
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.money import Money


class State(StrEnum):
    CREATED = "created"
    PENDING_PAYMENT = "pending_payment"
    OTP_PENDING = "otp_pending"
    AUTHORISED = "authorised"
    PAID = "paid"
    CREDITED = "credited"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    FAILED = "failed"
    REFUSED = "refused"


_STATES = {str(s): s for s in State}     # State(text) costs a microsecond; a row read is hot
UNPAID = (State.CREATED, State.PENDING_PAYMENT, State.OTP_PENDING, State.AUTHORISED)

@dataclass(frozen=True)
class Order:
    id: str
    market: str
    channel: str
    purpose: str         # topup | bill | vend
    target: str | None   # what is paid for: bill id, meter number (top-ups: the recipient)
    method: str          # card | kiosk | wallet | bank | mandate
    method_account: str | None   # kiosk agent, wallet provider, bank, postal account
    kind: str | None     # top-ups: self | gift
    product: str | None  # top-ups: normal | amazing
    payer: str | None
    recipient: str | None
    amount: Money
    bonus: Money
    bonus_hours: int
    gateway: str
    gateway_ref: str | None
    form_url: str | None
    state: State
    reason: str | None
    masked_pan: str | None
    save_recipient: bool
    language: str
    email: str | None
    created_ms: int
    updated_ms: int
    paid_ms: int | None
    credited_ms: int | None

    @classmethod
    def from_row(cls, r: dict) -> "Order":
        cur = r["currency"]
        return cls(r["id"], r["market"], r["channel"], r["purpose"], r["target"], r["method"],
                   r["method_account"], r["kind"], r["product"], r["payer"], r["recipient"],
                   Money(int(r["amount"]), cur), Money(int(r["bonus"]), cur), int(r["bonus_hours"]),
                   r["gateway"], r["gateway_ref"], r["form_url"], _STATES[r["state"]], r["reason"],
                   r["masked_pan"], bool(r["save_recipient"]), r["language"], r["email"],
                   int(r["created_ms"]), int(r["updated_ms"]),
                   None if r["paid_ms"] is None else int(r["paid_ms"]),
                   None if r["credited_ms"] is None else int(r["credited_ms"]))

    def public(self) -> dict:
        """The order as the API shows it: never more of a card than first 6 / last 4."""
        return {
            "id": self.id, "market": self.market, "channel": self.channel, "purpose": self.purpose,
            "target": self.target, "method": self.method, "kind": self.kind,
            "product": self.product, "payer": self.payer, "recipient": self.recipient,
            "amount": {"value": self.amount.major_str(), "currency": self.amount.currency,
                       "minor": self.amount.minor},
            "bonus": {"value": self.bonus.major_str(), "currency": self.bonus.currency,
                      "minor": self.bonus.minor, "valid_hours": self.bonus_hours},
            "gateway": self.gateway, "payment_url": self.form_url, "state": str(self.state),
            "reason": self.reason, "masked_pan": self.masked_pan,
            "save_recipient": self.save_recipient, "created_ms": self.created_ms,
            "paid_ms": self.paid_ms, "credited_ms": self.credited_ms,
        }
