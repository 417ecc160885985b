"""SMS TPDUs for PDU mode (23.040): published vectors, every field, long texts, and garbage."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from protocols.at.errors import PduError
from protocols.at.pdu import (SmsDeliver, SmsSubmit, decode_at_pdu, decode_tpdu, deliver_parts,
                              encode_at_pdu, encode_deliver, encode_submit, relative_validity_s,
                              submit_parts, tpdu_dcs)
from protocols.at.tpfields import (Address, Concat, decode_scts, encode_scts, parse_scts_text,
                                   scts_text, sms_alphabet)
from protocols.gsm import DEFAULT_ALPHABET, EXTENSION

ALGIERS = timezone(timedelta(hours=1))
NOON = datetime(2026, 1, 1, 12, 0, 0, tzinfo=ALGIERS)


def test_published_sms_deliver():
    # dreamfabric.com's SMS-DELIVER example: SMSC +31624000000, "How are you?"
    smsc, tpdu = decode_at_pdu("07911326040000F0040B911346610089F60000208062917314080CC8F71D14969741F977FD07")
    sms = decode_tpdu(tpdu)
    assert smsc == "+31624000000"
    assert (sms.sender.text, sms.text) == ("+31641600986", "How are you?")
    assert sms.timestamp.replace(tzinfo=None) == datetime(2002, 8, 26, 19, 37, 41)
    # its zone octet 0x08 has bit 3 set: per §9.2.3.11 that is the sign, so "-0", i.e. UTC
    assert sms.timestamp.utcoffset() == timedelta(0)


def test_published_sms_submit():
    smsc, tpdu = decode_at_pdu("0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 23)
    sms = decode_tpdu(tpdu)
    assert smsc is None and isinstance(sms, SmsSubmit)
    assert (sms.to.text, sms.text, sms.validity) == ("+46708251358", "hellohello", 0xAA)
    assert relative_validity_s(0xAA) == 4 * 86400
    assert encode_submit(sms) == tpdu


def test_alphanumeric_sender_and_ucs2_otp():
    sms = SmsDeliver(Address.parse("EDAHABIA"), "رمز التأكيد 123456", NOON, "ucs2")
    tpdu = encode_deliver(sms)
    assert tpdu[1:3] == bytes((14, 0xD0))           # 8 septets = 56 bits = 14 semi-octets
    assert tpdu_dcs(tpdu) == 0x08
    assert decode_tpdu(tpdu) == sms


def test_scts_zone_in_quarters_with_the_sign_in_bit_3():
    tehran = datetime(2026, 3, 20, 9, 30, 15, tzinfo=timezone(timedelta(hours=3, minutes=30)))
    raw = encode_scts(tehran)
    assert raw.hex().upper() == "62300290035141"        # +14 quarters -> "14" swapped -> 0x41
    west = tehran.replace(tzinfo=timezone(timedelta(hours=-4)))
    assert encode_scts(west)[6] == 0x69                  # 16 quarters, negative
    assert decode_scts(raw, 0)[0] == tehran
    assert scts_text(tehran) == "26/03/20,09:30:15+14"
    assert parse_scts_text("26/03/20,09:30:15+14") == tehran


@pytest.mark.parametrize("when,words", [
    (datetime(2026, 1, 1), "no time zone"),
    (datetime(2026, 1, 1, tzinfo=timezone(timedelta(minutes=10))), "multiple of 15"),
    (datetime(1999, 1, 1, tzinfo=timezone.utc), "2000-2099"),
])
def test_bad_timestamps_are_refused(when, words):
    with pytest.raises(PduError, match=words):
        encode_scts(when)


def test_long_texts_travel_as_concatenated_parts_with_fill_bits():
    text = "Votre code est 123456. " * 10                 # 230 GSM characters: 2 parts
    parts = deliver_parts(Address.parse("+213661234567"), text, NOON, ref=42)
    assert [p.concat for p in parts] == [Concat(42, 2, 1), Concat(42, 2, 2)]
    tpdus = [encode_deliver(p) for p in parts]
    assert tpdus[0][0] & 0x40                             # TP-UDHI
    assert [decode_tpdu(t) for t in tpdus] == parts
    assert "".join(decode_tpdu(t).text for t in tpdus) == text
    # a 7-bit part after a 6-octet header: 7 septets of header + fill, then 153 of text
    assert tpdus[0][-141] == 160


def test_sixteen_bit_concatenation_reference():
    sms = SmsSubmit(Address.parse("+989121234567"), "سلام", "ucs2", Concat(0xBEEF, 3, 2, 16))
    assert decode_tpdu(encode_submit(sms)) == sms


def test_unknown_information_elements_are_kept():
    sms = SmsDeliver(Address.parse("0551234567"), "hi", NOON, other_elements=((0x24, b"\x01"),))
    assert decode_tpdu(encode_deliver(sms)) == sms


def test_a_malformed_concatenation_element_is_ignored_as_the_standard_says():
    tpdu = bytearray(encode_deliver(SmsDeliver(Address.parse("+213661234567"), "x", NOON,
                                               concat=Concat(1, 2, 1))))
    tpdu[-2] = 0                                          # UDH ... total=2, seq=0
    # (the header is 00 03 01 02 00 before the text; seq 0 is invalid)
    assert decode_tpdu(bytes(tpdu)).concat is None


@pytest.mark.parametrize("hex_tpdu,words", [
    ("", "empty TPDU"),
    ("04", "truncated at octet 1"),
    ("040B91", "needs 6 octets"),
    ("041591", "length 21 semi-octets"),
    ("040B111346610089F6", "bit 7 must be set"),
    ("040B911346610089F60000", "truncated at octet 11; expected 7 octets"),
    ("040B911346610089F600002080629173140802", "TP-UDL 2 needs 2 octets of user data, got 0"),
    ("040B911346610089F60000208062917314080CC8F71D14969741F977FD0700", "needs 11 octets of user data, got 12"),
    ("040B911346610089F600002A8062917314080CC8F71D14969741F977FD07", "expected swapped BCD"),
    ("040B911346610089F60024208062917314080CC8F71D14969741F977FD07", "compressed"),
    ("040B911346610089F6008C208062917314080CC8F71D14969741F977FD07", "reserved coding groups"),
    ("02", "TP-MTI 2"),
    ("440B911346610089F600082080629173140804030005 01".replace(" ", ""), "overruns the header"),
    ("040B911346610089F6000020806291731408011B", "escape"),
])
def test_garbage_tpdus_are_refused_with_the_place(hex_tpdu, words):
    with pytest.raises(PduError, match=words):
        decode_tpdu(bytes.fromhex(hex_tpdu))


@pytest.mark.parametrize("line,length,words", [
    ("", None, "empty PDU"),
    ("0G", None, "'G' at position 1"),
    ("123", None, "even number of hex digits"),
    ("0791132604", None, "SMSC address of 7 octets"),
    ("0011000B916407281553F80000AA0AE8329BFD4697D9EC37", 22, "<length> 22 but the TPDU"),
])
def test_bad_pdu_lines(line, length, words):
    with pytest.raises(PduError, match=words):
        decode_at_pdu(line, length)


def test_encode_refuses_what_one_tpdu_cannot_carry():
    with pytest.raises(PduError, match="does not fit one SMS"):
        encode_deliver(SmsDeliver(Address.parse("RB"), "x" * 161, NOON))
    with pytest.raises(PduError, match="does not fit one SMS"):
        encode_deliver(SmsDeliver(Address.parse("RB"), "ش" * 71, NOON, "ucs2"))
    with pytest.raises(PduError, match="not in the GSM 7-bit alphabet"):
        encode_deliver(SmsDeliver(Address.parse("RB"), "ش", NOON))
    with pytest.raises(PduError, match="1-11"):
        encode_deliver(SmsDeliver(Address.parse("TWELVECHARSX"), "x", NOON))


def test_sms_alphabet_by_coding_group():
    assert [sms_alphabet(d) for d in (0x00, 0x04, 0x08, 0x10, 0x18, 0x48, 0xC0, 0xE0, 0xF0, 0xF4)] == \
        ["gsm7", "8bit", "ucs2", "gsm7", "ucs2", "ucs2", "gsm7", "ucs2", "gsm7", "8bit"]


def test_at_pdu_with_and_without_smsc():
    tpdu = encode_deliver(SmsDeliver(Address.parse("RB"), "x", NOON))
    line, length = encode_at_pdu(tpdu, "+213770000001")
    assert line.startswith("0791127307000010") and length == len(tpdu)
    assert decode_at_pdu(line, length) == ("+213770000001", tpdu)
    assert decode_at_pdu(encode_at_pdu(tpdu)[0]) == (None, tpdu)


# --- properties ---------------------------------------------------------------------------------

gsm_char = st.sampled_from([c for c in DEFAULT_ALPHABET if c != "\x1b"] + list(EXTENSION))
gsm_text = st.text(gsm_char, max_size=200)
any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=20)
address = st.one_of(
    digits.map(lambda d: Address(d, 0x91)),
    digits.map(lambda d: Address(d, 0x81)),
    st.text(st.sampled_from([c for c in DEFAULT_ALPHABET if c != "\x1b"]), min_size=1, max_size=11)
    .map(lambda t: Address(t, 0xD0)),
)
zone = st.integers(-48, 56).map(lambda q: timezone(timedelta(minutes=15 * q)))
stamp = st.builds(lambda d, z: d.replace(tzinfo=z),
                  st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31, 23, 59, 59)).map(
                      lambda d: d.replace(microsecond=0)), zone)
concat = st.one_of(st.none(), st.builds(
    lambda bits, ref, total, seq: Concat(ref % (1 << bits), total, min(seq, total), bits),
    st.sampled_from([8, 16]), st.integers(0, 65535), st.integers(1, 255), st.integers(1, 255)))


@given(address, gsm_text, stamp, concat, st.booleans(), st.booleans(), st.integers(0, 255))
def test_gsm7_deliver_round_trips(addr, text, when, cc, more, sri, pid):
    sms = SmsDeliver(addr, text, when, "gsm7", cc, pid, more_messages=more, status_report=sri)
    try:
        tpdu = encode_deliver(sms)
    except PduError:
        return                                          # too long for one TPDU: refused
    assert decode_tpdu(tpdu) == sms


@given(address, any_text, stamp, concat)
def test_ucs2_deliver_round_trips(addr, text, when, cc):
    sms = SmsDeliver(addr, text, when, "ucs2", cc)
    try:
        tpdu = encode_deliver(sms)
    except PduError:
        return
    assert decode_tpdu(tpdu) == sms


validity = st.one_of(st.none(), st.integers(0, 255), stamp, st.binary(min_size=7, max_size=7))


@given(address, st.one_of(gsm_text.map(lambda t: (t, "gsm7")), any_text.map(lambda t: (t, "ucs2"))),
       concat, st.integers(0, 255), validity, st.booleans(), st.booleans())
def test_submit_round_trips(addr, text_alpha, cc, mr, vp, rd, srr):
    text, alphabet = text_alpha
    sms = SmsSubmit(addr, text, alphabet, cc, mr, validity=vp, reject_duplicates=rd, status_report=srr)
    try:
        tpdu = encode_submit(sms)
    except PduError:
        return
    assert decode_tpdu(tpdu) == sms
    line, length = encode_at_pdu(tpdu)
    assert decode_at_pdu(line, length) == (None, tpdu)


@given(st.binary(min_size=0, max_size=8), address, st.integers(0, 255))
def test_eight_bit_data_round_trips(data, addr, mr):
    sms = SmsSubmit(addr, "", "8bit", reference=mr, data=data)
    assert decode_tpdu(encode_submit(sms)) == sms


@given(any_text.filter(bool), stamp, st.integers(0, 255))
def test_long_texts_split_and_join(text, when, ref):
    parts = deliver_parts(Address.parse("RBENCH"), text * 3, when, ref)
    decoded = [decode_tpdu(encode_deliver(p)) for p in parts]
    assert "".join(d.text for d in decoded) == text * 3
    assert all(d.concat == (None if len(parts) == 1 else Concat(ref, len(parts), i + 1))
               for i, d in enumerate(decoded))
    subs = submit_parts(Address.parse("+213551234567"), text * 3, ref, first_mr=250)
    assert "".join(decode_tpdu(encode_submit(s)).text for s in subs) == text * 3


@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_pdu_error(data):
    try:
        decode_tpdu(data)
    except PduError:
        pass


@given(st.text(max_size=120))
def test_random_pdu_lines_decode_or_raise_pdu_error(line):
    try:
        decode_at_pdu(line)
    except PduError:
        pass
