"""The TE side (AtSession) shared by every face: on the model face, and against a scripted
modem that behaves like real ones (echo, URCs in the middle of answers, late answers)."""
import re

import pytest
from hypothesis import given, strategies as st
from modem_support import ME, NOON, T0, Menu, ScriptedLink, model

from devices.modem import (AtSession, ModemCommandError, ModemError, ModemProtocolError, ModemTimeout,
                           UssdScreen, open_modem)
from devices.modem.lines import LineBuffer
from devices.modem.wire import MemoryLink, frame
from protocols.at.pdu import SmsDeliver, encode_at_pdu, encode_deliver
from protocols.at.tpfields import Address


@pytest.fixture
def modem():
    with open_modem("model", msisdn=ME, network=Menu(), utc_offset_min=60, now=lambda: float(T0)) as port:
        yield port


def pdu_of(text: str, sender: str = "SATIM") -> tuple[str, int]:
    return encode_at_pdu(encode_deliver(SmsDeliver(Address.parse(sender), text, NOON)))


# --- the model face ------------------------------------------------------------------------

def test_setup_leaves_the_modem_as_the_session_expects(modem):
    m = modem.model
    assert (m.echo, m.cmee, m.cmgf, m.cnmi, m.cusd_n, m.charset) == (False, 1, 0, (2, 1, 0, 0, 0), 1, "GSM")
    assert modem.at("AT+CGMI") == ["rechargebench"]
    assert "-> AT+CNMI=2,1,0,0,0" in modem.transcript


def test_wait_sms_reads_what_cmti_announces(modem):
    modem.model.deliver_sms("SATIM", "رمز التأكيد 123456 لدفع 1,000.00 DZD", when=T0)
    sms = modem.wait_sms(r"\b\d{6}\b", timeout=2)
    assert (sms.sender, sms.index, sms.encoding, sms.status) == ("SATIM", 1, "ucs2", "REC UNREAD")
    assert re.search(r"\b(\d{6})\b", sms.text).group(1) == "123456"
    assert sms.sent_at.isoformat() == "2026-01-01T01:00:00+01:00"
    assert modem.read_sms(1).status == "REC READ"


def test_wait_sms_matches_by_pattern_or_predicate_and_keeps_the_others(modem):
    modem.model.deliver_sms("RBENCH", "Recharge effectuée", when=T0)
    modem.model.deliver_sms("SATIM", "Code 654321", when=T0)
    assert modem.wait_sms(re.compile(r"Code (\d+)"), timeout=1).index == 2
    assert modem.wait_sms(lambda s: s.sender == "RBENCH", timeout=1).index == 1
    with pytest.raises(ModemTimeout, match=r"no SMS matching 'never' reached model of 213551234567 within 0.2 s"):
        modem.wait_sms("never", timeout=0.2)
    modem.model.deliver_sms("RBENCH", "Solde bas", when=T0)
    with pytest.raises(ModemTimeout, match=r"others that did: 'Solde bas'"):
        modem.wait_sms("Code", timeout=0.2)
    with pytest.raises(TypeError, match="match must be"):
        modem.wait_sms(42, timeout=0)


def test_long_sms_parts_are_joined(modem):
    text = "Votre recharge de 1,000.00 DZD est effectuée. " * 6
    modem.model.deliver_sms("RBENCH", text, when=T0)
    sms = modem.wait_sms(timeout=2)
    assert sms.text == text and sms.indices == (1, 2) and sms.concat is None
    assert [s.indices for s in modem.list_sms()] == [(1, 2)]
    assert modem.read_sms(2).concat.seq == 2


def test_a_long_sms_that_did_not_fit_shows_as_parts():
    with open_modem("model", msisdn=ME, capacity=2, now=lambda: float(T0)) as modem:
        assert modem.model.deliver_sms("RBENCH", "y" * 400, when=T0).refused == 1
        with pytest.raises(ModemTimeout, match=r"\(1 long SMS incomplete\)"):
            modem.wait_sms(timeout=0.2)
        parts = modem.list_sms("REC READ")
        assert [(p.indices, p.concat.seq, p.concat.total) for p in parts] == [((1,), 1, 3), ((2,), 2, 3)]


