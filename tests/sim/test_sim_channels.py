"""What the people in the world read: OTPs out of the real SMS texts, USSD screens by their
words, failure reasons out of the core's messages."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from core.market import load_markets
from core.money import Money
from sim.channels.card import mistype, otp_in
from sim.channels.outcome import reason_of
from sim.channels.ussd import SCREENS, screen_of
from sim.schema import Amount, Dist, Num, SimConfigError

MARKETS = sorted(load_markets())


@settings(max_examples=300)
@given(st.sampled_from(MARKETS), st.integers(0, 999_999), st.integers(1, 10**9), st.integers(1, 5))
def test_the_code_is_found_in_every_market_otp_text(market, code, minor, minutes):
    mkt = load_markets()[market]
    for lang in mkt.languages:
        text = mkt.text("sms_otp", lang, otp=f"{code:06d}", amount=Money(minor, mkt.currency).display(),
                        minutes=minutes)
        assert otp_in(text, 6) == f"{code:06d}"


@given(st.text(alphabet="0123456789", min_size=4, max_size=8), st.integers(0, 10**6))
def test_a_mistyped_code_differs_in_one_digit(code, seed):
    typed = mistype(code, random.Random(seed))
    assert len(typed) == len(code) and sum(a != b for a, b in zip(typed, code)) == 1


@pytest.mark.parametrize("market", MARKETS)
def test_every_ussd_screen_is_recognised_in_every_language(market):
    mkt = load_markets()[market]
    values = dict(numbers="1 0551234567", amounts="1 100\n2 200", amount="100", msisdn="0551234567")
    for lang in mkt.languages:
        for key in SCREENS:
            text = mkt.text(key, lang, **values)
            assert screen_of(mkt, lang, text) == key, (market, lang, key)
            assert screen_of(mkt, lang, mkt.text("ussd_invalid", lang) + "\n" + text) == key
        assert screen_of(mkt, lang, mkt.text("ussd_processing", lang, order="x")) is None


@pytest.mark.parametrize("message, code", [
    ("declined by the issuer: insufficient funds", "insufficient_funds"),
    ("declined by the issuer: card expired 03/2026", "card_expired"),
    ("code not entered within 120 s", "otp_expired"),
    ("3 wrong codes", "otp_exhausted"),
    ("satim: gateway unavailable until 1773172800", "gateway_unavailable"),
    ("declined by the gateway's risk rules", "gateway_declined"),
    ("not verified within 900 s: reversed by the gateway", "verify_window_missed"),
    ("balance_cap", "balance_cap"),
    ("agent_float_low: agent x must deposit float first", "agent_float_low"),
    ("something new", "failed"),
    (None, "failed"),
])
def test_core_messages_become_stable_reason_codes(message, code):
    assert reason_of(message) == code


@settings(max_examples=200)
@given(st.floats(-1e6, 1e6, allow_nan=False), st.floats(0, 10), st.floats(0, 10))
def test_numbers_are_accepted_exactly_within_their_bounds(x, lo, width):
    spec = Num(lo, lo + width)
    if lo <= x <= lo + width:
        assert spec.check(x, "k", {}) == x
        assert spec.check(str(x), "k", {}) == pytest.approx(x)
    else:
        with pytest.raises(SimConfigError, match=r"^k: got"):
            spec.check(x, "k", {})


@given(st.integers(1, 10**9), st.sampled_from(["DZD", "EGP", "IRR"]), st.sampled_from(["latn", "arab", "pers"]))
def test_amounts_in_any_digits_become_minor_units(minor, cur, script):
    from core.digits import to_local_digits
    text = to_local_digits(Money(minor, cur).major_str(), script)
    assert Amount().check(text, "a", {"currency": cur}) == minor


@given(st.floats(0.001, 1e4), st.floats(0.001, 1e4))
def test_distributions_need_p50_at_most_p95(a, b):
    spec = Dist()
    if a <= b:
        assert spec.check({"p50": a, "p95": b}, "d", {}) == (a, b)
    else:
        with pytest.raises(SimConfigError, match="d.p95"):
            spec.check({"p50": a, "p95": b}, "d", {})
    with pytest.raises(SimConfigError, match="two percentiles"):
        spec.check({"p50": a}, "d", {})
