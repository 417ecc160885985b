"""Wallet providers' end-of-day settlement on SQLite and PostgreSQL: a day of wallet payments,
the provider's file (same format as a card gateway's), its classification, re-runs, the payout."""
from datetime import date

import pytest
from support import make_world

from core.errors import Conflict
from core.money import Money
from core.orders import State
from core.settlement import GatewayPayouts, Reconciler, files, post_batch
from core.settlement.emulated import (
    change_amount,
    drop,
    duplicate,
    phantom_capture,
    unknown_reference,
)
from core.settlement.wallets import (
    WalletPayouts,
    end_of_day_file,
    load_wallet_fees,
    reconcile_wallet,
    wallet_reference,
)

DAY = date(2026, 1, 1)
VC = "vodafone-cash"


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.line("EG", "01012345678", "10")
    world.line("EG", "01112345678", "10")
    yield world
    report = world.core.conservation()
    assert report.ok, report.summary()
    world.core.close()


def wallet_day(w) -> list:
    """08:00-17:00 of DAY: five vodafone-cash top-ups, one etisalat-cash, one refused, one card-less
    bank-app payment; then the clock moves into the next day."""
    w.clock.advance(8 * 3600)
    orders = []
    for msisdn, amount in (("01012345678", "25"), ("01112345678", "40"), ("01012345678", "15"),
                           ("01112345678", "60"), ("01012345678", "10")):
        orders.append(w.topup("EG", msisdn, amount, channel="wallet", method="wallet", method_account=VC))
        w.clock.advance(1800)
    assert all(o.state is State.CREDITED for o in orders)
    other = w.topup("EG", "01012345678", "30", channel="wallet", method="wallet", method_account="etisalat-cash")
    assert other.state is State.CREDITED
    w.topup("EG", "01012345678", "20", channel="bank", method="bank", method_account="cib")
    w.line("EG", "01212345678", "9990")
    refused = w.topup("EG", "01212345678", "20", channel="wallet", method="wallet", method_account=VC)
    assert refused.state is State.REFUSED
    w.clock.advance(16 * 3600)
    return orders


def owed(w, account: str) -> int:
    with w.core.store.transaction() as tx:
        row = tx.one("SELECT debits - credits AS b FROM account_totals WHERE id = ?", (account,))
    return int(row["b"]) if row else 0


def test_the_file_lists_the_day_and_round_trips(w):
    orders = wallet_day(w)
    f = end_of_day_file(w.core, VC, DAY)
    assert f.gateway == "wallet-vodafone-cash" and f.business_date == DAY
    assert [ln.order_number for ln in f.lines] == [o.id for o in orders]
    assert [ln.reference for ln in f.lines] == [wallet_reference(o.id) for o in orders]
    assert {ln.status for ln in f.lines} == {"captured"}
    assert f.captured() == {"EGP": 15000}
    data = files.render(f)
    back = files.parse(data, gateway="wallet-vodafone-cash", business_date=DAY)
    assert back == f and files.render(back) == data
    assert len(end_of_day_file(w.core, "etisalat-cash", DAY).lines) == 1
    assert end_of_day_file(w.core, VC, date(2026, 1, 2)).lines == ()
    bad = end_of_day_file(w.core, VC, DAY, inject=[duplicate(orders[0].id), unknown_reference()])
    assert len(files.parse(files.render(bad)).lines) == 7
    with pytest.raises(ValueError, match="phantom"):
        end_of_day_file(w.core, VC, DAY, inject=[phantom_capture()])


def test_a_clean_file_matches_and_pays_out_once(w):
    orders = wallet_day(w)
    f = end_of_day_file(w.core, VC, DAY)
    report = reconcile_wallet(w.core, f)
    assert report.first_run and report.ok, report.summary()
    assert {i.classification for i in report.items} == {"matched"}
    assert len(report.items) == len(orders) and report.payable() == {"EGP": 15000}
    again = reconcile_wallet(w.core, files.parse(files.render(f)))
    assert not again.first_run and again.items == report.items

    assert owed(w, "wallet:vodafone-cash:EGP") == 15000
    bank_before = owed(w, "bank:EGP")
    batch = post_batch(w.core.store, w.core.clock, DAY, [GatewayPayouts(), WalletPayouts()])
    [item] = batch.posted
    assert (item.payee, item.gross, item.fee_rate_bp, item.lines) == ("wallet:vodafone-cash",
                                                                      Money(15000, "EGP"), 100, 5)
    assert item.fee == Money(150, "EGP") and item.net == Money(14850, "EGP")
    assert owed(w, "wallet:vodafone-cash:EGP") == 0
    assert owed(w, "bank:EGP") - bank_before == 14850
    second = post_batch(w.core.store, w.core.clock, DAY, [GatewayPayouts(), WalletPayouts()])
    assert second.posted == [] and [i.payee for i in second.already] == ["wallet:vodafone-cash"]
    assert owed(w, "bank:EGP") - bank_before == 14850
    assert w.core.conservation().ok


