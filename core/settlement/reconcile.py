"""Reconciliation: match a gateway's end-of-day file against the core, classify, act, report.

    report = Reconciler(core).run(settlement_file)      # again later: finds its run, retries
    print(report.summary()); Path("out.csv").write_text(report.to_csv())

Every file line, and every order the core credited that day that the file does not list,
gets one class and one action:

    matched             the gateway and the core agree                     nothing
    paid_not_credited   the file says captured, the core has not credited  reconcile: ask the
                        gateway, credit (or refund when the balance cap forbids the credit)
    credited_not_paid   the core credited, the file lists no capture       reverse the credit
    amount_mismatch     same payment, another amount                       review (no money moved)
    duplicate           a reference presented again                        review
    unknown_reference   nothing of ours has this reference                 review

The classes are decided once, when the run is first made, and saved with the run; actions
are done once each (order state, transfer ids and the line's action state guard them). A run
that is made again with the same file only retries what is still pending; a different file
for the same gateway and day is refused. The core is never moved on the file's word alone
when the gateway can be asked: a credit comes from the gateway's status answer
(``Payments.reconcile``), and a credit is not reversed while the gateway says it has the money.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from core import ledger
from core.errors import Conflict
from core.ledger import ConservationReport, conservation_check
from core.market import market as market_of
from core.money import Money
from core.orders import UNPAID, Order, State
from core.ports import GatewayError, GatewayTimeout, PaymentStatus
from core.settlement.emulated import day_bounds
from core.settlement.files import SettlementFile, SettlementLine, iso, render
from core.settlement.payouts import conservation as settled_conservation
from core.settlement.report import Item, RunReport
from core.store import Tx, UniqueViolation

if TYPE_CHECKING:
    from core.wiring import Core

REVERSED_REASON = "reversed_by_settlement"
_NO_MONEY = {PaymentStatus.REFUNDED, PaymentStatus.REVERSED, PaymentStatus.DECLINED,
             PaymentStatus.EXPIRED, PaymentStatus.CANCELLED}


def receivable(msisdn: str, cur: str) -> str:
    """What a subscriber owes us: a credit reversed after the money was spent (asset)."""
    return f"recv:{msisdn}:{cur}"


class Reconciler:
    """Settle gateway files against one core. ``ask_gateways=False`` when the core's gateway
    adapters cannot answer for these payments (a file settled offline): credits then wait for
    a run that can ask, and reversals go on the file's word."""

    def __init__(self, core: Core, *, ask_gateways: bool = True,
                 conservation: Callable[[], ConservationReport] | None = None) -> None:
        self.core, self.store, self.clock = core, core.store, core.clock
        self.ask_gateways = ask_gateways
        if conservation is None and ask_gateways:
            conservation = lambda: settled_conservation(core)
        elif conservation is None:          # the gateways cannot say what they captured
            conservation = lambda: conservation_check(core.store)
        self.conservation = conservation

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- the run -------------------------------------------------------------------------
    def run(self, f: SettlementFile, *, source: str = "emulated") -> RunReport:
        """Make (or find) the run of ``f``'s gateway and day, do its pending actions, report.
        The run keeps the sha256 of the file's canonical form (as ``files.render`` writes it),
        so the same content with a BOM or CRLF line endings is the same file."""
        sha = hashlib.sha256(render(f)).hexdigest()
        day = f.business_date.isoformat()
        first = False
        with self.store.transaction() as tx:
            run = tx.one("SELECT * FROM settlement_runs WHERE gateway = ? AND business_date = ?",
                         (f.gateway, day))
        if run is None:
            try:
                first = self.store.run(lambda tx: self._create(tx, f, sha, source))
            except UniqueViolation:           # made by a concurrent run a moment ago
                first = False
            with self.store.transaction() as tx:
                run = tx.one("SELECT * FROM settlement_runs WHERE gateway = ? AND business_date = ?",
                             (f.gateway, day))
        if run["file_sha256"] != sha:
            raise Conflict(f"file: {f.gateway} {day} was settled from a file with sha256 "
                           f"{run['file_sha256'][:12]}…, this one is {sha[:12]}…; a corrected file "
                           "needs a human to undo the first run", field="file")
        acted: list[Item] = []
        for item in self.items(f.gateway, f.business_date):
            if item.action_state == "pending":
                acted.append(self._act(f.gateway, day, item))
        return self.report(f.gateway, f.business_date, first=first, acted=acted,
                           file_captured=f.captured())

    def items(self, gateway: str, day: date) -> list[Item]:
        with self.store.transaction() as tx:
            rows = tx.all("SELECT * FROM settlement_lines WHERE gateway = ? AND business_date = ?",
                          (gateway, day.isoformat()))
        return sorted((Item.from_row(r) for r in rows),
                      key=lambda i: (i.line_no is None, i.line_no or 0, i.item))

    def report(self, gateway: str, day: date, *, first: bool = False, acted: Iterable[Item] = (),
               file_captured: dict[str, int] | None = None) -> RunReport:
        with self.store.transaction() as tx:
            run = tx.one("SELECT * FROM settlement_runs WHERE gateway = ? AND business_date = ?",
                         (gateway, day.isoformat()))
        if run is None:
            raise Conflict(f"no settlement run for {gateway} {day}", field="date")
        return RunReport(gateway, day, run["file_sha256"], run["source"], self.items(gateway, day),
                         first, list(acted), self.conservation(), dict(file_captured or {}))

    # -- classifying -----------------------------------------------------------------------
    def _create(self, tx: Tx, f: SettlementFile, sha: str, source: str) -> bool:
        return insert_run(tx, f, sha, source, self._now_ms(), self.classify(tx, f))

    def classify(self, tx: Tx, f: SettlementFile) -> list[Item]:
        """What each line of ``f`` is, against our orders: reads only, writes and acts on
        nothing (a post-run check can ask without settling)."""
        refs = sorted({ln.reference for ln in f.lines})
        by_ref = {r["gateway_ref"]: Order.from_row(r) for r in _chunked(
            tx, "SELECT * FROM orders WHERE gateway = ? AND gateway_ref IN ({})", (f.gateway,), refs)}
        by_id = {r["id"]: Order.from_row(r) for r in _chunked(
            tx, "SELECT * FROM orders WHERE id IN ({})", (), sorted({ln.order_number for ln in f.lines}))}
        day = f.business_date.isoformat()
        earlier = earlier_lines(tx, f, refs)
        items: list[Item] = []
        seen: dict[str, int] = {}
        for i, ln in enumerate(f.lines):
            n = ln.line_no if ln.line_no is not None else i + 2
            items.append(self._classify_line(ln, n, by_ref.get(ln.reference), by_id, seen, earlier))
            seen.setdefault(ln.reference, n)
        start, end = (int(t * 1000) for t in day_bounds(f.business_date))
        credited = tx.all("SELECT * FROM orders WHERE gateway = ? AND method = 'card' AND state = ?"
                          " AND paid_ms >= ? AND paid_ms < ? AND (reason IS NULL OR reason <> ?)"
                          " ORDER BY paid_ms, id",
                          (f.gateway, str(State.CREDITED), start, end, REVERSED_REASON))
        listed_elsewhere = {r["reference"] for r in _chunked(
            tx, "SELECT reference FROM settlement_lines WHERE gateway = ? AND business_date <> ?"
                " AND reference IN ({})", (f.gateway, day), sorted({r["gateway_ref"] for r in credited}))}
        for row in credited:
            o = Order.from_row(row)
            if o.gateway_ref in seen or o.gateway_ref in listed_elsewhere:
                continue
            items.append(Item(f"order:{o.id}", None, o.gateway_ref, o.id, o.id, o.amount, None, None,
                              "credited_not_paid", "reverse", "pending",
                              f"credited {o.amount.display()} to {o.recipient} on this day; the file "
                              "lists no payment"))
        return items

    def _classify_line(self, ln: SettlementLine, n: int, order: Order | None, by_id: dict[str, Order],
                       seen: dict[str, int], earlier: dict[str, dict]) -> Item:
        def item(cls: str, action: str, outcome: str, o: Order | None = order, settle: int = 0) -> Item:
            state = {"none": "none", "review": "review"}.get(action, "pending")
            return Item(f"line:{n}", n, ln.reference, ln.order_number, o.id if o else None, ln.amount,
                        ln.status, iso(ln.captured_at) if ln.captured_at else None, cls, action, state,
                        outcome, settle)

        if ln.reference in seen:
            return item("duplicate", "review", f"same reference as line {seen[ln.reference]}: "
                        "presented twice; ask the gateway to pay it once")
        if ln.reference in earlier:
            e = earlier[ln.reference]
            where = f"line {e['line_no']}" if e["line_no"] is not None else "as a credited order"
            return item("duplicate", "review", f"already in the run of {e['business_date']} ({where})")
        if order is None:
            ours = by_id.get(ln.order_number)
            why = (f"; order {ours.id} is ours but its {ours.gateway} reference is {ours.gateway_ref}"
                   if ours else "")
            return item("unknown_reference", "review", f"no order of ours has this reference{why}", o=None)
        if order.id != ln.order_number:
            return item("unknown_reference", "review",
                        f"this reference is order {order.id}'s; the line says {ln.order_number}")
        if ln.amount != order.amount:
            return item("amount_mismatch", "review",
                        f"the file says {ln.amount.display()}, order {order.id} is "
                        f"{order.amount.display()} ({order.state})")
        s = order.state
        if ln.status == "captured":
            if s is State.CREDITED and order.reason != REVERSED_REASON:
                return item("matched", "none", "captured and credited", settle=ln.amount.minor)
            if s in (*UNPAID, State.PAID, State.REFUND_PENDING, State.FAILED):
                return item("paid_not_credited", "reconcile", f"the core has it {s}")
            return item("paid_not_credited", "review",
                        f"the core has it {s} ({order.reason or 'no reason'}); the gateway lists it "
                        "as captured")
        if s is State.CREDITED and order.reason != REVERSED_REASON:
            return item("credited_not_paid", "reverse", f"credited, but the gateway lists it {ln.status}")
        if s in (State.PAID, State.REFUND_PENDING):
            return item("matched", "reconcile", f"the core holds it ({s}) to refund")
        return item("matched", "none", f"{ln.status}; the core has it {s}")

    # -- acting ----------------------------------------------------------------------------
    def _act(self, gateway: str, day: str, item: Item) -> Item:
        if item.action == "reconcile":
            state, outcome, settle = self._reconcile(gateway, item)
        else:
            state, outcome, settle = self._reverse_checked(gateway, day, item)
        if state != "done" or item.action != "reverse":    # a reversal records itself
            self.store.run(lambda tx: self._record(tx, gateway, day, item.item, state, outcome, settle))
        with self.store.transaction() as tx:
            row = tx.one("SELECT * FROM settlement_lines WHERE gateway = ? AND business_date = ?"
                         " AND item = ?", (gateway, day, item.item))
        return Item.from_row(row)

    def _record(self, tx: Tx, gateway: str, day: str, key: str, state: str, outcome: str,
                settle: int) -> None:
        tx.execute("UPDATE settlement_lines SET action_state = ?, outcome = ?, settle_amount = ?,"
                   " acted_ms = ? WHERE gateway = ? AND business_date = ? AND item = ?"
                   " AND action_state = 'pending'",
                   (state, outcome, settle, self._now_ms(), gateway, day, key))
        tx.execute("UPDATE settlement_runs SET updated_ms = ? WHERE gateway = ? AND business_date = ?",
                   (self._now_ms(), gateway, day))

    def _reconcile(self, gateway: str, item: Item) -> tuple[str, str, int]:
        """Paid but not credited: the gateway's status answer credits it, or refunds it."""
        payments = self.core.payments
        before = payments.get(item.order_id)
        if not self.ask_gateways:
            return "pending", "no live gateway to ask: settle again where the gateway answers", 0
        mkt = market_of(before.market)
        if item.captured_at and before.state is not State.REFUND_PENDING:
            captured = datetime.strptime(item.captured_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            purpose = payments.purposes[before.purpose]
            with self.store.transaction() as tx:
                refusal = purpose.refusal(tx, before)
            if refusal is not None and self.clock.now() > captured.timestamp() + mkt.refund_window_s:
                days = mkt.refund_window_s // 86400
                return ("review", f"delivery is refused now ({refusal}) and the {days}-day refund "
                        "window has closed: no refund possible, for a human", 0)
        after = payments.reconcile(item.order_id)
        s = after.state
        if s is State.CREDITED:
            settle = item.amount.minor if item.status == "captured" else 0
            return "done", f"credited {after.amount.display()} to {after.target or after.recipient}", settle
        if s is State.REFUNDED:
            return "done", f"refunded {after.amount.display()} to the card ({after.reason or 'refunded'})", 0
        if s is State.FAILED:
            return ("review", f"the gateway's status says no capture ({after.reason or 'failed'}); "
                    "the file's line is disputed: no money moved", 0)
        if s is State.REFUSED:
            return "review", "the order was refused before payment; the gateway lists a capture", 0
        return "pending", f"the gateway did not settle it yet (order {s}): retried by the next run", 0

    def _reverse_checked(self, gateway: str, day: str, item: Item) -> tuple[str, str, int]:
        """Credited but not paid: ask the gateway first; never take back what it says it has."""
        gw = self.core.gateways.get(gateway)
        if self.ask_gateways and gw is not None and item.reference:
            try:
                status = gw.status(item.reference).status
            except GatewayTimeout:
                return "pending", "the gateway did not answer the status query: retried by the next run", 0
            except GatewayError as e:
                if e.code != "unknown_order":
                    return "pending", f"status query refused ({e.message}): retried by the next run", 0
                status = None
            if status is not None and status.captured:
                return ("review", f"the gateway's status says {status}: its file leaves out a captured "
                        "payment; ask it to settle the payment; no money moved", 0)
            if status is not None and status not in _NO_MONEY:
                return "review", f"the gateway's status says {status}: for a human; no money moved", 0
        return self.store.run(lambda tx: self._reverse(tx, gateway, day, item))

    def _reverse(self, tx: Tx, gateway: str, day: str, item: Item) -> tuple[str, str, int]:
        """Take the credit back: from the main balance what is left of it, the rest as a
        receivable on the subscriber; the gateway clearing gives up what it never received."""
        line = tx.one("SELECT action_state FROM settlement_lines WHERE gateway = ? AND business_date = ?"
                      " AND item = ?" + tx.for_update, (gateway, day, item.item))
        if line is None or line["action_state"] != "pending":
            return "done", "", 0
        o = Order.from_row(tx.one("SELECT * FROM orders WHERE id = ?" + tx.for_update, (item.order_id,)))
        outcome = None
        if o.state is not State.CREDITED or o.reason == REVERSED_REASON:
            outcome = f"the order is {o.state} ({o.reason or 'no reason'}) now: nothing to reverse"
        elif o.purpose != "topup":
            outcome = (f"a {o.purpose} order was delivered to {o.target}; taking it back is not "
                       "automated: for a human")
        if outcome is not None:
            self._record(tx, gateway, day, item.item, "review", outcome, 0)
            return "review", outcome, 0
        cur, now = o.amount.currency, self._now_ms()
        balance = ledger.liability_balance(tx, ledger.sub_main(o.recipient), lock=True)
        back = min(max(balance, 0), o.amount.minor)
        owed = o.amount.minor - back
        if back:
            ledger.transfer(tx, f"reverse:{o.id}", ledger.sub_main(o.recipient), ledger.held(cur),
                            Money(back, cur), kind="reversal", order_id=o.id, at_ms=now)
        if owed:
            ledger.transfer(tx, f"receivable:{o.id}", receivable(o.recipient, cur), ledger.held(cur),
                            Money(owed, cur), kind="receivable", order_id=o.id, at_ms=now)
        ledger.transfer(tx, f"unpaid:{o.id}", ledger.held(cur), ledger.gateway_clearing(o.gateway, cur),
                        o.amount, kind="reversal", order_id=o.id, at_ms=now)
        bonus = 0
        bucket = tx.one("SELECT * FROM bonus_buckets WHERE order_id = ? AND state = 'active'" + tx.for_update,
                        (o.id,))
        if bucket is not None and int(bucket["remaining"]) > 0:
            bonus = int(bucket["remaining"])
            ledger.transfer(tx, f"reverse_bonus:{o.id}", ledger.sub_bonus(o.recipient),
                            ledger.bonus_expense(o.market, cur), Money(bonus, cur), kind="bonus_reversal",
                            order_id=o.id, at_ms=now)
            tx.execute("UPDATE bonus_buckets SET remaining = 0, state = 'expired' WHERE order_id = ?",
                       (o.id,))
        tx.execute("UPDATE orders SET reason = ?, updated_ms = ? WHERE id = ?", (REVERSED_REASON, now, o.id))
        tx.execute("INSERT INTO settlement_reversals (order_id, gateway, business_date, msisdn, currency,"
                   " amount, taken_back, receivable, bonus_withdrawn, at_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (o.id, gateway, day, o.recipient, cur, o.amount.minor, back, owed, bonus, now))
        outcome = (f"reversed {o.amount.display()} from {o.recipient}: {Money(back, cur).display()} "
                   "back from the main balance")
        if owed:
            outcome += f", {Money(owed, cur).display()} already spent: receivable"
        if bonus:
            outcome += f"; bonus {Money(bonus, cur).display()} withdrawn"
        self._record(tx, gateway, day, item.item, "done", outcome, 0)
        return "done", outcome, 0


def earlier_lines(tx: Tx, f: SettlementFile, refs: list[str]) -> dict[str, dict]:
    """Lines of this file's references already settled on another day (duplicates across days)."""
    return {r["reference"]: r for r in _chunked(
        tx, "SELECT reference, business_date, line_no FROM settlement_lines WHERE gateway = ?"
            " AND business_date <> ? AND reference IN ({})", (f.gateway, f.business_date.isoformat()), refs)}


def insert_run(tx: Tx, f: SettlementFile, sha: str, source: str, now_ms: int, items: Iterable[Item]) -> bool:
    """Record a settlement file's run and its classified lines (gateway and wallet runs alike)."""
    day = f.business_date.isoformat()
    tx.execute("INSERT INTO settlement_runs (gateway, business_date, file_sha256, source, line_count,"
               " created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
               (f.gateway, day, sha, source, len(f.lines), now_ms, now_ms))
    for item in items:
        tx.execute(
            "INSERT INTO settlement_lines (gateway, business_date, item, line_no, reference,"
            " order_number, order_id, amount, currency, status, captured_at, classification,"
            " action, action_state, outcome, settle_amount) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (f.gateway, day, item.item, item.line_no, item.reference, item.order_number,
             item.order_id, item.amount.minor, item.amount.currency, item.status, item.captured_at,
             item.classification, item.action, item.action_state, item.outcome, item.settle_amount))
    return True


def _chunked(tx: Tx, sql: str, params: tuple, values: list[str], size: int = 500) -> list[dict]:
    out: list[dict] = []
    for i in range(0, len(values), size):
        part = values[i:i + size]
        out += tx.all(sql.format(",".join("?" * len(part))), (*params, *part))
    return out
