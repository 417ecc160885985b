"""End-of-day settlement on SQLite and PostgreSQL: a day of mixed payments through the real
core, gateway files with injected discrepancies, reconciliation, payouts, re-runs."""
import re
from datetime import date

import pytest
from support import make_world

from core.adapters.gateway_profile import GatewayProfile
from core.errors import Conflict
from core.money import Money
from core.orders import State
from core.ports import PaymentStatus
from core.settlement import GatewayPayouts, Reconciler, conservation, files, post_batch
from core.settlement.emulated import (change_amount, drop, duplicate, end_of_day_file,
                                      phantom_capture, unknown_reference)
from core.settlement.reconcile import REVERSED_REASON

DAY = date(2026, 1, 1)
PAYER, PAYER_IR = "213661234567", "989121234567"


@pytest.fixture
def w(store_url):
    # Callbacks are lost: the core learns outcomes only from the answers to its own calls,
    # so a payment finished at the gateway behind the core's back stays unknown to it.
    world = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    world.line("DZ", "0661234567", language="fr")
    for msisdn, balance in (("0551234567", "100"), ("0551111111", None), ("0552222222", None),
                            ("0553333333", None), ("0771234567", "15000")):
        world.line("DZ", msisdn, balance)
    world.line("IR", "09121234567", "20000", language="fa")
    world.line("IR", "09351234567", language="fa")
    yield world
    world.core.close()


def web(w, card, recipient, amount, **kw):
    return w.pay_web(w.topup("DZ", recipient, amount, payer="0661234567", **kw), card)


def paid_behind_the_core(w, card, order):
    """The card is charged at the gateway; the answer and the callback never reach the core."""
    order = w.core.payments.submit_card(order.id, w.card_data(card))
    w.core.gateways["satim"].confirm_otp(order.gateway_ref, w.last_otp(PAYER))
    return order


def mixed_day(w) -> dict:
    """08:00-18:00 of DAY: every kind of payment a settlement run has to sort out."""
    w.clock.advance(8 * 3600)
    satim, shaparak = w.core.gateways["satim"], w.core.gateways["shaparak"]
    card, poor = w.card(PAYER), w.card(PAYER, DZD=1000)
    ir_card = w.card(PAYER_IR)
    o = {}
    for name, amount in (("web1", "1000"), ("web2", "500"), ("dup", "300"), ("mismatch", "200"),
                         ("dropped", "400")):
        o[name] = web(w, card, "0551111111", amount)
        w.clock.advance(300)
    # Credited, then the gateway refunds it on its own (a chargeback): the subscriber has
    # spent part of it by then; its line is missing from the file.
    o["chargeback"] = web(w, card, "0552222222", "500", product="amazing")
    w.core.subscribers.use_airtime("213552222222", Money.parse("300", "DZD"), "call-1")
    satim.refund(o["chargeback"].gateway_ref, o["chargeback"].amount)
    # Credited, refunded by the gateway, listed as refunded; the bonus is still unused.
    o["refunded"] = web(w, card, "0553333333", "1000", product="amazing")
    satim.refund(o["refunded"].gateway_ref, o["refunded"].amount)
    # Charged at the gateway, the browser never came back: paid but not credited.
    o["lost"] = paid_behind_the_core(w, card, w.topup("DZ", "0551234567", "250", payer="0661234567"))
    # Two orders that each fit under the cap; the second, paid behind the core, no longer does.
    o["cap_a"] = w.topup("DZ", "0771234567", "3000", payer="0661234567")
    o["cap_b"] = w.topup("DZ", "0771234567", "3000", payer="0661234567")
    o["cap_a"] = w.pay_web(o["cap_a"], card)
    o["cap_b"] = paid_behind_the_core(w, card, o["cap_b"])
    # Declined by the issuer (the file will claim it captured).
    o["declined"] = w.topup("DZ", "0551234567", "100", payer="0661234567")
    o["declined"] = w.core.payments.submit_card(o["declined"].id, w.card_data(poor))
    assert o["declined"].state is State.FAILED
    # Shaparak style: one normal; one verified at the gateway whose answer was lost; one
    # never verified, reversed by the gateway when its window closed.
    o["ir1"] = w.core.payments.submit_card(
        w.topup("IR", "09351234567", "50000", payer="09121234567").id, ir_card.card(with_pin2=True))
    o["ir_lost"] = w.topup("IR", "09351234567", "20000", payer="09121234567")
    shaparak.submit_card(o["ir_lost"].gateway_ref, ir_card.card(with_pin2=True))
    shaparak.verify(o["ir_lost"].gateway_ref)
    o["ir_window"] = w.topup("IR", "09121234567", "10000")
    shaparak.submit_card(o["ir_window"].gateway_ref, ir_card.card(with_pin2=True))
    w.clock.advance(10 * 3600)
    return o


