"""The emulator and driver faces through the real PC/SC path: pyscard -> pcscd -> vpcd -> our card.

vpcd has two readers on fixed TCP ports, so these tests run in one xdist group and each takes
the reader's cross-process lock (``open_card_reader`` does, or ``vpcd_lock``). pcscd is started
for the session when none runs. Without pcscd/vpcd/pyscard they skip (fail under CI).
"""
from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest
from card_support import MASTER, OTHER_MASTER, SERIAL, make_card, pcscd, record_for  # noqa: F401

from devices.card import (
    TIMING_APDU, AuthenticationFailed, BadCommand, CardRefused, CardRemoved, CardTimeout, NoCard, PcscReader,
    ReaderGone, ReaderNotFound, UtilityCard, VirtualCard, open_card_reader,
)
from protocols.utility_card import apdu as A
from protocols.utility_card.card_files import ATR

pytestmark = [pytest.mark.xdist_group("pcsc"), pytest.mark.usefixtures("pcscd")]


def session_on(reader, seed: int = 2) -> UtilityCard:
    card = UtilityCard(reader, rng=random.Random(seed)).start()
    card.authenticate(MASTER)
    return card


def test_pcscd_lists_both_vpcd_readers():
    from hil.pcsc import readers, vpcd_port, vpcd_reader

    assert {vpcd_reader(0), vpcd_reader(1)} <= set(readers())
    assert (vpcd_port(0), vpcd_port(1)) == (35963, 35964)


def test_atr_and_card_presence_through_pcscd():
    with open_card_reader("emulator", card=make_card()) as reader:
        assert reader.card_present()
        assert reader.connect() == ATR
        reader.remove()
        assert not reader.card_present()
        with pytest.raises(NoCard, match="insert one"):
            reader.connect()
        reader.insert()
        assert reader.connect() == ATR


def test_authentication_and_read_write_with_mac_through_pcscd():
    card = make_card()
    with open_card_reader("emulator", card=card) as reader:
        session = session_on(reader)
        assert session.serial == SERIAL and session.atr == ATR
        session.write_meter("47500150231", 3)
        session.write_record(record_for(count=3))
        contents = session.read_contents()
        assert contents.record == record_for(count=3) and contents.meter_number == "47500150231"
        assert card.memory.read("credit") == record_for(count=3)        # it is on the card itself
        assert reader.virtual_card.apdus >= 8 and reader.virtual_card.error is None


def test_a_cloned_card_is_refused_through_pcscd():
    clone = make_card(master=OTHER_MASTER)        # same serial, not the utility's keys
    with open_card_reader("emulator", card=clone) as reader:
        session = UtilityCard(reader, rng=random.Random(2)).start()
        with pytest.raises(AuthenticationFailed, match="not genuine"):
            session.authenticate(MASTER)
        with pytest.raises(CardRefused, match="authenticate"):
            session.read_record()                     # nothing protected without a session


def test_removal_mid_write_loses_nothing_through_pcscd():
    with open_card_reader("emulator", card=make_card()) as reader:
        session = session_on(reader)
        session.write_record(record_for(count=1))
        reader.pull_during_write(30)                  # half of the new record is in EEPROM
        with pytest.raises(CardRemoved, match="reinsert it"):
            session.write_record(record_for(count=2))
        assert not reader.virtual_card.inserted
        reader.insert()
        session = session_on(reader, seed=3)
        assert session.read_record() == record_for(count=1)
        session.write_record(record_for(count=2))
        assert session.read_record() == record_for(count=2)


def test_card_pulled_between_apdus_through_pcscd():
    with open_card_reader("emulator", card=make_card()) as reader:
        session = session_on(reader)
        reader.remove()
        with pytest.raises(CardRemoved):
            session.read_record()
        with pytest.raises(CardTimeout, match="waited 0.05 s for a card"):
            reader.wait_for_card(0.05)
        reader.insert()
        assert session_on(reader).read_record() is None


def test_malformed_apdus_get_a_status_word_or_a_clear_error():
    with open_card_reader("emulator", card=make_card()) as reader:
        reader.connect()
        assert reader.transmit(bytes.fromhex("00D6000000000102")).sw == A.SW_WRONG_LENGTH
        assert reader.transmit(bytes.fromhex("00CA000000")).sw == A.SW_INS_NOT_SUPPORTED
        for short in (b"\x00\xA4\x04", b"\x00", b""):      # 1 byte would read as a vpcd control
            with pytest.raises(BadCommand, match="expected at least 4"):
                reader.transmit(short)
        reader.connect()
        assert reader.transmit(TIMING_APDU).sw == A.SW_CONDITIONS       # after a reset: select first


def test_round_trips_are_fast_enough_to_prove_quickack():
    """Nagle against delayed ACKs costs 40 ms per APDU; 300 APDUs would take 12 s."""
    with open_card_reader("emulator", card=make_card()) as reader:
        session_on(reader)
        took = []
        for _ in range(300):
            t0 = time.perf_counter()
            assert reader.transmit(TIMING_APDU).ok
            took.append(time.perf_counter() - t0)
        # The median, not the sum: a busy machine stalls a few APDUs, a delayed ACK stalls them all.
        assert sorted(took)[150] < 0.02, f"median APDU {sorted(took)[150] * 1000:.1f} ms: delayed ACKs?"


def test_driver_face_on_the_second_vpcd_reader():
    from hil.pcsc import vpcd_lock, vpcd_port, vpcd_reader

    with vpcd_lock(1):
        vc = VirtualCard(make_card(), port=vpcd_port(1))
        try:
            with open_card_reader("driver", reader=vpcd_reader(1)) as reader:
                assert isinstance(reader, PcscReader)
                with pytest.raises(CardTimeout):
                    reader.wait_for_card(0.05)
                vc.insert()
                reader.wait_for_card(5)
                assert session_on(reader).read_serial() == SERIAL
                vc.remove()
                reader.wait_for_removal(5)
        finally:
            vc.remove()


def test_unknown_and_vanished_readers_are_named():
    with pytest.raises(ReaderNotFound, match="'ACS ACR38U 00 00' is not connected; readers now: .*Virtual PCD"):
        with open_card_reader("driver", reader="ACS ACR38U 00 00"):
            pass
    ghost = PcscReader("ACS ACR38U 00 00")
    with pytest.raises(ReaderNotFound, match="not connected"):
        ghost.card_present()
    with pytest.raises(ReaderGone, match="reader is gone"):
        ghost._raise(0x80100069, "transmit 00B08100")   # card-gone code on a reader not listed
    with pytest.raises(ReaderGone, match="PC/SC service went away"):
        ghost._raise(0x8010001D, "transmit 00B08100")
    ghost.close()


def test_pcsc_command_line():
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "hil.pcsc", *args], capture_output=True, text=True, timeout=60)

    assert run("check").returncode == 0
    status = run("status")
    assert status.returncode == 0 and "Virtual PCD 00 00" in status.stdout
    start = run("start")
    assert start.returncode == 0 and "pcscd" in start.stderr
    bad = run("restart")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
