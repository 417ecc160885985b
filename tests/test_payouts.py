"""Payouts to billers and utilities: what we collected for them, less our commission, once."""
from datetime import date

import pytest

from core.money import Money
from core.settlement import PayablePayouts, post_batch
from support import make_world


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.core.meters.register("EG", "47500150231", kind="sts", tariff="EG-RES", customer="Mona")
    world.core.payments.deposit_float("aman-3", Money.parse("1000", "EGP"), "float-1")
    yield world
    assert world.core.conservation().ok
    world.core.close()


def balance(w, account):
    with w.core.store.transaction() as tx:
        row = tx.one("SELECT credits - debits AS b FROM accounts WHERE id = ?", (account,))
    return int(row["b"]) if row else 0


def test_utility_is_paid_what_was_sold_less_commission_once(w):
    for _ in range(2):
        w.core.vending.vend("47500150231", "200", method="kiosk", method_account="aman-3")
    assert balance(w, "utility:eehc:EGP") == 40000
    batch = post_batch(w.core.store, w.core.clock, date(2026, 1, 1), [PayablePayouts()])
    [item] = batch.posted
    assert (item.payee, item.direction, item.fee_rate_bp) == ("utility:eehc", "out", 75)
    assert (item.gross.minor, item.fee.minor, item.net.minor) == (40000, 300, 39700)
    assert balance(w, "utility:eehc:EGP") == 0
    assert balance(w, "op:commission:EGP") == 300
    again = post_batch(w.core.store, w.core.clock, date(2026, 1, 1), [PayablePayouts()])
    assert again.posted == [] and again.already == []          # nothing owed: nothing posted
    w.core.vending.vend("47500150231", "100", method="kiosk", method_account="aman-3")
    later = post_batch(w.core.store, w.core.clock, date(2026, 1, 1), [PayablePayouts()])
    assert later.posted == [] and [i.payee for i in later.already] == ["utility:eehc"]   # one payout a day
    assert balance(w, "utility:eehc:EGP") == 10000
    next_day = post_batch(w.core.store, w.core.clock, date(2026, 1, 2), [PayablePayouts()])
    assert [i.gross.minor for i in next_day.posted] == [10000] and balance(w, "utility:eehc:EGP") == 0