def files_for(w, o):
    satim = end_of_day_file(w.core.gateways["satim"], DAY, inject=[
        duplicate(o["dup"].id), change_amount(o["mismatch"].id, 5_000), unknown_reference(),
        drop(o["dropped"].id), drop(o["chargeback"].id), phantom_capture(o["declined"].id)])
    # Shaparak: a payment reversed when its verify window closed, listed as captured.
    shaparak = end_of_day_file(w.core.gateways["shaparak"], DAY, inject=[phantom_capture(o["ir_window"].id)])
    # What travels is bytes: write and read them back as an operator's run would.
    return [files.parse(files.render(f), gateway=f.gateway, business_date=DAY) for f in (satim, shaparak)]


def snapshot(w) -> tuple:
    with w.core.store.transaction() as tx:
        return (tx.all("SELECT * FROM transfers ORDER BY id"), tx.all("SELECT * FROM accounts ORDER BY id"),
                tx.all("SELECT id, state, reason FROM orders ORDER BY id"),
                tx.all("SELECT * FROM settlement_lines ORDER BY gateway, item"))


def asset(w, account: str) -> int:
    """debits - credits of an account, from its transfers (however its totals are stored)."""
    with w.core.store.transaction() as tx:
        row = tx.one("SELECT COALESCE(SUM(CASE WHEN debit_account = ? THEN amount ELSE 0 END), 0)"
                     " - COALESCE(SUM(CASE WHEN credit_account = ? THEN amount ELSE 0 END), 0) AS b"
                     " FROM transfers WHERE debit_account = ? OR credit_account = ?", (account,) * 4)
    return int(row["b"])


def by_order(report) -> dict:
    out = {}
    for i in report.items:
        out.setdefault(i.order_id or i.reference, []).append(i)
    return out


