"""Shaparak-style emulated gateway (Iranian IPGs, flow F4): PIN2, callback, verify or reverse.

register (pay request, token) -> submit_card with PIN2 (no OTP) -> the issuer holds the money
-> AUTHORISED and a callback -> the merchant must ``verify`` within ``verify_window_s`` or the
gateway reverses on its own (scheduled, and applied lazily whenever the payment is read after
the window) -> REVERSED and the card credited. ``verify`` -> PAID (again: PAID, like the
"already verified" answer), ``settle`` -> SETTLED, ``refund`` = reversal -> REVERSED.
"""
from __future__ import annotations

from core.adapters.gateways import EmulatedGateway, S, _Order
from core.money import Money
from core.ports import Card, GatewayError, Payment


class ShaparakGateway(EmulatedGateway):
    style = "shaparak"

    def _new_ref(self) -> str:
        return f"{self.rng.getrandbits(96):024X}"

    def submit_card(self, gateway_ref: str, card: Card) -> Payment:
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            self._expect(order, S.REGISTERED)
            clean = self._clean_card(card, now, cvc2_lengths=(3, 4), pin2=True)
            if self._decline_or_hold(order, clean, debit=True):
                order.authorised_at = now
                order.approval_code = f"{self.rng.randrange(10**12):012d}"   # RRN
                self._move(order, S.AUTHORISED)
                self._later(self.verify_window_s, order.gateway_ref)
            return self._payment(order)
        return self._call(op)

    def confirm_otp(self, gateway_ref: str, otp: str) -> Payment:
        raise GatewayError("shaparak-style payments take the card's PIN2 in submit_card; "
                           "there is no OTP step", field="otp", code="not_supported")

    def resend_otp(self, gateway_ref: str) -> Payment:
        raise GatewayError("shaparak-style payments have no OTP to resend",
                           field="otp", code="not_supported")

    def verify(self, gateway_ref: str) -> Payment:
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            if order.status in (S.PAID, S.SETTLED):
                return self._payment(order)        # "already verified"
            if order.auto_reversed:
                late = now - self._deadline(order)
                raise GatewayError(
                    f"verify came {late:.0f} s after the {self.verify_window_s:.0f} s window "
                    f"closed; the payment was reversed and the card credited",
                    code="verify_window_missed")
            self._expect(order, S.AUTHORISED)
            self._move(order, S.PAID)
            return self._payment(order)
        return self._call(op)

    def settle(self, gateway_ref: str) -> Payment:
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            if order.status is not S.SETTLED:
                self._expect(order, S.PAID)
                self._move(order, S.SETTLED)
            return self._payment(order)
        return self._call(op)

    def refund(self, gateway_ref: str, amount: Money) -> Payment:
        """Reverse an AUTHORISED (release the hold) or PAID payment; not once SETTLED."""
        def op(now: float) -> Payment:
            order = self._get(gateway_ref, now)
            if order.status is not S.REVERSED:
                self._expect(order, S.AUTHORISED, S.PAID)
                self._full_amount(order, amount)
                self._reverse(order, "reversed at the merchant's request")
            return self._payment(order)
        return self._call(op)

    def _deadline(self, order: _Order) -> float:
        return (order.authorised_at or 0.0) + self.verify_window_s

    def _refresh(self, order: _Order, now: float) -> None:
        super()._refresh(order, now)
        if order.status is S.AUTHORISED and now >= self._deadline(order):
            order.auto_reversed = True
            self._reverse(order, f"not verified within {self.verify_window_s:.0f} s: "
                                 f"reversed by the gateway")

    def _reverse(self, order: _Order, reason: str) -> None:
        self.issuer.credit(order.card_id or "", order.amount)
        self._move(order, S.REVERSED, reason)
