"""End to end: the core on a fake clock, its SMSC and USSD app behind hil.modem_network, a
handset on the emulator (a real pty) read by the pyserial driver. F1's OTP arrives as +CMTI;
F4's *1# top-up runs through AT+CUSD."""
import re

import pytest
from support import make_world

from core.orders import State
from devices.modem import ModemCommandError, ModemError, UssdScreen
from hil.modem_network import CoreNetwork, core_modem

PAYER, ALI = "213661234567", "213551234567"
IRAN = "989121234567"


@pytest.fixture
def w(sqlite_url):
    world = make_world(sqlite_url)
    world.line("DZ", "0551234567", "100")
    world.line("DZ", "0661234567", language="fr")
    world.line("IR", "09121234567", "20000", language="fa")
    yield world
    report = world.core.conservation()
    assert report.ok, report.summary()
    world.core.close()


@pytest.fixture
def net(w):
    network = CoreNetwork(w.core)
    yield network
    network.close()


@pytest.mark.parametrize("face", ["emulator", "model"])
def test_web_topup_otp_arrives_as_cmti_and_the_driver_reads_it(w, net, face):
    card = w.card(PAYER)
    with core_modem(w.core, PAYER, network=net, face=face, timeout=3) as modem:
        order = w.topup("DZ", "0551234567", "1000", payer="0661234567")
        order = w.core.payments.submit_card(order.id, w.card_data(card))
        assert order.state is State.OTP_PENDING
        w.clock.advance(0)                                   # the SMSC delivers what is due
        sms = modem.wait_sms(r"\b\d{6}\b", timeout=5)
        assert sms.sender == "SATIM" and sms.encoding == "ucs2" and "1,000.00 DZD" in sms.text
        assert sms.sent_at.utcoffset().total_seconds() == 3600   # Algiers time on the handset
        otp = re.search(r"\b(\d{6})\b", sms.text).group(1)
        order = w.core.payments.confirm_otp(order.id, otp)
        assert order.state is State.CREDITED and w.balance(ALI) == 110000
        w.settle_time()
        receipt = modem.wait_sms("Recharge de", timeout=5)
        assert receipt.encoding == "gsm7" and "1,000.00 DZD" in receipt.text
        transcript = "\n".join(modem.transcript)
        assert '<- +CMTI: "SM",1' in transcript and "-> AT+CMGR=1" in transcript
    assert [r.delivery.indices for r in net.received] == [(1,), (2,)]


def card_answers(card):
    return [card.pan, f"{card.expiry_month:02d}{card.expiry_year % 100:02d}", card.pin2]


def test_ussd_star_1_topup_by_card_and_pin2_through_at_cusd(w, net):
    card = w.card(IRAN)
    with core_modem(w.core, IRAN, network=net, timeout=3) as modem:
        screen = modem.ussd("*1#")
        assert (screen.m, screen.dcs) == (1, 72) and "معمولی" in screen.text   # UCS2: hex on the line
        screens = [modem.ussd_reply(a) for a in ["1", "۱", "1", *card_answers(card)]]  # a Persian digit too
        assert all(s.m == 1 for s in screens) and "تایید" in screens[-1].text
        final = modem.ussd_reply("1")
        assert final.m == 0 and "پیگیری" in final.text
        w.settle_time()
        assert w.balance(IRAN) == 30000
        notice = modem.wait_sms("انجام شد", timeout=5)
        assert notice.sender == "RBENCH" and notice.sent_at.utcoffset().total_seconds() == 210 * 60
        transcript = "\n".join(modem.transcript)
        assert '-> AT+CUSD=1,"*1#",15' in transcript and re.search(r'<- \+CUSD: 1,"[0-9A-F]+",72', transcript)
        assert f"-> AT+CUSD=1,\"{card.pan}\",15" in transcript
    with w.core.store.transaction() as tx:
        assert tx.one("SELECT channel, state FROM orders") == {"channel": "ussd", "state": str(State.CREDITED)}
    assert net.open_dialogues() == []


def test_an_answer_too_late_gets_cusd_5_unasked_and_the_line_is_free_again(w, net):
    with core_modem(w.core, IRAN, network=net, timeout=3) as modem:
        modem.ussd("*1#")
        w.clock.advance(46)                                  # IR waits 45 s for an answer
        with pytest.raises(ModemError, match=r"\+CUSD: 5, network time out"):
            modem.ussd_reply("1")
        again = modem.ussd("*1#")
        assert again.m == 1 and "معمولی" in again.text       # not "another session is open"


