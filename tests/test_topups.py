"""Web top-up flows (F1) through the service layer, on SQLite and PostgreSQL."""
import pytest

from core.adapters.gateway_profile import GatewayProfile
from core.errors import Conflict, InvalidInput, Refused
from core.money import Money
from core.orders import State
from core.ports import PaymentStatus
from support import make_world, race

PAYER, ALI = "213661234567", "213551234567"


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.line("DZ", "0551234567", "100")
    world.line("DZ", "0661234567", language="fr")
    yield world
    report = world.core.conservation()
    assert report.ok, report.summary()
    world.core.close()


def orders_count(w) -> int:
    with w.core.store.transaction() as tx:
        return tx.one("SELECT COUNT(*) AS n FROM orders")["n"]


def test_self_topup_by_card_and_otp_is_credited_once(w):
    card = w.card(PAYER)
    order = w.topup("DZ", "0551234567", "1000", payer="0661234567")
    assert order.state is State.PENDING_PAYMENT and order.form_url
    order = w.core.payments.submit_card(order.id, w.card_data(card))
    assert order.state is State.OTP_PENDING and order.masked_pan == card.pan[:6] + "******" + card.pan[-4:]
    code = w.last_otp(PAYER)
    otp_sms = w.core.sms.inbox(PAYER)[-1]
    assert otp_sms.to == card.phone and "1,000.00 DZD" in otp_sms.text and code in otp_sms.text
    order = w.core.payments.confirm_otp(order.id, code)
    assert order.state is State.CREDITED
    assert w.balance(ALI) == 110000
    w.settle_time()
    for _ in range(3):                       # duplicate and late callbacks change nothing
        w.core.payments.on_gateway_notify("satim", order.gateway_ref)
        w.core.payments.reconcile(order.id)
    assert w.balance(ALI) == 110000
    texts = w.sms_to(PAYER)
    assert sum("Recharge de 1,000.00 DZD" in t for t in texts) == 1, texts   # French, once
    assert any("استلمت هدية" in t for t in w.sms_to(ALI))          # gift notice in Arabic
    r = w.core.conservation()
    assert r.captured == {"DZD": 100000} and r.credited == {"DZD": 100000}


def test_the_credited_notice_tells_the_balance_the_credit_left(w):
    card = w.card(PAYER)
    for amount in ("250", "1000"):
        order = w.pay_web(w.topup("DZ", "0661234567", amount, payer="0661234567"), card)
        assert order.state is State.CREDITED and order.kind == "self"
    w.settle_time()
    texts = [t for t in w.sms_to(PAYER) if t.startswith("Recharge de")]
    assert len(texts) == 2 and "Solde : 250.00 DZD" in texts[0] and "Solde : 1,250.00 DZD" in texts[1], texts


def test_amazing_topup_bonus_expires_after_its_validity(w):
    card = w.card(PAYER)
    order = w.pay_web(w.topup("DZ", "0551234567", "500", payer="0661234567", product="amazing"), card)
    assert order.state is State.CREDITED and order.bonus == Money.parse("50", "DZD")
    assert w.core.subscribers.balances(ALI).bonus == Money.parse("50", "DZD")
    w.clock.advance(23 * 3600)
    assert w.core.topups.expire_bonuses() == 0
    w.clock.advance(3600)
    assert w.core.topups.expire_bonuses() == 1
    assert w.core.subscribers.balances(ALI).bonus.minor == 0
    assert w.balance(ALI) == 60000             # the main balance is untouched


def test_amazing_72h_tier(w):
    card = w.card(PAYER)
    w.pay_web(w.topup("DZ", "0551234567", "1000", payer="0661234567", product="amazing"), card)
    w.clock.advance(71 * 3600)
    assert w.core.topups.expire_bonuses() == 0
    w.clock.advance(3600)
    assert w.core.topups.expire_bonuses() == 1


def test_balance_cap_at_creation_is_refused_with_an_sms(w):
    order = w.topup("DZ", "0551234567", "5000", payer="0661234567")
    order2 = w.topup("DZ", "0551234567", "5000", payer="0661234567")
    assert order.state is State.PENDING_PAYMENT and order2.state is State.PENDING_PAYMENT
    w.line("DZ", "0771234567", "19500")
    refused = w.topup("DZ", "0771234567", "600", payer="0661234567")
    assert refused.state is State.REFUSED and refused.reason == "balance_cap"
    assert refused.gateway_ref is None
    w.settle_time()
    assert any("plafond de 20,000.00 DZD" in t for t in w.sms_to(PAYER))