def test_list_read_delete(modem):
    for text in ("one", "two", "three"):
        modem.model.deliver_sms("+213661234567", text, when=T0)
    modem.read_sms(2)
    assert [s.text for s in modem.list_sms("REC UNREAD")] == ["one", "three"]
    assert [s.text for s in modem.list_sms("rec read")] == ["one", "two", "three"]
    modem.delete_sms(2)
    assert [s.index for s in modem.list_sms()] == [1, 3]
    with pytest.raises(ModemCommandError, match=r"'AT\+CMGR=2' failed: CMS 321 \(invalid memory index\)"):
        modem.read_sms(2)
    with pytest.raises(ValueError, match="SMS index 0: expected a storage slot number >= 1"):
        modem.delete_sms(0)
    with pytest.raises(Exception, match="expected 0-4 or one of"):
        modem.list_sms("NEW")


def test_send_sms_in_parts_and_refusals(modem):
    net = modem.model.network
    text = "سلام، این یک پیام طولانی است. " * 5                     # 150 UCS2 characters
    mrs = modem.send_sms("+۲۱۳۶۶۱۲۳۴۵۶۷", text)                       # Persian digits are folded
    assert mrs == [1, 2, 3]
    assert [p.concat.seq for p in net.sent] == [1, 2, 3] and "".join(p.text for p in net.sent) == text
    assert net.sent[0].to.text == "+213661234567"
    with pytest.raises(ModemCommandError, match=r"CMS 1 \(unassigned \(unallocated\) number\)"):
        modem.send_sms("0660000000", "x")
    with pytest.raises(ValueError, match="invalid destination 'RBENCH'"):
        modem.send_sms("RBENCH", "x")


def test_text_mode_session_reads_ucs2_and_sends_one_part():
    with open_modem("model", msisdn=ME, network=Menu(), sms_mode="text", now=lambda: float(T0)) as modem:
        assert modem.model.csdh == 1
        modem.model.deliver_sms("SATIM", "رمز 123456", when=T0)
        modem.model.deliver_sms("SATIM", "", when=T0)
        modem.model.deliver_sms("SATIM", "OK", when=T0)
        texts = [modem.wait_sms(timeout=1).text for _ in range(3)]
        assert texts == ["رمز 123456", "", "OK"]
        assert modem.send_sms("+213661234567", "Bonjour é") == [1]
        with pytest.raises(ModemError, match="sms_mode='pdu'"):
            modem.send_sms("+213661234567", "x" * 200)


@pytest.mark.parametrize("charset", ["GSM", "IRA", "UCS2"])
def test_every_te_charset_carries_sms_and_ussd(charset):
    with open_modem("model", msisdn=ME, network=Menu(), charset=charset, now=lambda: float(T0)) as modem:
        modem.model.deliver_sms("+213661234567", "Solde: 10 DA", when=T0)
        assert modem.wait_sms(timeout=1).text == "Solde: 10 DA"
        screen = modem.ussd("*2#")
        assert screen.text.startswith("خرید شارژ") and screen.dcs == 72
        assert modem.ussd_reply("۱").text == "Choix ۱ pris"
        assert modem.ussd("*1#").text == "Recharge:\n1 Normale\n2 Bonus"


