"""Meter model properties (hypothesis): how time is cut into steps never changes the outcome;
money is conserved to the minor unit; a token is credited at most once whatever the order of
entry; card records credit each purchase exactly once, never skipping one; the readout of any
state parses back to the same reading."""
from __future__ import annotations

from datetime import datetime, timedelta

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st
from meter_support import SERIAL, card_meter, credit_token, keypad_meter, record

from devices.meter import LoadProfile, MeterTariff, ResultCode
from devices.meter import registers
from devices.meter.load import MJ_PER_KWH

profiles = st.lists(st.integers(0, 9000), min_size=24, max_size=24).map(lambda w: LoadProfile(tuple(w)))
tariffs = st.lists(st.integers(1, 400), min_size=1, max_size=3).map(
    lambda prices: MeterTariff("EGP", tuple((10 * (i + 1) if i < len(prices) - 1 else None, p)
                                            for i, p in enumerate(prices)), monthly_fee=500))
steps = st.lists(st.integers(1, 3 * 86400), min_size=1, max_size=12)


def state(meter):
    return (meter.balance, meter.energy_mj, meter.month_mj, meter.disconnected_ms, meter.relay_reason,
            meter.monthly_wh, meter.emergency_active, [(e.at, e.kind, e.detail) for e in meter.events])


@settings(max_examples=60)
@given(load=profiles, tariff=tariffs, credit=st.integers(0, 50_000), steps=steps,
       start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1)))
def test_cutting_time_into_steps_never_changes_the_outcome(load, tariff, credit, steps, start):
    one, many = (card_meter(tariff=tariff, credit=credit, load=load, clock=start, emergency_credit=0)
                 for _ in range(2))
    one.advance(sum(steps))
    for step in steps:
        many.advance(step)
    assert state(one) == state(many)


@settings(max_examples=60)
@given(load=profiles, price=st.integers(1, 500), credit=st.integers(0, 100_000), seconds=st.integers(0, 40 * 86400),
       start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1)))
def test_money_is_conserved_to_the_minor_unit(load, price, credit, seconds, start):
    tariff = MeterTariff("EGP", ((None, price),), monthly_fee=700)
    meter = card_meter(tariff=tariff, credit=credit, load=load, clock=start)
    meter.advance(seconds)
    fees = 700 * sum(1 for e in meter.events if e.kind == "fee")
    consumed = meter.energy_mj * price // MJ_PER_KWH               # what the energy cost, floored
    assert credit - fees - meter.balance == consumed
    assert meter.balance >= -700 * 2                              # no debt from consumption, only fees
    assert meter.balance >= 0 or meter.relay_reason == "credit"


@settings(max_examples=40)
@given(entries=st.lists(st.integers(0, 7), max_size=25))
def test_each_token_is_credited_at_most_once_whatever_the_order(entries):
    tokens = [credit_token(1 + i, minute=i) for i in range(8)]
    meter = keypad_meter()
    for i in entries:
        assert meter.enter_token(tokens[i]).code in (ResultCode.ACCEPTED, ResultCode.USED)
    assert meter.balance == sum((1 + i) * 100 for i in set(entries))


@settings(max_examples=40)
@given(counts=st.lists(st.integers(1, 8), max_size=25))
def test_card_records_credit_each_purchase_once_and_never_skip_one(counts):
    meter = card_meter(card_serial=SERIAL)                    # its card is registered, count 0
    records = {n: record(n, 100 * n) for n in range(1, 9)}
    for n in counts:
        result = meter.load_card(records[n])
        loaded = meter.card_slot.purchase_count
        assert result.code in (ResultCode.ACCEPTED, ResultCode.ALREADY_LOADED, ResultCode.COUNT)
        assert (result.code is ResultCode.ACCEPTED) == (n == loaded and result.credited == 100 * n)
    loaded = meter.card_slot.purchase_count
    assert meter.balance == sum(100 * n for n in range(1, loaded + 1))


@settings(max_examples=40)
@given(load=profiles, credit=st.integers(0, 30_000), seconds=st.integers(0, 20 * 86400),
       tamper=st.booleans(), test_load=st.integers(0, 20_000))
def test_the_readout_of_any_state_parses_to_the_models_own_values(load, credit, seconds, tamper, test_load):
    meter = keypad_meter(credit=credit, load=load, emergency_credit=300, card_master_keys=bytes(16))
    meter.advance(seconds)
    meter.set_test_load(test_load)
    meter.set_case_open(tamper)
    reading = registers.reading(registers.readout(meter))
    assert (reading.credit, reading.energy_wh, reading.relay_closed, reading.relay_reason, reading.tamper) == (
        meter.balance, meter.energy_mj // 3_600_000, meter.relay_closed, meter.relay_reason, meter.tamper)
    assert reading.disconnected_s == meter.disconnected_ms // 1000 and reading.clock == meter.clock.replace(
        microsecond=0)
    assert reading.power_w == meter.power_w and reading.test_load_w == test_load


@settings(max_examples=50)
@given(load=profiles, tariff=st.one_of(st.none(), tariffs), credit=st.integers(0, 60_000),
       limit=st.sampled_from([0, 5000, 8000]), start=st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1)))
def test_on_simpy_every_change_is_heard_at_the_instant_it_happens(load, tariff, credit, limit, start):
    env = simpy.Environment()
    make = (lambda **kw: card_meter(tariff=tariff, **kw)) if tariff else keypad_meter
    meter = make(credit=credit, load=load, clock=start, power_limit_w=limit, low_credit=2000)
    heard, origin = [], meter.clock                            # the meter's clock keeps milliseconds
    meter.listeners.append(lambda e: heard.append((round(env.now * 1000), e.kind,
                                                   (e.at - origin) // timedelta(milliseconds=1))))
    env.process(meter.run(env))
    env.run(until=40 * 86400)
    assert heard and [(now, kind) for now, kind, _ in heard] == [(at, kind) for _, kind, at in heard]
