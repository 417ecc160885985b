"""SATIM-style emulated gateway (CIB / Edahabia, flow F1): card page, SMS OTP, capture.

register -> submit_card (checks the card, asks the issuer, texts an OTP to the phone linked to
the card) -> confirm_otp -> PAID (issuer debited) | DECLINED | EXPIRED; refund -> REFUNDED.
SATIM captures in one step and has no merchant verify or settle call: ``verify`` and
``settle`` only report the current status, so a PAID payment stays PAID.
"""
from __future__ import annotations

import uuid
from typing import Any

from core import otp
from core.adapters.gateways import EmulatedGateway, S, _Order
from core.money import Money
from core.otp import OtpOutcome, OtpRefused
from core.ports import Card, GatewayError, Payment


class SatimGateway(EmulatedGateway):
    style = "satim"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._last_otp: dict[str, str] = {}

    def _new_ref(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def last_otp(self, gateway_ref: str) -> str | None:
        """The last code sent, kept only when the gateway has no SMS sender (tests)."""
        with self._lock:
            return self._last_otp.get(gateway_ref)

    def submit_card(self, gateway_ref: str, card: Card) -> Payment:
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            self._expect(order, S.REGISTERED)
            clean = self._clean_card(card, now)
            if self._decline_or_hold(order, clean, debit=False):
                order.otp, code = otp.issue(self.otp_rules, now, self.rng)
                self._move(order, S.OTP_PENDING)
                self._send_otp(order, code)
            return self._payment(order)
        return self._call(op)

    def confirm_otp(self, gateway_ref: str, code: str) -> Payment:
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            self._expect(order, S.OTP_PENDING)
            assert order.otp is not None
            result = otp.check(order.otp, code, now)
            order.otp = result.challenge
            if result.outcome is OtpOutcome.OK:
                self._capture(order)
            elif result.outcome is OtpOutcome.EXHAUSTED:
                self._move(order, S.DECLINED, f"{self.otp_rules.max_attempts} wrong codes")
            elif result.outcome is OtpOutcome.EXPIRED:
                self._move(order, S.EXPIRED, f"code not entered within "
                                             f"{self.otp_rules.validity_s} s")
            elif result.outcome is OtpOutcome.WRONG:
                raise GatewayError(result.message, field="otp", code="wrong_otp")
            elif result.outcome is OtpOutcome.MALFORMED:
                raise GatewayError(result.message, field="otp", code="invalid_otp")
            else:   # USED cannot happen while OTP_PENDING; say so rather than guess
                raise GatewayError(result.message, field="otp", code="wrong_state")
            return self._payment(order)
        return self._call(op)

    def resend_otp(self, gateway_ref: str) -> Payment:
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            self._expect(order, S.OTP_PENDING)
            assert order.otp is not None
            try:
                order.otp, code = otp.resend(order.otp, self.otp_rules, now, self.rng)
            except OtpRefused as e:
                raise GatewayError(e.message, field="otp", code=e.code) from None
            self._send_otp(order, code)
            return self._payment(order)
        return self._call(op)

    def verify(self, gateway_ref: str) -> Payment:
        """No merchant verify in SATIM style: the current status."""
        return self.status(gateway_ref)

    def settle(self, gateway_ref: str) -> Payment:
        """Settlement is SATIM's own batch, not a merchant call: PAID stays PAID."""
        return self.status(gateway_ref)

    def refund(self, gateway_ref: str, amount: Money) -> Payment:
        """Full refund of a PAID payment; asking again for a REFUNDED one changes nothing."""
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            if order.status is not S.REFUNDED:
                self._expect(order, S.PAID)
                self._full_amount(order, amount)
                self.issuer.credit(order.card_id or "", order.amount)
                self._move(order, S.REFUNDED, "refunded at the merchant's request")
            return self._payment(order)
        return self._call(op)

    def _capture(self, order: _Order) -> None:
        taken = self.issuer.debit(order.card_id or "", order.amount)
        if not taken.ok:
            self._move(order, S.DECLINED, f"declined by the issuer: {taken.reason}")
            return
        order.approval_code = self._approval_code()
        self._move(order, S.PAID, None)

    def _send_otp(self, order: _Order, code: str) -> None:
        """Text the code to the card's phone (not the MSISDN being topped up)."""
        phone = self.issuer.phone_of(order.card_id or "")
        text = self.otp_text(code, order.amount, otp.validity_minutes(self.otp_rules))
        if self.sms is None:
            self._last_otp[order.gateway_ref] = code
            self._counts["otp_sent"] += 1
            return
        sms = self.sms

        def send() -> None:
            try:
                sms.send(phone, text, sender=self.name.upper()[:11])
                ok = True
            except Exception:   # the SMSC refused: the cardholder can ask for a resend
                ok = False
            with self._lock:
                self._counts["otp_sent" if ok else "otp_send_failed"] += 1
        self._outbox.append(send)
