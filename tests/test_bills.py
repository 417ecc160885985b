"""Bills (F3) and ADSL recharges (F2): billers as data, issue, lookup, pay by card + OTP or
directly, in full or in part; bad input refused naming the field; exactly once; on both stores."""
import copy
import threading
import tomllib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from core.billers import BILLERS_FILE, biller, load_billers, parse_billers
from core.bills import Bills, payable
from core.errors import Conflict, InvalidInput, NotFound, Refused
from core.instalments import allocate
from core.market import ProfileError
from core.money import Money
from core.orders import State
from core.wiring import seeded_ids, stream
from support import make_world

ELEC, GAZ, FIXE, ADSL = "dz-sonelgaz-elec", "dz-sonelgaz-gaz", "dz-at-fixe", "dz-at-adsl"
ACC, LINE = "165012345678", "034123456"
PAYER = "213551234567"


def dzd(text: str) -> Money:
    return Money.parse(text, "DZD")


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    core = world.core
    world.bills = getattr(core, "bills", None) or Bills(core.store, core.clock, core.payments, core.subscribers,
                                                        seeded_ids(stream(1, "bill-order-ids")))
    world.line("DZ", "0551234567", "100", language="fr")
    yield world
    report = core.conservation()
    assert report.ok, report.summary()
    core.close()


