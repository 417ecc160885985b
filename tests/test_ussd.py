"""USSD *1# (F4): menus, gifts, saved numbers, screen limits, timeouts, one session per MSISDN."""
import pytest

from core.errors import InvalidInput
from core.orders import State
from protocols.gsm import ussd_fits
from support import make_world

ME, FRIEND = "+989121234567", "989351234567"


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.line("IR", "09121234567", "20000", language="fa")
    world.line("IR", "09351234567", language="fa")
    yield world
    assert world.core.conservation().ok
    world.core.close()


def dial(w, session, answers, code="*1*1#", msisdn=ME):
    """Send the growing answer string the way an aggregator does; returns every reply."""
    replies = [w.core.ussd.handle(session, msisdn, code, "")]
    for i in range(len(answers)):
        replies.append(w.core.ussd.handle(session, msisdn, code, "*".join(answers[: i + 1])))
    return replies


def card_answers(c):
    return [c.pan, f"{c.expiry_month:02d}{c.expiry_year % 100:02d}", c.pin2]


def test_gift_to_a_new_number_saved_after_confirm(w):
    card = w.card("989121234567")
    replies = dial(w, "s1", ["2", "09351234567", "3", *card_answers(card), "1", "1"])
    assert [r.end for r in replies] == [False] * 8 + [True]
    assert "هدیه" in replies[0].text and "۵۰,۰۰۰" in replies[2].text
    assert "۰۹۳۵۱۲۳۴۵۶۷" in replies[6].text and "تایید" in replies[6].text   # confirm, Persian digits
    assert "ذخیره" in replies[7].text
    assert "پیگیری" in replies[-1].text
    for r in replies:
        assert ussd_fits(r.text, 182, 80), r.text
    w.settle_time()
    assert w.balance(FRIEND) == 50000
    assert w.core.subscribers.saved_recipients("989121234567") == [FRIEND]
    # next time the saved number is offered
    first = dial(w, "s2", ["2"])[-1]
    assert "۰۹۳۵۱۲۳۴۵۶۷" in first.text and "0 " in first.text
    replies = dial(w, "s2", ["2", "1", "1", *card_answers(card), "1"])
    assert replies[-1].end and "پیگیری" in replies[-1].text
    w.settle_time()
    assert w.balance(FRIEND) == 60000


def test_amazing_via_star_1_star_2_adds_a_bonus(w):
    card = w.card("989121234567")
    replies = dial(w, "s3", ["1", "5", *card_answers(card), "1"], code="*1*2#")
    assert replies[-1].end
    w.settle_time()
    assert w.core.subscribers.balances("989121234567").bonus.minor == 40000


def test_main_menu_chooses_the_product(w):
    replies = dial(w, "s4", ["2"], code="*1#")
    assert "معمولی" in replies[0].text and "خودم" in replies[1].text


def test_cancel_ends_the_session_and_charges_nothing(w):
    card = w.card("989121234567")
    replies = dial(w, "s5", ["1", "1", *card_answers(card), "2"])
    assert replies[-1].end and "لغو" in replies[-1].text
    assert w.core.conservation().captured == {}


def test_invalid_answers_reprompt_then_end(w):
    replies = dial(w, "s6", ["9"])
    assert not replies[-1].end and "نامعتبر" in replies[-1].text
    replies = dial(w, "s7", ["9", "8", "7"])
    assert replies[-1].end


def test_second_concurrent_session_is_refused(w):
    dial(w, "a", ["1"])
    busy = w.core.ussd.handle("b", ME, "*1*1#", "")
    assert busy.end and "جلسه دیگری" in busy.text
    assert not w.core.ussd.handle("a", ME, "*1*1#", "1*1").end      # the first goes on


def test_answer_timeout_closes_the_session_and_frees_the_line(w):
    dial(w, "t1", ["1"])
    w.clock.advance(46)                          # IR answer timeout is 45 s
    late = w.core.ussd.handle("t1", ME, "*1*1#", "1*1")
    assert late.end and "زمان" in late.text
    assert not w.core.ussd.handle("t2", ME, "*1*1#", "").end


def test_session_timeout_mid_payment_charges_nothing(w):
    card = w.card("989121234567")
    answers = ["1", "1", *card_answers(card)]
    dial(w, "t3", answers)
    for _ in range(4):
        w.clock.advance(40)                      # each answer in time, the whole over 150 s
        reply = w.core.ussd.handle("t3", ME, "*1*1#", "*".join(answers))
    assert reply.end
    assert w.core.conservation().captured == {}
    assert w.core.ussd.expire_sessions() == 0


def test_stale_session_does_not_block_a_new_one(w):
    dial(w, "old", ["1"])
    w.clock.advance(200)
    assert not w.core.ussd.handle("new", ME, "*1*1#", "").end


def test_cap_refusal_is_shown_and_sent_by_sms(w):
    w.line("IR", "09901234567", "1990000", language="fa")
    card = w.card("989121234567")
    replies = dial(w, "cap", ["2", "09901234567", "2", *card_answers(card), "1", "2"])
    assert replies[-1].end and "سقف" in replies[-1].text
    w.settle_time()
    assert any("سقف" in t for t in w.sms_to("989121234567"))


def test_repeated_final_request_does_not_pay_twice(w):
    card = w.card("989121234567")
    answers = ["1", "1", *card_answers(card), "1"]
    dial(w, "dup", answers)
    again = w.core.ussd.handle("dup", ME, "*1*1#", "*".join(answers))
    assert again.end
    w.settle_time()
    assert w.balance("989121234567") == 30000


def test_postpaid_can_only_gift(w):
    w.line("IR", "09191234567", kind="postpaid", language="fa")
    first = w.core.ussd.handle("pp", "+989191234567", "*1*1#", "")
    assert "شماره" in first.text and "خودم" not in first.text


def test_dz_screens_in_french_fit_gsm7(store_url):
    w = make_world(store_url)
    w.line("DZ", "0551234567", language="fr")
    r = w.core.ussd.handle("fr1", "+213551234567", "*1*1#", "")
    assert r.text.startswith("Recharger") and ussd_fits(r.text, 182, 80)


@pytest.mark.parametrize("args,field", [
    (("bad id!", ME, "*1#", ""), "session_id"), (("x", "+33612345678", "*1#", ""), "msisdn"),
    (("x", ME, "*9#", ""), "service_code"), (("x", ME, "*1#", "1" * 600), "text"),
    (("x", "0912", "*1#", ""), "msisdn"),
])
def test_bad_requests_are_refused_clearly(w, args, field):
    with pytest.raises(InvalidInput) as e:
        w.core.ussd.handle(*args)
    assert e.value.field == field


def test_unknown_subscriber_ends_at_once(w):
    r = w.core.ussd.handle("u", "+989129999999", "*1#", "")
    assert r.end


def test_orders_from_ussd_are_marked_as_ussd(w):
    card = w.card("989121234567")
    dial(w, "ch", ["1", "1", *card_answers(card), "1"])
    w.settle_time()
    with w.core.store.transaction() as tx:
        row = tx.one("SELECT channel, state FROM orders")
    assert (row["channel"], row["state"]) == ("ussd", str(State.CREDITED))