def test_balance_cap_at_credit_time_refunds_the_card(w):
    w.line("DZ", "0771234567", "15000")
    card = w.card(PAYER)
    before = w.core.issuer.balance(card.card_id, "DZD")
    a = w.topup("DZ", "0771234567", "3000", payer="0661234567")
    b = w.topup("DZ", "0771234567", "3000", payer="0661234567")    # each fits alone
    assert w.pay_web(a, card).state is State.CREDITED
    b = w.pay_web(b, card)
    assert b.state is State.REFUNDED and b.reason == "balance_cap"
    assert w.balance("213771234567") == 1800000
    assert w.core.issuer.balance(card.card_id, "DZD") == before - Money.parse("3000", "DZD")
    r = w.core.conservation()
    assert r.refunded == {"DZD": 300000} and r.captured == {"DZD": 600000}


def test_three_wrong_otps_fail_the_order(w):
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "100").id, w.card_data(card))
    good = w.last_otp(PAYER)
    wrong = "000000" if good != "000000" else "111111"
    for left in (2, 1):
        with pytest.raises(Refused) as e:
            w.core.payments.confirm_otp(order.id, wrong)
        assert str(left) in e.value.message
    order = w.core.payments.confirm_otp(order.id, wrong)       # the third: the gateway declines
    assert order.state is State.FAILED
    with pytest.raises(Conflict):
        w.core.payments.confirm_otp(order.id, good)
    assert w.balance(ALI) == 10000


def test_non_digit_otp_costs_no_attempt(w):
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "100").id, w.card_data(card))
    for bad in ("12a456", "123"):
        with pytest.raises(Refused):
            w.core.payments.confirm_otp(order.id, bad)
    code = w.last_otp(PAYER)
    arabic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert w.core.payments.confirm_otp(order.id, arabic).state is State.CREDITED


def test_otp_expires_after_its_validity(w):
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "100").id, w.card_data(card))
    code = w.last_otp(PAYER)
    w.clock.advance(121)
    try:
        order = w.core.payments.confirm_otp(order.id, code)
    except Refused as e:
        assert "expired" in e.message
    assert w.core.payments.get(order.id).state is State.FAILED
    assert w.balance(ALI) == 10000


def test_otp_resends_are_limited(w):
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "100").id, w.card_data(card))
    for _ in range(3):
        w.core.payments.resend_otp(order.id)
    with pytest.raises(Refused):
        w.core.payments.resend_otp(order.id)
    w.clock.advance(0)
    assert len(w.core.sms.inbox(PAYER)) == 4
    assert w.core.payments.confirm_otp(order.id, w.last_otp(PAYER)).state is State.CREDITED


def test_declined_card(w):
    card = w.card(PAYER, DZD=1000)       # 10 DZD on the card
    order = w.topup("DZ", "0551234567", "100")
    try:
        w.core.payments.submit_card(order.id, w.card_data(card))
    except Refused as e:
        assert "insufficient" in e.message.lower() or "funds" in e.message.lower(), e.message
    w.settle_time()
    order = w.core.payments.get(order.id)
    assert order.state is State.FAILED and order.reason
    assert any("échouée" in t or "فشل" in t for t in w.sms_to(ALI))
    assert w.balance(ALI) == 10000
    assert w.core.conservation().captured == {}


def test_browser_never_came_back_resolved_by_status_query(store_url):
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("DZ", "0551234567")
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "200").id, w.card_data(card))
    gw = w.core.gateways["satim"]
    assert gw.confirm_otp(order.gateway_ref, w.last_otp(PAYER)).status is PaymentStatus.PAID
    w.settle_time(120)                       # no callback ever comes
    assert w.core.payments.get(order.id).state is State.OTP_PENDING
    assert w.core.payments.reconcile_pending(older_than_s=60) == 1
    assert w.core.payments.get(order.id).state is State.CREDITED
    assert w.core.payments.reconcile_pending(older_than_s=60) == 0
    assert w.balance(ALI) == 20000
    assert w.core.conservation().ok


