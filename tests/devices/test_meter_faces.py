"""One device, three faces: the same scenario on the model and through the emulator answers the
same, ``open_meter`` gives each face, and the flows F5/F6 end to end: the core vends an STS token
or a card record for a registered meter and the meter (model and emulated) takes it once."""
from __future__ import annotations

from datetime import datetime

import pytest
from meter_support import MASTER, METER, OTHER_KEY, SERIAL, START, credit_token, record

from devices.meter import (
    LoadProfile, MeterDriver, MeterEmulator, MeterPort, MeterProtocolError, MeterTariff, PrepaidMeter, ResultCode,
    open_meter,
)
from protocols import sts
from protocols import utility_card as uc

PARAMS = dict(meter_number=METER, decoder_key=sts.DecoderKey.from_hex("e653341f9d5bf36f"),
              card_master_keys=MASTER, clock=START, credit=1500, emergency_credit=200,
              load=LoadProfile.constant(0), wrong_tokens_to_lockout=2)


def scenario(meter: MeterPort) -> list[object]:
    """A bench session that touches every command of the port."""
    out: list[object] = [meter.identify()]
    out.append(meter.enter_token(credit_token(5)))
    out.append(meter.enter_token(credit_token(5)))
    out += [meter.enter_token(credit_token(1, key=OTHER_KEY)) for _ in range(3)]
    out.append(meter.load_card(record(1, 250, kind="activation", unit="energy")))
    out.append(meter.load_card(record(3, 250, unit="energy")))
    out.append(meter.set_relay(False))
    out.append(meter.emergency_credit())
    meter.set_clock(datetime(2026, 12, 1, 0, 0, 5))
    meter.set_test_load(20_000)
    out.append(meter.read())
    meter.set_test_load(0)
    out.append(meter.set_relay(True))
    meter.set_case_open(True)
    out.append(meter.clear_tamper())
    meter.set_case_open(False)
    out.append(meter.clear_tamper())
    out.append(meter.read_register("C.53.0"))
    out.append(meter.read())
    return out


def test_the_model_and_the_emulated_meter_answer_the_same():
    with open_meter("model", **PARAMS) as model:
        expected = scenario(model)
    with open_meter("emulator", **PARAMS, timeout=1.0) as emulated:
        assert isinstance(emulated, MeterDriver)
        got = scenario(emulated)
    assert got == expected
    assert expected[3].code is ResultCode.AUTH and expected[5].code is ResultCode.LOCKED


def test_every_face_is_a_meter_port():
    with open_meter("model", meter_number=METER) as model:
        assert isinstance(model, PrepaidMeter) and isinstance(model, MeterPort)
    with MeterEmulator(PrepaidMeter(METER)) as emu:
        with open_meter("driver", port=emu.port, timeout=1.0) as driver:
            assert isinstance(driver, MeterPort) and driver.identify().meter_number == METER
        with open_meter("driver", port=emu.port, meter_number=METER, timeout=1.0) as driver:
            assert driver.read().meter_number == METER
        with pytest.raises(MeterProtocolError, match=r"is 47500150231, not 04040404040 as the bench says"):
            with open_meter("driver", port=emu.port, meter_number="04040404040", timeout=1.0):
                pass
    existing = PrepaidMeter(METER, credit=42)
    with open_meter("emulator", model=existing, timeout=1.0) as emulated:
        assert emulated.read().credit == 42
    with open_meter("emulator", model=existing, register_map={"C.50.0": "C.90.1"}, timeout=1.0) as mapped:
        assert mapped.read().credit == 42 and mapped.read_register("C.50.0").value == "0.42"


@pytest.mark.parametrize("face,params,match", [
    ("model", dict(meter_number=METER, baud=9600), r"unknown parameter\(s\) baud"),
    ("driver", dict(timeout=1), "needs port="),
    ("driver", dict(port="/dev/null", pace=True), r"unknown parameter\(s\) pace"),
    ("hardware", dict(), "invalid meter face 'hardware'"),
])
def test_open_meter_says_what_is_wrong_with_its_parameters(face, params, match):
    with pytest.raises(ValueError, match=match):
        with open_meter(face, **params):
            pass


# ---------------------------------------------------------------------------- F5/F6 with the core
@pytest.fixture
def world(sqlite_url):
    from core.money import Money
    from support import make_world
    w = make_world(sqlite_url)
    w.core.meters.register("EG", METER, kind="sts", tariff="EG-RES", customer="Mona Hassan")
    w.core.meters.register("EG", "04040404040", kind="card", tariff="EG-RES", customer="Omar Farouk")
    w.core.payments.deposit_float("aman-3", Money.parse("5000", "EGP"), "float-1")
    yield w
    assert w.core.conservation().ok
    w.core.close()


def vend(world, meter: str, amount: str) -> dict:
    order = world.core.vending.vend(meter, amount, method="kiosk", method_account="aman-3", channel="kiosk")
    return world.core.vending.result(order.id)


@pytest.mark.parametrize("face", ["model", "emulator"])
def test_a_token_the_core_vends_is_accepted_once(world, face):
    registered = world.core.meters.get(METER)
    key = world.core.vending.purpose.decoder_key(registered)       # hil wires the core's keys like this
    first, second = vend(world, METER, "100"), vend(world, METER, "50")
    link = {"timeout": 1.0} if face == "emulator" else {}
    with open_meter(face, meter_number=METER, decoder_key=key, key_revision=registered.key_revision,
                    tariff_index=int(registered.tariff_index), **link) as meter:
        accepted = meter.enter_token(first["token"])
        assert accepted.code is ResultCode.ACCEPTED
        assert accepted.credited == round(float(first["energy_kwh"]) * 100)
        assert meter.enter_token(first["token"]).code is ResultCode.USED
        assert meter.enter_token(second["token"]).code is ResultCode.ACCEPTED
        assert meter.read().credit == accepted.credited + round(float(second["energy_kwh"]) * 100)


@pytest.mark.parametrize("face", ["model", "emulator"])
def test_a_card_record_the_core_vends_loads_once(world, face):
    world.core.meters.issue_card("04040404040", SERIAL)
    tariff = MeterTariff("EGP", ((50, 68), (100, 78), (None, 223)))
    master = world.core.keys.card_master_key("eehc")
    first, second = vend(world, "04040404040", "100"), vend(world, "04040404040", "50")
    link = {"timeout": 1.0} if face == "emulator" else {}
    with open_meter(face, meter_number="04040404040", unit="money", tariff=tariff, card_master_keys=master,
                    **link) as meter:
        assert meter.load_card(second["record"]).code is ResultCode.CARD       # not activated yet
        activation = meter.load_card(first["record"])                          # the text form, as a wallet has it
        assert (activation.code, activation.credited) == (ResultCode.ACCEPTED, 9000)   # 100 less the monthly fee
        assert meter.load_card(uc.from_text(first["record"])).code is ResultCode.ALREADY_LOADED
        assert meter.load_card(second["record"]).credited == 5000
        reading = meter.read()
        assert (reading.purchase_count, reading.card_serial, reading.credit) == (2, SERIAL, 14_000)
