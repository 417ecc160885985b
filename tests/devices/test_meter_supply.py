"""The meter model by itself as time passes: exact consumption, the relay at zero credit, the
low-credit alert, emergency credit, over-current trips and lock-out, tamper, months, fees, the
clock, load profiles, construction errors, and the SimPy process."""
from __future__ import annotations

import random
from datetime import datetime

import pytest
import simpy
from meter_support import EGP_TARIFF, METER, card_meter, credit_token, keypad_meter

from devices.meter import LoadProfile, MeterTariff, PrepaidMeter, ResultCode


def kinds(meter: PrepaidMeter) -> list[str]:
    return [e.kind for e in meter.events]


def test_consumption_is_integrated_exactly():
    meter = keypad_meter(credit=500, load=LoadProfile.constant(1000))
    meter.advance(3600)
    assert meter.energy_mj == 3_600_000_000 and meter.read().energy_wh == 1000
    assert meter.balance == 400                           # 1 kWh = 100 x 0.01 kWh
    meter.advance(36)                                     # 36 s at 1 kW = 10 Wh = one register unit
    assert meter.balance == 399 and meter.read().energy_wh == 1010


def test_the_relay_opens_at_zero_credit_and_closes_when_credit_is_loaded():
    meter = keypad_meter(credit=100, load=LoadProfile.constant(1000), low_credit=0)
    meter.advance(2 * 3600)
    reading = meter.read()
    assert reading.credit == 0 and not reading.relay_closed and reading.relay_reason == "credit"
    assert reading.energy_wh == 1000 and reading.disconnected_s == 3600 and reading.power_w == 0
    assert [e for e in meter.events if e.kind == "relay_open"][0].at == datetime(2026, 11, 21, 9, 0)
    result = meter.enter_token(credit_token(5))
    assert result.code is ResultCode.ACCEPTED and result.credited == 500 and meter.relay_closed
    assert kinds(meter)[-1] == "relay_close"


def test_low_credit_alert_at_a_fixed_amount_is_raised_once_on_time():
    meter = keypad_meter(credit=1500, low_credit=1000, load=LoadProfile.constant(1000))
    meter.advance(6 * 3600)
    (alert,) = [e for e in meter.events if e.kind == "low_credit"]
    assert alert.at == datetime(2026, 11, 21, 13, 0)       # 5 kWh used at 1 kW
    assert meter.read().low_credit and meter.read().low_credit_threshold == 1000


def test_low_credit_alert_as_a_share_of_the_last_charge():
    meter = keypad_meter(low_credit=1000, low_credit_percent=20, load=LoadProfile.constant(1000))
    assert meter.low_threshold == 1000                     # no charge yet: the fixed amount
    meter.enter_token(credit_token(50))
    assert meter.low_threshold == 1000 and meter.read().low_credit_threshold == 1000
    meter.enter_token(credit_token(25, minute=1))          # 20% of 25 kWh
    assert meter.low_threshold == 500


def test_emergency_credit_after_a_cut_is_repaid_by_the_next_charge():
    meter = keypad_meter(credit=2000, emergency_credit=300, low_credit=1000, load=LoadProfile.constant(1000))
    assert meter.emergency_credit().code is ResultCode.NO_EMERGENCY        # credit is not low yet
    meter.advance(20 * 3600)
    assert meter.relay_reason == "credit" and meter.balance == 0
    assert meter.emergency_credit().code is ResultCode.ACCEPTED and meter.relay_closed
    assert meter.emergency_credit().code is ResultCode.NO_EMERGENCY        # once per cut
    meter.advance(5 * 3600)
    assert meter.balance == -300 and meter.relay_reason == "credit"        # emergency used up: cut again
    meter.enter_token(credit_token(10))
    assert meter.balance == 700 and not meter.emergency_active and meter.relay_closed
    assert meter.read().emergency_limit == 300


def test_three_over_current_trips_in_a_row_lock_the_relay_out():
    meter = keypad_meter(credit=10_000, power_limit_w=5000, trip_retry_s=60)
    meter.set_test_load(6000)
    assert meter.relay_reason == "overcurrent" and meter.trips == 1
    meter.advance(60)
    assert meter.relay_reason == "overcurrent" and meter.trips == 2
    meter.advance(60)
    assert meter.relay_reason == "lockout" and meter.trips == 3
    meter.advance(3600)
    assert meter.relay_reason == "lockout"                 # stays cut: no retry after a lock-out
    meter.set_test_load(1000)
    assert meter.relay_reason == "lockout"
    assert meter.set_relay(True).code is ResultCode.ACCEPTED
    assert meter.relay_closed and meter.trips == 0
    assert kinds(meter).count("trip") == 3