def test_ussd_dialogue_and_its_rules(modem):
    screen = modem.ussd("*1#")
    assert (screen.m, screen.needs_reply, screen.dcs) == (1, True, 15)
    with pytest.raises(ModemError, match="already open"):
        modem.ussd("*100#")
    assert modem.ussd_reply("again").text == "Encore?"
    final = modem.ussd_reply("1")
    assert (final.m, final.text, final.meaning) == (0, "Choix 1 pris", "no further user action required")
    with pytest.raises(ModemError, match=r"no USSD dialogue is open; start one with ussd\('\*1#'\)"):
        modem.ussd_reply("1")
    assert modem.ussd("*9#") == UssdScreen(4)
    assert modem.ussd("*7#") == UssdScreen(2)
    modem.ussd("*1#")
    modem.ussd_cancel()
    assert modem.model.network.calls[-1] == ("release", ME)
    with pytest.raises(ValueError, match=r"invalid USSD code '1\*1': expected"):
        modem.ussd("1*1")
    with pytest.raises(ValueError, match="USSD text too long"):
        modem.ussd_reply("9" * 200)


def test_a_dialogue_the_network_ended_says_how(modem):
    modem.ussd("*1#")
    modem.model.network_ussd(UssdScreen(5))
    with pytest.raises(ModemError, match=r"the network ended it \(\+CUSD: 5, network time out\)"):
        modem.ussd_reply("1")
    assert modem.ussd("*۱۰۰#").text == "Solde: 100,00 DA"                # Persian digits dialled


def test_at_refuses_what_is_not_a_command_line(modem):
    with pytest.raises(ValueError, match="expected a line starting with 'AT'"):
        modem.at("hello")
    with pytest.raises(ValueError, match="without CR, LF"):
        modem.at("AT\rATZ")
    with pytest.raises(ModemCommandError, match=r"'AT\+FOO' failed: ERROR \(ERROR\)"):
        modem.at("AT+FOO")
    assert modem.at("AT") == []


def test_msisdn_comes_from_cnum_when_not_given():
    m = model()
    with AtSession(MemoryLink(m)) as session:
        assert session.msisdn == ME


def test_a_pin_locked_sim_needs_the_pin():
    with pytest.raises(ModemError, match="asks for its PIN: open it with pin="):
        with open_modem("model", model=model(pin="1234")):
            pass
    with open_modem("model", model=model(pin="1234"), pin="1234") as modem:
        assert modem.at("AT+CPIN?") == ["+CPIN: READY"]


def test_open_modem_refuses_bad_options():
    with pytest.raises(ValueError, match="unknown modem face 'usb'"):
        with open_modem("usb"):
            pass
    with pytest.raises(ValueError, match="needs msisdn="):
        with open_modem("model"):
            pass
    with pytest.raises(TypeError, match="unknown option\\(s\\) baud"):
        with open_modem("model", msisdn=ME, baud=9600):
            pass
    with pytest.raises(ValueError, match="needs port="):
        with open_modem("driver"):
            pass
    with pytest.raises(ValueError, match="sms_mode 'binary'"):
        with open_modem("model", msisdn=ME, sms_mode="binary"):
            pass


# --- what real modems do that the model does not ---------------------------------------------

def scripted(script: dict[str, bytes], **kw) -> AtSession:
    return AtSession(ScriptedLink(script), msisdn=ME, setup=False, timeout=kw.pop("timeout", 0.3), **kw)


def test_echo_is_skipped():
    s = scripted({"AT+CSQ": b"AT+CSQ\r\r\n+CSQ: 15,99\r\n\r\nOK\r\n"})
    assert s.at("AT+CSQ") == ["+CSQ: 15,99"]


def test_a_cmti_inside_an_answer_is_queued_not_lost():
    pdu, length = pdu_of("Code 111111")
    s = scripted({
        "AT+CMGL=4": f'\r\n+CMGL: 1,1,,{length}\r\n{pdu}\r\n\r\n+CMTI: "SM",2\r\n\r\nOK\r\n'.encode(),
        "AT+CMGR=2": f"\r\n+CMGR: 0,,{length}\r\n{pdu}\r\n\r\nOK\r\n".encode(),
    })
    assert [m.text for m in s.list_sms()] == ["Code 111111"]
    assert s.wait_sms(timeout=0.5).index == 2


