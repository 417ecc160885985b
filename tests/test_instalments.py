"""Instalment plans for debt (F3, seed 002): a schedule fitted to what the customer can pay,
payments to the oldest due instalment, missed instalments, default, early payoff; both stores."""
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from core.bills import Bills
from core.errors import Conflict, InvalidInput, NotFound, Refused
from core.instalments import Instalments, fit_schedule
from core.money import Money
from core.orders import State
from core.wiring import seeded_ids, stream
from support import make_world

ELEC, FIXE, ADSL = "dz-sonelgaz-elec", "dz-at-fixe", "dz-at-adsl"
ACC = "165012345678"
CUSTOMER = "213551234567"
DAY = 86_400


def dzd(text: str) -> Money:
    return Money.parse(text, "DZD")


def day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d")


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    core = world.core
    world.bills = getattr(core, "bills", None) or Bills(core.store, core.clock, core.payments, core.subscribers,
                                                        seeded_ids(stream(1, "bill-order-ids")))
    world.plans = getattr(core, "instalments", None) or Instalments(core.store, core.clock, core.sms)
    world.line("DZ", "0551234567", "100", language="fr")
    yield world
    report = core.conservation()
    assert report.ok, report.summary()
    core.close()


def debt(w, *amounts: str) -> None:
    """Unpaid Sonelgaz bills of past quarters (the clock starts on 2026-01-01)."""
    for i, amount in enumerate(amounts):
        w.bills.issue(ELEC, ACC, f"2025-{1 + 3 * i:02d}", amount, f"2025-{2 + 3 * i:02d}-15")


def wallet(w, amount: str, account: str = ACC):
    return w.bills.pay(ELEC, account, amount, method="wallet", method_account="baridimob")


# -- the schedule (pure) ----------------------------------------------------------------------
def test_schedule_fits_the_monthly_amount_the_last_takes_the_remainder():
    assert fit_schedule(900_000, 200_000, 3, 12) == [200_000] * 4 + [100_000]
    assert fit_schedule(600_000, 200_000, 3, 12) == [200_000] * 3
    assert fit_schedule(500_000, 400_000, 3, 12) == [166_666, 166_666, 166_668]   # spread over min months
    with pytest.raises(InvalidInput) as e:
        fit_schedule(900_000, 50_000, 3, 12)
    assert e.value.field == "monthly" and e.value.extra["minimum"] == 75_000


