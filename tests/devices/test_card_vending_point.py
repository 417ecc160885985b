"""The vending point and the meter's card slot against a core in process (F5): read the card,
the core issues the record, write it, read it back; the meter loads it. Credit is never lost
or doubled: cards pulled mid-write, answers lost, cards not loaded yet, replaced cards, clones."""
from __future__ import annotations

import random
from datetime import datetime

import pytest
from card_support import OTHER_MASTER, SERIAL, SlotMeter, make_card, pcscd  # noqa: F401
from support import make_world

from devices.card import (
    AuthenticationFailed, CardRemoved, MemoryCard, MemoryReader, UtilityCard, open_card_reader,
)
from hil.vending_point import (
    CardNotIssued, CardNotLoaded, VendNotPaid, VendNotWritten, WrongCard, issue_card, meter_loads_card,
    personalise, vend_to_card, write_vend,
)
from core.money import Money
from protocols import utility_card as uc

CARD_METER = "04040404040"
NEW_SERIAL = "04FFEEDDCCBBAA99"


@pytest.fixture
def w(sqlite_url):
    world = make_world(sqlite_url)
    world.core.meters.register("EG", CARD_METER, kind="card", tariff="EG-RES", customer="Omar Farouk")
    world.core.payments.deposit_float("aman-3", Money.parse("5000", "EGP"), "float-1")
    yield world
    report = world.core.conservation()
    assert report.ok, report.summary()
    world.core.close()


def master(w) -> bytes:
    return w.core.keys.card_master_key("eehc")


def kiosk(w, card: UtilityCard, amount: str = "100", **kw):
    return vend_to_card(w.core, card, amount, method_account="aman-3", **kw)


def vends(w) -> int:
    with w.core.store.transaction() as tx:
        return tx.one("SELECT COUNT(*) AS n FROM vends")["n"]


def issued(w, serial: str = SERIAL) -> tuple[MemoryReader, UtilityCard]:
    reader = MemoryReader(MemoryCard.manufacture(serial, master(w), rng=random.Random(1)))
    card = UtilityCard(reader, rng=random.Random(2))
    issue_card(w.core, card, CARD_METER)
    return reader, card


def slot_meter(w) -> SlotMeter:
    return SlotMeter(uc.MeterCardState(meter_number=CARD_METER), master(w))


def test_vend_write_read_back_then_the_meter_loads_it(w):
    reader, card = issued(w)
    assert card.read_meter() == (CARD_METER, 818)                  # EEHC, as the tariff says
    first = kiosk(w, card)
    core_record = uc.from_text(w.core.vending.result(first.order_id)["record"])
    assert first.written and first.record == core_record == reader.card.memory.read("credit")
    assert first.purchase_count == 1 and first.card_serial == SERIAL
    meter = slot_meter(w)
    load = meter_loads_card(card, meter, master(w))
    assert (load.status, load.answer.credited, load.receipt.meter_count) == ("credited", 9000, 1)
    assert meter.state.card_serial == SERIAL
    second = kiosk(w, card, "50")
    assert second.purchase_count == 2
    assert meter_loads_card(card, meter, master(w)).answer.credited == 5000
    assert meter.state.balance == 14_000 and vends(w) == 2


def test_a_card_whose_record_the_meter_has_not_loaded_is_refused_before_any_money(w):
    _, card = issued(w)
    kiosk(w, card)
    with pytest.raises(CardNotLoaded, match="holds purchase 1, which meter 04040404040 has not loaded.*"
                                            "insert the card in the meter first"):
        kiosk(w, card)
    assert vends(w) == 1


def test_pulled_mid_write_the_paid_record_is_written_later_once(w):
    reader, card = issued(w)
    memory = reader.card.memory
    reader.pull_during_write(25)
    with pytest.raises(VendNotWritten, match="is paid but card 04A1B2C3D4E5F607 was not written") as e:
        kiosk(w, card, order_id="kiosk-1")
    assert isinstance(e.value.__cause__, CardRemoved) and e.value.order_id == "kiosk-1"
    assert not reader.card_present() and not any(memory.read("credit"))   # old content: empty
    reader.insert()
    done = write_vend(w.core, card, "kiosk-1")
    assert done.written and done.purchase_count == 1
    assert not write_vend(w.core, card, "kiosk-1").written      # a second try changes nothing
    assert not kiosk(w, card, order_id="kiosk-1").written       # nor does the whole vend again
    assert vends(w) == 1


class LosingReader(MemoryReader):
    """The card takes the write, then the answer is lost (pulled right after the commit)."""

    lose_next_update = False

    def transmit(self, command):
        resp = super().transmit(command)
        raw = command.encode() if hasattr(command, "encode") else bytes(command)
        if self.lose_next_update and raw[1] == 0xD6:
            self.lose_next_update = False
            self.remove()
            raise CardRemoved("answer lost")
        return resp


def test_a_write_that_landed_but_whose_answer_was_lost_is_not_written_twice(w):
    reader = LosingReader(MemoryCard.manufacture(SERIAL, master(w), rng=random.Random(1)))
    card = UtilityCard(reader, rng=random.Random(2))
    issue_card(w.core, card, CARD_METER)
    reader.lose_next_update = True
    with pytest.raises(VendNotWritten) as e:
        kiosk(w, card)
    reader.insert()
    again = write_vend(w.core, card, e.value.order_id)
    assert not again.written and again.record == reader.card.memory.read("credit")


