"""Standing mandates on a postal (CCP) account (F2, seed 001): requested -> active with the
post office's access code -> revoked; automatic debits of due bills, plan instalments and ADSL
recharges, once per item and period; insufficient funds reported and retried; both stores."""
import threading

import pytest

from core.adapters.postal import PostalBank
from core.bills import Bills
from core.errors import Conflict, InvalidInput, NotFound, Refused
from core.instalments import Instalments
from core.mandates import Mandates, parse_ccp
from core.money import Money
from core.orders import State
from core.wiring import seeded_ids, stream
from support import make_world

FIXE, ADSL, ELEC = "dz-at-fixe", "dz-at-adsl", "dz-sonelgaz-elec"
LINE, CCP = "034123456", "0012345678-90"
CUSTOMER = "213551234567"
DAY = 86_400


def dzd(text: str) -> Money:
    return Money.parse(text, "DZD")


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    core = world.core
    world.bills = getattr(core, "bills", None) or Bills(core.store, core.clock, core.payments, core.subscribers,
                                                        seeded_ids(stream(1, "bill-order-ids")))
    world.plans = getattr(core, "instalments", None) or Instalments(core.store, core.clock, core.sms)
    world.postal = getattr(core, "postal", None) or PostalBank(core.clock, stream(1, "postal"))
    world.mandates = getattr(core, "mandates", None) or Mandates(
        core.store, core.clock, world.bills, world.postal, seeded_ids(stream(1, "mandate-ids"), "mdt_"))
    world.line("DZ", "0551234567", language="fr")
    world.postal.open_account(CCP, "AMINA BENALI", dzd("10000"))
    yield world
    report = core.conservation()
    assert report.ok, report.summary()
    with core.store.autocommit() as tx:          # what the post paid out is what we took from it
        taken = tx.one("SELECT COALESCE(SUM(debits - credits), 0) AS s FROM accounts WHERE id LIKE 'postal:%'")["s"]
    assert int(taken) == world.postal.net_debited().get("DZD", 0)
    core.close()


def active_mandate(w, biller: str = FIXE, **kw):
    m = w.mandates.request("DZ", biller, LINE, "12345678 clé 90", "0551234567", language="fr", **kw)
    return w.mandates.activate(m.id, w.postal.handed_out(m.id))


def outcomes(run) -> list[tuple[str, str]]:
    return [(x.kind, x.outcome) for x in run.lines]


def ccp_balance(w) -> Money:
    return w.postal.balance(CCP, "DZD")


# -- the mandate itself -------------------------------------------------------------------------
@pytest.mark.parametrize("typed", ["0012345678 90", "12345678 clé 90", "CCP 12345678/90", "001234567890",
                                   "١٢٣٤٥٦٧٨ ٩٠", "12345678-90"])
def test_ccp_as_written_on_a_cheque(typed):
    assert parse_ccp(typed) == CCP


@pytest.mark.parametrize("typed", ["", "123", "12345678901 90", "1234567890", "abc 12", None])
def test_bad_ccp_names_the_field(typed):
    with pytest.raises(InvalidInput) as e:
        parse_ccp(typed)
    assert e.value.field == "ccp"


