"""core.otp: issue, check, resend; hashes only; digits of any script; wrong codes never pass."""
from __future__ import annotations

import random
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import otp
from core.digits import to_local_digits
from core.market import OtpRules
from core.otp import OtpOutcome, OtpRefused

RULES = OtpRules(length=6, validity_s=120, max_attempts=3, max_resends=3)
T0 = 1_767_225_600.0


def fresh(seed: int = 1) -> tuple[otp.OtpChallenge, str]:
    return otp.issue(RULES, T0, random.Random(seed))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**len(code):0{len(code)}d}"


def test_issue_draws_the_code_from_the_given_rng() -> None:
    a, code_a = fresh(5)
    b, code_b = fresh(5)
    assert code_a == code_b and len(code_a) == 6 and code_a.isdigit()
    assert fresh(6)[1] != code_a or fresh(7)[1] != code_a
    assert (a.created_at, a.expires_at) == (T0, T0 + 120)
    assert (a.attempts_left, a.resends_left, a.used) == (3, 3, False)
    assert a.salt != b.salt and a.digest != b.digest     # per-challenge salt


def test_the_plain_code_is_kept_nowhere() -> None:
    challenge, code = fresh()
    stored = repr(challenge) + repr(asdict(challenge))
    assert code not in stored
    assert code.encode() not in challenge.digest + challenge.salt
    assert len(challenge.digest) == 32


def test_right_code_passes_once() -> None:
    challenge, code = fresh()
    result = otp.check(challenge, code, T0 + 10)
    assert result.ok and result.challenge.used
    again = otp.check(result.challenge, code, T0 + 11)
    assert again.outcome is OtpOutcome.USED and "already used" in again.message


def test_wrong_codes_count_down_then_exhaust() -> None:
    challenge, code = fresh()
    r1 = otp.check(challenge, wrong(code), T0 + 1)
    assert r1.outcome is OtpOutcome.WRONG and r1.attempts_left == 2
    assert "2 attempts left" in r1.message
    r2 = otp.check(r1.challenge, wrong(code), T0 + 2)
    assert r2.outcome is OtpOutcome.WRONG and "1 attempt left" in r2.message
    r3 = otp.check(r2.challenge, wrong(code), T0 + 3)
    assert r3.outcome is OtpOutcome.EXHAUSTED and r3.attempts_left == 0
    # even the right code is refused once exhausted
    assert otp.check(r3.challenge, code, T0 + 4).outcome is OtpOutcome.EXHAUSTED


def test_expired_code_is_refused_even_if_right() -> None:
    challenge, code = fresh()
    assert otp.check(challenge, code, T0 + 119.9).ok
    late = otp.check(challenge, code, T0 + 120)
    assert late.outcome is OtpOutcome.EXPIRED and late.challenge.attempts_left == 3
    assert "request a new code" in late.message


@pytest.mark.parametrize("entered", ["12345", "1234567", "12a456", "", "  ", "12-456", "١٢٣"])
def test_malformed_input_does_not_consume_an_attempt(entered: str) -> None:
    challenge, _ = fresh()
    result = otp.check(challenge, entered, T0 + 1)
    assert result.outcome is OtpOutcome.MALFORMED
    assert result.challenge.attempts_left == 3
    assert result.message.startswith("otp: expected 6 digits, got ")


def test_other_unicode_digits_are_malformed_not_folded() -> None:
    challenge, code = fresh()
    devanagari = "".join(chr(0x0966 + int(d)) for d in code)   # isdigit() but not ours
    assert otp.check(challenge, devanagari, T0).outcome is OtpOutcome.MALFORMED


@pytest.mark.parametrize("script", ["latn", "arab", "pers"])
def test_codes_typed_in_arabic_or_persian_digits_pass(script: str) -> None:
    challenge, code = fresh()
    typed = to_local_digits(code[:3], script) + " " + to_local_digits(code[3:], script)
    assert otp.check(challenge, typed, T0 + 5).ok


def test_resend_gives_a_new_code_and_expiry_but_keeps_attempts() -> None:
    rng = random.Random(3)
    challenge, code = otp.issue(RULES, T0, rng)
    challenge = otp.check(challenge, wrong(code), T0 + 5).challenge
    again, code2 = otp.resend(challenge, RULES, T0 + 200, rng)      # after expiry: allowed
    assert (again.expires_at, again.attempts_left, again.resends_left) == (T0 + 320, 2, 2)
    if code2 != code:
        assert otp.check(again, code, T0 + 201).outcome is OtpOutcome.WRONG
    assert otp.check(again, code2, T0 + 201).ok


def test_resend_limit() -> None:
    rng = random.Random(4)
    challenge, _ = otp.issue(RULES, T0, rng)
    for _ in range(3):
        challenge, _ = otp.resend(challenge, RULES, T0, rng)
    with pytest.raises(OtpRefused, match="at most 3 new codes") as e:
        otp.resend(challenge, RULES, T0, rng)
    assert e.value.code == "resend_limit"


def test_no_resend_after_use_or_exhaustion() -> None:
    rng = random.Random(5)
    challenge, code = otp.issue(RULES, T0, rng)
    used = otp.check(challenge, code, T0).challenge
    with pytest.raises(OtpRefused, match="already used"):
        otp.resend(used, RULES, T0, rng)
    spent = challenge
    for _ in range(3):
        spent = otp.check(spent, wrong(code), T0).challenge
    with pytest.raises(OtpRefused) as e:
        otp.resend(spent, RULES, T0, rng)
    assert e.value.code == "otp_exhausted"


def test_validity_minutes_rounds_up() -> None:
    assert otp.validity_minutes(RULES) == 2
    assert otp.validity_minutes(OtpRules(6, 90, 3, 3)) == 2
    assert otp.validity_minutes(OtpRules(6, 30, 3, 3)) == 1


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="length >= 4"):
        otp.issue(OtpRules(2, 120, 3, 3), T0, random.Random(1))


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), guess=st.text(max_size=10),
       script=st.sampled_from(["latn", "arab", "pers"]))
def test_property_no_wrong_code_ever_passes(seed: int, guess: str, script: str) -> None:
    challenge, code = otp.issue(RULES, T0, random.Random(seed))
    result = otp.check(challenge, to_local_digits(guess, script), T0 + 1)
    if otp.normalise(to_local_digits(guess, script)) == code:
        assert result.ok
    else:
        assert not result.ok
        assert result.outcome in (OtpOutcome.WRONG, OtpOutcome.MALFORMED)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), script=st.sampled_from(["latn", "arab", "pers"]),
       digits=st.lists(st.sampled_from(["latn", "arab", "pers"]), min_size=6, max_size=6))
def test_property_right_code_in_any_mix_of_scripts_passes(seed: int, script: str,
                                                          digits: list[str]) -> None:
    challenge, code = otp.issue(RULES, T0, random.Random(seed))
    typed = "".join(to_local_digits(d, s) for d, s in zip(code, digits))
    assert otp.check(challenge, typed, T0 + 1).ok
    assert otp.check(challenge, to_local_digits(code, script), T0 + 1).ok


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(1, 10**6 - 1))
def test_property_any_other_six_digits_are_wrong(seed: int, n: int) -> None:
    challenge, code = otp.issue(RULES, T0, random.Random(seed))
    other = f"{(int(code) + n) % 10**6:06d}"
    result = otp.check(challenge, other, T0 + 1)
    assert result.outcome is OtpOutcome.WRONG and result.attempts_left == 2
