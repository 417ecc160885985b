"""The handset model command by command: settings, SIM, storage, SMS in both modes, sending,
USSD with every +CUSD m value, and the line discipline around it."""
import pytest
from hypothesis import given, settings, strategies as st
from modem_support import ME, NOON, T0, Menu, model, run, wire_lines

from devices.modem import ModemModel, UssdScreen
from devices.modem.results import Delivery
from devices.modem.wire import ModemWire
from protocols.at.pdu import (SmsDeliver, SmsSubmit, decode_at_pdu, decode_tpdu, encode_at_pdu,
                              encode_deliver, encode_submit)
from protocols.at.sms import parse_listing
from protocols.at.tpfields import Address


@pytest.fixture
def m():
    return model()


def test_constructor_refuses_bad_settings():
    with pytest.raises(ValueError, match="invalid MSISDN '0551': expected E.164 digits"):
        ModemModel("0551")
    with pytest.raises(ValueError, match="multiple of 15"):
        ModemModel(ME, utc_offset_min=7)
    with pytest.raises(ValueError, match="1-255 messages"):
        ModemModel(ME, capacity=0)
    with pytest.raises(ValueError, match="4 to 8 digits"):
        ModemModel(ME, pin="12")
    assert ModemModel("+۲۱۳۵۵۱۲۳۴۵۶۷").msisdn == ME        # Persian digits and a '+' are fine


def test_basic_commands(m):
    assert run(m, "AT") == ["OK"]
    assert run(m, "ATE0") == ["OK"] and not m.echo
    assert run(m, "ATI") == ["rechargebench", "RB-GSM1", "Revision: 1.0", "OK"]
    assert run(m, "AT+CGMI;+CGMM") == ["rechargebench", "RB-GSM1", "OK"]
    imei = run(m, "AT+CGSN")[0]
    assert len(imei) == 15 and imei.isdigit()
    assert run(m, "AT+CIMI")[0].startswith("00101")
    assert run(m, "AT+CNUM") == [f'+CNUM: "","+{ME}",145', "OK"]
    assert run(m, "AT+CSQ") == ["+CSQ: 20,99", "OK"]
    assert run(m, "ATH") == ["OK"]


@pytest.mark.parametrize("line", ["AT+FOO", "ATV0", "ATQ1", "AT+CMGF=x", "ATE7", "AT+CSQ?", "AT%%", "ATD123"])
def test_unknown_unsupported_and_malformed_commands_answer_error(m, line):
    assert run(m, line) == ["ERROR"]
    assert run(m, "AT") == ["OK"]                                   # and nothing is stuck


def test_a_failing_command_stops_the_line(m):
    assert run(m, "AT+CMGF=1;+FOO;+CMEE=2") == ["ERROR"]
    assert m.cmgf == 1 and m.cmee == 0


@pytest.mark.parametrize("cmee,line", [(0, "ERROR"), (1, "+CMS ERROR: 321"), (2, "+CMS ERROR: invalid memory index")])
def test_cmee_chooses_how_errors_read(m, cmee, line):
    run(m, f"AT+CMEE={cmee}")
    assert run(m, "AT+CMGR=99") == [line]


def test_settings_read_and_test_forms(m):
    assert run(m, "AT+CMEE=?") == ["+CMEE: (0-2)", "OK"]
    assert run(m, 'AT+CSCS=?') == ['+CSCS: ("GSM","IRA","UCS2")', "OK"]
    assert run(m, 'AT+CSCS="ucs2";+CSCS?') == ['+CSCS: "UCS2"', "OK"]
    run(m, "AT+CMEE=1")
    assert run(m, 'AT+CSCS="HEX"') == ["+CME ERROR: 4"]
    assert run(m, "AT+CMGF?;+CSDH?;+CNMI?") == ["+CMGF: 0", "+CSDH: 0", "+CNMI: 2,1,0,0,0", "OK"]
    assert run(m, "AT+CNMI=?") == ["+CNMI: (0-3),(0-2),(0),(0),(0,1)", "OK"]
    assert run(m, "AT+CNMI=2,3") == ["+CMS ERROR: 303"]
    assert run(m, "AT+CMGF=2") == ["+CMS ERROR: 303"]
    assert run(m, 'AT+CPMS?') == ['+CPMS: "SM",0,30,"SM",0,30,"SM",0,30', "OK"]
    assert run(m, 'AT+CPMS="SM","SM"') == ["+CPMS: 0,30,0,30,0,30", "OK"]
    assert run(m, 'AT+CPMS="ME"') == ["+CMS ERROR: 302"]
    assert run(m, 'AT+CSCA="+213770000001"') == ["+CMS ERROR: 304"]            # not UCS2 hex
    run(m, 'AT+CSCS="GSM"')
    assert run(m, 'AT+CSCA="+213770000001"') == ["OK"]
    assert run(m, "AT+CSCA?") == ['+CSCA: "+213770000001",145', "OK"]
    assert run(m, 'AT+CSCA="EDAHABIA"') == ["+CMS ERROR: 304"]
    run(m, "ATE0;+CMGF=1;+CMEE=2")
    assert run(m, "ATZ") == ["OK"]
    assert (m.echo, m.cmgf, m.cmee, m.smsc) == (True, 0, 0, None)


