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

from core.frozen import build
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
        """From an ``orders`` row (a recharge reads six: built without ``__init__``, half the
        cost; every field is converted here, as ``__init__`` would not check them anyway)."""
        cur = r["currency"]
        paid, credited = r["paid_ms"], r["credited_ms"]
        return build(cls, {
            "id": r["id"], "market": r["market"], "channel": r["channel"], "purpose": r["purpose"],
            "target": r["target"], "method": r["method"], "method_account": r["method_account"],
            "kind": r["kind"], "product": r["product"], "payer": r["payer"], "recipient": r["recipient"],
            "amount": Money(int(r["amount"]), cur), "bonus": Money(int(r["bonus"]), cur),
            "bonus_hours": int(r["bonus_hours"]), "gateway": r["gateway"], "gateway_ref": r["gateway_ref"],
            "form_url": r["form_url"], "state": _STATES[r["state"]], "reason": r["reason"],
            "masked_pan": r["masked_pan"], "save_recipient": bool(r["save_recipient"]),
            "language": r["language"], "email": r["email"], "created_ms": int(r["created_ms"]),
            "updated_ms": int(r["updated_ms"]), "paid_ms": None if paid is None else int(paid),
            "credited_ms": None if credited is None else int(credited)})

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
