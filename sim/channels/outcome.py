"""Failure reasons as short, stable codes (the KPI keys), from what the core says."""
from __future__ import annotations

from core.errors import RechargeError
from core.orders import Order, State

_REASONS = (
    ("insufficient funds", "insufficient_funds"), ("wrong cvc2", "wrong_cvc2"), ("wrong pin2", "wrong_pin2"),
    ("card_mismatch", "card_mismatch"), ("expiry date does not match", "card_mismatch"),
    ("risk rules", "gateway_declined"), ("unavailable", "gateway_unavailable"),
    ("did not answer", "gateway_timeout"), ("code not entered", "otp_expired"), ("card expired", "card_expired"),
    ("expired", "otp_expired"),
    ("wrong codes", "otp_exhausted"), ("no attempts left", "otp_exhausted"), ("session timed out", "session_expired"),
    ("balance_cap", "balance_cap"), ("balance cap", "balance_cap"), ("not verified within", "verify_window_missed"),
    ("agent_float_low", "agent_float_low"), ("nothing_owed", "nothing_owed"), ("owes nothing", "nothing_owed"),
    ("over_outstanding", "over_outstanding"), ("captured_after_failure", "captured_after_failure"),
    ("blocked", "card_blocked"), ("postpaid", "recipient_postpaid"), ("not a subscriber", "recipient_unknown"),
    ("wrong_otp", "otp_wrong"), ("wrong code", "otp_wrong"), ("minimum", "amount_limits"), ("maximum", "amount_limits"),
)
SUCCESS = {State.CREDITED}
FAILED = {State.FAILED, State.REFUSED, State.REFUNDED, State.REFUND_PENDING}


def reason_of(text: str | None, default: str = "failed") -> str:
    low = (text or "").lower()
    for needle, code in _REASONS:
        if needle in low:
            return code
    return default


def error_reason(e: RechargeError) -> str:
    code = e.extra.get("gateway_code") if isinstance(e.extra, dict) else None
    if code == "unavailable":
        return "gateway_unavailable"
    if code in ("wrong_otp", "invalid_otp"):
        return "otp_wrong"
    return reason_of(e.message, e.code)


def order_reason(order: Order) -> str:
    if order.state is State.REFUSED:
        return reason_of(order.reason, "refused")
    if order.state is State.REFUND_PENDING:
        return "refund_pending"
    if order.state is State.REFUNDED:
        return reason_of(order.reason, "refunded")
    return reason_of(order.reason, "declined")