def test_a_trip_is_forgotten_when_the_relay_holds_after_the_retry():
    meter = keypad_meter(credit=10_000, power_limit_w=5000, trip_retry_s=60)
    meter.set_test_load(6000)
    meter.set_test_load(1000)                              # the heater is switched off
    meter.advance(60)
    assert meter.relay_closed and meter.trips == 1
    meter.advance(60)
    assert meter.trips == 0
    meter.set_test_load(6000)
    assert meter.trips == 1 and meter.relay_reason == "overcurrent"


def test_opening_the_case_cuts_power_and_raises_a_sticky_tamper_flag():
    meter = keypad_meter(credit=5000)
    meter.set_case_open(True)
    assert meter.relay_reason == "tamper" and meter.read().tamper and meter.read().case_open
    assert meter.enter_token(credit_token(5)).code is ResultCode.TAMPER
    assert meter.clear_tamper().code is ResultCode.TAMPER   # not while the case is open
    meter.set_case_open(False)
    assert meter.relay_reason == "tamper"                   # closing the case is not enough
    assert meter.set_relay(True).code is ResultCode.TAMPER
    assert meter.clear_tamper().code is ResultCode.ACCEPTED and meter.relay_closed
    assert meter.enter_token(credit_token(5)).code is ResultCode.ACCEPTED   # the refused TID was not used


def test_remote_disconnect_and_reconnect():
    meter = keypad_meter(credit=5000)
    assert meter.set_relay(False).code is ResultCode.ACCEPTED and meter.relay_reason == "remote"
    assert meter.set_relay(True).code is ResultCode.ACCEPTED and meter.relay_closed
    empty = keypad_meter(credit=0)
    empty.set_relay(False)
    assert empty.set_relay(True).code is ResultCode.NO_CREDIT and empty.relay_reason == "remote"


def test_a_money_meter_prices_energy_by_band_of_the_month():
    tariff = MeterTariff("EGP", ((1, 100), (None, 200)))
    meter = card_meter(tariff=tariff, credit=10_000, load=LoadProfile.constant(1000), low_credit=0)
    meter.advance(3 * 3600)                                 # 1 kWh at 1.00, 2 kWh at 2.00
    assert meter.balance == 10_000 - 100 - 400
    reading = meter.read()
    assert reading.unit == "EGP" and reading.credit == 9500 and reading.monthly_wh[0] == 3000


def test_a_new_month_keeps_the_history_and_deducts_the_fee():
    meter = card_meter(clock=datetime(2026, 11, 30, 0, 0), credit=10_000, load=LoadProfile.constant(2000))
    meter.advance(2 * 86400)
    assert meter.monthly_wh == (48_000, 48_000) and meter.read().monthly_wh[:3] == (48_000, 48_000, 0)
    assert meter.balance == 10_000 - 2 * 48 * 68 - 1000     # first band only, and the December fee
    assert [e.at for e in meter.events if e.kind == "fee"] == [datetime(2026, 12, 1)]
    assert meter.read().monthly_fee == 1000


def test_a_fee_larger_than_the_credit_leaves_a_debt_the_next_charge_pays():
    meter = card_meter(clock=datetime(2026, 11, 30, 23, 0), credit=500, low_credit=0)
    meter.advance(3600)
    assert meter.balance == -500 and meter.relay_reason == "credit"


def test_setting_the_clock_moves_no_energy_and_starts_a_month_when_it_changes():
    meter = card_meter(clock=datetime(2026, 11, 15), credit=10_000, load=LoadProfile.constant(1000))
    meter.set_clock(datetime(2026, 12, 3, 10, 0))
    assert meter.energy_mj == 0 and meter.balance == 9000 and meter.clock == datetime(2026, 12, 3, 10, 0)
    meter.set_clock(datetime(2026, 11, 20))                 # backwards: a new month, no fee
    assert meter.balance == 9000 and meter.monthly_wh[:3] == (0, 0, 0)


