"""The model face: in-memory reader and card, and the UtilityCard session over it (fast)."""
from __future__ import annotations

import random
import threading

import pytest
from card_support import MASTER, METER, OTHER_MASTER, OTHER_SERIAL, SERIAL, make_card, model_session, record_for
from hypothesis import given
from hypothesis import strategies as st

from devices.card import (
    TIMING_APDU, AuthenticationFailed, BadCommand, CardDataError, CardReaderPort, CardRefused, CardRemoved, CardSlot,
    CardTimeout, MemoryCard, MemoryReader, NoCard, ReaderGone, UtilityCard, open_card_reader,
)
from protocols.utility_card import apdu as A
from protocols.utility_card.application import CardApplication
from protocols.utility_card.card_files import ATR, LoadReceipt
from protocols.utility_card.eeprom import Eeprom


def started(seed: int = 2) -> tuple[MemoryReader, UtilityCard]:
    reader, session = model_session(seed=seed)
    session.start()
    session.authenticate(MASTER)
    return reader, session


def test_the_model_reader_is_a_card_reader_port_with_hands():
    reader = MemoryReader(make_card())
    assert isinstance(reader, CardReaderPort) and isinstance(reader, CardSlot)
    assert reader.readers() == ["Memory Reader 00"] and reader.card_present()
    assert reader.connect() == ATR
    with pytest.raises(BadCommand, match="00B0: 2 bytes; expected at least 4"):
        reader.transmit(b"\x00\xB0")


def test_a_session_reads_and_writes_everything_with_macs():
    reader, card = started()
    assert card.serial == SERIAL and card.atr == ATR and card.authenticated
    card.write_meter(METER, 3)
    card.write_record(record_for(count=4))
    contents = card.read_contents()
    assert (contents.meter_number, contents.utility_id, contents.purchase_count) == (METER, 3, 4)
    assert contents.record == record_for(count=4) and contents.pending
    card.write_receipt(LoadReceipt(4, "credited"))
    assert not card.read_contents().pending and card.read_purchase_count() == 4
    assert card.read_serial() == SERIAL
    assert reader.transmit(TIMING_APDU) == A.Response(bytes.fromhex(SERIAL))


def test_same_seeds_same_transcript():
    def transcript(seed):
        reader, session = model_session(make_card(seed=seed), seed=seed)
        log = []
        real = reader.transmit
        reader.transmit = lambda c: log.append(real(c).encode()) or A.Response.decode(log[-1])
        session.start()
        session.authenticate(MASTER)
        session.read_record()
        return log
    assert transcript(3) == transcript(3) != transcript(4)


def test_a_cloned_card_fails_authentication():
    # A clone: the same serial and files copied onto a card that lacks the utility's keys.
    genuine = make_card()
    clone = MemoryCard(CardApplication(
        genuine.application.keys.__class__(bytes.fromhex(SERIAL), bytes(32), bytes(32)),
        Eeprom(dict(genuine.memory.sizes), genuine.memory.image()), rng=random.Random(9)))
    _, session = model_session(clone)
    session.start()
    with pytest.raises(AuthenticationFailed, match="refused our cryptogram|wrong cryptogram"):
        session.authenticate(MASTER)
    assert not session.authenticated


def test_a_card_answering_any_cryptogram_is_caught_by_ours():
    """A fake card that accepts every reader cryptogram still cannot make the card's."""
    card = make_card()
    real = card.application._authenticate

    def accept_all(cmd):
        resp = real(cmd)
        return bytes(16) + resp[-2:] if resp[-2:] == b"\x90\x00" else bytes(16) + b"\x90\x00"
    card.application._authenticate = accept_all
    _, session = model_session(card)
    session.start()
    with pytest.raises(AuthenticationFailed, match="wrong cryptogram.*cloned card"):
        session.authenticate(MASTER)


