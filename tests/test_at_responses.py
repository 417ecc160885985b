"""Responses and URCs (27.007/27.005): final results, error tables, fields, +CMTI, +CMGR/+CMGL
in both SMS modes, +CUSD and the TE character sets."""
import pytest
from hypothesis import given, strategies as st

from protocols.at.charset import CHARSETS, from_te, gsm_bytes, gsm_text, to_te
from protocols.at.errors import AtSyntaxError, CharsetError
from protocols.at.responses import Token, is_urc, parse_fields, split_info
from protocols.at.results import (CME_ERRORS, CMS_ERRORS, ERROR, OK, FinalResult, cme, cms,
                                  format_final, parse_final)
from protocols.at.sms import (STATUSES, Cmti, PduListing, TextListing, format_cmti, format_listing,
                              parse_cmti, parse_listing, stat_word)
from protocols.at.ussd import Cusd, format_cusd, parse_cusd, ussd_from_wire, ussd_to_wire
from protocols.gsm import DEFAULT_ALPHABET, EXTENSION


def test_final_results_in_every_cmee_mode():
    assert format_final(cms(322), 0) == "ERROR"
    assert format_final(cms(322), 1) == "+CMS ERROR: 322"
    assert format_final(cms(322), 2) == "+CMS ERROR: memory full"
    assert parse_final("+CMS ERROR: memory full") == cms(322)
    assert parse_final("+CME ERROR: 10").meaning == "SIM not inserted"
    assert parse_final("+CME ERROR: 9999").meaning == "error 9999"
    assert parse_final("+CME ERROR: modem on fire") == FinalResult("CME", None, "modem on fire")
    assert parse_final("OK") == OK and parse_final("ERROR") == ERROR and parse_final("NO CARRIER").kind == "NO CARRIER"
    assert not parse_final("ERROR").ok and parse_final("OK").ok
    assert parse_final("+CMTI: \"SM\",1") is None and parse_final("OKAY") is None


def test_the_error_tables_hold_the_codes_benches_meet():
    for code in (3, 4, 10, 11, 16, 20, 21, 24, 25, 27, 30, 31, 50, 100):
        assert CME_ERRORS[code]
    for code in (300, 302, 303, 304, 305, 310, 311, 321, 322, 330, 331, 332, 500):
        assert CMS_ERRORS[code]


@given(st.sampled_from(["CME", "CMS"]), st.integers(0, 999), st.sampled_from([1, 2]))
def test_errors_round_trip_numbers_and_words(kind, code, cmee):
    result = cme(code) if kind == "CME" else cms(code)
    parsed = parse_final(format_final(result, cmee))
    if cmee == 1 or result.text:
        assert (parsed.kind, parsed.code) == (kind, code)
    assert parsed.meaning == result.meaning


def test_fields_keep_their_types():
    assert parse_fields('1,"a,b",,(0-2),"x\\22y", 15') == [1, "a,b", None, "(0-2)", 'x"y', 15]
    assert isinstance(parse_fields("(0,1),HEX")[0], Token)
    with pytest.raises(AtSyntaxError, match="expected ','"):
        parse_fields('"a"b')
    assert split_info('+CMTI: "SM",3') == ("+CMTI", '"SM",3')
    assert split_info("rechargebench") == ("", "rechargebench")


@pytest.mark.parametrize("line,running,urc", [
    ('+CMTI: "SM",3', None, True),
    ('+CMT: ,25', None, True),
    ('+CUSD: 1,"Menu",15', None, True),
    ('+CUSD: 1,"Menu",15', "+CUSD", True),     # the network's answer, even during AT+CUSD?
    ("+CUSD: 1", "+CUSD", False),              # the answer to AT+CUSD?
    ("+CUSD: 2", "+CUSD", True),               # terminated by network
    ("+CUSD: 0", None, True),
    ("+CREG: 1", None, True),
    ("+CREG: 0,1", "+CREG", False),            # the answer to AT+CREG?
    ("RING", None, True),
    ("+CMGR: 0,,23", "+CMGR", False),
    ("+CSQ: 20,99", "+CSQ", False),
    ("OK", None, False),
])
def test_urcs_are_told_from_answers(line, running, urc):
    assert is_urc(line, running) is urc


