"""The utility card's wire level: the APDU codec, status words, BER-TLV, the card files' codecs,
secure messaging, the anti-tearing EEPROM, and the card application against garbage."""
from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.utility_card import apdu as A
from protocols.utility_card.apdu import ApduError, Command, Response, parse_tlv, sw_meaning, tlv
from protocols.utility_card.application import CardApplication
from protocols.utility_card.card_files import (
    AID, ATR, FILES, HISTORICAL_BYTES, LoadReceipt, build_atr, decode_meter_file, encode_meter_file, fci,
    parse_fci, record_count,
)
from protocols.utility_card.eeprom import Eeprom, PowerLoss
from protocols.utility_card.errors import CardError, FormatError
from protocols.utility_card.secure_messaging import (
    CardKeys, SecureMessagingError, SmSession, card_cryptogram, reader_cryptogram, session_key,
)

MASTER = bytes(range(32))
SERIAL = "04A1B2C3D4E5F607"
byte = st.integers(0, 255)


# --- command and response APDUs ---------------------------------------------------------------

commands = st.builds(Command, byte, byte, byte, byte, st.binary(max_size=255),
                     st.none() | st.integers(1, 256))


@given(commands)
def test_every_command_round_trips(cmd):
    raw = cmd.encode()
    assert Command.decode(raw) == cmd
    assert cmd.case == {(False, False): 1, (False, True): 2, (True, False): 3, (True, True): 4}[
        (bool(cmd.data), cmd.le is not None)]


@given(st.binary(max_size=300))
def test_any_bytes_decode_to_the_same_bytes_or_a_status_word(raw):
    try:
        cmd = Command.decode(raw)
    except ApduError as e:
        assert e.sw == A.SW_WRONG_LENGTH and str(e)
        return
    assert cmd.encode() == raw


def test_the_four_cases_and_le_256():
    assert Command.decode(bytes.fromhex("00A40400")).case == 1
    assert Command.decode(bytes.fromhex("00B0810000")).le == 256
    assert Command.decode(bytes.fromhex("00A4020C020101")) == Command(0, 0xA4, 2, 0x0C, b"\x01\x01")
    case4 = Command.decode(bytes.fromhex("00A4040007F052425543000100"))
    assert (case4.case, case4.data, case4.le) == (4, AID, 256)


@pytest.mark.parametrize("raw, says", [
    ("00A404", "expected at least 4"),
    ("", "expected at least 4"),
    ("00D6000000000102", "extended length"),
    ("00D60000030102", "Lc says 3 data bytes but 2 follow"),
    ("00D6000002010203FF", "Lc says 2 data bytes but 4 follow"),
])
def test_malformed_commands_say_what_is_wrong(raw, says):
    with pytest.raises(ApduError, match=says) as e:
        Command.decode(bytes.fromhex(raw))
    assert e.value.sw == A.SW_WRONG_LENGTH and e.value.code == "format"


@pytest.mark.parametrize("kw", [dict(cla=256), dict(p1=-1), dict(data=bytes(256)), dict(le=0), dict(le=257)])
def test_commands_out_of_range_are_refused(kw):
    args = dict(cla=0, ins=0xB0, p1=0, p2=0) | kw
    with pytest.raises(ApduError):
        Command(**args)


@given(st.binary(max_size=256), st.integers(0, 0xFFFF))
def test_every_response_round_trips(data, sw):
    resp = Response(data, sw)
    assert Response.decode(resp.encode()) == resp
    assert (resp.sw1 << 8 | resp.sw2) == sw and resp.ok == (sw == 0x9000)


@pytest.mark.parametrize("raw", [b"", b"\x90", bytes(259)])
def test_a_response_needs_a_status_word(raw):
    with pytest.raises(ApduError, match="expected 2 to 258"):
        Response.decode(raw)


def test_every_status_word_has_a_meaning():
    for sw, meaning in A.STATUS_WORDS.items():
        assert sw_meaning(sw) == meaning and meaning
    assert "3 tries left" in sw_meaning(0x63C3)
    assert "exactly 8 bytes" in sw_meaning(0x6C08)
    assert "more bytes" in sw_meaning(0x6110)
    assert "not used by this card profile" in sw_meaning(0x1234)


# --- BER-TLV -------------------------------------------------------------------------------

tags = st.sampled_from([0x81, 0x8E, 0x97, 0x99, 0x6F, 0x84, 0xA5, 0xC0, 0x5F20, 0x9F7F])


@given(st.lists(st.tuples(tags, st.binary(max_size=300)), max_size=5))
def test_tlv_round_trips(objects):
    data = b"".join(tlv(t, v) for t, v in objects)
    assert parse_tlv(data) == objects