@given(debt=st.integers(1, 10**9), monthly=st.integers(1, 10**8), lo=st.integers(1, 24), span=st.integers(0, 36))
def test_schedule_sums_to_the_debt_within_the_monthly_amount_and_the_months(debt, monthly, lo, span):
    hi = lo + span
    try:
        amounts = fit_schedule(debt, monthly, lo, hi)
    except InvalidInput as e:
        assert e.field == "monthly"
        assert -(-debt // monthly) > hi or debt < lo
        return
    assert sum(amounts) == debt
    assert lo <= len(amounts) <= hi
    assert all(0 < a <= monthly for a in amounts[:-1])
    assert amounts[-1] > 0
    assert amounts[-1] <= monthly or len(amounts) == lo        # only a spread over min months goes over
    assert all(a == amounts[0] for a in amounts[:-1])


# -- proposing and accepting ------------------------------------------------------------------
def test_propose_fits_a_schedule_from_the_first_of_next_month_and_writes_nothing(w):
    debt(w, "4800", "4200")
    w.bills.issue(ELEC, ACC, "2026-01", "3000", "2026-02-15")            # not due yet: not in the plan
    p = w.plans.propose(ELEC, "1650 1234 5678", "2000")
    assert p.debt == dzd("9000") and p.monthly == dzd("2000") and len(p.bills) == 2
    assert [a for _, a in p.schedule] == [dzd("2000")] * 4 + [dzd("1000")]
    assert [day(d) for d, _ in p.schedule] == ["2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01", "2026-06-01"]
    with w.core.store.autocommit() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM instalment_plans")["n"] == 0
    low = w.plans.propose(ELEC, ACC, "5000")                              # fewer months than the minimum
    assert [a for _, a in low.schedule] == [dzd("3000")] * 3


def test_bad_proposals_name_the_field(w):
    debt(w, "4800", "4200")
    with pytest.raises(InvalidInput) as e:
        w.plans.propose(ELEC, ACC, "700")                                 # 13 months > 12
    assert e.value.field == "monthly" and "expected at least 750.00 DZD" in e.value.message
    with pytest.raises(InvalidInput) as e:
        w.plans.propose(ELEC, ACC, "400")
    assert e.value.field == "monthly"
    with pytest.raises(InvalidInput) as e:
        w.plans.propose(ELEC, ACC, "2000", currency="EGP")
    assert e.value.field == "currency"
    with pytest.raises(NotFound) as e:
        w.plans.propose(ELEC, "165012345670", "2000")
    assert e.value.field == "account"
    with pytest.raises(InvalidInput) as e:
        w.plans.propose("dz-nope", ACC, "2000")
    assert e.value.field == "biller"
    w.bills.enrol(ADSL, "034123456")
    with pytest.raises(Refused) as e:
        w.plans.propose(ADSL, "034123456", "2000")
    assert e.value.field == "biller" and "instalment" in e.value.message
    w.bills.issue(ELEC, "165000000001", "2025-10", "3000", "2025-11-15")
    with pytest.raises(Refused) as e:
        w.plans.propose(ELEC, "165000000001", "1000")                     # below the 5,000 a plan starts at
    assert e.value.field == "account" and "5000.00 DZD" in e.value.message
    w.bills.issue(ELEC, "165000000002", "2026-01", "9000", "2026-02-15")
    with pytest.raises(Refused, match="nothing"):
        w.plans.propose(ELEC, "165000000002", "1000")                     # nothing due yet


def test_accept_moves_the_bills_into_the_plan_once(w):
    debt(w, "4800", "4200")
    p = w.plans.propose(ELEC, ACC, "2000")
    plan = w.plans.accept(p, customer="0551234567", language="fr")
    assert plan.state == "active" and plan.outstanding == dzd("9000") and len(plan.instalments) == 5
    assert w.plans.accept(p, customer="0551234567", language="fr") == plan        # a retry: the same plan
    s = w.bills.lookup(ELEC, ACC)
    assert [b.state for b in s.bills] == ["in_plan", "in_plan"] and s.plan.id == plan.id
    assert s.outstanding == dzd("9000")
    with pytest.raises(Conflict) as e:
        w.plans.propose(ELEC, ACC, "3000")
    assert e.value.field == "account"
    w.clock.advance(60)
    with pytest.raises(Conflict) as e:                                    # another proposal of the same debt
        w.plans.accept(p.__class__(**{**p.__dict__, "made_ms": p.made_ms + 1}))
    assert e.value.field == "account"


def test_a_stale_proposal_is_refused(w):
    debt(w, "4800", "4200")
    p = w.plans.propose(ELEC, ACC, "2000")
    wallet(w, "1000")
    with pytest.raises(Conflict) as e:
        w.plans.accept(p)
    assert e.value.field == "proposal" and "propose again" in e.value.message
    assert w.bills.lookup(ELEC, ACC).plan is None


# -- paying a plan ----------------------------------------------------------------------------
def test_payments_go_to_the_oldest_due_instalment(w):
    debt(w, "4800", "4200")
    plan = w.plans.accept(w.plans.propose(ELEC, ACC, "2000"))
    w.clock.advance(32 * DAY)                                             # 2026-02-02: instalment 1 due
    a = wallet(w, "1500")
    assert [(x["plan_id"], x["instalment"], x["amount"]) for x in w.bills.allocations(a.id)] == [
        (plan.id, 1, 150000)]
    b = wallet(w, "1000")
    assert [(x["instalment"], x["amount"]) for x in w.bills.allocations(b.id)] == [(1, 50000), (2, 50000)]
    got = w.plans.get(plan.id)
    assert [(i.state, i.paid) for i in got.instalments[:3]] == [
        ("paid", dzd("2000")), ("part_paid", dzd("500")), ("due", Money(0, "DZD"))]
    assert got.paid == dzd("2500") and got.state == "active"
    bills = w.bills.lookup(ELEC, ACC).bills                               # the covered bills follow, oldest first
    assert [(b.state, b.paid) for b in bills] == [("in_plan", dzd("2500")), ("in_plan", Money(0, "DZD"))]


def test_a_current_bill_is_paid_after_the_due_instalments(w):
    debt(w, "4800", "4200")
    plan = w.plans.accept(w.plans.propose(ELEC, ACC, "2000"))
    current = w.bills.issue(ELEC, ACC, "2026-01", "3000", "2026-02-15")
    w.clock.advance(32 * DAY)
    order = wallet(w, "6000")
    assert [(x["instalment"], x["bill_id"], x["amount"]) for x in w.bills.allocations(order.id)] == [
        (1, None, 200000), (None, current.id, 300000), (2, None, 100000)]
    assert w.bills.bill(current.id).state == "paid" and w.plans.get(plan.id).paid == dzd("3000")


def test_early_payoff_pays_the_plan_and_its_bills(w):
    debt(w, "4800", "4200")
    plan = w.plans.accept(w.plans.propose(ELEC, ACC, "2000"))
    wallet(w, "2000")
    with pytest.raises(InvalidInput) as e:
        wallet(w, "7000.01")
    assert e.value.field == "amount"
    card = w.card(CUSTOMER)
    order = w.pay_web(w.bills.pay(ELEC, ACC, "7000", payer="0551234567"), card)
    assert order.state is State.CREDITED
    done = w.plans.get(plan.id)
    assert done.state == "paid" and done.outstanding.minor == 0
    assert all(i.state == "paid" for i in done.instalments)
    assert [w.bills.bill(b).state for b in (f"{ELEC}/{ACC}/2025-01", f"{ELEC}/{ACC}/2025-04")] == ["paid", "paid"]
    assert w.bills.lookup(ELEC, ACC).plan is None and w.bills.lookup(ELEC, ACC).outstanding.minor == 0
    with pytest.raises(Refused):
        wallet(w, "500")


# -- missing instalments ----------------------------------------------------------------------
def test_a_missed_instalment_makes_the_plan_late_until_paid(w):
    debt(w, "4800", "4200")
    plan = w.plans.accept(w.plans.propose(ELEC, ACC, "2000"), customer="0551234567", language="fr")
    w.clock.advance(31 * DAY + 9 * DAY)                                   # 2026-02-10: within the grace
    assert w.plans.check_missed() == []
    w.clock.advance(DAY)                                                  # 2026-02-11: due + 10 days
    events = w.plans.check_missed()
    assert [(e.plan_id, e.state, e.missed) for e in events] == [(plan.id, "late", (1,))]
    assert w.plans.check_missed() == []                                   # counted once
    late = w.plans.get(plan.id)
    assert late.state == "late" and late.missed == 1 and late.instalments[0].state == "missed"
    w.settle_time()
    assert any("Échéance de 2,000.00 DZD" in t and "du 2026-02-01 impayée" in t for t in w.sms_to(CUSTOMER))
    wallet(w, "1000")
    assert w.plans.get(plan.id).state == "late"                           # still missing 1,000
    wallet(w, "1000")
    back = w.plans.get(plan.id)
    assert back.state == "active" and back.instalments[0].state == "paid" and back.instalments[0].was_missed


def test_the_plan_defaults_after_two_misses_and_the_debt_is_owed_again(w):
    debt(w, "4800", "4200")
    plan = w.plans.accept(w.plans.propose(ELEC, ACC, "2000"), customer="0551234567", language="fr")
    w.clock.advance(32 * DAY)
    wallet(w, "500")
    w.clock.advance(9 * DAY)                                              # 2026-02-11
    assert [e.state for e in w.plans.check_missed()] == ["late"]
    w.clock.advance(28 * DAY)                                             # 2026-03-11
    assert [e.state for e in w.plans.check_missed()] == ["defaulted"]
    gone = w.plans.get(plan.id)
    assert gone.state == "defaulted" and gone.missed == 2
    s = w.bills.lookup(ELEC, ACC)
    assert s.plan is None and [(b.state, b.outstanding) for b in s.bills] == [
        ("part_paid", dzd("4300")), ("open", dzd("4200"))]
    assert s.outstanding == dzd("8500")
    w.settle_time()
    assert any("Échéancier de Sonelgaz - Électricité" in t and "8,500.00 DZD" in t for t in w.sms_to(CUSTOMER))
    assert w.plans.propose(ELEC, ACC, "1500").debt == dzd("8500")         # a new plan may be agreed
    order = wallet(w, "4300")                                             # payments go to the bills again
    assert [x["bill_id"] for x in w.bills.allocations(order.id)] == [f"{ELEC}/{ACC}/2025-01"]
    assert w.plans.check_missed() == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amounts=st.lists(st.integers(600_00, 5_000_00), min_size=2, max_size=3),
       monthly=st.integers(1_000_00, 4_000_00),
       payments=st.lists(st.tuples(st.integers(50_000, 600_000), st.integers(0, 20)), min_size=1, max_size=5))
