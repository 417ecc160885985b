"""Property tests for the parsers at the edge that had none: card data (PAN, expiry, CVC2,
PIN2), meter numbers, Idempotency-Keys, rate strings, MSISDNs and amounts typed in a *mix* of
digit scripts and separators, and the USSD dialogue fed any text. Each either parses to the
one canonical value or refuses with ``InvalidInput`` naming the field, never anything else;
refusals never echo a whole card number."""
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from core.adapters.issuer import luhn_check_digit
from core.api.limits import Rate
from core.cards import luhn_ok, parse_card, parse_expiry
from core.errors import InvalidInput
from core.idempotency import check_key
from core.market import market
from core.meters import meter_number
from core.money import Money
from core.msisdn import normalise
from protocols.gsm import ussd_fits
from protocols.utility_card import parse_meter_number
from support import make_world

NOW = 1_767_225_600.0          # 2026-01-01
ARAB, PERS = "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹"


def scripted(digits: str, scripts: list[str]) -> str:
    """``digits`` with each digit written in the script drawn for it."""
    table = {"latn": "0123456789", "arab": ARAB, "pers": PERS}
    return "".join(table[s][int(d)] if d.isdigit() else d for d, s in zip(digits, scripts))


def mixed(data, text: str) -> str:
    return scripted(text, data.draw(st.lists(st.sampled_from(["latn", "arab", "pers"]),
                                             min_size=len(text), max_size=len(text))))


pans = st.integers(16, 19).flatmap(lambda n: st.text("0123456789", min_size=n - 1, max_size=n - 1)).map(
    lambda body: body + luhn_check_digit(body))


@given(pans, st.data())
def test_a_card_number_typed_any_way_parses_to_its_digits(pan, data):
    sep = data.draw(st.sampled_from(["", " ", "-", "  "]))
    typed = mixed(data, sep.join(re.findall(".{1,4}", pan)))
    card = parse_card(pan=typed, expiry="12/29", cvc2=mixed(data, "123"), pin2=mixed(data, "482139"), now=NOW)
    assert (card.pan, card.cvc2, card.pin2) == (pan, "123", "482139")
    assert card.masked == pan[:6] + "*" * (len(pan) - 10) + pan[-4:] and pan not in repr(card)


@given(pans, st.integers(0, 18), st.integers(1, 9))
def test_a_mistyped_card_number_is_refused_without_echoing_it(pan, i, delta):
    i = i % len(pan)
    typo = pan[:i] + str((int(pan[i]) + delta) % 10) + pan[i + 1:]
    if luhn_ok(typo):                    # Luhn catches every single-digit error
        pytest.fail(f"Luhn missed a one-digit typo at {i}")
    with pytest.raises(InvalidInput) as e:
        parse_card(pan=typo, expiry="12/29", now=NOW)
    assert e.value.field == "pan" and typo not in e.value.message and typo[:6] not in e.value.message


@given(st.one_of(st.text(max_size=30), st.integers(), st.none(), st.booleans()),
       st.one_of(st.text(max_size=8), st.none()), st.one_of(st.text(max_size=6), st.none()),
       st.one_of(st.text(max_size=14), st.none()))
def test_card_data_is_parsed_or_refused_naming_its_field(pan, expiry, cvc2, pin2):
    try:
        card = parse_card(pan=pan, expiry=expiry, cvc2=cvc2, pin2=pin2, now=NOW)
    except InvalidInput as e:
        assert e.field in ("pan", "expiry", "cvc2", "pin2", "holder")
        assert e.message.startswith(e.field)
        return
    assert card.pan.isascii() and card.pan.isdigit() and luhn_ok(card.pan)


@given(st.integers(1, 12), st.integers(2026, 2046), st.sampled_from(["/", "", " / "]),
       st.booleans(), st.data())
def test_an_expiry_typed_any_way_is_month_and_year(month, year, sep, short, data):
    typed = f"{month:02d}{sep}{year % 100 if short else year:02d}"
    assert parse_expiry(mixed(data, typed)) == (month, year)


