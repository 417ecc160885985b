"""Airtime usage drains the bonus first, then the main balance, as operator revenue."""
import pytest

from core.errors import Refused
from core.money import Money
from support import make_world

ALI = "213551234567"


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.line("DZ", "0551234567", "100")
    yield world
    assert world.core.conservation().ok
    world.core.close()


def dzd(x):
    return Money.parse(x, "DZD")


def test_bonus_first_then_main_and_once_per_usage_id(w):
    card = w.card("213661234567")
    w.line("DZ", "0661234567")
    w.pay_web(w.topup("DZ", "0551234567", "500", payer="0661234567", product="amazing"), card)
    b = w.core.subscribers.use_airtime(ALI, dzd("70"), "call-1")
    assert (b.main, b.bonus) == (dzd("580"), Money.zero("DZD"))    # 50 bonus, then 20 from 600 main
    again = w.core.subscribers.use_airtime(ALI, dzd("70"), "call-1")
    assert again.main == dzd("580")
    with w.core.store.transaction() as tx:
        rev = tx.one("SELECT credits - debits AS b FROM accounts WHERE id = 'op:DZ:revenue:DZD'")["b"]
    assert rev == 7000
    w.clock.advance(25 * 3600)
    assert w.core.topups.expire_bonuses() == 0        # the bucket was used up: nothing to expire


def test_refused_whole_when_the_line_cannot_pay(w):
    with pytest.raises(Refused, match="cannot be charged"):
        w.core.subscribers.use_airtime(ALI, dzd("100.01"), "call-2")
    assert w.balance(ALI) == 10000
    assert w.core.subscribers.use_airtime(ALI, dzd("100"), "call-3").main.minor == 0
