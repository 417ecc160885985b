"""IEC 62056-21 mode C codec: messages byte for byte, the BCC, baud characters, data sets and
their limits, and the streaming parser on garbage, truncated frames, bad BCCs and chunked input."""
from __future__ import annotations

import pytest

from protocols.iec62056 import (
    Ack, Command, DataMessage, DataSet, ErrorMessage, FrameError, FrameParser, Iec62056Error, Identification,
    Nak, OptionSelect, SignOn, baud_char, baud_rate, bcc, parse, parse_datasets, scaled, transmit_seconds,
    unscaled,
)


def test_the_break_command_is_the_well_known_frame():
    # SOH B 0 ETX BCC, with BCC = 'B' ^ '0' ^ ETX = 'q': the frame every IEC 62056-21 tool sends
    assert Command("B", "0").encode() == b"\x01B0\x03q"
    assert bcc(b"B0\x03") == ord("q")


def test_messages_encode_byte_for_byte():
    assert SignOn().encode() == b"/?!\r\n"
    assert SignOn("47500150231").encode() == b"/?47500150231!\r\n"
    assert Identification("RBM", "5", "RB-PREPAY-1").encode() == b"/RBM5RB-PREPAY-1\r\n"
    assert Identification("LGZ", "5", "ZMD120", enhanced="2").encode() == b"/LGZ5\\2ZMD120\r\n"
    assert OptionSelect("5", "1").encode() == b"\x06051\r\n"
    assert Ack().encode() == b"\x06" and Nak().encode() == b"\x15"
    read = Command("R", "1", DataSet("1.8.0")).encode()
    assert read[:-1] == b"\x01R1\x021.8.0()\x03" and read[-1] == bcc(read[1:-1])
    password = Command("P", "1", DataSet("", "00000000")).encode()
    assert password[:-1] == b"\x01P1\x02(00000000)\x03"
    readout = DataMessage((DataSet("1.8.0", "12.345", "kWh"),), readout=True).encode()
    assert readout[:-1] == b"\x021.8.0(12.345*kWh)\r\n!\r\n\x03" and readout[-1] == bcc(readout[1:-1])
    assert ErrorMessage("E92 address").encode()[:-1] == b"\x02(E92 address)\x03"


@pytest.mark.parametrize("message,role", [
    (SignOn(), "meter"), (SignOn("123"), "meter"), (OptionSelect("5", "0"), "meter"), (Nak(), "meter"),
    (Identification("RBm", "6", "X"), "master"), (Ack(), "master"),
    (Command("W", "1", DataSet("C.51.0", "1")), "meter"), (Command("B", "0"), "meter"),
    (Command("P", "0", DataSet("", "47500150231")), "master"),
    (DataMessage((DataSet("C.50.0", "-3.50", "EGP"), DataSet("C.53.1", "0.00", "EGP"))), "master"),
    (DataMessage((DataSet("a", "1"), DataSet("", "2")), readout=True), "master"),
    (DataMessage((DataSet("P.01", "x"),), partial=True), "master"),
    (ErrorMessage("E33 mac"), "master"),
])
def test_every_message_parses_back(message, role):
    assert parse(message.encode(), role=role) == message


def test_identification_knows_its_rate_and_reaction_time():
    ident = Identification("RBm", "5", "RB-PREPAY-1")
    assert ident.max_baud == 9600 and ident.reacts_in_20ms
    assert not Identification("RBM", "0", "x").reacts_in_20ms
    with pytest.raises(Iec62056Error, match="not a mode C character"):
        _ = Identification("RBM", "E", "x").max_baud


def test_baud_characters_of_mode_c():
    assert [baud_rate(c) for c in "0123456"] == [300, 600, 1200, 2400, 4800, 9600, 19200]
    assert baud_char(9600) == "5"
    with pytest.raises(Iec62056Error, match=r"invalid baud rate 9601: mode C knows 300, .*19200"):
        baud_char(9601)
    with pytest.raises(Iec62056Error, match="invalid baud rate character '7'"):
        baud_rate("7")
    assert transmit_seconds(30, 300) == pytest.approx(1.0)          # 7E1: 10 bits a character


@pytest.mark.parametrize("make,match", [
    (lambda: DataSet("1.8.0", "1(2"), r"invalid data set value '1\(2': '\(' at position 2"),
    (lambda: DataSet("1.8.0", "1*2"), r"'\*' at position 2"),
    (lambda: DataSet("x" * 17), "17 characters, at most 16"),
    (lambda: DataSet("a", "v" * 129), "129 characters, at most 128"),
    (lambda: DataSet("a", "é"), r"'é' at position 1; expected printable ASCII"),
    (lambda: DataSet("a", "1", "k/W"), "invalid data set unit"),
    (lambda: Command("X", "1", DataSet("a")), "invalid command 'X': expected one of P .password."),
    (lambda: Command("R", "1"), r"command R1 needs a data set, e.g. 1.8.0\(\)"),
    (lambda: Command("R", "x", DataSet("a")), "invalid command type 'x' for R: expected one digit"),
    (lambda: Identification("RB", "5", "x"), "invalid manufacturer 'RB': expected 3 letters"),
    (lambda: Identification("RBM", "5", ""), "expected 1 to 16 characters"),
    (lambda: OptionSelect("x"), "invalid baud rate character 'x': expected one digit"),
    (lambda: ErrorMessage("e" * 33), "33 characters, at most 32"),
    (lambda: DataMessage((DataSet("", "oops"),)), "is an error message on the wire"),
    (lambda: DataMessage((), readout=True, partial=True), "cannot be partial"),
    (lambda: SignOn("a!b"), "invalid data set sign-on address"),
])
def test_invalid_fields_are_refused_with_what_was_expected(make, match):
    with pytest.raises(Iec62056Error, match=match):
        make()