@given(st.binary(max_size=64))
def test_tlv_parser_on_garbage_raises_only_apdu_errors(data):
    try:
        objects = parse_tlv(data)
    except ApduError as e:
        assert e.sw == A.SW_WRONG_DATA
    else:
        assert b"".join(tlv(t, v) for t, v in objects) == data or len(data) > 0


@pytest.mark.parametrize("raw, says", [("81", "no length"), ("8105AA", "says 5 bytes"),
                                       ("9F", "cut short"), ("8183000001", "definite length")])
def test_tlv_errors_say_where(raw, says):
    with pytest.raises(ApduError, match=says):
        parse_tlv(bytes.fromhex(raw))


# --- ATR, FCI, files --------------------------------------------------------------------------

def test_atr_offers_t1_and_carries_its_checksum():
    assert ATR.hex().upper() == "3B87800180555242554301D4"
    check = 0
    for b in ATR[1:]:
        check ^= b
    assert check == 0 and ATR[4:-1] == HISTORICAL_BYTES and ATR[6:10] == b"RBUC"
    assert build_atr(b"").hex() == "3b80800101"          # the ATR platform.md measured
    with pytest.raises(FormatError):
        build_atr(bytes(16))


@given(st.binary(min_size=8, max_size=8))
def test_fci_round_trips(serial):
    info = parse_fci(fci(serial))
    assert (info.aid, info.card_serial, info.profile_version) == (AID, serial.hex().upper(), 1)


@given(st.binary(max_size=40))
def test_fci_parser_on_garbage_raises_format_errors(data):
    try:
        parse_fci(data)
    except FormatError as e:
        assert "fci" in str(e)


@given(st.sampled_from(["47500150231", "0001000000008", "٤٧٥٠٠١٥٠٢٣١"]), st.integers(1, 0xFFFF))
def test_meter_file_round_trips(meter, utility):
    assert decode_meter_file(encode_meter_file(meter, utility)) == (
        "".join(str(int(c)) for c in meter), utility)


def test_meter_file_blank_and_bad():
    assert decode_meter_file(bytes(9)) is None
    with pytest.raises(FormatError, match="expected 9"):
        decode_meter_file(bytes(8))
    with pytest.raises(FormatError, match="utility id 0"):
        decode_meter_file(encode_meter_file("47500150231", 1)[:7] + bytes(2))
    with pytest.raises(FormatError, match="check digit"):
        encode_meter_file("47500150232", 1)


@given(st.builds(LoadReceipt, st.integers(0, 0xFFFF_FFFF),
                 st.sampled_from(["none", "credited", "already_loaded", "refused"]),
                 st.sampled_from(["", "count", "hoarding", "mac", "tamper"])))
def test_load_receipt_round_trips(receipt):
    assert LoadReceipt.decode(receipt.encode()) == receipt


@given(st.binary(min_size=8, max_size=8))
def test_load_receipt_decoder_on_garbage(data):
    try:
        LoadReceipt.decode(data)
    except FormatError as e:
        assert "loaded file" in str(e)


def test_record_count_reads_bytes_20_to_23():
    assert record_count(bytes(59)) == 0
    assert record_count(bytes(20) + (7).to_bytes(4, "big") + bytes(35)) == 7


# --- secure messaging ---------------------------------------------------------------------------

def pair() -> tuple[SmSession, SmSession]:
    keys = CardKeys.derive(MASTER, SERIAL)
    key = session_key(keys, bytes(8), bytes(range(8)))
    return SmSession(key), SmSession(key)


def test_cryptograms_are_distinct_per_side_and_per_card():
    keys = CardKeys.derive(MASTER, SERIAL)
    other = CardKeys.derive(MASTER, "04A1B2C3D4E5F608")
    rc, rr = bytes(8), bytes(range(8))
    assert reader_cryptogram(keys, rc, rr) != card_cryptogram(keys, rc, rr)
    assert reader_cryptogram(keys, rc, rr) != reader_cryptogram(other, rc, rr)
    assert session_key(keys, rc, rr) != session_key(keys, rr, rc)
    assert len(reader_cryptogram(keys, rc, rr)) == 16


@given(st.binary(max_size=180), st.none() | st.integers(1, 256), st.binary(max_size=100),
       st.sampled_from([0x9000, 0x6282]))
def test_secure_messaging_round_trips(data, le, answer, sw):
    reader, card = pair()
    wrapped = reader.wrap(Command(0, 0xD6, 0x83, 0, data, le))
    assert wrapped.cla == 0x0C
    plain = card.unwrap(Command.decode(wrapped.encode()))
    assert (plain.data, plain.le, plain.ins, plain.p1) == (data, le, 0xD6, 0x83)
    assert reader.unwrap_response(card.wrap_response(Response(answer, sw))) == Response(answer, sw)


