"""Meter vending (F5, F6) on both stores: STS tokens a meter accepts, card records with the
purchase-count rule, exactly-once vends, card replacement with a fee, bad input."""
import pytest

from core.errors import Conflict, InvalidInput, NotFound
from core.money import Money
from core.orders import State
from core.tariffs import tariff
from protocols import sts
from protocols import utility_card as uc
from support import make_world

STS_METER, CARD_METER = "47500150231", "04040404040"


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.core.meters.register("EG", STS_METER, kind="sts", tariff="EG-RES", customer="Mona Hassan")
    world.core.meters.register("EG", CARD_METER, kind="card", tariff="EG-RES", customer="Omar Farouk")
    world.core.payments.deposit_float("aman-3", Money.parse("5000", "EGP"), "float-1")
    yield world
    report = world.core.conservation()
    assert report.ok, report.summary()
    world.core.close()


def kiosk_vend(w, meter, amount, **kw):
    return w.core.vending.vend(meter, amount, method="kiosk", method_account="aman-3", channel="kiosk", **kw)


def test_sts_token_is_accepted_by_the_meter_once(w):
    order = kiosk_vend(w, STS_METER, "100")
    assert order.state is State.CREDITED
    v = w.core.vending.result(order.id)
    expected = tariff("EG-RES").convert(Money.parse("100", "EGP"), 0, fee_due=True)
    assert v["fee"] == 1000 and v["energy_kwh"] == f"{expected.energy_tenths / 10:.1f}"
    key = w.core.vending.purpose.decoder_key(w.core.meters.get(STS_METER))
    decoded = sts.decode(v["token"], key)
    assert decoded.result is sts.TokenResult.ACCEPTED
    assert decoded.token.tenths == expected.energy_tenths
    memory = sts.TidMemory(capacity=50)
    assert memory.accept(decoded.token.tid) is sts.TokenResult.ACCEPTED
    assert memory.accept(decoded.token.tid) is sts.TokenResult.USED
    second = w.core.vending.result(kiosk_vend(w, STS_METER, "100").id)
    assert second["tid"] == v["tid"] + 1 and second["fee"] == 0          # same minute: TIDs still grow
    with w.core.store.transaction() as tx:
        owed = tx.one("SELECT credits - debits AS b FROM accounts WHERE id = 'utility:eehc:EGP'")["b"]
    assert owed == 20000


def test_a_retried_vend_returns_the_same_token(w):
    a = kiosk_vend(w, STS_METER, "50", order_id="vend-1")
    b = kiosk_vend(w, STS_METER, "50", order_id="vend-1")
    assert a.id == b.id and w.core.vending.result(a.id) == w.core.vending.result(b.id)
    with w.core.store.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM vends")["n"] == 1
    with pytest.raises(Conflict):
        kiosk_vend(w, STS_METER, "60", order_id="vend-1")


def test_card_paid_vend_has_its_token_once_paid(w):
    card = w.card("201012345678")
    order = w.core.vending.vend(STS_METER, "75", method="card")
    assert order.state is State.PENDING_PAYMENT
    with pytest.raises(Conflict):
        w.core.vending.result(order.id)
    order = w.pay_web(order, card)
    assert order.state is State.CREDITED and len(w.core.vending.result(order.id)["token"]) == 20


def test_card_meter_records_follow_the_purchase_count_rule(w):
    w.core.meters.issue_card(CARD_METER, "04A1B2C3D4E5F607")
    master = w.core.keys.card_master_key("eehc")
    key = uc.credit_key(master, "04A1B2C3D4E5F607")
    first = uc.decode(uc.from_text(w.core.vending.result(kiosk_vend(w, CARD_METER, "100").id)["record"]), key)
    assert (first.kind, first.purchase_count, first.credit, first.paid) == ("activation", 1, 9000, 10000)
    meter = uc.MeterCardState(meter_number=CARD_METER, purchase_count=0)
    out = uc.apply(meter, first, hoarding_limit=500_000)
    assert out.credited == 9000 and out.registered
    second = uc.decode(uc.from_text(w.core.vending.result(kiosk_vend(w, CARD_METER, "50").id)["record"]), key)
    assert (second.kind, second.purchase_count, second.credit) == ("credit", 2, 5000)
    out2 = uc.apply(out.state, second, hoarding_limit=500_000)
    assert out2.credited == 5000
    replay = uc.apply(out2.state, second, hoarding_limit=500_000)
    assert replay.credited == 0                                   # already loaded
    with pytest.raises(uc.MacError):                              # copied onto another card
        uc.decode(uc.from_text(w.core.vending.result(kiosk_vend(w, CARD_METER, "20").id)["record"]),
                  uc.credit_key(master, "04FFFFFFFFFFFF01"))