def test_a_mixed_day_reconciles_to_zero_conservation_error(w):
    o = mixed_day(w)
    assert not w.core.conservation().ok          # the gateway holds captures the core never saw
    satim_file, shaparak_file = files_for(w, o)
    w.clock.advance(1800)                         # 00:30 next day: the files are in
    reconciler = Reconciler(w.core)
    satim_report = reconciler.run(satim_file)
    shaparak_report = reconciler.run(shaparak_file)

    counts = {c: n for c, (n, _) in satim_report.by_class().items()}
    assert counts == {"matched": 4, "paid_not_credited": 3, "credited_not_paid": 3,
                      "amount_mismatch": 1, "duplicate": 1, "unknown_reference": 1}, satim_report.summary()
    s = by_order(satim_report)
    assert [(i.classification, i.action_state) for i in s[o["dup"].id]] == [
        ("matched", "none"), ("duplicate", "review")]
    assert s[o["mismatch"].id][0].classification == "amount_mismatch"
    [unknown] = [i for i in satim_report.items if i.classification == "unknown_reference"]
    assert unknown.order_id is None and unknown.action_state == "review"

    # paid but not credited: credited by the run; refunded when the cap forbids; disputed
    # when the gateway's own status says the money was never taken.
    assert s[o["lost"].id][0].outcome.startswith("credited")
    assert w.core.payments.get(o["lost"].id).state is State.CREDITED
    assert w.balance("213551234567") == 10000 + 25000
    assert s[o["cap_b"].id][0].outcome.startswith("refunded")
    assert w.core.payments.get(o["cap_b"].id).state is State.REFUNDED
    assert w.core.gateways["satim"].status(o["cap_b"].gateway_ref).status is PaymentStatus.REFUNDED
    assert s[o["declined"].id][0].action_state == "review"
    assert w.core.payments.get(o["declined"].id).state is State.FAILED

    # credited but not paid: reversed (what was spent becomes a receivable, the bonus goes),
    # unless the gateway's status says it has the money (then a human asks it to pay).
    chargeback = s[o["chargeback"].id][0]
    assert (chargeback.line_no, chargeback.classification, chargeback.action_state) == (
        None, "credited_not_paid", "done")
    assert "receivable" in chargeback.outcome
    assert w.balance("213552222222") == 0
    refunded = s[o["refunded"].id][0]
    assert refunded.status == "refunded" and "bonus 150.00 DZD withdrawn" in refunded.outcome
    assert w.balance("213553333333") == 0
    assert w.core.subscribers.balances("213553333333").bonus.minor == 0
    assert w.core.payments.get(o["refunded"].id).reason == REVERSED_REASON
    dropped = s[o["dropped"].id][0]
    assert dropped.classification == "credited_not_paid" and dropped.action_state == "review"
    assert "ask it to settle" in dropped.outcome
    with w.core.store.transaction() as tx:
        rev = tx.one("SELECT * FROM settlement_reversals WHERE order_id = ?", (o["chargeback"].id,))
    assert asset(w, "recv:213552222222:DZD") == 25000
    assert int(rev["taken_back"]) == 25000 and int(rev["receivable"]) == 25000

    sh = by_order(shaparak_report)
    assert [i.classification for i in shaparak_report.items] == ["matched", "paid_not_credited",
                                                                 "paid_not_credited"]
    assert sh[o["ir_lost"].id][0].action_state == "done"
    assert w.core.payments.get(o["ir_lost"].id).state is State.CREDITED
    assert w.core.gateways["shaparak"].status(o["ir_lost"].gateway_ref).status is PaymentStatus.SETTLED
    # Its verify window had closed: the gateway reversed it, whatever its file says.
    window = sh[o["ir_window"].id][0]
    assert window.action_state == "review" and "not verified within 900 s" in window.outcome
    assert w.core.payments.get(o["ir_window"].id).state is State.FAILED

    report = w.core.conservation()
    assert report.ok, report.summary()
    # Each report ends with the whole ledger's verdict after its run: once both are settled, OK.
    assert shaparak_report.conservation.ok and "conservation OK" in shaparak_report.summary()
    assert not satim_report.waiting("pending")

    # A second run changes nothing: same ledger, same orders, same lines, no action taken.
    before = snapshot(w)
    again = [reconciler.run(f) for f in (satim_file, shaparak_file)]
    assert snapshot(w) == before
    assert all(not r.acted and not r.first_run for r in again)
    assert again[0].to_csv() == satim_report.to_csv()

    # Payouts: what the gateways owe for the day, net of fees, posted once.
    batch = post_batch(w.core.store, w.core.clock, DAY, [GatewayPayouts()])
    paid = {(i.payee, i.gross.currency): i for i in batch.posted}
    satim_gross = sum(o[k].amount.minor for k in ("web1", "web2", "dup", "cap_a", "lost"))
    assert paid[("satim", "DZD")].gross.minor == satim_gross
    assert paid[("satim", "DZD")].fee.minor == (satim_gross * 50 + 5000) // 10000
    assert paid[("shaparak", "IRR")].gross.minor == 70000 and paid[("shaparak", "IRR")].fee.minor == 0
    with w.core.store.transaction() as tx:
        settle = tx.one("SELECT * FROM transfers WHERE id = 'settle:satim:2026-01-01:DZD'")
    assert asset(w, "bank:DZD") == paid[("satim", "DZD")].net.minor == int(settle["amount"])
    # Left in clearing: what a human still has to sort out with the gateway.
    assert asset(w, "gw:satim:DZD") == o["mismatch"].amount.minor + o["dropped"].amount.minor
    assert conservation(w.core).ok, conservation(w.core).summary()
    before = snapshot(w)
    again = post_batch(w.core.store, w.core.clock, DAY, [GatewayPayouts()])
    assert not again.posted and len(again.already) == 2 and snapshot(w) == before


