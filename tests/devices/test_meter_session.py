"""The meter's end of IEC 62056-21 mode C without a port: sign-on and addressing, readout,
programming mode with its password, reads and writes and their error messages, NAK both
ways, noise on the line, and sessions that time out."""
from __future__ import annotations

import pytest
from meter_support import METER, credit_token, keypad_meter

from devices.meter import MeterSession, ResultCode
from protocols.iec62056 import (
    Ack, Command, DataMessage, DataSet, ErrorMessage, Identification, Nak, OptionSelect, SignOn, parse,
)


def answers(session, data: bytes, now: float = 0.0):
    return [parse(r.data, role="master") for r in session.receive(data, now)]


def programming(**kw):
    session = MeterSession(keypad_meter(credit=1000), **kw)
    (ident,) = answers(session, SignOn().encode())
    assert ident == Identification("RBM", "5", "RB-PREPAY-1")
    replies = session.receive(OptionSelect("5", "1").encode(), 0)
    assert [r.baud for r in replies] == [9600]
    assert parse(replies[0].data) == Command("P", "0", DataSet("", METER))
    return session


def login(session, password="00000000"):
    return answers(session, Command("P", "1", DataSet("", password)).encode())


def test_sign_on_answers_any_meter_or_this_address_and_ignores_others():
    session = MeterSession(keypad_meter())
    assert answers(session, SignOn("04040404040").encode()) == []
    assert session.state == "idle"
    assert answers(session, SignOn(METER).encode())[0].ident == "RB-PREPAY-1"
    assert session.state == "identified" and session.baud == 300


def test_mode_0_sends_the_readout_at_the_new_rate_and_ends_the_session():
    session = MeterSession(keypad_meter(credit=1234))
    session.receive(SignOn().encode(), 0)
    (reply,) = session.receive(OptionSelect("4", "0").encode(), 0)
    readout = parse(reply.data)
    assert reply.baud == 4800 and isinstance(readout, DataMessage) and readout.readout
    assert readout.get("C.50.0") == DataSet("C.50.0", "12.34", "kWh")
    assert session.state == "idle" and session.baud == 300


def test_an_option_select_above_the_meters_rate_or_an_unknown_mode_ends_the_session():
    for option in (OptionSelect("6", "0"), OptionSelect("5", "2")):
        session = MeterSession(keypad_meter())
        session.receive(SignOn().encode(), 0)
        assert session.receive(option.encode(), 0) == [] and session.state == "idle"


def test_reads_need_no_password_but_writes_do():
    session = programming()
    (answer,) = answers(session, Command("R", "1", DataSet("C.50.0")).encode())
    assert answer == DataMessage((DataSet("C.50.0", "10.00", "kWh"),))
    (refused,) = answers(session, Command("W", "1", DataSet("C.51.0", "0")).encode())
    assert refused == ErrorMessage(ResultCode.ACCESS.error_text) == ErrorMessage("E91 access")
    assert login(session) == [Ack()]
    assert answers(session, Command("W", "1", DataSet("C.51.0", "0")).encode()) == [Ack()]
    assert session.meter.relay_reason == "remote"


def test_a_token_write_is_acknowledged_and_its_verdict_read_from_the_entry_record():
    session = programming()
    login(session)
    token = credit_token(5)
    assert answers(session, Command("W", "1", DataSet("C.53.0", token)).encode()) == [Ack()]
    assert answers(session, Command("W", "1", DataSet("C.53.0", token)).encode()) == [Ack()]
    (record,) = answers(session, Command("R", "1", DataSet("C.53.0")).encode())
    assert record.datasets == (DataSet("C.53.0", "11"), DataSet("C.53.1", "0.00", "kWh"),
                               DataSet("C.50.0", "15.00", "kWh"))


@pytest.mark.parametrize("command,error", [
    (Command("R", "1", DataSet("9.9.9")), "E92 address"),
    (Command("W", "1", DataSet("1.8.0", "0")), "E93 read_only"),
    (Command("W", "1", DataSet("C.51.0", "2")), "E95 value"),
    (Command("W", "1", DataSet("C.53.0", "123")), "E95 value"),
    (Command("W", "1", DataSet("0.9.2", "26-13-01")), "E95 value"),
    (Command("W", "1", DataSet("C.54.0", "00")), "E40 no_card_slot"),
    (Command("E", "2", DataSet("C.51.0", "1")), "E96 command"),
    (Command("W", "1", DataSet("C.50.4", "1")), "E52 no_emergency"),
])
def test_refused_commands_answer_an_error_message_with_the_code(command, error):
    session = programming()
    login(session)
    assert answers(session, command.encode()) == [ErrorMessage(error)]
    assert session.state == "programming"


def test_three_wrong_passwords_end_the_session():
    session = programming()
    assert login(session, "1") == [ErrorMessage("E90 password")]
    assert login(session, "2") == [ErrorMessage("E90 password")]
    assert login(session, "3") == [ErrorMessage("E90 password")]
    assert session.state == "idle"
    assert answers(session, Command("R", "1", DataSet("C.50.0")).encode()) == []


def test_a_bad_bcc_is_answered_with_nak_and_a_nak_repeats_the_last_answer():
    session = programming()
    read = Command("R", "1", DataSet("C.50.0")).encode()
    assert answers(session, read[:-1] + bytes([read[-1] ^ 1])) == [Nak()]
    (first,) = answers(session, read)
    assert answers(session, Nak().encode()) == [first]
    assert session.frame_errors[0].kind == "bcc"


def test_noise_is_ignored_and_a_partial_frame_dropped_when_the_line_goes_quiet():
    session = programming()
    read = Command("R", "1", DataSet("0.0.0")).encode()
    assert answers(session, b"\x00\x7fnoise" + read[:5]) == []
    session.flush(1.0)
    assert [e.kind for e in session.frame_errors] == ["garbage", "truncated"]
    assert answers(session, read) == [DataMessage((DataSet("0.0.0", METER),))]


def test_a_break_or_a_long_silence_returns_the_meter_to_idle():
    session = programming(inactivity_s=120)
    assert answers(session, Command("B", "0").encode()) == [] and session.state == "idle"
    session = programming(inactivity_s=120)
    session.tick(121.0)
    assert session.state == "idle" and session.baud == 300
    session = MeterSession(keypad_meter(), option_timeout_s=5)
    session.receive(SignOn().encode(), 0)
    assert session.receive(OptionSelect("5", "1").encode(), 6.0) == [] and session.state == "idle"


def test_a_new_sign_on_in_the_middle_of_a_session_starts_over():
    session = programming()
    login(session)
    assert isinstance(answers(session, SignOn().encode())[0], Identification)
    assert not session.authorized and session.baud == 300


def test_every_result_code_survives_the_trip_through_an_error_message():
    for code in ResultCode:
        assert ResultCode.from_error_text(ErrorMessage(code.error_text).text) is code
        assert ResultCode.of_number(code.number) is code
    assert ResultCode.from_error_text("ERROR") is None and ResultCode.from_error_text("E77 ?") is None
    with pytest.raises(ValueError, match="unknown meter result code 77"):
        ResultCode.of_number(77)