def test_another_utilitys_key_is_refused_with_tries_left():
    _, session = model_session(make_card(master=OTHER_MASTER))
    session.start()
    with pytest.raises(AuthenticationFailed, match="14 tries left") as e:
        session.authenticate(MASTER)
    assert e.value.sw == 0x63CE


def test_protected_access_needs_authentication_first():
    _, session = model_session()
    session.start()
    with pytest.raises(CardRefused, match="6982.*authenticate"):
        session.read_record()
    with pytest.raises(CardRefused, match="6982"):
        session.write_record(record_for())


def test_card_refusals_name_the_status_word_and_a_hint():
    _, card = started()
    card.write_record(record_for(count=5))
    with pytest.raises(CardRefused, match=r"UPDATE BINARY credit: card answered 6985 .*higher purchase count"):
        card.write_record(record_for(count=4))
    with pytest.raises(CardRefused, match=r"6A80 .*not for this card"):
        card.write_record(record_for(OTHER_SERIAL))
    with pytest.raises(CardDataError, match="expected 59 bytes, got 3"):
        card.write_record(b"abc")


def test_not_a_utility_card():
    card = make_card()
    card.application.process = lambda raw: b"\x6A\x82"
    _, session = model_session(card)
    with pytest.raises(CardDataError, match="no utility-card application"):
        session.start()


@given(st.integers(0, 80))
def test_pulled_mid_write_the_card_keeps_the_old_or_the_new_record(cut):
    reader, card = started()
    old, new = record_for(count=1), record_for(count=2, credit=5_000)
    card.write_record(old)
    reader.pull_during_write(cut)
    try:
        card.write_record(new)
    except CardRemoved as e:
        assert "reinsert it and read it back" in str(e) and not reader.card_present()
        reader.insert()
    else:
        reader.card.memory.disarm()
    card.start()
    card.authenticate(MASTER)
    assert card.read_record() in (old, new)


def test_removed_between_apdus_then_reinserted():
    reader, card = started()
    reader.remove()
    with pytest.raises(CardRemoved, match="removed"):
        card.read_record()
    with pytest.raises(NoCard, match="insert one"):
        reader.connect()
    reader.insert()
    card.start()
    card.authenticate(MASTER)
    assert card.read_record() is None


def test_a_reader_that_vanishes():
    reader, card = started()
    reader.unplug()
    for call in (card.read_record, reader.card_present, reader.connect, lambda: reader.wait_for_card(1)):
        with pytest.raises(ReaderGone, match="unplugged"):
            call()
    assert reader.readers() == []
    reader.plug()
    card.start()
    card.authenticate(MASTER)
    assert card.read_serial() == SERIAL


def test_waiting_for_a_card_and_for_its_removal():
    reader = MemoryReader()
    with pytest.raises(CardTimeout, match="waited 0.01 s for a card"):
        reader.wait_for_card(0.01)
    with pytest.raises(NoCard):
        reader.insert()
    card = make_card()
    threading.Timer(0.05, reader.insert, args=(card,)).start()
    reader.wait_for_card(5)
    assert reader.card is card
    with pytest.raises(CardTimeout, match="to be removed"):
        reader.wait_for_removal(0.01)
    threading.Timer(0.05, reader.remove).start()
    reader.wait_for_removal(5)


def test_open_card_reader_model_face_and_bad_parameters():
    with open_card_reader("model", serial=SERIAL, master_key=MASTER, rng=random.Random(1)) as reader:
        session = UtilityCard(reader, rng=random.Random(1)).start()
        session.authenticate(MASTER)
    with pytest.raises(ValueError, match="expected 'model', 'emulator' or 'driver'"):
        with open_card_reader("modle"):
            pass
    with pytest.raises(TypeError, match="give card=MemoryCard"):
        with open_card_reader("model"):
            pass
    with pytest.raises(TypeError, match="unexpected parameters \\['baud'\\]"):
        with open_card_reader("model", card=make_card(), baud=9600):
            pass
    with pytest.raises(TypeError, match="give reader="):
        with open_card_reader("driver"):
            pass
