"""Kiosk cash (agent float), e-wallet and bank-app payments: direct methods with their own
clearing accounts, delivered in the same transaction that takes the money."""
import pytest

from core.money import Money
from core.orders import State
from support import make_world

ALI = "201012345678"


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.line("EG", "01012345678", "10")
    yield world
    report = world.core.conservation()
    assert report.ok, report.summary()
    world.core.close()


def test_kiosk_cash_uses_the_agent_float(w):
    low = w.topup("EG", "01012345678", "50", channel="kiosk", method="kiosk", method_account="fawry-17")
    assert low.state is State.FAILED and low.reason.startswith("agent_float_low")
    assert w.core.payments.deposit_float("fawry-17", Money.parse("100", "EGP"), "dep-1") == 10000
    assert w.core.payments.deposit_float("fawry-17", Money.parse("100", "EGP"), "dep-1") == 10000   # once
    order = w.topup("EG", "01012345678", "50", channel="kiosk", method="kiosk", method_account="fawry-17")
    assert order.state is State.CREDITED and w.balance(ALI) == 6000
    with w.core.store.transaction() as tx:
        float_left = tx.one("SELECT credits - debits AS b FROM accounts WHERE id = 'agent:fawry-17:EGP'")["b"]
    assert float_left == 5000
    w.settle_time()
    assert any("تم شحن" in t for t in w.sms_to(ALI))


@pytest.mark.parametrize("method,account,clearing", [
    ("wallet", "vodafone-cash", "wallet:vodafone-cash:EGP"), ("bank", "cib", "bankapp:cib:EGP")])
def test_wallet_and_bank_app(w, method, account, clearing):
    order = w.topup("EG", "01012345678", "25", channel=method, method=method, method_account=account)
    assert order.state is State.CREDITED and order.gateway == method
    with w.core.store.transaction() as tx:
        owed = tx.one("SELECT debits - credits AS b FROM accounts WHERE id = ?", (clearing,))["b"]
    assert owed == 2500
    assert w.core.conservation().captured == {"EGP": 2500}


def test_direct_payment_over_the_cap_takes_nothing(w):
    w.line("EG", "01112345678", "9990")
    order = w.topup("EG", "01112345678", "20", channel="wallet", method="wallet", method_account="etisalat-cash")
    assert order.state is State.REFUSED
    assert w.core.conservation().captured == {}


def test_direct_method_needs_its_account(w):
    from core.errors import InvalidInput
    with pytest.raises(InvalidInput, match="method"):
        w.topup("EG", "01012345678", "20", method="wallet")
