"""The meter driver against the emulator through a real pty (pyserial opens the slave by name),
and against a meter served over TCP (``socket://``): sign-on, readout, the cheap read, tokens,
cards, relay, clock, the bench hooks, and what goes wrong on a line: noise, bad BCCs, a meter
that hangs mid-frame or does not answer, a wrong password, a port that vanishes mid-frame
(no credit is lost), a port that does not exist, and pacing at the nominal baud rate."""
from __future__ import annotations

import socket
import threading
import time
from datetime import datetime

import pytest
from meter_support import METER, MASTER, OTHER_KEY, SERIAL, credit_token, keypad_meter, record

from devices.meter import (
    MeterDriver, MeterEmulator, MeterLinkError, MeterProtocolError, MeterResult, MeterSession, MeterTimeout,
    ResultCode,
)
from protocols.iec62056 import DataSet


@pytest.fixture
def model():
    return keypad_meter(credit=1000, card_master_keys=MASTER, emergency_credit=200)


@pytest.fixture
def emulator(model):
    with MeterEmulator(model) as emu:
        yield emu
    assert emu.error is None


@pytest.fixture
def meter(emulator):
    with MeterDriver(emulator.port, timeout=1.0) as driver:
        yield driver


def test_the_emulator_serves_a_real_tty():
    import os
    with MeterEmulator(keypad_meter()) as emu:
        assert emu.port.startswith("/dev/pts/") and os.isatty(os.open(emu.port, os.O_RDWR | os.O_NOCTTY))


def test_identify_and_the_readout_are_the_models_own(meter, model):
    identity = meter.identify()
    assert (identity.manufacturer, identity.ident, identity.max_baud, identity.meter_number) == (
        "RBM", "RB-PREPAY-1", 9600, METER)
    assert meter.read() == model.read()
    assert meter.read_register("C.50.0") == DataSet("C.50.0", "10.00", "kWh") == model.read_register("C.50.0")


def test_tokens_over_the_wire_accepted_used_old_and_wrong(meter, model):
    token = credit_token(2.5)
    assert meter.enter_token(token) == MeterResult(ResultCode.ACCEPTED, 250, 1250, "kWh")
    assert meter.enter_token(token) == MeterResult(ResultCode.USED, 0, 1250, "kWh")
    assert meter.enter_token(credit_token(1, key=OTHER_KEY)).code is ResultCode.AUTH
    assert model.balance == 1250 and meter.read().last_result is ResultCode.AUTH


def test_the_keypad_lock_out_doubles_over_the_wire(meter, emulator, model):
    wrong = credit_token(1, key=OTHER_KEY)
    assert [meter.enter_token(wrong).code for _ in range(3)] == [ResultCode.AUTH] * 3
    assert meter.enter_token(credit_token(1)).code is ResultCode.LOCKED
    assert meter.read().keypad_locked_s == 60
    emulator.advance(60)
    assert meter.enter_token(wrong).code is ResultCode.AUTH
    assert meter.read().keypad_locked_s == 120


def test_cards_over_the_wire(meter, model):
    assert meter.load_card(record(1, 500, kind="activation", unit="energy")) == MeterResult(
        ResultCode.ACCEPTED, 500, 1500, "kWh")
    assert meter.load_card(record(1, 500, kind="activation", unit="energy")).code is ResultCode.ALREADY_LOADED
    assert meter.load_card(record(3, 500, unit="energy")).code is ResultCode.COUNT
    assert meter.load_card(record(2, 500, unit="energy", master=bytes(32))).code is ResultCode.MAC
    reading = meter.read()
    assert (reading.purchase_count, reading.card_serial, reading.credit) == (1, SERIAL, 1500)


