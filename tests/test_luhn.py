"""protocols.luhn: the one Luhn implementation behind card numbers, meter numbers and IMEIs."""
from __future__ import annotations

from hypothesis import given, strategies as st

from protocols.luhn import check_digit, valid


def test_known_numbers():
    assert valid("4111111111111111") and valid("79927398713") and valid("47500150231")
    assert not valid("4111111111111112") and not valid("7")
    assert check_digit("7992739871") == "3" and check_digit("4750015023") == "1"


@given(st.text("0123456789", min_size=1, max_size=30), st.integers(0, 29), st.integers(1, 9))
def test_the_check_digit_validates_and_any_single_digit_change_breaks_it(body, pos, delta):
    number = body + check_digit(body)
    assert valid(number)
    i = pos % len(number)
    changed = number[:i] + str((int(number[i]) + delta) % 10) + number[i + 1:]
    assert not valid(changed)
