"""The card slot of the meter model (flows F5): activation, the purchase-count rule (exactly
the meter's count + 1; equal or lower: no credit; +2 or more: error), cards for another meter,
bad MACs, cloned and replaced cards, units, hoarding, key versions, expiry and tamper."""
from __future__ import annotations

import pytest
from meter_support import MASTER, NEW_SERIAL, OTHER_METER, SERIAL, START, card_meter, keypad_meter, record

from devices.meter import MeterInputError, ResultCode
from protocols import utility_card as uc


@pytest.fixture
def meter():
    m = card_meter()
    assert m.load_card(record(1, 9000, kind="activation")).code is ResultCode.ACCEPTED
    return m


def test_the_activation_registers_the_card_and_the_next_count_credits(meter):
    reading = meter.read()
    assert (reading.purchase_count, reading.card_serial, reading.credit, reading.unit) == (1, SERIAL, 9000, "EGP")
    result = meter.load_card(record(2, 5000))
    assert (result.code, result.credited, result.credit) == (ResultCode.ACCEPTED, 5000, 14_000)
    assert meter.read().purchase_count == 2


def test_a_count_equal_or_lower_loads_nothing_and_is_no_error(meter):
    meter.load_card(record(2, 5000))
    again = meter.load_card(record(2, 5000))
    assert (again.code, again.credited, again.ok) == (ResultCode.ALREADY_LOADED, 0, True)
    assert meter.load_card(record(1, 9000, kind="activation")).code is ResultCode.ALREADY_LOADED
    assert meter.balance == 14_000


def test_a_count_two_or_more_above_is_an_error(meter):
    result = meter.load_card(record(3))
    assert result.code is ResultCode.COUNT and result.message == "recharge-count mismatch"
    assert "expected 2" in result.detail and meter.balance == 9000
    assert meter.load_card(record(2)).code is ResultCode.ACCEPTED      # the missing purchase first


def test_cards_for_another_meter_or_with_a_bad_mac_are_refused(meter):
    assert meter.load_card(record(2, meter=OTHER_METER)).code is ResultCode.METER
    tampered = bytearray(record(2, 5000))
    tampered[27] ^= 0x01                                                # the credit field
    result = meter.load_card(bytes(tampered))
    assert result.code is ResultCode.MAC and result.message == "card data mismatch"
    cloned = bytearray(record(2, 5000))
    cloned[12:20] = bytes.fromhex(NEW_SERIAL)                           # copied onto another card
    assert meter.load_card(bytes(cloned)).code is ResultCode.MAC
    assert meter.load_card(record(2, master=bytes(32))).code is ResultCode.MAC
    assert meter.balance == 9000


def test_a_replacement_card_kills_the_lost_one(meter):
    assert meter.load_card(record(2, 3000, kind="activation", serial=NEW_SERIAL)).code is ResultCode.ACCEPTED
    assert meter.read().card_serial == NEW_SERIAL
    assert meter.load_card(record(3, 3000, serial=SERIAL)).code is ResultCode.CARD
    assert meter.load_card(record(3, 3000, serial=NEW_SERIAL)).code is ResultCode.ACCEPTED


def test_a_credit_before_any_activation_is_for_no_registered_card():
    result = card_meter().load_card(record(1))
    assert result.code is ResultCode.CARD and result.message == "card not for this meter"


def test_units_hoarding_key_versions_expiry_and_unreadable_cards(meter):
    assert meter.load_card(record(2, unit="energy")).code is ResultCode.UNIT
    capped = card_meter(hoarding_limit=10_000)
    capped.load_card(record(1, 9000, kind="activation"))
    assert capped.load_card(record(2, 5000)).code is ResultCode.HOARDING
    assert meter.load_card(record(2, key_version=2)).code is ResultCode.KEY
    two = card_meter(card_master_keys={1: MASTER, 2: bytes(range(1, 33))})
    assert two.load_card(record(1, 100, kind="activation", key_version=2, master=bytes(range(1, 33)))).ok
    old = card_meter(card_validity_days=30)
    stale = record(1, 100, kind="activation", issued_at=int(START.timestamp()) - 90 * 86400)
    assert old.load_card(stale).code is ResultCode.EXPIRED
    assert meter.load_card(b"\x01" * 59).code is ResultCode.MAC
    assert meter.load_card(b"\x07" + bytes(58)).code is ResultCode.UNREADABLE
    assert meter.load_card(b"").code is ResultCode.UNREADABLE
    assert meter.balance == 9000


def test_the_text_form_loads_like_the_bytes(meter):
    assert meter.load_card(uc.to_text(record(2, 500))).credited == 500
    with pytest.raises(MeterInputError, match="invalid card record text"):
        meter.load_card("ABCD-EFGH")
    with pytest.raises(MeterInputError, match="expected the card's bytes"):
        meter.load_card(12345)
    with pytest.raises(MeterInputError, match="a card holds 59"):
        meter.load_card(bytes(65))


def test_cards_are_refused_while_the_tamper_flag_is_set(meter):
    meter.set_case_open(True)
    assert meter.load_card(record(2)).code is ResultCode.TAMPER
    meter.set_case_open(False)
    meter.clear_tamper()
    assert meter.load_card(record(2)).code is ResultCode.ACCEPTED


def test_an_energy_card_meter_with_a_keypad_takes_both():
    meter = keypad_meter(card_master_keys=MASTER)
    assert meter.load_card(record(1, 250, kind="activation", unit="energy")).credited == 250
    assert meter.load_card(record(2, 250)).code is ResultCode.UNIT
    assert keypad_meter().load_card(record(1)).code is ResultCode.NO_CARD_SLOT