@given(st.text("0123456789", min_size=10, max_size=10), st.data())
def test_a_meter_number_typed_any_way_is_the_same_meter(body, data):
    number = body + next(d for d in "0123456789" if luhn_ok(body + d))
    typed = mixed(data, data.draw(st.sampled_from([number, f"{number[:4]} {number[4:8]} {number[8:]}",
                                                   f"{number[:4]}-{number[4:]}"])))
    assert meter_number(typed) == number == parse_meter_number(number)


@given(st.one_of(st.text(max_size=16), st.integers(), st.none()))
def test_meter_numbers_are_parsed_or_refused(text):
    try:
        n = meter_number(text)
    except InvalidInput as e:
        assert e.field == "meter"
        return
    assert len(n) == 11 and n.isdigit()


@given(st.one_of(st.text(max_size=300), st.integers(), st.none()))
def test_idempotency_keys_are_taken_whole_or_refused(key):
    try:
        assert check_key(key) == key
    except InvalidInput as e:
        assert e.field == "Idempotency-Key"
        assert not (isinstance(key, str) and 1 <= len(key) <= 255 and key.isprintable())


@given(st.integers(1, 10**6), st.sampled_from([1.0, 60.0, 3600.0]))
def test_rates_roundtrip_through_their_text(count, per_s):
    assert Rate.parse(str(Rate(count, per_s))) == Rate(count, per_s)


@given(st.text(max_size=20))
def test_rate_text_is_parsed_or_refused_with_the_form_expected(text):
    try:
        r = Rate.parse(text)
    except ValueError as e:
        assert "expected a count per unit" in str(e)
        return
    assert r.count >= 1 and r.per_s in (1.0, 60.0, 3600.0)


@given(st.sampled_from(["DZ", "IR", "EG"]), st.data())
def test_an_msisdn_in_mixed_scripts_and_separators_is_one_line(code, data):
    plan = market(code).numbering
    prefix = data.draw(st.sampled_from(sorted(plan.operators)))
    nsn = prefix + data.draw(st.text("0123456789", min_size=plan.national_length - len(prefix),
                                     max_size=plan.national_length - len(prefix)))
    form = data.draw(st.sampled_from(["0" + nsn, "+" + plan.country_code + nsn, "00" + plan.country_code + nsn]))
    spaced = "".join(ch + data.draw(st.sampled_from(["", "", " ", "-", "\u200f"])) for ch in form)
    assert normalise(mixed(data, spaced), plan).e164 == plan.country_code + nsn


@given(st.integers(1, 10**13), st.sampled_from(["DZD", "EGP"]), st.data())
def test_an_amount_in_mixed_scripts_with_the_arabic_decimal_separator(minor, cur, data):
    m = Money(minor, cur)
    major, _, cents = m.major_str().partition(".")
    typed = mixed(data, major) + data.draw(st.sampled_from([".", "٫"])) + mixed(data, cents or "00")
    assert Money.parse(typed, cur) == m


@pytest.fixture(scope="module")
def ussd_world(tmp_path_factory):
    w = make_world(f"sqlite:///{tmp_path_factory.mktemp('ussd')}/rb.db")
    w.line("IR", "09121234567", "20000", language="fa")
    w.line("DZ", "0551234567", "100")
    yield w
    w.core.close()


answers = st.lists(st.one_of(st.sampled_from(["1", "2", "0", "3", "۱", "٢", "", " 1 "]),
                             st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)), max_size=9)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
          deadline=None)
@given(answers, st.sampled_from([("+989121234567", "IR"), ("0551234567", "DZ")]),
       st.sampled_from(["*1#", "*1*1#", "*1*2#", "*۱#", "*9#"]), st.integers(0, 10**9))
def test_the_ussd_dialogue_fed_any_text_answers_a_screen_that_fits_or_refuses(ussd_world, said, line, code, n):
    w = ussd_world
    msisdn, mkt = line
    try:
        reply = w.core.ussd.handle(f"p{n}", msisdn, code, "*".join(said), mkt)
    except InvalidInput as e:
        assert e.field in ("service_code", "text", "session_id", "msisdn")
        return
    finally:
        w.core.ussd.release(f"p{n}", "cancelled")            # one session per line: free it
    rules = market(mkt).ussd
    assert reply.text and ussd_fits(reply.text, rules.max_gsm7, rules.max_ucs2)
