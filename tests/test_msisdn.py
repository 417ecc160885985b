"""MSISDN normalisation per market: every usual form in, E.164 out, clear refusals."""
import pytest
from hypothesis import given, strategies as st

from core.digits import to_local_digits
from core.errors import InvalidInput
from core.market import market, market_for_msisdn
from core.msisdn import normalise

DZ, IR, EG = (market(c).numbering for c in ("DZ", "IR", "EG"))


@pytest.mark.parametrize("text,plan,e164,operator", [
    ("0551234567", DZ, "213551234567", "Ooredoo"), ("+213 661 23 45 67", DZ, "213661234567", "Mobilis"),
    ("00213771234567", DZ, "213771234567", "Djezzy"), ("213-55-123-4567", DZ, "213551234567", "Ooredoo"),
    ("٠٥٥١٢٣٤٥٦٧", DZ, "213551234567", "Ooredoo"), ("09121234567", IR, "989121234567", "MCI"),
    ("۰۹۳۵۱۲۳۴۵۶۷", IR, "989351234567", "Irancell"), ("+98 921 123 4567", IR, "989211234567", "RighTel"),
    ("9901234567", IR, "989901234567", "MCI"), ("01012345678", EG, "201012345678", "Vodafone"),
    ("+20 11 1234 5678", EG, "201112345678", "Etisalat"), ("0020 12 1234 5678", EG, "201212345678", "Orange"),
    ("01512345678", EG, "201512345678", "WE"), ("\u200e+20 10 1234 5678", EG, "201012345678", "Vodafone"),
])
def test_forms(text, plan, e164, operator):
    n = normalise(text, plan)
    assert (n.e164, n.operator) == (e164, operator)
    assert n.national == "0" + e164[len(plan.country_code):]


@pytest.mark.parametrize("text,plan,needle", [
    ("0551", DZ, "has 3 digits after the prefix; expected 9"),
    ("+33612345678", DZ, "is not a number in DZ"), ("0021355123456", DZ, "expected 9"),
    ("0412345678", DZ, "expected a prefix among 05, 06, 07"),
    ("0551abc567", DZ, "not digits"), ("09121234", IR, "expected 10"),
    ("01312345678", EG, "not a mobile number of a EG operator"), ("", EG, "is empty"), (" - ", EG, "is empty"),
])
def test_refusals_say_what_was_expected(text, plan, needle):
    with pytest.raises(InvalidInput) as e:
        normalise(text, plan, field="recipient")
    assert needle in e.value.message
    assert e.value.message.startswith("recipient:")


def test_not_a_string():
    with pytest.raises(InvalidInput, match="expected a phone number string, got int"):
        normalise(551234567, DZ)


def test_market_from_international_number():
    assert market_for_msisdn("+989121234567").code == "IR"
    assert market_for_msisdn("00201012345678").code == "EG"
    with pytest.raises(InvalidInput, match="served market"):
        market_for_msisdn("0551234567")


@given(st.sampled_from(["DZ", "IR", "EG"]), st.data(), st.sampled_from(["latn", "arab", "pers"]))
def test_every_form_of_a_number_is_the_same_line(code, data, script):
    plan = market(code).numbering
    prefix = data.draw(st.sampled_from(sorted(plan.operators)))
    rest = data.draw(st.text("0123456789", min_size=plan.national_length - len(prefix),
                             max_size=plan.national_length - len(prefix)))
    nsn = prefix + rest
    forms = ["0" + nsn, "+" + plan.country_code + nsn, "00" + plan.country_code + nsn,
             "+" + plan.country_code + " " + nsn[:3] + " " + nsn[3:]]
    results = {normalise(to_local_digits(f, script), plan).e164 for f in forms}
    assert results == {plan.country_code + nsn}


@given(st.text(max_size=20))
def test_normalise_only_ever_raises_invalid_input(text):
    try:
        normalise(text, DZ)
    except InvalidInput:
        pass