def test_the_session_timeout_counts_too(w, net):
    with core_modem(w.core, IRAN, network=net, timeout=3) as modem:
        modem.ussd("*1#")
        for answer in ("1", "1", "1"):
            w.clock.advance(40)                              # each in time, 120 s in all
            assert modem.ussd_reply(answer).m == 1
        w.clock.advance(40)                                  # 160 s: over IR's 150 s
        with pytest.raises(ModemError, match=r"\+CUSD: 5"):
            modem.ussd_reply("1234")


def test_a_late_answer_seen_before_the_timer_runs_is_answered_with_m_5(w, net):
    with core_modem(w.core, IRAN, network=net, face="model", timeout=3) as modem:
        modem.ussd("*1#")
        w.clock.t += 46                                      # time passed, the timer not run yet
        assert modem.ussd_reply("1") == UssdScreen(5)
        assert net.open_dialogues() == []


def test_cancel_then_redial_at_once(w, net):
    with core_modem(w.core, IRAN, network=net, timeout=3) as modem:
        modem.ussd("*1#")
        modem.ussd_reply("1")
        modem.ussd_cancel()
        assert net.open_dialogues() == []
        assert "معمولی" in modem.ussd("*1#").text


def test_unknown_codes_and_dropped_dialogues(w, net):
    with core_modem(w.core, IRAN, network=net, face="model", timeout=3) as modem:
        assert modem.ussd("*9#") == UssdScreen(4)
        modem.ussd("*1*1#")
        assert net.drop_dialogue(IRAN) and not net.drop_dialogue(IRAN)
        with pytest.raises(ModemError, match=r"\+CUSD: 2, USSD terminated by network"):
            modem.ussd_reply("1")


def test_french_menus_are_gsm7_with_their_line_breaks(w, net):
    with core_modem(w.core, PAYER, network=net, timeout=3) as modem:
        screen = modem.ussd("*1#")
        assert screen.dcs == 15 and screen.text == "Recharge:\n1 Normale\n2 Bonus"
        assert any(line.startswith('<- +CUSD: 1,"Recharge') and "\n" in line for line in modem.transcript)


def test_sms_between_two_handsets_through_the_core_smsc(w, net):
    text = "Salut Ali, ta recharge est partie. " * 6               # 210 characters: 2 parts
    with core_modem(w.core, PAYER, network=net, timeout=3) as sender, \
            core_modem(w.core, ALI, network=net, face="model", timeout=3) as receiver:
        assert sender.send_sms("+213551234567", text) == [1, 2]
        sender.send_sms("0551234567", "national numbers work too")
        w.clock.advance(0)
        got = receiver.wait_sms("Salut", timeout=3)
        assert (got.sender, got.text, len(got.indices)) == ("+213661234567", text, 2)
        assert receiver.wait_sms("national", timeout=3).sender == "+213661234567"
        with pytest.raises(ModemCommandError, match=r"CMS 1 \(unassigned"):
            sender.send_sms("0123", "nobody")


def test_a_full_sim_refuses_and_the_network_records_it(w, net):
    with core_modem(w.core, ALI, network=net, face="model", capacity=1, timeout=3):
        w.core.sms.send(ALI, "first")
        w.core.sms.send(ALI, "second")
        w.clock.advance(0)
    assert [(r.message.text, r.delivery.refused) for r in net.received] == [("first", 0), ("second", 1)]


def test_a_core_without_an_emulated_smsc_is_refused(w):
    class Silent:
        def send(self, to, text, *, sender="RBENCH"):
            return "id"
    w.core.sms = Silent()
    with pytest.raises(TypeError, match="build the core with an EmulatedSmsc"):
        CoreNetwork(w.core)


def test_core_modem_takes_model_and_port_options(w, net):
    with core_modem(w.core, "+201001234567", network=net, pin="1234", baud=115200, rssi=9,
                    timeout=3) as modem:
        assert modem.at("AT+CPIN?") == ["+CPIN: READY"] and modem.at("AT+CSQ") == ["+CSQ: 9,99"]
        assert modem.model.zone.utcoffset(None).total_seconds() == 7200          # Cairo