@given(st.data())
def test_any_altered_byte_of_a_protected_command_fails(data):
    reader, card = pair()
    raw = bytearray(reader.wrap(Command(0, 0xD6, 0x83, 0, b"record", None)).encode())
    # every byte but Lc (index 4) and the outer Le (last): the protected Le is the 97 object
    i = data.draw(st.integers(0, len(raw) - 2).filter(lambda i: i != 4))
    raw[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises((SecureMessagingError, ApduError)):
        card.unwrap(Command.decode(bytes(raw)))


def test_a_replayed_command_or_answer_fails():
    reader, card = pair()
    wrapped = reader.wrap(Command(0, 0xB0, 0x83, 0, le=59))
    card.unwrap(wrapped)
    with pytest.raises(SecureMessagingError, match="MAC does not verify") as e:
        card.unwrap(wrapped)
    assert e.value.sw == A.SW_SM_INCORRECT
    reader2, card2 = pair()
    answer = card2.wrap_response(Response(b"x"))
    reader2.unwrap_response(answer)
    with pytest.raises(SecureMessagingError):
        reader2.unwrap_response(answer)


def test_a_protected_success_without_its_objects_is_refused():
    reader, _ = pair()
    with pytest.raises(SecureMessagingError, match="without secure messaging"):
        reader.unwrap_response(Response(b"", 0x9000))
    assert reader.unwrap_response(Response(b"", 0x6A82)).sw == 0x6A82     # plain errors pass


# --- EEPROM anti-tearing ------------------------------------------------------------------------

@given(st.binary(min_size=16, max_size=16), st.binary(min_size=1, max_size=16), st.integers(0, 40))
def test_a_power_cut_leaves_the_old_or_the_new_content(old, new, cut):
    mem = Eeprom({"f": 16}, {"f": old})
    mem.arm_power_cut(cut)
    try:
        mem.write("f", 0, new)
    except PowerLoss:
        assert mem.read("f") == old
    else:
        assert mem.read("f") == new + old[len(new):]
    assert mem.read("f") in (old, new + old[len(new):])


def test_eeprom_commits_with_one_byte_after_the_copy():
    mem = Eeprom({"f": 4})
    mem.arm_power_cut(4)                     # the 4 data bytes go, the selector byte does not
    with pytest.raises(PowerLoss):
        mem.write("f", 0, b"abcd")
    assert mem.read("f") == bytes(4) and not mem.armed
    mem.write("f", 1, b"xy")
    assert mem.read("f") == b"\x00xy\x00" and mem.image() == {"f": b"\x00xy\x00"}
    with pytest.raises(ValueError, match="exceed"):
        mem.write("f", 3, b"xy")


# --- the card application against anything --------------------------------------------------

KNOWN = set(A.STATUS_WORDS) | {0x6C08} | {0x63C0 | n for n in range(16)}


def fresh_app(seed: int = 0) -> CardApplication:
    app = CardApplication.manufacture(SERIAL, MASTER, rng=random.Random(seed))
    app.process(bytes.fromhex("00A4040007") + AID)
    return app


@given(st.lists(st.binary(max_size=80), max_size=12))
def test_the_card_answers_garbage_with_a_status_word(apdus):
    app = fresh_app()
    for raw in apdus:
        resp = Response.decode(app.process(raw))
        assert resp.sw in KNOWN
    assert app.memory.read("serial") == bytes.fromhex(SERIAL)


cla_ins = st.tuples(st.sampled_from([0x00, 0x0C, 0x01, 0x80, 0xFF]),
                    st.sampled_from([0xA4, 0x84, 0x82, 0xB0, 0xD6, 0x00, 0xCA]))


@given(st.lists(st.tuples(cla_ins, byte, byte, st.binary(max_size=70), st.none() | st.integers(1, 256)),
                max_size=15))
def test_the_card_answers_well_formed_nonsense_and_keeps_its_rules(cmds):
    app = fresh_app()
    for (cla, ins), p1, p2, data, le in cmds:
        raw = Command(cla, ins, p1, p2, data, le).encode()
        resp = Response.decode(app.process(raw))
        assert resp.sw in KNOWN
        if ins == 0xD6:
            assert resp.sw != 0x9000            # no write without authentication
    assert not any(any(app.memory.read(f.name)) for f in FILES if f.name != "serial")
    assert app.memory.read("serial") == bytes.fromhex(SERIAL)


def test_card_errors_are_card_errors():
    assert issubclass(ApduError, CardError) and issubclass(SecureMessagingError, CardError)