def test_lost_card_replaced_for_a_fee_and_the_old_card_dies(w):
    w.core.meters.issue_card(CARD_METER, "04A1B2C3D4E5F607")
    master = w.core.keys.card_master_key("eehc")
    old_key = uc.credit_key(master, "04A1B2C3D4E5F607")
    rec1 = uc.decode(uc.from_text(w.core.vending.result(kiosk_vend(w, CARD_METER, "100").id)["record"]), old_key)
    meter = uc.apply(uc.MeterCardState(meter_number=CARD_METER), rec1, hoarding_limit=10**6).state
    fee = w.core.vending.replace_card(CARD_METER, "04B0B0B0B0B0B001", "lost", method="kiosk", method_account="aman-3")
    assert fee.state is State.CREDITED and fee.amount == Money.parse("30", "EGP")
    assert w.core.meters.card_state("04A1B2C3D4E5F607") == "lost"
    new_key = uc.credit_key(master, "04B0B0B0B0B0B001")
    rec2 = uc.decode(uc.from_text(w.core.vending.result(kiosk_vend(w, CARD_METER, "40").id)["record"]), new_key)
    assert (rec2.kind, rec2.purchase_count, rec2.card_serial) == ("activation", 2, "04B0B0B0B0B0B001")
    meter = uc.apply(meter, rec2, hoarding_limit=10**6).state
    assert meter.card_serial == "04B0B0B0B0B0B001"
    stale = uc.CreditRecord(meter_number=CARD_METER, card_serial="04A1B2C3D4E5F607", utility_id=818,
                            purchase_count=3, credit=100, paid=100, currency="EGP", issued_at=rec2.issued_at,
                            vend_ref=uc.vend_ref_from_id("x"))
    assert uc.apply(meter, stale, hoarding_limit=10**6).credited == 0       # the lost card is refused
    with pytest.raises(Conflict):
        w.core.vending.replace_card(CARD_METER, "04B0B0B0B0B0B001", "lost", method="kiosk", method_account="aman-3")


def test_bands_climb_within_a_month_and_the_fee_comes_back_next_month(w):
    t = tariff("EG-RES")
    a = w.core.vending.result(kiosk_vend(w, STS_METER, "100").id)
    b = w.core.vending.result(kiosk_vend(w, STS_METER, "100").id)
    assert int(float(b["energy_kwh"]) * 10) == t.convert(Money.parse("100", "EGP"),
                                                         int(float(a["energy_kwh"]) * 10), False).energy_tenths
    assert float(b["energy_kwh"]) < float(a["energy_kwh"]) + 9       # dearer band, no fee
    w.clock.advance(31 * 86400)
    c = w.core.vending.result(kiosk_vend(w, STS_METER, "100").id)
    assert c["fee"] == 1000 and c["energy_kwh"] == a["energy_kwh"]


def test_bad_input(w):
    with pytest.raises(NotFound):
        kiosk_vend(w, "12345678903", "100")
    with pytest.raises(InvalidInput, match="Luhn"):
        kiosk_vend(w, "47500150232", "100")
    with pytest.raises(InvalidInput, match="below the minimum charge of 18.00 EGP"):
        kiosk_vend(w, STS_METER, "17.99")
    with pytest.raises(InvalidInput, match="above the credit limit"):
        kiosk_vend(w, STS_METER, "5000.01")
    with pytest.raises(InvalidInput, match="keypad"):
        w.core.meters.issue_card(STS_METER, "04A1B2C3D4E5F607")
    with pytest.raises(Conflict, match="already registered"):
        w.core.meters.register("EG", STS_METER, kind="card", tariff="EG-RES", customer="x")
    with pytest.raises(InvalidInput, match="EG tariff"):
        w.core.meters.register("DZ", "12345678903", kind="sts", tariff="EG-RES", customer="x")
    failed = kiosk_vend(w, CARD_METER, "100")             # a card meter with no card yet
    assert failed.state is State.FAILED and failed.reason == "no_active_card"
    with w.core.store.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM vends")["n"] == 0


def test_a_vend_has_a_receipt_naming_the_meter(w):
    order = kiosk_vend(w, STS_METER, "100")
    text = w.core.receipts.text(order.id)
    assert STS_METER in text and "100.00 EGP" in text
