"""One-time passwords as the ACS (3-D Secure) step of a SATIM-style gateway uses them.

Pure state transitions, no I/O: ``issue`` makes a challenge and the code to send, ``check``
and ``resend`` return a new challenge instead of mutating one, so the caller decides where the
state lives (a gateway's order record, a row). Only an HMAC of the code is kept, so a dump or
log of the challenge does not show the code. (Six digits are still brute-forceable from hash
and salt, so the challenge itself stays private to its owner.)
"""
from __future__ import annotations

import hmac
import math
import random
import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

from core.digits import to_ascii_digits
from core.frozen import evolve
from core.market import OtpRules

_DIGITS = re.compile(r"[0-9]+")   # not \d: that would let other scripts' digits through


class OtpOutcome(StrEnum):
    OK = "ok"
    WRONG = "wrong"              # a wrong code; attempts remain
    EXHAUSTED = "exhausted"      # max_attempts wrong codes: the payment fails
    EXPIRED = "expired"
    USED = "used"                # single use: the code already passed once
    MALFORMED = "malformed"      # not a code at all; no attempt consumed


@dataclass(frozen=True)
class OtpChallenge:
    length: int
    created_at: float
    expires_at: float
    attempts_left: int
    resends_left: int
    used: bool = False
    salt: bytes = field(default=b"", repr=False)
    digest: bytes = field(default=b"", repr=False)

    @property
    def exhausted(self) -> bool:
        return self.attempts_left <= 0


@dataclass(frozen=True)
class OtpResult:
    outcome: OtpOutcome
    challenge: OtpChallenge      # the state to keep from now on
    message: str

    @property
    def ok(self) -> bool:
        return self.outcome is OtpOutcome.OK

    @property
    def attempts_left(self) -> int:
        return self.challenge.attempts_left


class OtpRefused(ValueError):
    """A resend the rules do not allow; ``code`` says which rule."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.message, self.code = message, code


def _digest(salt: bytes, code: str) -> bytes:
    return hmac.digest(salt, code.encode("ascii"), "sha256")      # the one-shot C path


def _new_code(rules: OtpRules, rng: random.Random) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(rules.length))


def _seal(challenge: OtpChallenge, code: str) -> OtpChallenge:
    # The salt comes from the OS, not from ``rng``: it never shows in behaviour, and drawing
    # it from ``rng`` would make a stolen seed reveal it.
    salt = secrets.token_bytes(16)
    return evolve(challenge, salt=salt, digest=_digest(salt, code))


def validity_minutes(rules: OtpRules) -> int:
    """The validity as the SMS text tells it (rounded up: "valid 2 minutes")."""
    return max(1, math.ceil(rules.validity_s / 60))


def issue(rules: OtpRules, now: float, rng: random.Random) -> tuple[OtpChallenge, str]:
    """A fresh challenge and its code (``rules.length`` digits drawn from ``rng``)."""
    if rules.length < 4 or rules.max_attempts < 1 or rules.validity_s <= 0:
        raise ValueError(f"OTP rules: expected length >= 4, max_attempts >= 1 and "
                         f"validity_s > 0, got {rules}")
    code = _new_code(rules, rng)
    challenge = OtpChallenge(length=rules.length, created_at=now,
                             expires_at=now + rules.validity_s,
                             attempts_left=rules.max_attempts, resends_left=rules.max_resends)
    return _seal(challenge, code), code


def normalise(code: str) -> str:
    """Fold Arabic-Indic and Persian digits to ASCII and drop the spaces people type."""
    return "".join(to_ascii_digits(code).split())


def check(challenge: OtpChallenge, code: str, now: float) -> OtpResult:
    """Judge one entered code. Only a well-formed wrong code consumes an attempt."""
    if challenge.used:
        return OtpResult(OtpOutcome.USED, challenge, "code already used; each code works once")
    if challenge.exhausted:
        return OtpResult(OtpOutcome.EXHAUSTED, challenge,
                         "no attempts left: too many wrong codes")
    if now >= challenge.expires_at:
        return OtpResult(OtpOutcome.EXPIRED, challenge,
                         f"code expired {now - challenge.expires_at:.0f} s ago; "
                         f"request a new code")
    entered = normalise(code) if isinstance(code, str) else ""
    if not _DIGITS.fullmatch(entered) or len(entered) != challenge.length:
        shown = code if isinstance(code, str) else type(code).__name__
        return OtpResult(OtpOutcome.MALFORMED, challenge,
                         f"otp: expected {challenge.length} digits, got {shown!r}")
    if hmac.compare_digest(_digest(challenge.salt, entered), challenge.digest):
        return OtpResult(OtpOutcome.OK, evolve(challenge, used=True), "code accepted")
    left = challenge.attempts_left - 1
    after = evolve(challenge, attempts_left=left)
    if left <= 0:
        return OtpResult(OtpOutcome.EXHAUSTED, after, "wrong code; no attempts left")
    return OtpResult(OtpOutcome.WRONG, after,
                     f"wrong code; {left} attempt{'s' if left != 1 else ''} left")


def resend(challenge: OtpChallenge, rules: OtpRules, now: float,
           rng: random.Random) -> tuple[OtpChallenge, str]:
    """A new code with a new expiry; wrong attempts so far still count.

    Allowed after expiry (that is what a resend is for), refused once the code was used,
    the attempts are spent, or ``rules.max_resends`` resends were made.
    """
    if challenge.used:
        raise OtpRefused("cannot resend: the code was already used", code="otp_used")
    if challenge.exhausted:
        raise OtpRefused("cannot resend: too many wrong codes, the payment is declined",
                         code="otp_exhausted")
    if challenge.resends_left <= 0:
        raise OtpRefused(f"cannot resend: at most {rules.max_resends} new codes per payment",
                         code="resend_limit")
    code = _new_code(rules, rng)
    fresh = evolve(challenge, expires_at=now + rules.validity_s,
                    resends_left=challenge.resends_left - 1)
    return _seal(fresh, code), code