def test_a_replaced_card_is_refused_and_the_new_one_takes_the_next_count(w):
    old_reader, old = issued(w)
    kiosk(w, old)
    meter = slot_meter(w)
    meter_loads_card(old, meter, master(w))
    w.core.vending.replace_card(CARD_METER, NEW_SERIAL, "lost", method="kiosk", method_account="aman-3")
    with pytest.raises(WrongCard, match=r"card 04A1B2C3D4E5F607 \(lost\) is not the active card of meter "
                                        r"04040404040 \(active: 04FFEEDDCCBBAA99\)"):
        kiosk(w, old)
    new = UtilityCard(MemoryReader(MemoryCard.manufacture(NEW_SERIAL, master(w), rng=random.Random(3))))
    with pytest.raises(CardNotIssued, match="blank: issue it"):
        kiosk(w, new)
    personalise(w.core, new, CARD_METER)
    vend = kiosk(w, new)
    decoded = uc.decode(vend.record, uc.credit_key(master(w), NEW_SERIAL))
    assert vend.purchase_count == 2 and decoded.kind == "activation"
    assert meter_loads_card(new, meter, master(w)).status == "credited" and meter.state.card_serial == NEW_SERIAL
    with pytest.raises(WrongCard):
        personalise(w.core, old, CARD_METER)


def test_a_clone_is_refused_by_the_vending_point_and_the_meter(w):
    reader, _ = issued(w)
    copy = MemoryCard.manufacture(SERIAL, OTHER_MASTER, rng=random.Random(4))   # same serial, no keys
    for name in ("meter", "credit", "loaded"):                                  # every file copied
        copy.memory.write(name, 0, reader.card.memory.read(name))
    clone = UtilityCard(MemoryReader(copy))
    with pytest.raises(AuthenticationFailed):
        kiosk(w, clone)
    with pytest.raises(AuthenticationFailed):
        meter_loads_card(clone, slot_meter(w), master(w))
    assert vends(w) == 0


def test_an_unpaid_card_vend_is_written_once_paid(w):
    _, card = issued(w)
    with pytest.raises(VendNotPaid, match="pending_payment: complete its payment") as e:
        vend_to_card(w.core, card, "100", method="card", channel="web", order_id="web-1")
    with pytest.raises(VendNotPaid, match="once it is paid"):
        write_vend(w.core, card, "web-1")
    w.pay_web(w.core.payments.get("web-1"), w.card("201012345678"))
    assert write_vend(w.core, card, "web-1").written
    assert "web-1" in str(e.value)


def test_pulled_before_the_meter_wrote_its_receipt_nothing_is_loaded_twice(w):
    reader, card = issued(w)
    kiosk(w, card)
    meter = slot_meter(w)
    # EEPROM byte writes: 4 for authentication (try counter spent, then given back), then the
    # receipt's 8 bytes and its commit byte: cut in the middle of the receipt
    reader.pull_during_write(4 + 3)
    with pytest.raises(CardRemoved):
        meter_loads_card(card, meter, master(w))
    assert meter.state.balance == 9000 and meter.state.purchase_count == 1
    reader.insert()
    again = meter_loads_card(card, meter, master(w))
    assert again.status == "already_loaded" and meter.state.balance == 9000
    assert again.receipt.meter_count == 1
    assert kiosk(w, card, "20").purchase_count == 2


def test_a_refusal_is_written_back_and_keeps_the_record_pending(w):
    _, card = issued(w)
    kiosk(w, card, "100")
    meter = SlotMeter(uc.MeterCardState(meter_number=CARD_METER), master(w), hoarding_limit=1000)
    load = meter_loads_card(card, meter, master(w))
    assert (load.status, load.reason, load.receipt.meter_count) == ("refused", "hoarding", 0)
    with pytest.raises(CardNotLoaded, match=r"meter last said refused \(credit above hoarding limit\)"):
        kiosk(w, card)
    empty = UtilityCard(MemoryReader(make_card(NEW_SERIAL, master(w))))
    assert meter_loads_card(empty, meter, master(w)).status == "empty"


def test_the_meter_role_model_loads_the_card(w):
    from devices.meter import LoadProfile, MeterTariff, PrepaidMeter

    _, card = issued(w)
    kiosk(w, card)
    meter = PrepaidMeter(CARD_METER, unit="money", tariff=MeterTariff("EGP", ((None, 68),), monthly_fee=0),
                         card_master_keys=master(w), clock=datetime(2026, 1, 2), load=LoadProfile.constant(0))
    load = meter_loads_card(card, meter, master(w))
    assert load.status == "credited" and meter.read().credit == 9000
    assert meter_loads_card(card, meter, master(w)).status == "already_loaded"
    assert kiosk(w, card, "50").purchase_count == 2


@pytest.mark.xdist_group("pcsc")
def test_the_whole_flow_through_pcscd(w, pcscd):  # noqa: F811
    card = MemoryCard.manufacture(SERIAL, master(w), rng=random.Random(1))
    with open_card_reader("emulator", card=card) as reader:
        session = UtilityCard(reader, rng=random.Random(2))
        issue_card(w.core, session, CARD_METER)
        vend = kiosk(w, session)
        assert vend.record == card.memory.read("credit")
        meter = slot_meter(w)
        assert meter_loads_card(session, meter, master(w)).status == "credited"
        reader.pull_during_write(10)
        with pytest.raises(VendNotWritten) as e:
            kiosk(w, session, "30")
        reader.insert()
        assert write_vend(w.core, session, e.value.order_id).purchase_count == 2
        assert meter_loads_card(session, meter, master(w)).answer.credited == 3000
    assert meter.state.balance == 12_000 and vends(w) == 2
