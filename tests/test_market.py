"""Market profiles are data, validated on load; the rules of F1/F4 come from them."""
import copy
import tomllib

import pytest

from core.errors import InvalidInput
from core.market import PROFILE_DIR, ProfileError, load_markets, market, parse_profile
from core.money import Money
from protocols.gsm import ussd_fits


def raw(code: str) -> dict:
    with (PROFILE_DIR / f"{code.lower()}.toml").open("rb") as f:
        return tomllib.load(f)


def test_three_markets_with_their_currency_and_languages():
    ms = load_markets()
    assert {c: (m.currency, m.languages) for c, m in ms.items()} == {
        "DZ": ("DZD", ("ar", "fr")), "IR": ("IRR", ("fa",)), "EG": ("EGP", ("ar",))}


def test_seed_rules_are_profile_defaults():
    ir = market("IR")
    assert ir.balance_cap == Money(2_000_000, "IRR")          # 200,000 toman
    assert (ir.otp.length, ir.otp.validity_s, ir.otp.max_attempts, ir.otp.max_resends) == (6, 120, 3, 3)
    assert (ir.ussd.max_gsm7, ir.ussd.max_ucs2) == (182, 80)
    assert 600 <= ir.verify_window_s <= 1800


def test_bonus_tiers_pick_the_highest_reached():
    dz = market("DZ")
    assert dz.bonus_for(Money.parse("499.99", "DZD")) is None
    assert dz.bonus_for(Money.parse("500", "DZD")).valid_hours == 24
    assert dz.bonus_for(Money.parse("1999", "DZD")).bonus == Money.parse("150", "DZD")
    assert dz.bonus_for(Money.parse("5000", "DZD")).valid_hours == 72


def test_unknown_market():
    with pytest.raises(InvalidInput, match="unknown market 'MA'; expected one of DZ, EG, IR"):
        market("MA")


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["topup"].pop("balance_cap"), "missing key 'balance_cap'"),
    (lambda d: d["topup"].update(min="1.234"), "more decimals"),
    (lambda d: d["otp"].update(length="six"), "otp.length: expected int"),
    (lambda d: d["texts"]["fa"].update(sms_otp="{code}"), "unknown placeholders ['code']"),
    (lambda d: d["texts"].pop("fa"), "missing language 'fa'"),
    (lambda d: d["topup"].update(ussd_gateway="nope"), "is not in [gateways]"),
    (lambda d: d["topup"]["bonus_tiers"].reverse(), "ascending"),
    (lambda d: d["gateway"].update(session_timeout_s=10), "600..86400"),
])
def test_a_bad_profile_fails_loudly(mutate, needle):
    data = copy.deepcopy(raw("IR"))
    mutate(data)
    with pytest.raises(ProfileError) as e:
        parse_profile(data, "ir.toml")
    assert needle in str(e.value) and "ir.toml" in str(e.value)


@pytest.mark.parametrize("code", ["DZ", "IR", "EG"])
def test_every_fixed_ussd_screen_fits_one_message(code):
    m = market(code)
    for lang in m.languages:
        for key, text in m.texts[lang].items():
            if key.startswith("ussd_") and "{" not in text:
                assert ussd_fits(text, m.ussd.max_gsm7, m.ussd.max_ucs2), (code, lang, key, len(text))
