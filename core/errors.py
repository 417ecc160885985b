"""Domain errors: each says what was wrong, where, and what was expected.

The HTTP layer turns them into ``application/problem+json`` with the ``status`` given here;
the simulator and the USSD application turn them into failure reasons and screens.
"""
from __future__ import annotations


class RechargeError(Exception):
    """Base of every refusal the core gives on purpose (never a bug)."""

    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class InvalidInput(RechargeError):
    """The caller sent something malformed; nothing was written."""

    status = 422
    code = "invalid_input"


class NotFound(RechargeError):
    status = 404
    code = "not_found"


class Refused(RechargeError):
    """Well-formed but refused by a business rule (balance cap, limits, state)."""

    status = 422
    code = "refused"


class Conflict(RechargeError):
    """The request conflicts with the current state (wrong order state, busy session)."""

    status = 409
    code = "conflict"


class IdempotencyConflict(RechargeError):
    """Same idempotency key, different request body (Stripe semantics)."""

    status = 422
    code = "idempotency_key_reused"


class IdempotencyInFlight(RechargeError):
    """Same idempotency key while the first request is still being processed."""

    status = 409
    code = "idempotency_key_in_use"


class GatewayUnavailable(RechargeError):
    status = 503
    code = "gateway_unavailable"


class TooManyAttempts(RechargeError):
    """A limit on attempts or requests was reached (OTP codes per MSISDN, requests per API key
    or MSISDN); ``retry_after`` (seconds) says when the next one is allowed. Nothing was done,
    so an idempotency key is not consumed by it."""

    status = 429
    code = "too_many_attempts"