def test_relay_emergency_clock_and_the_bench_hooks(meter, model):
    assert meter.set_relay(False) == MeterResult(ResultCode.ACCEPTED)
    assert meter.read().relay_reason == "remote"
    assert meter.set_relay(True).code is ResultCode.ACCEPTED and meter.read().relay_closed
    meter.set_clock(datetime(2026, 12, 24, 10, 11, 12))
    assert meter.read().clock == datetime(2026, 12, 24, 10, 11, 12)
    meter.set_case_open(True)
    assert meter.read().relay_reason == "tamper"
    assert meter.clear_tamper().code is ResultCode.TAMPER
    meter.set_case_open(False)
    assert meter.clear_tamper() == MeterResult(ResultCode.ACCEPTED) and meter.read().relay_closed
    assert meter.emergency_credit().code is ResultCode.ACCEPTED       # credit 10 kWh is at the threshold
    meter.set_test_load(20_000)
    assert meter.read().relay_reason == "overcurrent"


def test_a_test_load_drains_the_credit_on_an_emulator_running_fast():
    model = keypad_meter(credit=100, low_credit=0)                     # 1 kWh
    with MeterEmulator(model, speed=3600.0) as emu, MeterDriver(emu.port, timeout=1.0) as meter:
        meter.set_test_load(10_000)                                    # 1 kWh in 6 minutes = 0.1 s here
        deadline = time.monotonic() + 10
        while meter.read().relay_closed:
            assert time.monotonic() < deadline, "the credit was not drained"
            time.sleep(0.05)
        reading = meter.read()
    assert (reading.credit, reading.relay_reason, reading.energy_wh, reading.power_w) == (0, "credit", 1000, 0)


def test_noise_before_an_answer_is_skipped(meter, emulator):
    meter.identify()
    emulator.garbage_next(b"\x00\x7f#noise#")
    assert meter.read_register("0.0.0").value == METER
    assert [e.kind for e in meter.frame_errors] == ["garbage"]


def test_an_answer_with_a_bad_bcc_is_asked_again_with_nak(meter, emulator):
    meter.identify()
    emulator.corrupt_next()
    assert meter.read_register("C.50.0").value == "10.00"
    assert [e.kind for e in meter.frame_errors] == ["bcc"]


def test_a_meter_that_hangs_mid_frame_times_out_and_the_next_command_starts_clean(meter, emulator):
    meter.identify()
    emulator.stall_after(6)
    assert meter.read_register("C.50.0").value == "10.00"       # a read is repeated on a fresh session
    assert [e.kind for e in meter.frame_errors] == ["truncated"]
    emulator.stall_after(0)
    with pytest.raises(MeterTimeout, match="no answer .* while W1 C.51.0"):
        meter.set_relay(False)                                 # a write is not: the caller decides
    meter.set_case_open(True)
    emulator.stall_after(4)                                     # of the answer (E50 tamper)
    with pytest.raises(MeterTimeout, match=r"stopped mid-frame while W1 C.51.0\(1\): .*b'\\x02\(E5'"):
        meter.set_relay(True)
    assert meter.read().relay_reason == "tamper" and meter.set_relay(True).code is ResultCode.TAMPER


def test_a_meter_that_does_not_answer_times_out_clearly(emulator):
    with MeterDriver(emulator.port, address="04040404040", timeout=0.3) as other:
        with pytest.raises(MeterTimeout, match=r"no answer from the meter on '/dev/pts/\d+' within 0.3 s "
                                               r"while waiting for the identification"):
            other.identify()


def test_a_wrong_password_is_refused_with_its_code(emulator):
    with MeterDriver(emulator.port, password="12345678", timeout=1.0) as meter:
        with pytest.raises(MeterProtocolError, match="password refused") as info:
            meter.identify()
    assert info.value.code is ResultCode.PASSWORD


def test_protocol_refusals_raise_with_the_code_on_both_faces(meter, model):
    for face in (meter, model):
        with pytest.raises(MeterProtocolError) as info:
            face.read_register("9.9.9")
        assert info.value.code is ResultCode.ADDRESS