def test_any_payments_to_a_plan_never_over_allocate(w, amounts, monthly, payments):
    account = f"{w.rng.randrange(10**11, 10**12):012d}"
    for i, minor in enumerate(amounts):
        w.bills.issue(ELEC, account, f"{2020 + i}-01", Money(minor, "DZD"), f"{2020 + i}-02-15")
    try:
        plan = w.plans.accept(w.plans.propose(ELEC, account, Money(monthly, "DZD")))
    except (InvalidInput, Refused):
        return
    paid = 0
    for minor, days in payments:
        w.clock.advance(days * DAY)
        w.plans.check_missed()
        try:
            wallet(w, Money(minor, "DZD"), account)
            paid += minor
        except (InvalidInput, Refused):
            pass
    got = w.plans.get(plan.id)
    with w.core.store.autocommit() as tx:
        bills_paid = tx.one("SELECT SUM(paid) AS s FROM bills WHERE account = ?", (account,))["s"]
        allocated = tx.one("SELECT COALESCE(SUM(a.amount), 0) AS s FROM bill_allocations a JOIN orders o"
                           " ON o.id = a.order_id WHERE o.target = ?", (f"{ELEC}:{account}",))["s"]
    assert all(0 <= i.paid.minor <= i.amount.minor for i in got.instalments)
    assert int(bills_paid) == paid == int(allocated)
    assert sum(i.amount.minor for i in got.instalments) == got.debt.minor == sum(amounts)
    assert w.bills.lookup(ELEC, account).outstanding.minor == sum(amounts) - paid
    assert w.core.conservation().ok
