"""The compact population: valid, unique numbers, the profile's mixes, identities on demand."""
from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from core import billers
from core.market import load_markets
from core.meters import meter_number
from core.msisdn import normalise
from sim.config import load_config
from sim.identities import EgyptPersonProvider, NumberPlanMap, faker_for, identity
from sim.population import CARD, NO_METER, STS, Population


@pytest.fixture(scope="module")
def pops():
    cfg = load_config("mixed-peak-hour")
    return {m: Population.build(cfg.markets[m], m, 3000, random.Random(m), seed=1) for m in cfg.markets}


@settings(max_examples=200)
@given(st.sampled_from(["DZ", "EG", "IR"]), st.integers(0, 10**8 - 1), st.integers(0, 10**6))
def test_number_plan_gives_valid_numbers_of_the_right_operator(market, index, seed):
    mkt = load_markets()[market]
    ops = sorted(set(mkt.numbering.operators.values()))
    plan = NumberPlanMap(mkt, ops, seed)
    for op in range(len(ops)):
        number = normalise("+" + plan.msisdn(index, op), mkt.numbering)
        assert number.operator == ops[op] and number.e164 == plan.msisdn(index, op)


def test_numbers_are_unique_in_a_market(pops):
    for pop in pops.values():
        numbers = {pop.msisdn(i) for i in range(pop.n)}
        assert len(numbers) == pop.n


def test_msisdn_provider_makes_numbers_the_core_accepts():
    fake = faker_for("DZ", "fr")
    fake.seed_instance(3)
    for market in ("DZ", "EG", "IR"):
        mkt = load_markets()[market]
        for _ in range(50):
            assert normalise(fake.msisdn_national(market), mkt.numbering).country == market
        assert normalise("+" + fake.msisdn(market, "Vodafone" if market == "EG" else None), mkt.numbering)
    with pytest.raises(ValueError, match="not an operator of DZ"):
        fake.msisdn("DZ", "Vodafone")


def test_identities_are_local_and_reproducible():
    eg = identity(1, "EG", 42, "ar")
    assert eg == identity(1, "EG", 42, "ar") and eg != identity(2, "EG", 42, "ar")
    first = eg.name.split(" ")[0]
    assert first in EgyptPersonProvider.first_names_male + EgyptPersonProvider.first_names_female
    assert any("\u0600" <= ch <= "\u06ff" for ch in identity(1, "IR", 7, "fa").name)
    assert any("\u0600" <= ch <= "\u06ff" for ch in identity(1, "DZ", 7, "ar").name)
    assert not any("\u0600" <= ch <= "\u06ff" for ch in identity(1, "DZ", 7, "fr").name)


def test_mixes_follow_the_profile(pops):
    dz = pops["DZ"]
    assert sum(dz.kind) / dz.n == pytest.approx(1 - 0.92, abs=0.02)
    assert sum(1 for x in dz.lang if dz.languages[x] == "fr") / dz.n == pytest.approx(0.4, abs=0.03)
    eg = pops["EG"]
    meters = [eg.meter[h] for h in range(eg.households)]
    with_meter = sum(1 for x in meters if x != NO_METER)
    assert with_meter / eg.households == pytest.approx(0.85, abs=0.03)
    assert meters.count(CARD) / with_meter == pytest.approx(0.9, abs=0.04)
    assert all(x in (NO_METER, STS) for x in (dz.meter[h] for h in range(dz.households)))


def test_households_cover_everyone_once(pops):
    for pop in pops.values():
        seen = [i for h in range(pop.households) for i in pop.members(h)]
        assert seen == list(range(pop.n))
        assert all(pop.household[i] == h for h in range(pop.households) for i in pop.members(h))


def test_meter_numbers_accounts_and_serials_are_valid(pops):
    for pop in pops.values():
        for h in (0, 1, pop.households - 1):
            assert meter_number(pop.meter_number(h)) == pop.meter_number(h)
            for bid in pop.billers:
                b = billers.biller(bid)
                assert b.parse_account(pop.account(h, bid)) == pop.account(h, bid)
            assert len(bytes.fromhex(pop.card_serial(h))) == 8


def test_gift_recipients_are_someone_else_and_prepaid(pops):
    pop, rng = pops["IR"], random.Random(5)
    for i in range(200):
        j = pop.someone_else(i, rng)
        assert j is None or (j != i and pop.kind[j] == 0)


def test_build_is_reproducible():
    cfg = load_config("dz-peak-hour")
    a = Population.build(cfg.markets["DZ"], "DZ", 500, random.Random(9), seed=9)
    b = Population.build(cfg.markets["DZ"], "DZ", 500, random.Random(9), seed=9)
    assert (a.balance, a.kind, a.meter, a.hh_start) == (b.balance, b.kind, b.meter, b.hh_start)
    assert max(a.balance) <= load_markets()["DZ"].balance_cap.minor
