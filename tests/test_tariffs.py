"""Tariffs: money to energy by monthly band, never selling energy that was not paid for."""
import copy
import tomllib

import pytest
from hypothesis import given, strategies as st

from core.market import ProfileError
from core.money import Money
from core.tariffs import FILE, _parse, load_tariffs, tariff


def test_eg_worked_example():
    c = tariff("EG-RES").convert(Money.parse("100", "EGP"), 0, fee_due=True)
    # 10 EGP fee; 50 kWh at 0.68 (34 EGP) + 50 kWh at 0.78 (39 EGP) + 17.8 kWh at 0.95 (16.91 EGP)
    assert (c.fee.minor, c.energy_tenths, c.unconverted.minor) == (1000, 1178, 9)


@given(st.sampled_from(sorted(load_tariffs())), st.integers(1, 10**7), st.integers(0, 20000), st.booleans())
def test_energy_is_paid_for_and_the_rest_is_small(tid, minor, month, fee_due):
    t = tariff(tid)
    paid = Money(minor + t.service_fee.minor, t.currency)
    c = t.convert(paid, month, fee_due)
    cost, at, left = 0, month, c.energy_tenths         # cost in tenths of a minor unit
    for band in t.bands:
        if band.up_to_tenths is not None and at >= band.up_to_tenths:
            continue
        n = left if band.up_to_tenths is None else min(left, band.up_to_tenths - at)
        cost, at, left = cost + n * band.price.minor, at + n, left - n
    assert left == 0
    assert cost <= (paid.minor - c.fee.minor) * 10            # never more energy than paid for
    top = max(b.price.minor for b in t.bands)
    assert c.unconverted.minor * 10 < top + 10                 # less than one more tenth is left
    assert c.unconverted.minor >= 0


@pytest.mark.parametrize("mutate,needle", [
    (lambda e: e.pop("currency"), "missing key 'currency'"),
    (lambda e: e["bands"][-1].update(up_to_kwh=5000), "no ceiling"),
    (lambda e: e["bands"].__setitem__(1, {"up_to_kwh": 10, "price": "1"}), "must grow"),
    (lambda e: e.update(min_charge="1"), "service_fee < min_charge"),
    (lambda e: e.update(max_credit="1.234"), "more decimals"),
])
def test_bad_tariffs_fail_loudly(mutate, needle):
    entry = copy.deepcopy(tomllib.load(FILE.open("rb"))["tariff"][0])
    mutate(entry)
    with pytest.raises(ProfileError, match=needle.replace("(", r"\(")) as e:
        _parse(entry, "tariffs.toml")
    assert "tariffs.toml" in str(e.value)