def test_cmti():
    assert format_cmti(Cmti("SM", 7)) == '+CMTI: "SM",7'
    assert parse_cmti('+CMTI: "ME", 12') == Cmti("ME", 12)
    with pytest.raises(AtSyntaxError, match="<index>"):
        parse_cmti('+CMTI: "SM"')


def test_pdu_and_text_mode_listings():
    pdu = PduListing("0004...", 23, "REC UNREAD", 4)
    assert format_listing("+CMGL", pdu) == ["+CMGL: 4,0,,23", "0004..."]
    assert format_listing("+CMGR", pdu) == ["+CMGR: 0,,23", "0004..."]
    assert format_listing("+CMT", pdu) == ["+CMT: ,23", "0004..."]
    text = TextListing("Code 123456", "EDAHABIA", "REC READ", scts="26/01/01,10:00:00+04", toa=208,
                       fo=4, pid=0, dcs=0, sca="", tosca=129, length=11)
    assert format_listing("+CMGR", text) == ['+CMGR: "REC READ","EDAHABIA",,"26/01/01,10:00:00+04"', "Code 123456"]
    assert format_listing("+CMGR", text, csdh=True)[0] == \
        '+CMGR: "REC READ","EDAHABIA",,"26/01/01,10:00:00+04",208,4,0,0,"",129,11'
    assert parse_listing(*format_listing("+CMGR", text, csdh=True)) == text
    with pytest.raises(AtSyntaxError, match="no <stat>"):
        parse_listing("+CMGR: ,,23", "00")
    with pytest.raises(AtSyntaxError, match="expected a \\+CMGR"):
        parse_listing('+CMTI: "SM",1', "")
    assert stat_word(1) == "REC READ" and stat_word("sto sent") == "STO SENT"
    with pytest.raises(AtSyntaxError, match="expected 0-4"):
        stat_word(7)


wire = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40)
opt_int = st.one_of(st.none(), st.integers(0, 255))


@given(st.sampled_from(["+CMGR", "+CMGL", "+CMT"]), st.text("0123456789ABCDEF", max_size=60),
       st.integers(0, 164), st.sampled_from(STATUSES[:4]), st.integers(1, 255))
def test_pdu_listings_round_trip(prefix, hex_pdu, length, stat, index):
    item = PduListing(hex_pdu, length, None if prefix == "+CMT" else stat,
                      index if prefix == "+CMGL" else None)
    assert parse_listing(*format_listing(prefix, item)) == item


@given(st.sampled_from(["+CMGR", "+CMGL", "+CMT"]), st.sampled_from(STATUSES[:4]), st.booleans(),
       wire, wire, st.one_of(st.none(), wire), st.integers(1, 255), opt_int, opt_int, opt_int, opt_int,
       st.one_of(st.none(), wire), opt_int, opt_int, opt_int)
def test_text_listings_round_trip(prefix, stat, csdh, data, address, alpha, index, toa, fo, pid, dcs,
                                  sca, tosca, length, vp):
    received = prefix == "+CMT" or stat.startswith("REC")
    item = TextListing(data, address, None if prefix == "+CMT" else stat,
                       index if prefix == "+CMGL" else None, alpha,
                       "26/01/01,10:00:00+04" if received or prefix == "+CMGL" else None,
                       toa if csdh else None,
                       fo if csdh and prefix != "+CMGL" else None, pid if csdh and prefix != "+CMGL" else None,
                       dcs if csdh and prefix != "+CMGL" else None,
                       vp if csdh and not received and prefix != "+CMGL" else None,
                       sca if csdh and prefix != "+CMGL" else None, tosca if csdh and prefix != "+CMGL" else None,
                       length if csdh else None)
    assert parse_listing(*format_listing(prefix, item, csdh=csdh)) == item


