"""Card reader conformance: ATR, mutual authentication, MACed read and write, clones, tearing.

The reader on the bench must carry the utility card profile (docs/card-profile.md) end to end.
A card with the bench's test keys must be in the reader (the model and the emulator hold one).
Checks that need hands on the card (a clone, a pull in the middle of a write) run where the
face has them and skip on a real reader, saying what to do by hand.
"""
from __future__ import annotations

import random
import time
from typing import Any, Iterator

import pytest

from devices.card import AuthenticationFailed, CardRemoved, CardSlot, MemoryCard, UtilityCard
from hil.bench import open_role
from hil.roles import DEFAULT_METER, card_master_key
from hil.validation.plugin import face_of, role_port
from hil.validation.tokens import card_record

pytestmark = [pytest.mark.role("card_reader"), pytest.mark.xdist_group("pcsc")]


@pytest.fixture
def reader(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from role_port(request, "card_reader")


@pytest.fixture
def master(bench) -> bytes:
    return card_master_key(bench.roles["card_reader"].params)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _session(reader: Any, master: bytes) -> UtilityCard:
    card = UtilityCard(reader, rng=random.Random(7))
    card.start()
    card.authenticate(master)
    return card


def test_atr_and_the_application(reader, measure):
    if not reader.card_present():
        reader.wait_for_card(30)
    t0 = time.perf_counter()
    atr = reader.connect()
    measure("connect_time", _ms(t0), "ms", high=2000)
    measure("atr", atr.hex().upper())
    assert atr[0] in (0x3B, 0x3F), f"ATR {atr.hex()} does not start with TS 3B or 3F"
    card = UtilityCard(reader, rng=random.Random(1))
    t0 = time.perf_counter()
    card.start()
    measure("select_time", _ms(t0), "ms", high=2000)
    measure("card_serial", card.serial)
    assert card.serial and len(card.serial) == 16


def test_mutual_authentication(reader, master, measure):
    card = UtilityCard(reader, rng=random.Random(2))
    card.start()
    t0 = time.perf_counter()
    card.authenticate(master)
    measure("authenticate_time", _ms(t0), "ms", high=3000)
    with pytest.raises(AuthenticationFailed):
        fresh = UtilityCard(reader, rng=random.Random(3))
        fresh.start()
        fresh.authenticate(bytes(32))              # the wrong utility key is refused


def test_read_and_write_with_mac(reader, master, measure):
    card = _session(reader, master)
    contents = card.read_contents()
    count = contents.purchase_count or 0
    meter = contents.meter_number or DEFAULT_METER
    record = card_record(meter, card.serial, master, count + 1, 250)
    t0 = time.perf_counter()
    card.write_record(record)
    measure("write_time", _ms(t0), "ms", high=3000)
    t0 = time.perf_counter()
    back = card.read_record()
    measure("read_time", _ms(t0), "ms", high=3000)
    assert back == record, "the record did not read back as written"
    measure("purchase_count", card.read_purchase_count(), low=count + 1, high=count + 1)


def test_a_cloned_card_is_refused(bench, request, measure):
    if face_of(request, "card_reader") == "driver":
        pytest.skip("needs a clone (same serial, other keys) in the reader: a manual check on real readers")
    params = bench.roles["card_reader"].params
    serial = params.get("card_serial", "04A1B2C3D4E5F607")
    clone = MemoryCard.manufacture(serial, bytes(range(1, 33)), rng=random.Random(9))
    with open_role(bench, "card_reader", card=clone) as reader:
        card = UtilityCard(reader, rng=random.Random(4))
        card.start()
        assert card.serial == serial
        t0 = time.perf_counter()
        with pytest.raises(AuthenticationFailed):
            card.authenticate(card_master_key(params))
        measure("clone_refusal_time", _ms(t0), "ms")


def test_removal_mid_write_loses_nothing(reader, master, request, measure):
    if not isinstance(reader, CardSlot):
        pytest.skip("pulling the card in the middle of a write needs hands: a manual check on real readers")
    card = _session(reader, master)
    count = card.read_contents().purchase_count or 0
    old = card_record(DEFAULT_METER, card.serial, master, count + 1, 100)
    new = card_record(DEFAULT_METER, card.serial, master, count + 2, 200)
    card.write_record(old)
    outcomes = {"old": 0, "new": 0}
    for cut in (0, 8, 24, 40):
        reader.pull_during_write(cut)
        try:
            card.write_record(new)
        except CardRemoved:
            reader.insert()
        else:
            reader.card.memory.disarm()
        card = _session(reader, master)
        back = card.read_record()
        assert back in (old, new), f"after a pull at byte {cut} the card holds neither record"
        outcomes["old" if back == old else "new"] += 1
        if back == new:
            break
    measure("pulls_keeping_old", outcomes["old"])
    measure("pulls_keeping_new", outcomes["new"])