@pytest.mark.parametrize("entry", ["token", "card"])
def test_a_port_that_vanishes_mid_answer_loses_no_credit(model, entry):
    token, card = credit_token(3), record(1, 300, kind="activation", unit="energy")
    enter = (lambda m: m.enter_token(token)) if entry == "token" else (lambda m: m.load_card(card))
    with MeterEmulator(model) as emu, MeterDriver(emu.port, timeout=1.0) as meter:
        meter.identify()
        emu.vanish_after(0)                                  # the ACK of the write never arrives
        with pytest.raises(MeterLinkError, match="failed while W1 C.5[34].0.*the port is closed"):
            enter(meter)
        assert meter._port is None
        with pytest.raises(MeterLinkError, match="cannot open meter port|failed while"):
            meter.identify()
    assert model.balance == 1300                             # the meter took the credit once
    with MeterEmulator(model) as emu, MeterDriver(emu.port, timeout=1.0) as meter:
        again = enter(meter)                                 # the customer tries again on a new cable
        assert again.code in (ResultCode.USED, ResultCode.ALREADY_LOADED) and again.credit == 1300


def test_a_readout_cut_by_a_vanishing_port_is_a_link_error(model):
    with MeterEmulator(model) as emu, MeterDriver(emu.port, timeout=1.0) as meter:
        emu.vanish_after(200)                              # 18 bytes of identification, then the readout
        # the port may vanish before the driver's switch to 9600 baud or while it reads: both say so
        with pytest.raises(MeterLinkError, match="failed while (reading the data readout|switching to 9600 baud)"):
            meter.read()


def test_a_port_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(MeterLinkError, match=r"cannot open meter port '.*/ttyMETER0'"):
        MeterDriver(str(tmp_path / "ttyMETER0")).open()


def test_pacing_makes_the_pty_as_slow_as_a_300_baud_line():
    with MeterEmulator(keypad_meter(), pace=True) as emu, MeterDriver(emu.port, timeout=3.0) as meter:
        started = time.perf_counter()
        meter.identify()
        paced = time.perf_counter() - started
    # sign-on 5 bytes in and identification 18 bytes out at 300 baud alone take 0.77 s
    assert paced > 0.75
    with MeterEmulator(keypad_meter()) as emu, MeterDriver(emu.port, timeout=3.0) as meter:
        started = time.perf_counter()
        meter.identify()
        assert time.perf_counter() - started < paced / 3


def test_any_pyserial_url_works_here_a_meter_on_tcp():
    model = keypad_meter(credit=700)
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        connection, _ = server.accept()
        session = MeterSession(model)
        with connection:
            while data := connection.recv(4096):
                for reply in session.receive(data, time.monotonic()):
                    connection.sendall(reply.data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with MeterDriver(f"socket://127.0.0.1:{port}", timeout=1.0) as meter:
            assert meter.identify().meter_number == METER
            assert meter.enter_token(credit_token(1)).credit == 800
            assert meter.read().credit == 800
    finally:
        server.close()
        thread.join(timeout=5)


def test_a_register_map_lets_the_driver_talk_to_a_meter_with_other_addresses():
    moved = {"C.50.0": "C.90.1", "C.53.0": "C.91.0", "C.53.1": "C.91.1"}
    with MeterEmulator(keypad_meter(credit=300), register_map=moved) as emu:     # a "real" meter's layout
        with MeterDriver(emu.port, timeout=1.0) as plain:
            with pytest.raises(MeterProtocolError) as info:
                plain.read_register("C.50.0")
            assert info.value.code is ResultCode.ADDRESS
            assert plain.read_register("C.90.1") == DataSet("C.90.1", "3.00", "kWh")
        with MeterDriver(emu.port, timeout=1.0, register_map=moved) as mapped:
            assert mapped.read_register("C.50.0") == DataSet("C.50.0", "3.00", "kWh")
            assert mapped.enter_token(credit_token(1)) == MeterResult(ResultCode.ACCEPTED, 100, 400, "kWh")
            assert mapped.read().credit == 400


def test_clients_come_and_go_on_one_emulated_port(emulator):
    """The pty keeps the last client's 7E1 settings; every new client must still open it."""
    for _ in range(4):
        with MeterDriver(emulator.port, timeout=1.0) as meter:
            assert meter.read().meter_number == METER          # ends at 300 baud, as the next opens