def test_discrepancies_are_classified_for_a_human(w):
    o = wallet_day(w)
    f = end_of_day_file(w.core, VC, DAY, inject=[drop(o[0].id), duplicate(o[1].id),
                                                 change_amount(o[2].id, 500), unknown_reference()])
    f = files.parse(files.render(f))
    balance = w.balance("201012345678")
    report = reconcile_wallet(w.core, f)
    by = {}
    for i in report.items:
        by.setdefault(i.classification, []).append(i)
    assert [i.order_id for i in by["credited_not_paid"]] == [o[0].id]
    assert by["credited_not_paid"][0].line_no is None
    assert [i.order_number for i in by["duplicate"]] == [o[1].id]
    assert [i.order_id for i in by["amount_mismatch"]] == [o[2].id]
    assert len(by["unknown_reference"]) == 1 and by["unknown_reference"][0].order_id is None
    assert sorted(i.order_id for i in by["matched"]) == sorted(x.id for x in (o[1], o[3], o[4]))
    assert {i.action_state for c, items in by.items() if c != "matched" for i in items} == {"review"}
    assert report.waiting("pending") == [] and report.payable() == {"EGP": 4000 + 6000 + 1000}
    assert "credited_not_paid" in report.summary() and report.to_csv().count("\n") == len(report.items) + 1
    # Nothing is reversed on the provider's word: the order stays credited, the balance untouched.
    assert w.core.payments.get(o[0].id).state is State.CREDITED
    assert w.balance("201012345678") == balance

    again = reconcile_wallet(w.core, f)
    assert not again.first_run and again.items == report.items
    with pytest.raises(Conflict, match="sha256"):
        reconcile_wallet(w.core, end_of_day_file(w.core, VC, DAY))
    with pytest.raises(Conflict, match="wallet"):
        reconcile_wallet(w.core, files.SettlementFile("satim", DAY, ()))

    batch = post_batch(w.core.store, w.core.clock, DAY, [GatewayPayouts(), WalletPayouts()])
    [item] = batch.posted
    assert item.gross == Money(11000, "EGP") and item.lines == 3 and batch.waiting == []
    assert owed(w, "wallet:vodafone-cash:EGP") == 15000 - 11000     # under review: stays owed
    # A card Reconciler given a wallet file finds the run and changes nothing.
    seen = Reconciler(w.core).run(f)
    assert [(i.item, i.classification, i.action_state) for i in seen.items] == \
        [(i.item, i.classification, i.action_state) for i in report.items] and seen.acted == []
    assert w.core.conservation().ok


def test_a_payment_listed_the_next_day_is_not_missing_twice(w):
    o = wallet_day(w)
    reconcile_wallet(w.core, end_of_day_file(w.core, VC, DAY, inject=[drop(o[4].id)]))
    late = end_of_day_file(w.core, VC, DAY)
    late = files.SettlementFile(late.gateway, date(2026, 1, 2), tuple(ln for ln in late.lines
                                                                     if ln.order_number == o[4].id))
    [item] = reconcile_wallet(w.core, late).items
    # As with card gateways: a payment the first day's run already holds (as a credited order the
    # file left out) is not matched again on a later day: a human settles both together.
    assert item.classification == "duplicate" and "as a credited order" in item.outcome
    assert item.action_state == "review"


def test_wallet_fee_rates():
    rates = load_wallet_fees()
    assert rates["vodafone-cash"] == 100 and "default" in rates
    assert WalletPayouts(rates={"default": 7}).rate("anything") == 7