def test_cusd_lines():
    assert format_cusd(Cusd(1, "1 Normal\n2 Bonus", 15)) == '+CUSD: 1,"1 Normal\n2 Bonus",15'
    assert parse_cusd('+CUSD: 1,"1 Normal\n2 Bonus",15') == Cusd(1, "1 Normal\n2 Bonus", 15)
    assert parse_cusd("+CUSD: 5") == Cusd(5)
    assert parse_cusd('+CUSD: 0,"done"') == Cusd(0, "done", 0)      # <dcs> defaults to 0
    with pytest.raises(AtSyntaxError, match="expected 0-5"):
        parse_cusd("+CUSD: 7")
    with pytest.raises(AtSyntaxError, match="together or neither"):
        Cusd(1, "x")


def test_ussd_text_follows_the_dcs_and_the_te_charset():
    persian = "خرید شارژ"
    assert ussd_to_wire(persian, 72, "GSM") == persian.encode("utf-16-be").hex().upper()
    assert ussd_from_wire(ussd_to_wire(persian, 72, "IRA"), 72, "IRA") == persian
    assert ussd_to_wire("Solde: 10€", 15, "GSM") == "Solde: 10\x1be"      # € is ESC + 'e'
    assert ussd_to_wire("*1#", 15, "UCS2") == "002A00310023"
    with pytest.raises(CharsetError, match="not ASCII"):
        ussd_to_wire("café", 15, "IRA")
    assert ussd_from_wire("414243", 0x44, "GSM") == "ABC"                 # 8-bit data is hex


gsm_char = st.sampled_from([c for c in DEFAULT_ALPHABET if c != "\x1b"] + list(EXTENSION))


@given(st.text(gsm_char, max_size=60), st.sampled_from(CHARSETS))
def test_gsm_text_round_trips_through_every_te_charset(text, charset):
    try:
        wire_text = to_te(text, charset)
    except CharsetError:
        assert charset == "IRA" and any(ord(c) > 0x7F for c in text)
        return
    assert from_te(wire_text, charset) == text
    assert all(ord(c) <= 0xFF for c in wire_text)


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60), st.sampled_from([0x48, 0x11, 0x58]))
def test_ucs2_ussd_round_trips(text, dcs):
    for charset in CHARSETS:
        assert ussd_from_wire(ussd_to_wire(text, dcs, charset), dcs, charset) == text


@given(st.binary(max_size=40))
def test_gsm_bytes_decode_or_raise_charset_error(data):
    try:
        text = gsm_text(data)
    except CharsetError:
        assert any(b > 0x7F for b in data) or 0x1B in data
        return
    if 0x1B not in data:
        assert gsm_bytes(text) == data


@given(st.text(max_size=40), st.sampled_from(CHARSETS))
def test_wire_text_decodes_or_raises_charset_error(text, charset):
    try:
        from_te(text, charset)
    except CharsetError:
        pass


@given(st.integers(0, 5), st.one_of(st.none(), st.tuples(
    st.text(st.characters(min_codepoint=0, max_codepoint=0xFF), max_size=60), st.integers(0, 255))))
def test_cusd_round_trips(m, body):
    result = Cusd(m) if body is None else Cusd(m, body[0], body[1])
    line = format_cusd(result)
    assert "\r" not in line and parse_cusd(line) == result
    assert is_urc(line) and is_urc(line, "+CUSD") == (body is not None or m > 1)


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=4), st.integers(0, 10**6))
def test_cmti_round_trips(storage, index):
    assert parse_cmti(format_cmti(Cmti(storage, index))) == Cmti(storage, index)


@given(st.text(max_size=80), st.sampled_from([None, "+CUSD", "+CMGR", "+CREG"]))
def test_any_line_is_classified_without_raising(line, running):
    assert is_urc(line, running) in (True, False)
    assert parse_final(line) is None or parse_final(line).kind