def test_the_sweep_reads_the_waiting_orders_index_which_credited_orders_leave(store_url):
    """Migration 0012: orders_waiting holds only the states the sweep asks about, and both
    stores plan the sweep on it (SQLite only matches the index's own words: WAITING_SQL)."""
    from core.payments import SWEEP_SQL

    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("DZ", "0551234567")
    card = w.card(PAYER)
    waiting = w.core.payments.submit_card(w.topup("DZ", "0551234567", "200").id, w.card_data(card))
    done = w.core.payments.submit_card(w.topup("DZ", "0551234567", "300").id, w.card_data(card))
    assert w.core.payments.confirm_otp(done.id, w.last_otp(PAYER)).state is State.CREDITED
    store = w.core.store
    with store.transaction() as tx:
        if store.dialect == "sqlite":
            plan = " ".join(r["detail"] for r in tx.all("EXPLAIN QUERY PLAN " + SWEEP_SQL, (0, 10)))
        else:
            tx.execute("SET LOCAL enable_seqscan = off")       # a table this small is read whole
            plan = " ".join(r["QUERY PLAN"] for r in tx.all("EXPLAIN " + SWEEP_SQL, (0, 10)))
        names = {r["n"] for r in tx.all(
            "SELECT name AS n FROM sqlite_master WHERE type = 'index'" if store.dialect == "sqlite"
            else "SELECT indexname AS n FROM pg_indexes WHERE tablename IN ('orders', 'transfers')")}
    assert "orders_waiting" in plan, plan
    assert {"orders_waiting", "transfers_settlement"} <= names and not {"orders_state", "transfers_kind"} & names
    # Transfers by account: SQLite's foreign keys need them; PostgreSQL has no such keys (0013).
    assert ({"transfers_debit", "transfers_credit"} <= names) == (store.dialect == "sqlite")
    w.settle_time(120)
    assert w.core.payments.reconcile_pending(older_than_s=60) == 1           # the waiting one only
    assert w.core.payments.get(waiting.id).state is State.OTP_PENDING        # (its code never came)
    assert w.core.conservation().ok


def test_gateway_timeout_after_capture_is_credited_once(store_url):
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("DZ", "0551234567")
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "200").id, w.card_data(card))
    gw = w.core.gateways["satim"]
    gw.profile = GatewayProfile(timeout_rate=1.0, callback_loss_rate=1.0)
    order = w.core.payments.confirm_otp(order.id, w.last_otp(PAYER))   # charged, answer lost
    gw.profile = GatewayProfile(callback_loss_rate=1.0)
    assert order.state is State.CREDITED or w.core.payments.reconcile(order.id).state is State.CREDITED
    assert w.balance(ALI) == 20000


def test_a_resend_whose_answer_is_lost_leaves_the_order_waiting_for_its_code(store_url):
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("DZ", "0551234567")
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "200").id, w.card_data(card))
    gw = w.core.gateways["satim"]
    gw.profile = GatewayProfile(timeout_rate=1.0, callback_loss_rate=1.0)
    after = w.core.payments.resend_otp(order.id)           # resent, answer lost: no exception
    gw.profile = GatewayProfile(callback_loss_rate=1.0)
    assert after.state is State.OTP_PENDING
    assert w.core.payments.confirm_otp(order.id, w.last_otp(PAYER)).state is State.CREDITED
    assert w.balance(ALI) == 20000 and w.core.conservation().ok


def test_concurrent_reconciles_credit_once(store_url):
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("DZ", "0551234567")
    card = w.card(PAYER)
    order = w.core.payments.submit_card(w.topup("DZ", "0551234567", "300").id, w.card_data(card))
    w.core.gateways["satim"].confirm_otp(order.gateway_ref, w.last_otp(PAYER))

    def go(_i: int) -> None:
        w.core.payments.reconcile(order.id)
        w.core.payments.on_gateway_notify("satim", order.gateway_ref)
    race(go, 8)
    assert w.balance(ALI) == 30000
    r = w.core.conservation()
    assert r.ok and r.credited == {"DZD": 30000}