def test_sim_absent_locked_and_unlocked():
    absent = model(sim_inserted=False)
    run(absent, "AT+CMEE=1")
    assert run(absent, "AT+CMGL=4") == ["+CMS ERROR: 310"]
    assert run(absent, "AT+CPIN?") == ["+CME ERROR: 10"]
    assert absent.deliver_sms("RB", "x", T0).refused == 1
    locked = model(pin="1234")
    run(locked, "AT+CMEE=1")
    assert run(locked, "AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
    assert run(locked, 'AT+CUSD=1,"*100#",15') == ["+CME ERROR: 11"]
    assert run(locked, "AT+CMGL=4") == ["+CMS ERROR: 311"]
    assert run(locked, 'AT+CPIN="0000"') == ["+CME ERROR: 16"]
    assert run(locked, 'AT+CPIN="۱۲۳۴"') == ["OK"]                    # typed in Persian digits
    assert run(locked, "AT+CPIN?") == ["+CPIN: READY", "OK"]
    assert run(locked, 'AT+CPIN="1234"') == ["+CME ERROR: 3"]
    blocked = model(pin="1234")
    run(blocked, "AT+CMEE=1")
    for _ in range(3):
        run(blocked, 'AT+CPIN="9999"')
    assert run(blocked, "AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]
    assert run(blocked, 'AT+CPIN="1234"') == ["+CME ERROR: 12"]


def test_registration_and_its_urc(m):
    assert run(m, "AT+CREG?") == ["+CREG: 0,1", "OK"]
    run(m, "AT+CREG=1")
    m.set_registered(False)
    assert m.take_urcs() == ["+CREG: 0"]
    assert run(m, "AT+CSQ") == ["+CSQ: 99,99", "OK"]
    assert m.deliver_sms("RB", "lost", T0).refused == 1


# --- receiving -----------------------------------------------------------------------------

def test_a_delivered_sms_is_stored_announced_and_read_in_pdu_mode(m):
    delivery = m.deliver_sms("EDAHABIA", "Code 123456", when=T0)
    assert delivery.indices == (1,) and m.take_urcs() == ['+CMTI: "SM",1']
    header, pdu = run(m, "AT+CMGR=1")[0].split("\r\n")
    listing = parse_listing(header, pdu)
    assert header == f"+CMGR: 0,,{listing.length}"
    sms = decode_tpdu(decode_at_pdu(listing.pdu, listing.length)[1])
    assert (sms.sender.text, sms.text, sms.timestamp.isoformat()) == \
        ("EDAHABIA", "Code 123456", "2026-01-01T01:00:00+01:00")
    assert run(m, "AT+CMGR=1")[0].startswith("+CMGR: 1,,")          # now REC READ


def test_text_mode_shows_headers_and_text_per_csdh(m):
    m.deliver_sms("+213661234567", "Solde: 10€", when=T0)
    m.deliver_sms("SATIM", "رمز 123456", when=T0 + 60)
    run(m, "AT+CMGF=1")
    assert run(m, "AT+CMGR=1") == ['+CMGR: "REC UNREAD","+213661234567",,"26/01/01,01:00:00+04"\r\n'
                                   'Solde: 10\x1be', "OK"]
    run(m, "AT+CSDH=1")
    header, body = run(m, "AT+CMGR=2")[0].split("\r\n")
    assert header == '+CMGR: "REC UNREAD","SATIM",,"26/01/01,01:01:00+04",208,4,0,8,"",129,20'
    assert bytes.fromhex(body).decode("utf-16-be") == "رمز 123456"
    run(m, 'AT+CSCS="IRA"')
    assert run(m, "AT+CMGR=1")[0].endswith("Solde: 10?")              # IRA has no €: '?'
    assert run(m, 'AT+CMGL="REC UNREAD"') == ["OK"]
    listed = run(m, 'AT+CMGL="ALL"')
    assert [ln.split("\r\n")[0] for ln in listed[:-1]] == [
        '+CMGL: 1,"REC READ","+213661234567",,"26/01/01,01:00:00+04",145,10',
        '+CMGL: 2,"REC READ","SATIM",,"26/01/01,01:01:00+04",208,20']


def test_wrong_status_type_for_the_mode(m):
    run(m, "AT+CMEE=1")
    assert run(m, 'AT+CMGL="ALL"') == ["+CMS ERROR: 304"]
    run(m, "AT+CMGF=1")
    assert run(m, "AT+CMGL=4") == ["+CMS ERROR: 305"]
    assert run(m, "AT+CMGL=?") == ['+CMGL: ("REC UNREAD","REC READ","STO UNSENT","STO SENT","ALL")', "OK"]


def test_long_sms_takes_one_slot_and_one_cmti_per_part(m):
    delivery = m.deliver_sms("RBENCH", "x" * 400, when=T0)
    assert delivery.indices == (1, 2, 3)
    assert m.take_urcs() == ['+CMTI: "SM",1', '+CMTI: "SM",2', '+CMTI: "SM",3']
    parts = [decode_tpdu(s.tpdu) for _, s in m.stored()]
    assert [p.concat.seq for p in parts] == [1, 2, 3] and len({p.concat.ref for p in parts}) == 1


def test_full_storage_refuses_sms_and_cmgw_answers_322():
    m = model(capacity=2)
    run(m, "AT+CMEE=1")
    assert m.deliver_sms("RB", "a", T0).indices == (1,)
    assert m.deliver_sms("RB", "b" * 200, T0) == Delivery((2,), refused=1)   # 2 parts, 1 slot
    assert m.deliver_sms("RB", "c", T0) == Delivery((), refused=1)
    assert m.take_urcs() == ['+CMTI: "SM",1', '+CMTI: "SM",2']
    pdu, length = encode_at_pdu(encode_submit(SmsSubmit(Address.parse("+213661234567"), "hi")))
    assert run(m, f"AT+CMGW={length}") == ["> "]
    assert m.handle_body(pdu) == ["+CMS ERROR: 322"]
    assert run(m, "AT+CPMS?")[0] == '+CPMS: "SM",2,2,"SM",2,2,"SM",2,2'
    run(m, "AT+CMGD=1")
    assert m.deliver_sms("RB", "d", T0).indices == (1,)


def test_delete_by_index_and_by_flag(m):
    for text in "abcd":
        m.deliver_sms("RB", text, T0)
    run(m, "AT+CMEE=1")
    run(m, "AT+CMGR=1")
    run(m, "AT+CMGR=2")
    assert run(m, "AT+CMGD=3") == ["OK"] and run(m, "AT+CMGD=3") == ["OK"]   # empty slot: fine
    assert run(m, "AT+CMGD=31") == ["+CMS ERROR: 321"]
    assert run(m, "AT+CMGD=0,1") == ["OK"]                                  # every REC READ
    assert [i for i, _ in m.stored()] == [4]
    assert run(m, "AT+CMGD=1,4") == ["OK"] and m.stored() == []
    assert run(m, "AT+CMGD=?") == ["+CMGD: (1-30),(0-4)", "OK"]


def test_cnmi_mode_0_holds_indications_until_asked(m):
    run(m, "AT+CNMI=0,1")
    m.deliver_sms("RB", "a", T0)
    m.deliver_sms("RB", "b", T0)
    assert m.take_urcs() == []
    run(m, "AT+CNMI=2,1,0,0,0")
    assert m.take_urcs() == ['+CMTI: "SM",1', '+CMTI: "SM",2']
    run(m, "AT+CNMI=0,1")
    m.deliver_sms("RB", "c", T0)
    run(m, "AT+CNMI=2,1,0,0,1")                                              # bfr 1: cleared
    assert m.take_urcs() == []


def test_cnmi_mt_0_stores_silently_and_mt_2_routes_without_storing(m):
    run(m, "AT+CNMI=2,0")
    assert m.deliver_sms("RB", "quiet", T0).indices == (1,) and m.take_urcs() == []
    run(m, "AT+CNMI=2,2")
    delivery = m.deliver_sms("SATIM", "Code 654321", T0)
    assert delivery.routed and delivery.indices == ()
    header, pdu = m.take_urcs()[0].split("\r\n")
    listing = parse_listing(header, pdu)
    assert header.startswith("+CMT: ,") and decode_tpdu(decode_at_pdu(pdu)[1]).text == "Code 654321"
    assert listing.stat is None and len(m.stored()) == 1
    run(m, "AT+CMGF=1")
    m.deliver_sms("SATIM", "Code 111111", T0)
    assert m.take_urcs() == ['+CMT: "SATIM",,"26/01/01,01:00:00+04"\r\nCode 111111']


def test_deliver_refuses_an_impossible_sender(m):
    with pytest.raises(ValueError, match="cannot deliver SMS from 'A sender too long'"):
        m.deliver_sms("A sender too long", "x", T0)


# --- sending and writing -------------------------------------------------------------------

def test_cmgs_in_pdu_mode_hands_the_submit_to_the_network():
    net = Menu()
    m = model(network=net)
    run(m, "AT+CMEE=1")
    pdu, length = encode_at_pdu(encode_submit(SmsSubmit(Address.parse("+213661234567"), "salam")))
    assert run(m, f"AT+CMGS={length}") == ["> "]
    assert m.handle_body(pdu) == ["+CMGS: 1", "OK"]
    assert net.sent[0].text == "salam" and net.sent[0].reference == 1
    refused, rlen = encode_at_pdu(encode_submit(SmsSubmit(Address.parse("+213660000000"), "x")))
    run(m, f"AT+CMGS={rlen}")
    assert m.handle_body(refused) == ["+CMS ERROR: 1"]
    run(m, f"AT+CMGS={length + 1}")
    assert m.handle_body(pdu) == ["+CMS ERROR: 304"]                       # length mismatch
    deliver, dlen = encode_at_pdu(encode_deliver(SmsDeliver(Address.parse("RB"), "x", NOON)))
    run(m, f"AT+CMGS={dlen}")
    assert m.handle_body(deliver) == ["+CMS ERROR: 304"]                   # not an SMS-SUBMIT
    run(m, f"AT+CMGS={length}")
    assert m.handle_body(pdu, cancel=True) == ["OK"] and len(net.sent) == 1
    assert run(m, "AT+CMGS=0") == ["+CMS ERROR: 304"]
    assert run(m, f"AT+CMGS={length};+CSQ") == ["ERROR"]                   # nothing after a prompt
    assert m.handle_body(pdu) == ["ERROR"]                                 # no prompt open


def test_cmgs_without_network_and_in_text_mode():
    alone = ModemModel(ME)
    run(alone, "AT+CMEE=1;+CMGF=1")
    run(alone, 'AT+CMGS="+213661234567"')
    assert alone.handle_body("hello") == ["+CMS ERROR: 331"]
    net = Menu()
    m = model(network=net)
    run(m, "AT+CMEE=1;+CMGF=1")
    assert run(m, 'AT+CMGS="0661234567",129') == ["> "]
    assert m.handle_body("Bonjour \x05") == ["+CMGS: 1", "OK"]             # 'é' is 0x05 in GSM
    assert (net.sent[0].to.value, net.sent[0].text) == ("0661234567", "Bonjour é")
    run(m, 'AT+CMGS="+213661234567"')
    assert m.handle_body("Bonjour é") == ["+CMS ERROR: 305"]                # 0xE9 is no GSM byte
    assert run(m, 'AT+CMGS="RBENCH"') == ["+CMS ERROR: 305"]


def test_cmgw_stores_messages_to_send(m):
    run(m, "AT+CMEE=1;+CMGF=1;+CSDH=1")
    assert run(m, 'AT+CMGW="+213661234567"') == ["> "]
    assert m.handle_body("draft") == ["+CMGW: 1", "OK"]
    assert run(m, "AT+CMGR=1") == ['+CMGR: "STO UNSENT","+213661234567",,145,1,0,0,,"",129,5\r\ndraft', "OK"]
    run(m, "AT+CMGF=0")
    pdu, length = encode_at_pdu(encode_deliver(SmsDeliver(Address.parse("RB"), "kept", NOON)))
    run(m, f"AT+CMGW={length},1")
    assert m.handle_body(pdu) == ["+CMGW: 2", "OK"]
    assert run(m, "AT+CMGL=1")[0].startswith("+CMGL: 2,1,,")


# --- USSD ----------------------------------------------------------------------------------

def test_ussd_dialogue_answers_after_ok_as_urcs(m):
    assert run(m, "AT+CUSD?") == ["+CUSD: 0", "OK"]
    assert run(m, "AT+CUSD=?") == ["+CUSD: (0-2)", "OK"]
    assert run(m, 'AT+CUSD=1,"*1#",15') == ["OK"]
    assert m.take_urcs() == ['+CUSD: 1,"Recharge:\n1 Normale\n2 Bonus",15'] and m.dialogue_open
    assert run(m, 'AT+CUSD=1,"1",15') == ["OK"]
    assert m.take_urcs() == ['+CUSD: 0,"Choix 1 pris",15'] and not m.dialogue_open
    assert m.network.calls == [("request", ME, "*1#"), ("answer", ME, "1")]


def test_ussd_ucs2_screens_are_hex_and_answers_may_be_ucs2(m):
    run(m, 'AT+CMEE=1')
    assert run(m, 'AT+CUSD=1,"*۲#",15') == ["+CME ERROR: 25"]      # no such byte in GSM
    run(m, 'AT+CSCS="UCS2"')
    code = "*۲#".encode("utf-16-be").hex().upper()                 # a Persian digit in the code
    assert run(m, f'AT+CUSD=1,"{code}",15') == ["OK"]
    assert m.network.calls[-1] == ("request", ME, "*2#")
    urc = m.take_urcs()[0]
    assert urc.startswith('+CUSD: 1,"062E') and urc.endswith('",72')
    run(m, 'AT+CUSD=1,"06F1",72')                                  # the answer '۱' in UCS2
    assert m.network.calls[-1] == ("answer", ME, "۱")


@pytest.mark.parametrize("code,m_value", [("*100#", 0), ("*9#", 4), ("*7#", 2)])
def test_ussd_network_outcomes(m, code, m_value):
    run(m, f'AT+CUSD=1,"{code}",15')
    assert m.take_urcs()[0].startswith(f"+CUSD: {m_value}") and not m.dialogue_open


def test_ussd_cancel_releases_the_dialogue(m):
    run(m, 'AT+CUSD=1,"*1#",15')
    assert run(m, "AT+CUSD=2") == ["OK"] and not m.dialogue_open
    assert m.network.calls[-1] == ("release", ME)
    assert run(m, "AT+CUSD=2") == ["OK"]                           # nothing open: still fine


def test_ussd_presentation_off_hides_answers(m):
    run(m, 'AT+CUSD=0,"*100#",15')
    assert m.take_urcs() == [] and m.network.calls[-1] == ("request", ME, "*100#")


def test_ussd_network_pushes_timeout_and_drop(m):
    run(m, 'AT+CUSD=1,"*1#",15')
    m.take_urcs()
    m.network_ussd(UssdScreen(5))
    assert m.take_urcs() == ["+CUSD: 5"] and not m.dialogue_open
    m.network_ussd(UssdScreen.of(1, "Promo?"))                     # network-initiated request
    assert m.take_urcs() == ['+CUSD: 1,"Promo?",15'] and m.dialogue_open
    m.network_ussd(UssdScreen(2))
    assert m.take_urcs() == ["+CUSD: 2"]


def test_another_local_client_answering_shows_m_3(m):
    run(m, 'AT+CUSD=1,"*1#",15')
    m.take_urcs()
    m.keypad_answer("2")
    assert m.take_urcs() == ["+CUSD: 3", '+CUSD: 0,"Choix 2 pris",15']
    with pytest.raises(ValueError, match="no USSD dialogue"):
        m.keypad_answer("1")


@pytest.mark.parametrize("line,error", [
    ('AT+CUSD=3,"*1#",15', 50), ('AT+CUSD=1,"*1#",256', 50), ("AT+CUSD=1,5", 50),
    ('AT+CUSD=1,"*1#",68', 4),                                     # 8-bit data
    ('AT+CUSD=1,"00G1",72', 25),                                   # not UCS2 hex
    ('AT+CUSD=1,"' + "1" * 183 + '",15', 24),
    ('AT+CUSD=1,"hello",15', 27),                                  # not a service code
])
def test_ussd_bad_requests(m, line, error):
    run(m, "AT+CMEE=1")
    assert run(m, line) == [f"+CME ERROR: {error}"] and m.network.calls == []


def test_ussd_without_network_or_coverage():
    alone = ModemModel(ME)
    run(alone, "AT+CMEE=1")
    assert run(alone, 'AT+CUSD=1,"*1#",15') == ["+CME ERROR: 30"]
    m = model(registered=False)
    run(m, "AT+CMEE=1")
    assert run(m, 'AT+CUSD=1,"*1#",15') == ["+CME ERROR: 30"]


def test_ira_terminal_sees_question_marks_for_what_it_cannot_show(m):
    run(m, 'AT+CSCS="IRA";+CUSD=1')
    m.network_ussd(UssdScreen.of(0, "Crédit épuisé"))
    assert m.take_urcs() == ['+CUSD: 0,"Cr?dit ?puis?",15']


# --- the line discipline -------------------------------------------------------------------

def test_echo_noise_backspace_and_lf(m):
    wire = ModemWire(m)
    assert wire.feed(b"AT\r") == b"AT\r\r\nOK\r\n"
    assert wire_lines(wire, b"ATE0\r") == ["ATE0", "OK"]
    assert wire.feed(b"\x00\xffnoise ATI\r\n") == b"\r\nrechargebench\r\n\r\nRB-GSM1\r\n\r\nRevision: 1.0\r\n\r\nOK\r\n"
    assert wire.feed(b"hello\r") == b""                            # no 'AT': ignored, as modems do
    assert wire.feed(b"AT+CSX\x08Q\r") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert wire.feed(b"AT" + b"E" * 3000 + b"\r") == b"\r\nERROR\r\n"
    assert wire.feed(b"AT\r") == b"\r\nOK\r\n"


def test_urcs_wait_for_the_end_of_a_command_and_of_a_prompt(m):
    wire = ModemWire(m)
    wire.feed(b"ATE0\r")
    m.deliver_sms("RB", "a", T0)
    assert wire.feed(b"AT+CSQ\r") == b'\r\n+CSQ: 20,99\r\n\r\nOK\r\n\r\n+CMTI: "SM",1\r\n'
    pdu, length = encode_at_pdu(encode_submit(SmsSubmit(Address.parse("+213661234567"), "x")))
    assert wire.feed(f"AT+CMGS={length}\r".encode()) == b"\r\n> "
    m.deliver_sms("RB", "b", T0)
    assert wire.urcs() == b""                                       # not while the prompt is open
    out = wire.feed(pdu.encode() + b"\x1a")
    assert out == b'\r\n+CMGS: 1\r\n\r\nOK\r\n\r\n+CMTI: "SM",2\r\n'
    wire.feed(f"AT+CMGS={length}\r".encode())
    assert wire.feed(b"junk\x1b") == b"\r\nOK\r\n" and len(m.network.sent) == 1   # ESC: not sent


@settings(max_examples=60)
@given(st.binary(max_size=300))
def test_garbage_on_the_line_leaves_a_modem_that_answers(garbage):
    m = ModemModel(ME)
    wire = ModemWire(m)
    wire.feed(garbage)
    out = wire.feed(b"\x1b\rATE0\rAT\r")
    assert out.endswith(b"\r\nOK\r\n")


def test_a_fault_inside_the_model_fails_the_command_not_the_line(m, monkeypatch, caplog):
    monkeypatch.setattr(type(m), "at_csq", lambda self, cmd: 1 / 0)
    assert run(m, "AT+CSQ") == ["ERROR"]
    assert "modem model failed" in caplog.text
    assert run(m, "AT") == ["OK"]