def test_an_sms_whose_text_is_ok_is_not_the_final_result():
    s = scripted({"AT+CMGR=1": b'\r\n+CMGR: "REC UNREAD","+213661234567",,"26/01/01,10:00:00+04"\r\n'
                               b'OK\r\n\r\nOK\r\n'})
    assert s.read_sms(1).text == "OK"


def test_a_cusd_before_the_ok_and_a_multi_line_menu():
    s = scripted({'AT+CUSD=1,"*1#",15': b'\r\n+CUSD: 1,"Menu:\n1 Normal\n2 Bonus",15\r\n\r\nOK\r\n'})
    assert s.ussd("*1#").text == "Menu:\n1 Normal\n2 Bonus"


def test_verbose_errors_are_understood():
    s = scripted({"AT+CMGR=5": b"\r\n+CMS ERROR: invalid memory index\r\n"})
    with pytest.raises(ModemCommandError) as e:
        s.read_sms(5)
    assert (e.value.result.code, e.value.result.meaning) == (321, "invalid memory index")


def test_unreadable_answers_are_protocol_errors():
    s = scripted({"AT+CMGR=1": b"\r\n+CMGR: 0,,5\r\nZZ\r\n\r\nOK\r\n", "AT+CMGR=2": b"\r\nOK\r\n"})
    with pytest.raises(ModemProtocolError, match="unreadable message .*'ZZ'"):
        s.read_sms(1)
    with pytest.raises(ModemProtocolError, match="expected a header and a body"):
        s.read_sms(2)
    s.link.push(b'\r\n+CUSD: 9,"x",15\r\n')
    with pytest.raises(ModemProtocolError, match="unreadable \\+CUSD"):
        s.poll(0.05)


def test_a_silent_command_times_out_and_its_late_answer_is_drained():
    s = scripted({"AT+CGMI": b"\r\nacme\r\n\r\nOK\r\n"})
    with pytest.raises(ModemTimeout, match=r"no final result to 'AT\+CSQ' from scripted modem within 0.3 s"):
        s.at("AT+CSQ")
    s.link.push(b"\r\n+CSQ: 10,99\r\n\r\nOK\r\n")        # the late answer
    assert s.at("AT+CGMI") == ["acme"]
    assert s.link.written[-3:] == ["AT+CSQ", "AT", "AT+CGMI"]


def test_a_modem_that_never_answers_at():
    session = scripted({"AT": b""})
    with pytest.raises(ModemTimeout, match="scripted modem does not answer AT \\(2 tries of 0.1 s\\)"):
        session.sync(attempts=2, wait=0.1)


def test_ussd_without_an_answer_times_out_and_cancels():
    s = scripted({'AT+CUSD=1,"*1#",15': b"\r\nOK\r\n", "AT+CUSD=2": b"\r\nOK\r\n"})
    with pytest.raises(ModemTimeout, match=r"no \+CUSD answer to '\*1#' within 0.2 s .* cancelled"):
        s.ussd("*1#", timeout=0.2)
    assert s.link.written[-1] == "AT+CUSD=2"


@given(st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), min_size=1, max_size=30)
                .filter(lambda s: not s.startswith("> ")), max_size=8), st.data())
def test_lines_survive_any_chunking(lines, data):
    raw = frame(lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    buffer, out, previous = LineBuffer(), [], 0
    for cut in cuts + [len(raw)]:
        buffer.feed(raw[previous:cut])
        previous = cut
        while (line := buffer.next_line()) is not None:
            out.append(line)
    assert out == lines


def test_a_routed_sms_is_taken_from_cmt_and_a_cut_one_is_an_error():
    pdu, length = pdu_of("Code 222222")
    s = scripted({})
    s.link.push(f"\r\n+CMT: ,{length}\r\n{pdu}\r\n".encode())
    assert s.wait_sms(timeout=0.5).text == "Code 222222"
    s.link.push(b"\r\n+CMT: ,23\r\n")
    with pytest.raises(ModemProtocolError, match="without the message line"):
        s.poll(0.05)