def test_requested_then_active_with_the_access_code_then_revoked(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-02-20")
    m = w.mandates.request("DZ", FIXE, "034 12 34 56", "12345678 clé 90", "0551234567", language="fr")
    assert (m.state, m.ccp, m.customer) == ("requested", CCP, CUSTOMER)
    code = w.postal.handed_out(m.id)
    with w.core.store.autocommit() as tx:
        stored = tx.one("SELECT * FROM mandates WHERE id = ?", (m.id,))
    assert code not in str(stored) and stored["code_hash"].startswith("pbkdf2_sha256$")   # only a hash
    wrong = "00000000" if code != "00000000" else "11111111"
    with pytest.raises(Refused) as e:
        w.mandates.activate(m.id, wrong)
    assert e.value.field == "access_code" and "4 tries left" in e.value.message
    with pytest.raises(InvalidInput) as e:
        w.mandates.activate(m.id, "12ab")
    assert e.value.field == "access_code"
    with pytest.raises(NotFound) as e:
        w.mandates.activate("mdt_nope", code)
    assert e.value.field == "mandate_id"
    arabic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    m = w.mandates.activate(m.id, arabic)
    assert m.state == "active" and m.activated_ms is not None
    assert w.mandates.activate(m.id, code).state == "active"              # again: changes nothing
    w.settle_time()
    assert sum("Mandat postal activé" in t for t in w.sms_to(CUSTOMER)) == 1
    m = w.mandates.revoke(m.id)
    assert m.state == "revoked" and w.mandates.revoke(m.id).state == "revoked"
    with pytest.raises(Conflict) as e:
        w.mandates.activate(m.id, code)
    assert e.value.field == "mandate_id"
    again = w.mandates.request("DZ", FIXE, LINE, CCP, "0551234567")      # a new form after a revocation
    assert again.id != m.id and again.state == "requested"


def test_wrong_codes_block_the_mandate(w):
    w.bills.enrol(FIXE, LINE)
    m = w.mandates.request("DZ", FIXE, LINE, CCP, "0551234567")
    code = w.postal.handed_out(m.id)
    wrong = "00000000" if code != "00000000" else "11111111"
    for _ in range(4):
        with pytest.raises(Refused, match="tries left"):
            w.mandates.activate(m.id, wrong)
    with pytest.raises(Refused) as e:
        w.mandates.activate(m.id, wrong)
    assert "blocked" in e.value.message and w.mandates.get(m.id).state == "blocked"
    with pytest.raises(Conflict):
        w.mandates.activate(m.id, code)


def test_bad_requests_name_the_field(w):
    w.bills.enrol(FIXE, LINE)
    w.bills.issue(ELEC, "165012345678", "2025-10", "4800", "2025-11-15")
    cases = [
        (dict(biller=ELEC, account="165012345678"), Refused, "biller"),   # Sonelgaz takes no mandates
        (dict(market="EG"), InvalidInput, "biller"),
        (dict(market="MA"), InvalidInput, "market"),
        (dict(account="034000000"), NotFound, "account"),
        (dict(account="12"), InvalidInput, "account"),
        (dict(ccp="999 12"), NotFound, "ccp"),                            # no such account at the post
        (dict(ccp="12"), InvalidInput, "ccp"),
        (dict(customer="0123"), InvalidInput, "customer"),
        (dict(product="adsl-2m"), InvalidInput, "product"),              # the fixed line sells none
        (dict(language="en"), InvalidInput, "language"),
    ]
    for kwargs, error, field in cases:
        args = dict(market="DZ", biller=FIXE, account=LINE, ccp=CCP, customer="0551234567") | kwargs
        with pytest.raises(error) as e:
            w.mandates.request(**args)
        assert e.value.field == field, (kwargs, e.value.message)
    m = w.mandates.request("DZ", FIXE, LINE, CCP, "0551234567")
    assert w.mandates.request("DZ", FIXE, LINE, CCP, "0551234567") == m   # a retry: the same mandate
    w.postal.open_account("0000000042-17", "KARIM HADDAD")
    with pytest.raises(Conflict) as e:
        w.mandates.request("DZ", FIXE, LINE, "42 17", "0551234567")
    assert e.value.field == "account" and m.id in e.value.message


# -- debits -------------------------------------------------------------------------------------
def test_due_bills_are_debited_once_per_bill_and_period(w):
    first = w.bills.issue(FIXE, LINE, "2025-11", "1800", "2026-01-01")
    second = w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-02-20")
    m = active_mandate(w)
    run = w.mandates.debit_due()
    assert outcomes(run) == [("bill", "paid")] and run.lines[0].key == f"mandate:{m.id}:{first.id}:2025-11"
    order = w.core.payments.get(run.lines[0].order_id)
    assert (order.method, order.method_account, order.channel, order.payer) == ("mandate", CCP, "mandate", CUSTOMER)
    assert order.state is State.CREDITED and w.bills.bill(first.id).state == "paid"
    assert ccp_balance(w) == dzd("8200")
    assert outcomes(w.mandates.debit_due()) == []                         # nothing new: nothing done
    w.clock.advance(50 * DAY)                                             # 2026-02-20: the second is due
    run = w.mandates.debit_due()
    assert outcomes(run) == [("bill", "paid")] and w.bills.bill(second.id).state == "paid"
    assert outcomes(w.mandates.debit_due()) == []
    assert ccp_balance(w) == dzd("5750")
    assert [d["state"] for d in w.mandates.debits(m.id)] == ["paid", "paid"]
    w.settle_time()
    assert sum("Paiement de 2,450.00 DZD reçu" in t for t in w.sms_to(CUSTOMER)) == 1
    assert "1 paid" in run.summary() and "dz-at-fixe/034123456/2026-01" in run.summary()


def test_insufficient_funds_are_reported_and_retried_at_most_n_times(w):
    w.postal.open_account("0000000042-17", "KARIM HADDAD", dzd("1000"))
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = w.mandates.activate(*(lambda m: (m.id, w.postal.handed_out(m.id)))(
        w.mandates.request("DZ", FIXE, LINE, "42 17", "0551234567", language="fr")))
    runs = [w.mandates.debit_due() for _ in range(2)]
    assert [outcomes(r) for r in runs] == [[("bill", "insufficient_funds")]] * 2
    assert [x.detail for r in runs for x in r.lines] == ["attempt 1 of 3", "attempt 2 of 3"]
    w.postal.deposit("0000000042-17", dzd("2000"))
    assert outcomes(w.mandates.debit_due()) == [("bill", "paid")]         # the third attempt
    assert w.postal.balance("0000000042-17", "DZD") == dzd("550")
    row = w.mandates.debits(m.id)[0]
    assert (row["state"], row["attempts"]) == ("paid", 2)
    w.settle_time()
    texts = w.sms_to(CUSTOMER)
    assert [t for t in texts if "insuffisant" in t][-1].endswith("(essai 2 sur 3).")


def test_the_mandate_gives_up_after_max_attempts(w):
    w.postal.open_account("0000000042-17", "KARIM HADDAD", dzd("1000"))
    bill = w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = w.mandates.request("DZ", FIXE, LINE, "42 17", "0551234567", language="fr")
    w.mandates.activate(m.id, w.postal.handed_out(m.id))
    runs = [w.mandates.debit_due() for _ in range(4)]
    assert [outcomes(r) for r in runs] == [[("bill", "insufficient_funds")], [("bill", "insufficient_funds")],
                                           [("bill", "gave_up")], []]
    assert w.bills.bill(bill.id).state == "open" and w.postal.balance("0000000042-17", "DZD") == dzd("1000")
    w.settle_time()
    assert any("non prélevé sur le CCP 0000000042-17 après 3 essais" in t for t in w.sms_to(CUSTOMER))


def test_a_revoked_mandate_is_never_debited(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = active_mandate(w)
    w.mandates.revoke(m.id)
    with pytest.raises(Conflict) as e:
        w.mandates.debit_due(mandate_id=m.id)
    assert e.value.field == "mandate_id" and "revoked" in e.value.message
    assert outcomes(w.mandates.debit_due()) == []
    assert ccp_balance(w) == dzd("10000") and w.mandates.debits(m.id) == []
    with pytest.raises(Conflict):
        w.mandates.debit_due(mandate_id=w.mandates.request("DZ", FIXE, LINE, CCP, "0551234567").id)   # requested


def test_scheduled_adsl_recharge_once_per_period(w):
    w.bills.enrol(ADSL, LINE)
    m = active_mandate(w, ADSL, product="adsl-2m")
    run = w.mandates.debit_due()
    assert outcomes(run) == [("recharge", "paid")] and run.lines[0].key == f"mandate:{m.id}:adsl-2m:2026-01"
    assert outcomes(w.mandates.debit_due()) == []
    w.clock.advance(20 * DAY)
    assert outcomes(w.mandates.debit_due()) == []                          # still January
    w.clock.advance(12 * DAY)                                              # 2026-02-02
    run = w.mandates.debit_due()
    assert outcomes(run) == [("recharge", "paid")] and run.lines[0].key.endswith(":adsl-2m:2026-02")
    assert ccp_balance(w) == dzd("10000") - dzd("2150") - dzd("2150")
    now_ms = int(w.clock.now() * 1000)                                     # the access had lapsed on Jan 31
    assert w.bills.lookup(ADSL, LINE).adsl_valid_until_ms == now_ms + 30 * DAY * 1000


def test_a_plan_instalment_is_debited_when_due(w):
    w.bills.issue(FIXE, LINE, "2025-09", "1800", "2025-10-20")
    w.bills.issue(FIXE, LINE, "2025-11", "2400", "2025-12-20")
    plan = w.plans.accept(w.plans.propose(FIXE, LINE, "1500"))            # 1500, 1500, 1200
    m = active_mandate(w)
    assert outcomes(w.mandates.debit_due()) == []                          # nothing due before Feb 1
    w.clock.advance(31 * DAY)
    run = w.mandates.debit_due()
    assert outcomes(run) == [("instalment", "paid")]
    assert run.lines[0].key == f"mandate:{m.id}:{plan.id}#1:2026-02" and run.lines[0].amount == dzd("1500")
    assert [i.state for i in w.plans.get(plan.id).instalments] == ["paid", "due", "due"]
    assert outcomes(w.mandates.debit_due()) == []


def test_a_lost_answer_from_the_post_debits_once(w):
    bill = w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    active_mandate(w)
    w.postal.lose_answers = 1
    assert outcomes(w.mandates.debit_due()) == [("bill", "postal_unavailable")]
    assert ccp_balance(w) == dzd("7550")                                   # the post did debit
    assert outcomes(w.mandates.debit_due()) == [("bill", "paid")]          # same reference: no second debit
    assert ccp_balance(w) == dzd("7550") and w.bills.bill(bill.id).state == "paid"
    assert outcomes(w.mandates.debit_due()) == []


def test_money_taken_for_a_bill_paid_meanwhile_goes_back(w):
    bill = w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = active_mandate(w)
    w.postal.lose_answers = 1
    w.mandates.debit_due()
    w.bills.pay(FIXE, LINE, "2450", method="wallet", method_account="baridimob")   # paid another way
    run = w.mandates.debit_due()
    assert outcomes(run) == [("bill", "reversed")] and "owes nothing" in run.lines[0].detail
    assert ccp_balance(w) == dzd("10000") and w.bills.bill(bill.id).state == "paid"
    assert w.mandates.debits(m.id)[0]["state"] == "reversed"
    assert outcomes(w.mandates.debit_due()) == []                          # no longer due: nothing taken
    assert w.mandates.debits(m.id)[0]["state"] == "cancelled" and ccp_balance(w) == dzd("10000")


def test_a_reversed_debit_is_tried_again_next_run_if_still_due(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = active_mandate(w)
    w.postal.lose_answers = 1
    w.mandates.debit_due()                                                 # 2,450 taken, the answer lost
    older = w.bills.issue(FIXE, LINE, "2025-11", "1000", "2025-12-20")     # an older bill shows up meanwhile
    run = w.mandates.debit_due()
    assert [(x.item, x.outcome) for x in run.lines] == [
        (f"{FIXE}/{LINE}/2026-01", "reversed"), (older.id, "paid")]        # oldest first: 2,450 settled nothing whole
    assert "takes no part payments" in run.lines[0].detail
    assert ccp_balance(w) == dzd("9000")
    run = w.mandates.debit_due()
    assert outcomes(run) == [("bill", "paid")] and ccp_balance(w) == dzd("6550")
    assert w.bills.lookup(FIXE, LINE).outstanding.minor == 0
    assert {d["item"]: (d["state"], d["attempts"]) for d in w.mandates.debits(m.id)} == {
        older.id: ("paid", 0), f"{FIXE}/{LINE}/2026-01": ("paid", 1)}
    assert outcomes(w.mandates.debit_due()) == []


def test_an_unavailable_post_takes_nothing_and_the_next_run_debits(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = active_mandate(w)
    w.postal.unavailable = True
    assert outcomes(w.mandates.debit_due()) == [("bill", "postal_unavailable")]
    assert ccp_balance(w) == dzd("10000")
    w.postal.unavailable = False
    assert outcomes(w.mandates.debit_due()) == [("bill", "paid")]
    assert ccp_balance(w) == dzd("7550") and w.mandates.debits(m.id)[0]["attempts"] == 0


def test_a_crash_between_the_debit_and_the_order_is_finished_by_the_next_run(w, monkeypatch):
    bill = w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = active_mandate(w)
    real_pay = w.bills.pay
    monkeypatch.setattr(w.bills, "pay", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        w.mandates.debit_due()
    assert w.mandates.debits(m.id)[0]["state"] == "debited" and ccp_balance(w) == dzd("7550")
    monkeypatch.setattr(w.bills, "pay", real_pay)
    w.mandates.revoke(m.id)                                                # even once revoked: finish it
    assert outcomes(w.mandates.debit_due()) == [("bill", "paid")]
    assert ccp_balance(w) == dzd("7550") and w.bills.bill(bill.id).state == "paid"


def test_a_closed_ccp_account_fails_the_debit(w):
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    m = active_mandate(w)
    w.postal.close_account(CCP)
    run = w.mandates.debit_due()
    assert outcomes(run) == [("bill", "failed")] and "closed" in run.lines[0].detail
    assert outcomes(w.mandates.debit_due()) == []
    assert w.mandates.debits(m.id)[0]["state"] == "failed"


def test_concurrent_runs_debit_once(w):
    w.bills.issue(FIXE, LINE, "2025-11", "1800", "2025-12-20")
    w.bills.issue(FIXE, LINE, "2026-01", "2450", "2026-01-01")
    active_mandate(w)
    runs = []
    threads = [threading.Thread(target=lambda: runs.append(w.mandates.debit_due())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(runs) == 3
    assert ccp_balance(w) == dzd("10000") - dzd("4250")
    assert w.bills.lookup(FIXE, LINE).outstanding.minor == 0
    assert w.core.conservation().captured == {"DZD": 425000}