def count(w, table: str, where: str = "1 = 1") -> int:
    with w.core.store.autocommit() as tx:
        return int(tx.one(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}")["n"])


def balance(w, account: str) -> int:
    with w.core.store.autocommit() as tx:
        row = tx.one("SELECT credits - debits AS b FROM accounts WHERE id = ?", (account,))
    return int(row["b"]) if row else 0


# -- billers as data (no store) -----------------------------------------------------------------
def test_billers_are_data_per_market():
    billers = load_billers().billers
    assert {b.market for b in billers.values()} == {"DZ", "EG", "IR"}
    at, elec, adsl = biller(FIXE), biller(ELEC), biller(ADSL)
    assert (at.cycle, at.part_payments, at.currency) == ("bimonthly", False, "DZD")
    assert (elec.cycle, elec.part_payments, elec.min_payment) == ("quarterly", True, dzd("500"))
    assert biller(GAZ).kind == "gas" and biller("eg-ncedc-elec").currency == "EGP"
    assert biller("ir-tci-fixed").currency == "IRR" and set(biller("ir-tci-fixed").names) == {"fa"}
    assert set(at.names) == {"ar", "fr"}
    assert {p.speed_mbps: p.price for p in adsl.products.values() if p.months == 1} == {
        1: dzd("1600"), 2: dzd("2150"), 4: dzd("2600")}
    assert (elec.instalments.min_months, elec.instalments.max_months) == (3, 12)
    assert adsl.instalments is None and at.mandates.max_attempts == 3 and elec.mandates is None


def _raw() -> dict:
    return tomllib.loads(BILLERS_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("edit,where", [
    (lambda d: d["billers"][FIXE]["name"].pop("fr"), "billers.dz-at-fixe.name"),
    (lambda d: d["billers"][FIXE].__setitem__("cycle", "weekly"), "billers.dz-at-fixe.cycle"),
    (lambda d: d["billers"][FIXE].__setitem__("min_payment", "1.001"), "billers.dz-at-fixe.min_payment"),
    (lambda d: d["billers"][FIXE].__setitem__("market", "MA"), "billers.dz-at-fixe.market"),
    (lambda d: d["billers"][FIXE].__setitem__("colour", "blue"), "billers.dz-at-fixe"),
    (lambda d: d["billers"][ELEC]["instalments"].__setitem__("min_months", 24), "billers.dz-sonelgaz-elec.instalments"),
    (lambda d: d["billers"][ELEC].__setitem__("products", d["billers"][ADSL]["products"]),
     "billers.dz-sonelgaz-elec.products"),
    (lambda d: d["billers"][ADSL]["products"][0].__setitem__("price", 1600), "billers.dz-at-adsl.products[0].price"),
    (lambda d: d["texts"]["fr"].__setitem__("sms_bill_paid", "{amount} {pin}"), "texts.fr.sms_bill_paid"),
    (lambda d: d["texts"].pop("fa"), "texts"),
])
def test_biller_profile_errors_name_file_and_key(edit, where):
    data = copy.deepcopy(_raw())
    edit(data)
    with pytest.raises(ProfileError) as e:
        parse_billers(data, "billers.toml")
    assert str(e.value).startswith(f"billers.toml:{where}"), str(e.value)


def test_biller_and_account_and_period_errors_name_the_field():
    with pytest.raises(InvalidInput) as e:
        biller("dz-nope")
    assert e.value.field == "biller" and FIXE in e.value.message
    with pytest.raises(InvalidInput) as e:
        biller(FIXE, market="EG")
    assert e.value.field == "biller" and "eg-ncedc-elec" in e.value.message
    at = biller(FIXE)
    assert at.parse_account("٠٣٤ ١٢ ٣٤ ٥٦") == LINE                       # Arabic-Indic digits, spaces
    with pytest.raises(InvalidInput) as e:
        at.parse_account("0551234567")
    assert e.value.field == "account" and "9 digits" in e.value.message
    assert at.period("2026-03") == "2026-03"
    with pytest.raises(InvalidInput) as e:
        at.period("2026-02")                                             # bimonthly: Jan, Mar, May...
    assert e.value.field == "period" and "01, 03, 05" in e.value.message
    with pytest.raises(InvalidInput, match="period"):
        biller(ELEC).period("2026-13")


@given(st.lists(st.integers(0, 10_000), max_size=8), st.integers(0, 100_000))
def test_allocate_pays_oldest_first_and_never_over(remaining, amount):
    takes = allocate(remaining, amount)
    assert all(0 <= t <= r for t, r in zip(takes, remaining))
    assert sum(takes) == min(amount, sum(remaining))
    for i, t in enumerate(takes):          # a younger item gets money only once the older are paid
        if t > 0:
            assert all(takes[j] == remaining[j] for j in range(i))


# -- issuing and looking up ------------------------------------------------------------------------
def test_issue_is_idempotent_per_biller_account_and_period(w):
    bill = w.bills.issue(ELEC, ACC, "2025-10", "4800", "2025-11-15")
    again = w.bills.issue(ELEC, "1650 1234 5678", "2025-10", "4800.00", "2025-11-15")
    assert again == bill and bill.id == f"{ELEC}/{ACC}/2025-10" and bill.state == "open"
    assert count(w, "bills") == 1
    with pytest.raises(Conflict) as e:
        w.bills.issue(ELEC, ACC, "2025-10", "4900", "2025-11-15")
    assert e.value.field == "amount"
    with pytest.raises(Conflict) as e:
        w.bills.issue(ELEC, ACC, "2025-10", "4800", "2025-11-30")
    assert e.value.field == "due"
    for kwargs, field in [(dict(period="2025-11"), "period"), (dict(amount="-5"), "amount"),
                          (dict(due="15/11/2025"), "due"), (dict(currency="EUR"), "currency"),
                          (dict(account="12"), "account"), (dict(biller="sonelgaz"), "biller")]:
        args = dict(biller=ELEC, account=ACC, period="2026-01", amount="100", due="2026-02-15") | kwargs
        with pytest.raises(InvalidInput) as e:
            w.bills.issue(**args)
        assert e.value.field == field, (kwargs, e.value.message)
    assert count(w, "bills") == 1


def test_lookup_lists_unpaid_bills_oldest_first(w):
    with pytest.raises(NotFound) as e:
        w.bills.lookup(ELEC, ACC)
    assert e.value.field == "account"
    w.bills.issue(ELEC, ACC, "2026-01", "3200.50", "2026-02-15")
    w.bills.issue(ELEC, ACC, "2025-10", "4800", "2025-11-15")
    w.bills.issue(GAZ, ACC, "2025-10", "999", "2025-11-15")              # another biller, same number
    s = w.bills.lookup(ELEC, ACC)
    assert [b.period for b in s.bills] == ["2025-10", "2026-01"]
    assert s.outstanding == dzd("8000.50") and s.plan is None
    assert s.public()["outstanding"] == "8000.50"


# -- paying ------------------------------------------------------------------------------------------
def test_card_payment_in_full_is_credited_once(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-02-20")
    card = w.card(PAYER)
    order = w.bills.pay(FIXE, LINE, "2450", payer="0551234567")
    assert order.state is State.PENDING_PAYMENT and order.purpose == "bill" and order.target == f"{FIXE}:{LINE}"
    order = w.pay_web(order, card)
    assert order.state is State.CREDITED
    w.settle_time()
    for _ in range(3):                                   # late and duplicate callbacks change nothing
        w.core.payments.on_gateway_notify("satim", order.gateway_ref)
        w.core.payments.reconcile(order.id)
    assert w.bills.lookup(FIXE, LINE).outstanding.minor == 0
    assert w.bills.bill(f"{FIXE}/{LINE}/2026-01").state == "paid"
    assert balance(w, payable(FIXE, "DZD")) == 245000
    texts = w.sms_to(PAYER)
    assert sum("Paiement de 2,450.00 DZD reçu pour Algérie Télécom" in t for t in texts) == 1, texts
    assert "Reste dû : 0.00 DZD" in texts[-1]
    r = w.core.conservation()
    assert r.captured == {"DZD": 245000} and r.credited == {"DZD": 245000}


def test_part_payments_go_to_the_oldest_bill_open_part_paid_paid(w):
    old = w.bills.issue(ELEC, ACC, "2025-10", "4800", "2025-11-15")
    new = w.bills.issue(ELEC, ACC, "2026-01", "3200.50", "2026-02-15")
    a = w.bills.pay(ELEC, ACC, "1000", method="wallet", method_account="baridimob", channel="app")
    assert a.state is State.CREDITED
    assert [(x.state, x.paid) for x in (w.bills.bill(old.id), w.bills.bill(new.id))] == [
        ("part_paid", dzd("1000")), ("open", Money(0, "DZD"))]
    b = w.pay_web(w.bills.pay(ELEC, ACC, "5000", payer="0551234567"), w.card(PAYER))
    assert b.state is State.CREDITED
    assert [(x["bill_id"], x["amount"]) for x in w.bills.allocations(b.id)] == [(old.id, 380000), (new.id, 120000)]
    assert [(x.state, x.paid) for x in (w.bills.bill(old.id), w.bills.bill(new.id))] == [
        ("paid", dzd("4800")), ("part_paid", dzd("1200"))]
    c = w.bills.pay(ELEC, ACC, "2000.50", method="bank", method_account="cpa")
    assert c.state is State.CREDITED and w.bills.bill(new.id).state == "paid"
    assert [b.id for b in w.bills.lookup(ELEC, ACC).bills] == []
    assert balance(w, payable(ELEC, "DZD")) == 800050


def test_bad_payments_name_the_field_and_write_nothing(w):
    w.bills.issue(ELEC, ACC, "2025-10", "4800", "2025-11-15")
    cases = [
        (dict(biller="dz-unknown"), InvalidInput, "biller"),
        (dict(account="16501234567"), InvalidInput, "account"),
        (dict(account="165012345670"), NotFound, "account"),
        (dict(amount="300"), InvalidInput, "amount"),                       # below the 500 minimum
        (dict(amount="4800.01"), InvalidInput, "amount"),                   # above what is owed
        (dict(amount="0"), InvalidInput, "amount"),
        (dict(amount="12.345"), InvalidInput, "amount"),
        (dict(currency="EGP"), InvalidInput, "currency"),
        (dict(method="cash"), InvalidInput, "method"),
        (dict(method="wallet"), InvalidInput, "method"),                    # without its account
        (dict(channel="fax"), InvalidInput, "channel"),
        (dict(payer="0123"), InvalidInput, "payer"),
        (dict(language="en"), InvalidInput, "language"),
    ]
    for kwargs, error, field in cases:
        args = dict(biller=ELEC, account=ACC, amount="1000") | kwargs
        with pytest.raises(error) as e:
            w.bills.pay(**args)
        assert e.value.field == field, (kwargs, e.value.message)
    with pytest.raises(InvalidInput) as e:
        w.bills.pay(ELEC, ACC, "4801")
    assert "4800.00 DZD" in e.value.message                                # says what is owed
    assert count(w, "orders") == 0 and count(w, "transfers", "kind <> 'opening'") == 0
    w.bills.pay(ELEC, ACC, "4800", method="wallet", method_account="baridimob")
    with pytest.raises(Refused) as e:                                      # nothing owed any more
        w.bills.pay(ELEC, ACC, "500", method="wallet", method_account="baridimob")
    assert e.value.field == "account"
    assert count(w, "orders") == 1


def test_below_the_minimum_only_when_it_settles_bills_exactly(w):
    w.bills.issue(ELEC, ACC, "2025-10", "4800", "2025-11-15")
    w.bills.issue(ELEC, ACC, "2026-01", "3000", "2026-02-15")
    w.bills.pay(ELEC, ACC, "4500", method="wallet", method_account="baridimob")
    with pytest.raises(InvalidInput, match="minimum"):
        w.bills.pay(ELEC, ACC, "200", method="wallet", method_account="baridimob")
    order = w.bills.pay(ELEC, ACC, "300", method="wallet", method_account="baridimob")   # the old bill's rest
    assert order.state is State.CREDITED and w.bills.lookup(ELEC, ACC).outstanding == dzd("3000")


def test_billers_without_part_payments_take_whole_bills_only(w):
    w.bills.issue(FIXE, LINE, "2025-11", "1800", "2025-12-20")
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-02-20")
    with pytest.raises(InvalidInput) as e:
        w.bills.pay(FIXE, LINE, "2000", method="wallet", method_account="baridimob")
    assert e.value.field == "amount" and "1800.00, 4250.00 DZD" in e.value.message
    assert count(w, "orders") == 0
    assert w.bills.pay(FIXE, LINE, "4250", method="wallet", method_account="baridimob").state is State.CREDITED
    assert w.bills.lookup(FIXE, LINE).bills == ()


def test_a_second_card_payment_of_a_paid_bill_is_refunded(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-02-20")
    card = w.card(PAYER)
    before = w.core.issuer.balance(card.card_id, "DZD")
    a = w.bills.pay(FIXE, LINE, "2450", payer="0551234567")
    b = w.bills.pay(FIXE, LINE, "2450", payer="0551234567")             # both fit when created
    assert w.pay_web(a, card).state is State.CREDITED
    b = w.pay_web(b, card)
    assert b.state is State.REFUNDED and b.reason == "nothing_owed"
    assert w.core.issuer.balance(card.card_id, "DZD") == before - dzd("2450")
    w.settle_time()
    assert any("non appliqué (nothing_owed) : remboursé" in t for t in w.sms_to(PAYER))
    r = w.core.conservation()
    assert r.refunded == {"DZD": 245000} and r.credited == {"DZD": 245000}


def test_a_retried_payment_never_pays_twice(w):
    w.bills.issue(ELEC, ACC, "2025-10", "4800", "2025-11-15")
    first = w.bills.pay(ELEC, ACC, "1000", method="wallet", method_account="baridimob", order_id="ord_retry1")
    again = w.bills.pay(ELEC, ACC, "1000", method="wallet", method_account="baridimob", order_id="ord_retry1")
    assert first.state is State.CREDITED and again.id == first.id and again.state is State.CREDITED
    assert w.bills.lookup(ELEC, ACC).outstanding == dzd("3800") and count(w, "bill_allocations") == 1
    card1 = w.bills.pay(ELEC, ACC, "1000", order_id="ord_card1")
    card2 = w.bills.pay(ELEC, ACC, "1000", order_id="ord_card1")
    assert card2.gateway_ref == card1.gateway_ref and card2.state is State.PENDING_PAYMENT
    with pytest.raises(Conflict) as e:
        w.bills.pay(ELEC, ACC, "2000", method="wallet", method_account="baridimob", order_id="ord_retry1")
    assert e.value.field == "order_id"
    assert count(w, "orders") == 2


def test_concurrent_payments_of_one_bill_pay_it_once(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-02-20")
    results, errors = [], []

    def pay(i: int) -> None:
        try:
            results.append(w.bills.pay(FIXE, LINE, "2450", method="wallet", method_account=f"wallet-{i}"))
        except (Refused, InvalidInput) as e:
            errors.append(e)
    threads = [threading.Thread(target=pay, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(o.state is State.CREDITED for o in results) == 1
    assert all(o.state is State.FAILED and o.reason == "nothing_owed" for o in results
               if o.state is not State.CREDITED)
    assert len(results) + len(errors) == 4
    assert w.core.conservation().captured == {"DZD": 245000}


def test_adsl_recharge_extends_the_access(w):
    with pytest.raises(NotFound) as e:
        w.bills.recharge(ADSL, LINE, "adsl-2m", method="wallet", method_account="baridimob")
    assert e.value.field == "account"
    w.bills.enrol(ADSL, LINE)
    with pytest.raises(InvalidInput) as e:
        w.bills.recharge(ADSL, LINE, "adsl-10m", method="wallet", method_account="baridimob")
    assert e.value.field == "product" and "adsl-2m" in e.value.message
    with pytest.raises(InvalidInput) as e:
        w.bills.recharge(FIXE, LINE, "adsl-2m")
    assert e.value.field == "biller"
    a = w.bills.recharge(ADSL, LINE, "adsl-2m", method="wallet", method_account="baridimob", payer="0551234567")
    assert a.state is State.CREDITED and a.purpose == "adsl" and a.amount == dzd("2150")
    now_ms = int(w.clock.now() * 1000)
    assert w.bills.lookup(ADSL, LINE).adsl_valid_until_ms == now_ms + 30 * 86_400_000
    card = w.card(PAYER)
    b = w.pay_web(w.bills.recharge(ADSL, LINE, "adsl-4m-3mo", payer="0551234567"), card)
    assert b.state is State.CREDITED
    assert w.bills.lookup(ADSL, LINE).adsl_valid_until_ms == now_ms + 120 * 86_400_000    # queued after
    assert balance(w, payable(ADSL, "DZD")) == 215000 + 750000
    w.settle_time()
    assert any("Recharge Idoom ADSL 2 Mbps - 1 mois du compte 034123456 effectuée, valable jusqu'au 2026-01-31"
               in t for t in w.sms_to(PAYER))


def test_egypt_and_iran_bills_in_their_currency_and_digits(w):
    w.line("EG", "01012345678", "10")
    w.line("IR", "09121234567", "1000")
    w.bills.issue("eg-ncedc-elec", "1234567890", "2026-01", "245.50", "2026-02-10")
    with pytest.raises(InvalidInput) as e:
        w.bills.pay("eg-ncedc-elec", "1234567890", "245.50", currency="DZD")
    assert e.value.field == "currency"
    w.core.payments.deposit_float("fawry-17", Money.parse("1000", "EGP"), "dep-1")
    eg = w.bills.pay("eg-ncedc-elec", "1234567890", "245.50", method="kiosk", method_account="fawry-17",
                     channel="kiosk", payer="01012345678")
    assert eg.state is State.CREDITED and balance(w, payable("eg-ncedc-elec", "EGP")) == 24550
    w.bills.issue("ir-tci-fixed", "۰۲۱۸۸۷۷۶۶۵۵", "2026-01", "485000", "2026-02-10")   # Persian digits
    ir = w.bills.pay("ir-tci-fixed", "02188776655", "485000", method="bank", method_account="mellat",
                     payer="09121234567")
    assert ir.state is State.CREDITED
    w.settle_time()
    assert any("٢٤٥٫٥٠" in t or "٢٤٥.٥٠" in t for t in w.sms_to("201012345678"))
    assert any("۴۸۵,۰۰۰ IRR" in t for t in w.sms_to("989121234567"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bills=st.lists(st.integers(1, 500_000), min_size=1, max_size=4),
       payments=st.lists(st.integers(1, 900_000), min_size=1, max_size=6))
def test_any_part_payments_never_over_allocate_and_conserve_money(w, bills, payments):
    account = f"{w.rng.randrange(10**11, 10**12):012d}"
    for i, minor in enumerate(bills):
        w.bills.issue(GAZ, account, f"{2020 + i}-01", Money(minor, "DZD"), f"{2020 + i}-02-15")
    owed, credited = sum(bills), 0
    for minor in payments:
        try:
            order = w.bills.pay(GAZ, account, Money(minor, "DZD"), method="wallet", method_account="baridimob")
        except (InvalidInput, Refused):
            assert minor > owed - credited or minor < 50_000 or owed == credited
            continue
        assert order.state is State.CREDITED and minor <= owed - credited
        credited += minor
        assert sum(int(a["amount"]) for a in w.bills.allocations(order.id)) == minor
    statement = w.bills.lookup(GAZ, account)
    assert statement.outstanding.minor == owed - credited
    with w.core.store.autocommit() as tx:
        rows = tx.all("SELECT amount, paid FROM bills WHERE account = ?", (account,))
        allocated = tx.one("SELECT COALESCE(SUM(a.amount), 0) AS s FROM bill_allocations a JOIN bills b"
                           " ON b.id = a.bill_id WHERE b.account = ?", (account,))["s"]
    assert all(0 <= int(r["paid"]) <= int(r["amount"]) for r in rows)
    assert sum(int(r["paid"]) for r in rows) == credited == int(allocated)
    assert w.core.conservation().ok


def test_iran_bill_by_card_and_pin2_the_verify_step_refuses_a_second_payment(w):
    w.line("IR", "09121234567", language="fa")
    w.bills.issue("ir-tci-fixed", "02188776655", "2026-01", "485000", "2026-02-10")
    card = w.card("989121234567")
    before = w.core.issuer.balance(card.card_id, "IRR")
    a = w.bills.pay("ir-tci-fixed", "02188776655", "485000", payer="09121234567")
    b = w.bills.pay("ir-tci-fixed", "02188776655", "485000", payer="09121234567")
    assert a.gateway == "shaparak" and a.state is State.PENDING_PAYMENT
    w.core.payments.submit_card(a.id, w.card_data(card, pin2=True, cvc2=False))
    w.settle_time()
    assert w.core.payments.get(a.id).state is State.CREDITED
    b = w.core.payments.submit_card(b.id, w.card_data(card, pin2=True, cvc2=False))
    w.settle_time()
    b = w.core.payments.get(b.id)
    assert b.state is State.FAILED and b.reason == "nothing_owed"         # reversed before verify
    assert w.core.issuer.balance(card.card_id, "IRR") == before - Money(485000, "IRR")
    assert any("۴۸۵,۰۰۰ IRR" in t and "بازگشت" in t for t in w.sms_to("989121234567"))
