"""The real path: the model served on a pty by the emulator, pyserial (the driver) on the other
end. Bad days included: a hung modem, line noise, a port that vanishes."""
import socket
import threading
import time

import pytest
from modem_support import ME, T0, Menu

from devices.modem import (ModemEmulator, ModemGone, ModemModel, ModemTimeout, open_modem,
                           open_serial)
from devices.modem.wire import ModemWire


@pytest.fixture
def modem():
    with open_modem("emulator", msisdn=ME, network=Menu(), utc_offset_min=60, timeout=2,
                    now=lambda: float(T0)) as port:
        yield port


def test_sms_and_ussd_through_a_real_pty(modem):
    assert modem.emulator.path.startswith("/dev/pts/")
    assert modem.at("AT+CGMI") == ["rechargebench"]
    modem.model.deliver_sms("SATIM", "رمز التأكيد 123456", when=T0)
    assert modem.wait_sms(r"\d{6}", timeout=2).text == "رمز التأكيد 123456"
    assert modem.ussd("*1#").text == "Recharge:\n1 Normale\n2 Bonus"
    assert modem.ussd_reply("2").text == "Choix 2 pris"
    assert modem.send_sms("+213661234567", "x" * 300) == [1, 2]


def test_an_sms_arriving_from_another_thread_wakes_wait_sms(modem):
    timer = threading.Timer(0.2, lambda: modem.model.deliver_sms("RBENCH", "late but here", when=T0))
    timer.start()
    started = time.monotonic()
    assert modem.wait_sms(timeout=30).text == "late but here"
    assert time.monotonic() - started < 25                   # woken by the SMS, not by its timeout
    timer.join()


def test_urcs_pile_up_while_nobody_reads_and_none_is_lost(modem):
    for i in range(40):                                   # 30 fit the SIM, 10 are refused
        modem.model.deliver_sms("RBENCH", f"message {i}", when=T0)
    time.sleep(0.1)
    got = [modem.wait_sms(timeout=2).text for _ in range(30)]
    assert got == [f"message {i}" for i in range(30)]
    assert modem.at("AT+CPMS?") == ['+CPMS: "SM",30,30,"SM",30,30,"SM",30,30']


def test_a_hung_modem_times_out_then_recovers_cleanly(modem):
    modem.timeout = 0.3
    modem.emulator.mute()
    with pytest.raises(ModemTimeout, match=r"no final result to 'AT\+CSQ' from /dev/pts/\d+ within 0.3 s"):
        modem.at("AT+CSQ", timeout=0.3)
    with pytest.raises(ModemTimeout, match=r"does not answer AT \(3 tries of 0.3 s\)"):
        modem.at("AT+CGMI")                               # still hung: the resync says so
    modem.emulator.mute(False)
    late = b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    modem.emulator.inject(late)                           # a late answer to the first command
    deadline = time.monotonic() + 10                      # let it reach the line first
    while modem.link.port.in_waiting < len(late) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert modem.at("AT+CGMI") == ["rechargebench"]       # not the late one
    assert modem.at("AT+CSQ") == ["+CSQ: 20,99"]


def test_line_noise_between_commands_is_ignored(modem):
    modem.emulator.inject(b"\xff\xfe\x00garbage\r\n\r\nRDY\r\n")
    modem.model.deliver_sms("RBENCH", "after the noise", when=T0)
    assert modem.wait_sms(timeout=2).text == "after the noise"
    assert modem.at("AT") == []


def test_a_vanished_port_is_a_clear_error(modem):
    modem.emulator.stop()
    with pytest.raises(ModemGone, match=r"the modem port /dev/pts/\d+ is gone .*open the modem again"):
        modem.at("AT")
    with pytest.raises(ModemGone, match="is closed; open it again"):
        modem.at("AT")


def test_the_port_vanishing_while_waiting_for_an_sms(modem):
    threading.Timer(0.2, modem.emulator.stop).start()
    with pytest.raises(ModemGone):
        modem.wait_sms(timeout=5)


def test_opening_a_port_that_does_not_exist():
    with pytest.raises(ModemGone, match=r"cannot open modem port '/dev/ttyNOPE9'.*ls /dev/ttyUSB\*"):
        open_serial("/dev/ttyNOPE9")


def test_the_driver_face_on_any_port():
    with ModemEmulator(ModemModel(ME)) as emulator:
        with open_modem("driver", port=emulator.path, baud=9600, timeout=2) as modem:   # bench-file key
            assert modem.msisdn == ME                     # from AT+CNUM: not given
            assert modem.at("AT+CNUM") == [f'+CNUM: "","+{ME}",145']


def test_an_echoing_modem_still_reads_right():
    with ModemEmulator(ModemModel(ME)) as emulator:
        modem = open_serial(emulator.path, msisdn=ME, setup=False, timeout=2)
        try:
            modem.sync()
            assert modem.at("AT+CGMM") == ["RB-GSM1"]        # echo 'AT+CGMM' skipped
        finally:
            modem.close()


def test_emulator_lifecycle():
    emulator = ModemEmulator(ModemModel(ME)).start()
    with pytest.raises(RuntimeError, match="already started"):
        emulator.start()
    emulator.stop()
    emulator.stop()                                       # twice is fine
    assert emulator.error is None


def test_a_pyserial_url_is_a_port_too():
    wire = ModemWire(ModemModel(ME))
    server = socket.create_server(("127.0.0.1", 0))            # an ephemeral port: xdist-safe

    def serve():
        conn, _ = server.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while data := conn.recv(4096):
                conn.sendall(wire.feed(data))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with open_modem("driver", port=f"socket://127.0.0.1:{server.getsockname()[1]}",
                        msisdn=ME, timeout=2) as modem:
            assert modem.at("AT+CGMI") == ["rechargebench"]
    finally:
        server.close()
        thread.join(2)
