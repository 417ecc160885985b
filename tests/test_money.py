"""Money: integer minor units, parsing what people type, refusing what would need rounding."""
import pytest
from hypothesis import given, strategies as st

from core.digits import to_ascii_digits, to_local_digits
from core.errors import InvalidInput
from core.money import Money


@pytest.mark.parametrize("text,cur,minor", [
    ("1500", "DZD", 150000), ("1500.5", "DZD", 150050), ("1500.50", "DZD", 150050),
    ("١٥٠٠", "DZD", 150000), ("۱۵۰۰٫۵", "DZD", 150050), (" 1 500 ", "EGP", 150000),
    ("50000", "IRR", 50000), ("۵۰۰۰۰", "IRR", 50000), (250, "EGP", 25000), ("0.01", "DZD", 1),
    ("1500.000", "IRR", 1500), ("007", "EGP", 700),
])
def test_parse_accepts_typed_amounts(text, cur, minor):
    assert Money.parse(text, cur) == Money(minor, cur)


@pytest.mark.parametrize("text,cur,needle", [
    ("0", "DZD", "zero"), ("0.00", "DZD", "zero"), ("-5", "DZD", "negative"),
    ("1.234", "DZD", "at most 2"), ("10.5", "IRR", "at most 0"), ("1e3", "DZD", "not an amount"),
    ("", "DZD", "not an amount"), ("12abc", "EGP", "not an amount"), ("1,500", "DZD", "not an amount"),
    ("1" * 16, "DZD", "too large"), (10.5, "DZD", "float"), (True, "DZD", "bool"), (None, "DZD", "NoneType"),
])
def test_parse_refuses_with_the_reason(text, cur, needle):
    with pytest.raises(InvalidInput) as e:
        Money.parse(text, cur)
    assert needle in e.value.message and e.value.field == "amount"


def test_unknown_currency_names_the_choices():
    with pytest.raises(InvalidInput, match="expected one of DZD, EGP, IRR"):
        Money.parse("10", "USD")


def test_arithmetic_keeps_currency_apart():
    assert Money(100, "DZD") + Money(50, "DZD") == Money(150, "DZD")
    with pytest.raises(ValueError):
        Money(100, "DZD") + Money(50, "EGP")
    with pytest.raises(TypeError):
        Money(1.5, "DZD")  # type: ignore[arg-type]


def test_display():
    assert Money(123456789, "DZD").display() == "1,234,567.89 DZD"
    assert Money(2000000, "IRR").display() == "2,000,000 IRR"
    assert str(Money(5, "EGP")) == "0.05 EGP"


def test_digit_scripts():
    assert to_ascii_digits("٠١٢٣٤٥٦٧٨٩ ۰۱۲۳۴۵۶۷۸۹") == "0123456789 0123456789"
    assert to_local_digits("2026-01", "pers") == "۲۰۲۶-۰۱"
    assert to_local_digits("10", "arab") == "١٠"


@given(st.integers(min_value=1, max_value=10**14), st.sampled_from(["DZD", "IRR", "EGP"]),
       st.sampled_from(["latn", "arab", "pers"]))
def test_major_string_roundtrips_in_every_script(minor, cur, script):
    m = Money(minor, cur)
    assert Money.parse(to_local_digits(m.major_str(), script), cur) == m


@given(st.text(max_size=12))
def test_parse_never_raises_anything_but_invalid_input(text):
    try:
        m = Money.parse(text, "DZD")
    except InvalidInput:
        return
    assert m.minor > 0