def test_data_sets_parse_back_to_back_and_on_lines():
    assert parse_datasets(b"1.8.0(1*kWh)(2*kWh)\r\n0.9.1(08:30:00)\r\n") == (
        DataSet("1.8.0", "1", "kWh"), DataSet("", "2", "kWh"), DataSet("0.9.1", "08:30:00"))
    with pytest.raises(Iec62056Error, match=r"invalid data set at byte 6: b'oops'"):
        parse_datasets(b"a(1)\r\noops")


def test_scaled_values_are_exact():
    assert scaled(12345, 2) == "123.45" and scaled(-350, 2) == "-3.50" and scaled(5, 3) == "0.005"
    assert scaled(7, 0) == "7"
    assert unscaled("123.45", 2) == 12345 and unscaled("-3.5", 2) == -350 and unscaled("12", 3) == 12000
    assert unscaled("1.500", 2) == 150                 # trailing zeros are not rounding
    with pytest.raises(Iec62056Error, match=r"invalid credit '1.234': more than 2 decimals"):
        unscaled("1.234", 2, what="credit")
    with pytest.raises(Iec62056Error, match="expected a decimal number"):
        unscaled("1e3", 2)


# ---------------------------------------------------------------------------- the streaming parser
READOUT = DataMessage((DataSet("0.0.0", "47500150231"), DataSet("C.50.0", "25.60", "kWh")), readout=True).encode()


def test_a_frame_in_any_chunks_comes_out_once_complete():
    parser = FrameParser("master")
    got = [item for byte in READOUT for item in parser.feed(bytes([byte]))]
    assert got == [parse(READOUT)] and parser.pending == b""


def test_garbage_before_a_frame_is_reported_and_skipped():
    items = FrameParser("master").feed(b"\x00\xffnoise" + READOUT)
    assert isinstance(items[0], FrameError) and items[0].kind == "garbage" and items[0].raw == b"\x00\xffnoise"
    assert items[1] == parse(READOUT)


def test_a_wrong_bcc_is_reported_and_the_next_frame_still_parses():
    bad = READOUT[:-1] + bytes([READOUT[-1] ^ 0x20])
    items = FrameParser("master").feed(bad + READOUT)
    assert items[0].kind == "bcc" and "does not match" in str(items[0]) and items[0].raw == bad
    assert items[1] == parse(READOUT)


def test_a_frame_cut_short_by_another_resyncs_at_the_new_start():
    items = FrameParser("master").feed(READOUT[:12] + READOUT)
    assert items[0].kind == "truncated" and items[0].raw == READOUT[:12]
    assert "a new frame started before ETX" in str(items[0])
    assert items[1] == parse(READOUT)


def test_a_quiet_line_turns_a_partial_frame_into_truncated():
    parser = FrameParser("master")
    assert parser.feed(READOUT[:-3]) == []
    (error,) = parser.flush()
    assert error.kind == "truncated" and error.raw == READOUT[:-3] and parser.pending == b""
    assert parser.feed(READOUT) == [parse(READOUT)]


def test_a_block_with_a_good_bcc_but_bad_content_is_malformed():
    body = b"1.8.0(12*kWh"                       # no closing parenthesis
    frame = b"\x02" + body + b"\x03" + bytes([bcc(body + b"\x03")])
    (error,) = FrameParser("master").feed(frame)
    assert error.kind == "malformed" and "expected address(value*unit)" in str(error)
    with pytest.raises(FrameError, match="malformed|expected address"):
        parse(frame)


def test_lines_that_are_neither_sign_on_nor_identification_are_malformed():
    (error,) = FrameParser("meter").feed(b"/?47!x\r\n")
    assert error.kind == "malformed" and "neither a sign-on" in str(error)
    too_long, rest = FrameParser("meter").feed(b"/" + b"x" * 80)
    assert too_long.kind == "too_long" and len(too_long.raw) == 64 and rest.kind == "garbage"


def test_a_frame_longer_than_the_limit_is_cut_off():
    parser = FrameParser("master", max_frame=64)
    items = parser.feed(b"\x02" + b"1" * 100)
    assert items[0].kind == "too_long" and len(items[0].raw) == 64


def test_a_meter_waits_for_the_option_select_after_an_ack_but_a_master_does_not():
    meter = FrameParser("meter")
    assert meter.feed(b"\x0605") == []
    assert meter.feed(b"1\r\n") == [OptionSelect("5", "1")]
    assert meter.feed(b"\x06x") == [Ack(), FrameError("garbage", "1 bytes that start no frame: b'x'", b"x")]
    assert meter.feed(b"\x06") == [] and meter.flush() == [Ack()]
    assert FrameParser("master").feed(b"\x06") == [Ack()]


def test_parse_wants_exactly_one_message():
    with pytest.raises(FrameError, match="expected one message, got 2"):
        parse(Ack().encode() * 2)
    with pytest.raises(FrameError) as info:
        parse(READOUT[:-4])
    assert info.value.kind == "truncated"
    with pytest.raises(Iec62056Error, match="invalid parser role"):
        FrameParser("slave")