def test_a_different_file_for_a_settled_day_is_refused(w):
    o = mixed_day(w)
    satim_file, _ = files_for(w, o)
    Reconciler(w.core).run(satim_file)
    changed = files.SettlementFile(satim_file.gateway, DAY, satim_file.lines[:-1])
    before = snapshot(w)
    with pytest.raises(Conflict, match="sha256"):
        Reconciler(w.core).run(changed)
    assert snapshot(w) == before


def test_without_a_live_gateway_credits_wait_and_so_does_the_payout(w):
    o = mixed_day(w)
    satim_file, shaparak_file = files_for(w, o)
    offline = Reconciler(w.core, ask_gateways=False).run(satim_file)
    pending = offline.waiting("pending")
    assert {i.order_id for i in pending} == {o["lost"].id, o["cap_b"].id, o["declined"].id}
    assert not offline.ok
    batch = post_batch(w.core.store, w.core.clock, DAY, [GatewayPayouts()])
    assert not batch.posted and batch.waiting == ["satim: 3 action(s) pending in its settlement run"]
    # Offline the file's word is all there is: the dropped line's payment is reversed although
    # the gateway still holds it, and the check against the gateway's own books shows it.
    dropped = by_order(offline)[o["dropped"].id][0]
    assert dropped.classification == "credited_not_paid" and dropped.action_state == "done"
    # Later, where the gateway answers, the same run finishes and the payout follows.
    online = Reconciler(w.core).run(satim_file)
    Reconciler(w.core).run(shaparak_file)
    assert {i.order_id for i in online.acted} == {o["lost"].id, o["cap_b"].id, o["declined"].id}
    assert not online.waiting("pending")
    assert [i.payee for i in post_batch(w.core.store, w.core.clock, DAY, [GatewayPayouts()]).posted] == [
        "satim", "shaparak"]
    [error] = conservation(w.core).errors
    assert error.startswith("gateway satim says it captured")
    said, ours = map(int, re.search(r"captured (\d+) DZD net; our clearing says (-?\d+)", error).groups())
    assert said - ours == o["dropped"].amount.minor


def test_rbench_settle_demo_then_a_bad_file_changes_nothing(store_url, tmp_path, capsys):
    from hil.settle import run_settle

    assert run_settle("2026-01-01", db=store_url, out=str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "after the run: conservation OK" in out and "settled again: 0 action(s), 0 new transfer(s)" in out
    report = (tmp_path / "settlement-2026-01-01.csv").read_text()
    for cls in ("matched", "paid_not_credited", "credited_not_paid", "amount_mismatch", "duplicate",
                "unknown_reference"):
        assert f",{cls}," in report
    assert (tmp_path / "settlement-2026-01-01.txt").read_text().startswith("settlement satim 2026-01-01")
    # The gateway's own file, read again from disk: the runs are found, nothing moves.
    sent = [str(tmp_path / f"{gw}-2026-01-01.csv") for gw in ("satim", "shaparak")]
    assert run_settle("2026-01-01", db=store_url, out=str(tmp_path / "again"), file_paths=sent) == 0
    assert "0 item(s) posted now, 2 posted before" in capsys.readouterr().out
    # A malformed file for another day: refused whole, with its line and field.
    bad = tmp_path / "satim-2026-01-02.csv"
    bad.write_bytes(files.render(files.SettlementFile("satim", date(2026, 1, 2), ()))[:-1])
    assert run_settle("2026-01-02", db=store_url, out=str(tmp_path), file_paths=[str(bad)]) == 2
    assert "line 2: the last line has no line ending" in capsys.readouterr().err
    from core.store import open_store
    store = open_store(store_url)
    try:
        with store.transaction() as tx:
            assert tx.one("SELECT COUNT(*) AS n FROM settlement_runs WHERE business_date = '2026-01-02'")["n"] == 0
    finally:
        store.close()
    assert run_settle("2026-02-30", out=str(tmp_path)) == 2