def test_two_captures_racing_to_the_balance_cap_credit_one(store_url):
    """The cap is checked on the balance read (and locked) in the capture's first statement:
    of two orders that each fit alone but not together, captured at the same moment by
    many threads, exactly one is credited and the other refunded."""
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("DZ", "0771234567", "15000")
    w.line("DZ", "0661234567")
    card = w.card(PAYER)
    orders = []
    for _ in range(2):
        order = w.core.payments.submit_card(w.topup("DZ", "0771234567", "3000", payer="0661234567").id,
                                            w.card_data(card))
        w.core.gateways["satim"].confirm_otp(order.gateway_ref, w.last_otp(PAYER))   # captured, unheard of
        orders.append(order)
    race(lambda i: w.core.payments.reconcile(orders[i % 2].id), 8)
    states = sorted(str(w.core.payments.get(o.id).state) for o in orders)
    assert states == ["credited", "refunded"], states
    assert w.balance("213771234567") == 1800000
    r = w.core.conservation()
    assert r.ok and r.credited == {"DZD": 300000} and r.refunded == {"DZD": 300000}


@pytest.mark.parametrize("kw,field", [
    (dict(amount="10"), "amount"), (dict(amount="6000"), "amount"), (dict(amount="0"), "amount"),
    (dict(amount="-100"), "amount"), (dict(amount="100.001"), "amount"), (dict(amount=100.5), "amount"),
    (dict(currency="EGP"), "currency"), (dict(currency="XXX"), "currency"),
    (dict(recipient="+33612345678"), "recipient"), (dict(recipient="0551"), "recipient"),
    (dict(product="mega"), "product"), (dict(email="not-mail"), "email"), (dict(market="MA"), "market"),
])
def test_bad_input_writes_nothing(w, kw, field):
    args = dict(market="DZ", recipient="0551234567", amount="100") | kw
    market, recipient, amount = args.pop("market"), args.pop("recipient"), args.pop("amount")
    with pytest.raises(InvalidInput) as e:
        w.topup(market, recipient, amount, **args)
    assert e.value.field == field and e.value.message.startswith(field)
    assert orders_count(w) == 0


def test_unknown_and_postpaid_recipients_are_refused(w):
    with pytest.raises(Refused, match="not a subscriber"):
        w.topup("DZ", "0559999999", "100")
    w.line("DZ", "0771111111", kind="postpaid")
    with pytest.raises(Refused, match="postpaid"):
        w.topup("DZ", "0771111111", "100", payer="0661234567")
    assert orders_count(w) == 0


def test_recipient_saved_only_after_a_confirmed_gift(w):
    card = w.card(PAYER)
    w.line("DZ", "0771234567")
    w.pay_web(w.topup("DZ", "0551234567", "100", payer="0661234567", save_recipient=True), card)
    w.pay_web(w.topup("DZ", "0771234567", "100", payer="0661234567"), card)
    failed = w.topup("DZ", "0771234567", "100", payer="0661234567", save_recipient=True)
    assert failed.state is State.PENDING_PAYMENT     # never paid: not saved
    assert w.core.subscribers.saved_recipients(PAYER) == [ALI]


def test_same_order_id_resumes_instead_of_duplicating(w):
    a = w.core.topups.create(__import__("core.topups", fromlist=["TopupRequest"]).TopupRequest(
        market="DZ", recipient="0551234567", amount="100"), order_id="ord_fixed")
    b = w.core.topups.create(__import__("core.topups", fromlist=["TopupRequest"]).TopupRequest(
        market="DZ", recipient="0551234567", amount="100"), order_id="ord_fixed")
    assert a.id == b.id == "ord_fixed" and a.gateway_ref == b.gateway_ref
    assert orders_count(w) == 1


def test_receipt_shows_masked_card_only_and_is_emailed(w):
    card = w.card(PAYER)
    order = w.pay_web(w.topup("DZ", "0551234567", "250", payer="0661234567", email="a@b.dz"), card)
    text = w.core.receipts.text(order.id)
    assert order.id in text and "250.00 DZD" in text and card.pan not in text
    assert card.pan[:6] in text and card.pan[-4:] in text and "Reçu de recharge" in text
    assert w.core.receipts.send(order.id) == "a@b.dz"
    [mail] = w.core.email.messages("a@b.dz")
    assert mail.attachments[0][0] == f"receipt-{order.id}.txt"
    with pytest.raises(InvalidInput):
        w.core.receipts.send(order.id, "nope")
    unpaid = w.topup("DZ", "0551234567", "100")
    with pytest.raises(Conflict):
        w.core.receipts.text(unpaid.id)