def test_a_household_profile_is_drawn_from_the_callers_seed():
    a = LoadProfile.household(random.Random(7), mean_w=400)
    assert a == LoadProfile.household(random.Random(7), mean_w=400)
    assert a != LoadProfile.household(random.Random(8), mean_w=400)
    assert max(a.hourly_w[18:22]) > max(a.hourly_w[1:5])    # evening peak, night trough
    meter = keypad_meter(clock=datetime(2026, 1, 1), credit=100_000, load=a)
    meter.advance(86400)
    assert meter.energy_mj == sum(a.hourly_w) * 3_600_000          # W x 3,600,000 ms = mJ per hour


@pytest.mark.parametrize("kw,match", [
    (dict(meter_number="47500150232"), "fails its check digit"),
    (dict(unit="money"), "a money meter needs a tariff"),
    (dict(unit="energy", tariff=EGP_TARIFF), "an energy meter takes no tariff"),
    (dict(unit="money", tariff=EGP_TARIFF, decoder_key=credit_token), "invalid decoder key|holds energy"),
    (dict(unit="watts"), "invalid unit 'watts'"),
    (dict(credit=-1), "invalid opening credit -1"),
    (dict(low_credit_percent=0), r"expected 1..100"),
    (dict(load=[100] * 24), "invalid load"),
    (dict(card_master_keys=b"short"), "at least 16 bytes"),
    (dict(decoder_key="e653341f9d5bf36f"), "expected a protocols.sts.DecoderKey"),
])
def test_a_meter_with_impossible_settings_is_refused(kw, match):
    params = {"meter_number": METER, **kw}
    with pytest.raises(ValueError, match=match):
        PrepaidMeter(**params)


@pytest.mark.parametrize("make,match", [
    (lambda: LoadProfile((100,) * 23), "expected 24 hourly"),
    (lambda: LoadProfile.constant(-5), "invalid load -5"),
    (lambda: MeterTariff("USD", ((None, 1),)), "invalid tariff currency 'USD'"),
    (lambda: MeterTariff("EGP", ((50, 68), (40, 78), (None, 90))), "expected an integer above 50"),
    (lambda: MeterTariff("EGP", ((None, 68), (50, 78))), "only the last band is open"),
    (lambda: MeterTariff("EGP", ((None, 0),)), "minor units per kWh > 0"),
])
def test_impossible_profiles_and_tariffs_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ---------------------------------------------------------------------------- SimPy
def test_on_simpy_the_meter_wakes_when_its_state_changes():
    env = simpy.Environment()
    meter = keypad_meter(credit=1500, low_credit=1000, load=LoadProfile.constant(1000))
    heard = []
    meter.listeners.append(lambda e: heard.append((env.now, e.kind)))
    env.process(meter.run(env))
    env.run(until=20 * 3600)                              # 15 kWh at 1 kW: cut after 15 h
    assert heard == [(18_000, "low_credit"), (54_000, "relay_open")]
    meter.sync()
    assert meter.disconnected_s == 20 * 3600 - 54_000
    with pytest.raises(RuntimeError, match="time follows env.now"):
        meter.advance(1)


def test_on_simpy_a_call_from_another_process_sees_the_meter_at_env_now():
    env = simpy.Environment()
    meter = keypad_meter(credit=0, low_credit=0, load=LoadProfile.constant(1000))
    heard = []
    meter.listeners.append(lambda e: heard.append((env.now, e.kind)))
    env.process(meter.run(env))

    def customer(env):
        yield env.timeout(1000)
        assert meter.enter_token(credit_token(1)).code is ResultCode.ACCEPTED      # 1 kWh: an hour at 1 kW
        assert meter.read().disconnected_s == 1000

    env.process(customer(env))
    env.run(until=3 * 3600)
    assert (4600, "relay_open") in heard and meter.read().disconnected_s == 1000 + 3 * 3600 - 4600


def test_on_simpy_a_meter_wakes_only_when_something_can_change():
    env = simpy.Environment()
    steady = keypad_meter(credit=30_000, load=LoadProfile.constant(500), low_credit=1000)
    daily = keypad_meter(credit=30_000, load=LoadProfile.household(random.Random(3)), low_credit=1000)
    wakes = {id(steady): 0, id(daily): 0}
    for meter in (steady, daily):
        original = meter.next_change_s

        def counted(meter=meter, original=original):
            wakes[id(meter)] += 1
            return original()
        meter.next_change_s = counted
        env.process(meter.run(env))
    env.run(until=30 * 86400)
    # low credit, cut at zero, the month's end: the process sleeps through the profile's hours
    assert wakes[id(steady)] <= 5 and wakes[id(daily)] <= 5
    assert steady.read().relay_reason == "credit" and steady.read().energy_wh == 300_000
