"""Instalment plans for debt (F3, seed 002): unpaid bills spread over months the customer can pay.

    proposal = instalments.propose("dz-sonelgaz-elec", "165012345678", "2500")
    plan = instalments.accept(proposal, customer="0551234567")
    instalments.check_missed()          # run daily: late, then defaulted after N misses

A schedule is fitted to the monthly amount: ``ceil(debt / monthly)`` instalments of ``monthly``,
the last one taking the remainder; when that is fewer than the biller's ``min_months`` the debt
is spread evenly over ``min_months`` (the last again takes the remainder); more than
``max_months`` is refused, saying the lowest monthly amount that fits. Instalments fall due on
the first of each month, starting next month. The covered bills move to ``in_plan``.

Payments (:mod:`core.bills`) go first to the plan's instalments due by then (oldest first), then
to bills outside the plan, then to later instalments (paying ahead). An instalment still unpaid
``grace_days`` after its due date is missed (from due date + grace days on): the plan is ``late`` until the missed
instalments are paid, and ``defaulted`` after ``default_after_missed`` misses: the covered bills
then leave the plan with what is left of them owed again. A payment covering the whole
remainder pays the plan off at once.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from core import billers
from core.billers import DAY_MS, month_start_ms, send_text, show, show_day
from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound, Refused
from core.market import market as market_of
from core.money import Money
from core.msisdn import normalise
from core.ports import SmsSender
from core.store import Store, Tx

LIVE = ("active", "late")


# -- pure rules ---------------------------------------------------------------------------
def fit_schedule(debt: int, monthly: int, min_months: int, max_months: int) -> list[int]:
    """Instalment amounts (minor units) for ``debt`` at about ``monthly`` a month."""
    if debt <= 0 or monthly <= 0:
        raise ValueError("debt and monthly must be positive")
    n = -(-debt // monthly)
    if n > max_months:
        need = -(-debt // max_months)
        raise InvalidInput(f"monthly: {monthly} a month pays the debt of {debt} in {n} months; plans run at "
                           f"most {max_months} months: expected at least {need} a month", field="monthly",
                           minimum=need)
    if n >= min_months:
        return [monthly] * (n - 1) + [debt - monthly * (n - 1)]
    n = min_months
    each = debt // n
    if each == 0:
        raise InvalidInput(f"monthly: a debt of {debt} cannot be spread over {n} months", field="monthly")
    return [each] * (n - 1) + [debt - each * (n - 1)]


def allocate(remaining: list[int], amount: int) -> list[int]:
    """What ``amount`` pays of each item, oldest first; what is left over is not allocated."""
    takes = []
    for left in remaining:
        take = min(max(left, 0), amount)
        takes.append(take)
        amount -= take
    return takes


# -- what a plan looks like ------------------------------------------------------------------
@dataclass(frozen=True)
class Instalment:
    seq: int
    due_ms: int
    amount: Money
    paid: Money
    state: str              # due | part_paid | paid | missed
    was_missed: bool

    @property
    def outstanding(self) -> Money:
        return self.amount - self.paid

    def public(self) -> dict:
        return {"seq": self.seq, "due_ms": self.due_ms, "amount": self.amount.major_str(),
                "paid": self.paid.major_str(), "state": self.state, "was_missed": self.was_missed}


@dataclass(frozen=True)
class Plan:
    id: str
    biller: str
    account: str
    market: str
    debt: Money
    monthly: Money
    paid: Money
    missed: int
    state: str              # active | late | defaulted | paid
    customer: str | None
    language: str
    created_ms: int
    instalments: tuple[Instalment, ...]

    @property
    def outstanding(self) -> Money:
        return self.debt - self.paid

    def public(self) -> dict:
        return {"id": self.id, "biller": self.biller, "account": self.account, "state": self.state,
                "currency": self.debt.currency, "debt": self.debt.major_str(), "monthly": self.monthly.major_str(),
                "paid": self.paid.major_str(), "outstanding": self.outstanding.major_str(), "missed": self.missed,
                "instalments": [i.public() for i in self.instalments]}


def plan_from_rows(p: dict, rows: list[dict]) -> Plan:
    cur = p["currency"]
    return Plan(p["id"], p["biller"], p["account"], p["market"], Money(int(p["debt"]), cur),
                Money(int(p["monthly"]), cur), Money(int(p["paid"]), cur), int(p["missed"]), p["state"],
                p["customer"], p["language"], int(p["created_ms"]),
                tuple(Instalment(int(r["seq"]), int(r["due_ms"]), Money(int(r["amount"]), cur),
                                 Money(int(r["paid"]), cur), r["state"], bool(r["was_missed"])) for r in rows))


@dataclass(frozen=True)
class Proposal:
    """A schedule offered for the debt due now; ``accept`` it to make it a plan."""

    biller: str
    account: str
    debt: Money
    monthly: Money
    bills: tuple[str, ...]
    schedule: tuple[tuple[int, Money], ...]     # (due_ms, amount)
    made_ms: int

    def public(self) -> dict:
        return {"biller": self.biller, "account": self.account, "currency": self.debt.currency,
                "debt": self.debt.major_str(), "monthly": self.monthly.major_str(), "bills": list(self.bills),
                "schedule": [{"due_ms": d, "amount": a.major_str()} for d, a in self.schedule]}


@dataclass(frozen=True)
class PlanEvent:
    """What ``check_missed`` did to one plan."""

    plan_id: str
    biller: str
    account: str
    state: str              # late | defaulted
    missed: tuple[int, ...]  # instalment numbers missed by this run


# -- SQL shared with core.bills -----------------------------------------------------------
def live_plan(tx: Tx, biller_id: str, account: str, *, lock: bool = False) -> tuple[dict, list[dict]] | None:
    """The account's active or late plan and its unpaid instalments (oldest first)."""
    lock_sql = tx.for_update if lock else ""
    p = tx.one("SELECT * FROM instalment_plans WHERE biller = ? AND account = ? AND state IN ('active', 'late')"
               + lock_sql, (biller_id, account))
    if p is None:
        return None
    rows = tx.all("SELECT * FROM instalments WHERE plan_id = ? AND paid < amount ORDER BY seq" + lock_sql, (p["id"],))
    return p, rows


def load_plan(tx: Tx, plan_id: str) -> Plan | None:
    p = tx.one("SELECT * FROM instalment_plans WHERE id = ?", (plan_id,))
    if p is None:
        return None
    return plan_from_rows(p, tx.all("SELECT * FROM instalments WHERE plan_id = ? ORDER BY seq", (plan_id,)))


def pay_plan(tx: Tx, plan: dict, rows: list[dict], takes: list[int], at_ms: int) -> list[tuple[int, int]]:
    """Apply ``takes`` to the plan's instalments ``rows`` (and, oldest first, to the bills it
    covers); returns (instalment, amount) pairs. Pays the plan off when nothing is left of it."""
    out = []
    for r, take in zip(rows, takes):
        if take == 0:
            continue
        paid = int(r["paid"]) + take
        state = "paid" if paid == int(r["amount"]) else ("missed" if r["state"] == "missed" else "part_paid")
        tx.execute("UPDATE instalments SET paid = ?, state = ?, paid_ms = ? WHERE plan_id = ? AND seq = ?",
                   (paid, state, at_ms if state == "paid" else None, plan["id"], r["seq"]))
        out.append((int(r["seq"]), take))
    total = sum(takes)
    if total == 0:
        return out
    bills = tx.all("SELECT id, amount, paid FROM bills WHERE plan_id = ? AND state = 'in_plan'"
                   " ORDER BY due_ms, period, id", (plan["id"],))
    for b, take in zip(bills, allocate([int(b["amount"]) - int(b["paid"]) for b in bills], total)):
        if take:
            tx.execute("UPDATE bills SET paid = paid + ?, updated_ms = ? WHERE id = ?", (take, at_ms, b["id"]))
    paid = int(plan["paid"]) + total
    if paid == int(plan["debt"]):
        tx.execute("UPDATE bills SET state = 'paid', updated_ms = ? WHERE plan_id = ? AND state = 'in_plan'",
                   (at_ms, plan["id"]))
        state = "paid"
    else:
        missed = tx.one("SELECT COUNT(*) AS n FROM instalments WHERE plan_id = ? AND state = 'missed'",
                        (plan["id"],))
        state = "late" if int(missed["n"]) else "active"
    tx.execute("UPDATE instalment_plans SET paid = ?, state = ?, updated_ms = ?,"
               " closed_ms = CASE WHEN ? = 'paid' THEN ? ELSE closed_ms END WHERE id = ?",
               (paid, state, at_ms, state, at_ms, plan["id"]))
    return out


def due_bills(tx: Tx, biller_id: str, account: str, due_by_ms: int, *, lock: bool = False) -> list[dict]:
    """Unpaid bills outside any plan that are due by ``due_by_ms``, oldest first."""
    return tx.all("SELECT * FROM bills WHERE biller = ? AND account = ? AND state IN ('open', 'part_paid')"
                  " AND due_ms <= ? ORDER BY due_ms, period, id" + (tx.for_update if lock else ""),
                  (biller_id, account, due_by_ms))


def account_known(tx: Tx, biller_id: str, account: str) -> bool:
    return tx.one("SELECT 1 AS x FROM biller_accounts WHERE biller = ? AND account = ?",
                  (biller_id, account)) is not None


# -- the service ------------------------------------------------------------------------------
class Instalments:
    def __init__(self, store: Store, clock: Clock, sms: SmsSender, *, sms_sender: str = "RBENCH") -> None:
        self.store, self.clock, self.sms, self.sms_sender = store, clock, sms, sms_sender

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def propose(self, biller: str, account: str, monthly: object, *, currency: str | None = None) -> Proposal:
        """A schedule for what the account owes now (bills due and unpaid), at ``monthly`` a month.
        Reads only: nothing is written until the proposal is accepted."""
        b = billers.biller(biller)
        if b.instalments is None:
            raise Refused(f"biller: {b.id} does not offer instalment plans", field="biller")
        acct = b.parse_account(account)
        amount = b.money(monthly, field="monthly", currency=currency)
        rules, now_ms = b.instalments, self.now_ms()
        with self.store.autocommit() as tx:
            known = account_known(tx, b.id, acct)
            live = live_plan(tx, b.id, acct)
            bills = due_bills(tx, b.id, acct, now_ms)
        if not known:
            raise NotFound(f"account: {acct} is not an account of {b.id}", field="account")
        if live is not None:
            raise Conflict(f"account: {acct} already has the {live[0]['state']} plan {live[0]['id']}",
                           field="account", plan=live[0]["id"])
        debt = Money(sum(int(r["amount"]) - int(r["paid"]) for r in bills), b.currency)
        if debt.minor == 0:
            raise Refused(f"account: {acct} owes nothing due to {b.id}; nothing to spread", field="account")
        if debt < rules.min_debt:
            raise Refused(f"account: a debt of {debt} is below the {rules.min_debt} a plan starts at; "
                          "pay it directly", field="account")
        if amount < b.min_payment:
            raise InvalidInput(f"monthly: {amount} is below the minimum payment of {b.min_payment}",
                               field="monthly")
        try:
            amounts = fit_schedule(debt.minor, amount.minor, rules.min_months, rules.max_months)
        except InvalidInput as e:
            need = Money(int(e.extra.get("minimum", 0)), b.currency)
            raise InvalidInput(f"monthly: {amount} a month does not pay {debt} within {rules.max_months} months; "
                               f"expected at least {need}" if need.minor else e.message, field="monthly") from None
        schedule = tuple((month_start_ms(now_ms, k + 1), Money(a, b.currency)) for k, a in enumerate(amounts))
        return Proposal(b.id, acct, debt, amount, tuple(r["id"] for r in bills), schedule, now_ms)

    def accept(self, proposal: Proposal, *, customer: str | None = None, language: str | None = None) -> Plan:
        """Make the proposal a plan (once: a retry returns the same plan). The covered bills
        move to ``in_plan``; if any of them changed since the proposal, propose again."""
        b = billers.biller(proposal.biller)
        mkt = market_of(b.market)
        phone = normalise(customer, mkt.numbering, field="customer").e164 if customer is not None else None
        lang = language or mkt.languages[0]
        if lang not in mkt.languages:
            raise InvalidInput(f"language: {lang!r}; expected one of {', '.join(mkt.languages)}", field="language")
        plan_id = "pln_" + hashlib.sha256("\x00".join(
            (proposal.biller, proposal.account, str(proposal.made_ms), str(proposal.monthly.minor),
             *proposal.bills)).encode()).hexdigest()[:20]
        now_ms = self.now_ms()

        def run(tx: Tx) -> Plan:
            done = load_plan(tx, plan_id)
            if done is not None:
                return done
            live = live_plan(tx, b.id, proposal.account, lock=True)
            if live is not None:
                raise Conflict(f"account: {proposal.account} already has the {live[0]['state']} plan "
                               f"{live[0]['id']}", field="account", plan=live[0]["id"])
            marks = ",".join("?" * len(proposal.bills))
            rows = tx.all(f"SELECT * FROM bills WHERE id IN ({marks}) AND state IN ('open', 'part_paid')"
                          + tx.for_update, proposal.bills)
            debt = sum(int(r["amount"]) - int(r["paid"]) for r in rows)
            if len(rows) != len(proposal.bills) or debt != proposal.debt.minor:
                raise Conflict(f"proposal: the debt of {proposal.account} changed since it was proposed "
                               f"({proposal.debt} then, {Money(debt, b.currency)} now): propose again",
                               field="proposal")
            tx.execute("INSERT INTO instalment_plans (id, biller, account, market, currency, debt, monthly, months,"
                       " state, customer, language, created_ms, updated_ms)"
                       " VALUES (?,?,?,?,?,?,?,?, 'active', ?,?,?,?)",
                       (plan_id, b.id, proposal.account, b.market, b.currency, debt, proposal.monthly.minor,
                        len(proposal.schedule), phone, lang, now_ms, now_ms))
            for seq, (due_ms, amount) in enumerate(proposal.schedule, 1):
                tx.execute("INSERT INTO instalments (plan_id, seq, due_ms, amount, state) VALUES (?,?,?,?, 'due')",
                           (plan_id, seq, due_ms, amount.minor))
            tx.execute(f"UPDATE bills SET state = 'in_plan', plan_id = ?, updated_ms = ? WHERE id IN ({marks})",
                       (plan_id, now_ms, *proposal.bills))
            return load_plan(tx, plan_id)  # type: ignore[return-value]
        return self.store.run(run)

    def get(self, plan_id: str) -> Plan:
        with self.store.autocommit() as tx:
            plan = load_plan(tx, plan_id)
        if plan is None:
            raise NotFound(f"plan_id: no plan {plan_id!r}", field="plan_id")
        return plan

    def plan_of(self, biller: str, account: str) -> Plan | None:
        """The account's active or late plan, if it has one."""
        b = billers.biller(biller)
        acct = b.parse_account(account)
        with self.store.autocommit() as tx:
            live = live_plan(tx, b.id, acct)
            return load_plan(tx, live[0]["id"]) if live else None

    def check_missed(self, now: float | None = None) -> list[PlanEvent]:
        """Mark instalments unpaid ``grace_days`` after their due date as missed; plans become
        ``late``, or ``defaulted`` after the biller's number of misses. Safe to run again."""
        now_ms = int((self.clock.now() if now is None else now) * 1000)

        def run(tx: Tx) -> list[tuple[PlanEvent, dict, list[dict]]]:
            rows = tx.all("SELECT i.plan_id, i.seq, i.due_ms, i.amount, i.paid, p.biller FROM instalments i"
                          " JOIN instalment_plans p ON p.id = i.plan_id WHERE p.state IN ('active', 'late')"
                          " AND i.state IN ('due', 'part_paid') AND i.due_ms <= ? ORDER BY i.plan_id, i.seq",
                          (now_ms,))
            late: dict[str, list[dict]] = {}
            for r in rows:
                rules = billers.biller(r["biller"]).instalments
                grace = rules.grace_days if rules else 0
                if now_ms >= int(r["due_ms"]) + grace * DAY_MS:
                    late.setdefault(r["plan_id"], []).append(r)
            out = []
            for plan_id, missed in late.items():
                p = tx.one("SELECT * FROM instalment_plans WHERE id = ?" + tx.for_update, (plan_id,))
                for r in missed:
                    tx.execute("UPDATE instalments SET state = 'missed', was_missed = 1 WHERE plan_id = ? AND seq = ?"
                               " AND state IN ('due', 'part_paid')", (plan_id, r["seq"]))
                count = int(p["missed"]) + len(missed)
                rules = billers.biller(p["biller"]).instalments
                state = "defaulted" if rules and count >= rules.default_after_missed else "late"
                tx.execute("UPDATE instalment_plans SET missed = ?, state = ?, updated_ms = ?,"
                           " closed_ms = CASE WHEN ? = 'defaulted' THEN ? ELSE closed_ms END WHERE id = ?",
                           (count, state, now_ms, state, now_ms, plan_id))
                if state == "defaulted":
                    tx.execute("UPDATE bills SET state = CASE WHEN paid = 0 THEN 'open' WHEN paid < amount"
                               " THEN 'part_paid' ELSE 'paid' END, updated_ms = ? WHERE plan_id = ?"
                               " AND state = 'in_plan'", (now_ms, plan_id))
                out.append((PlanEvent(plan_id, p["biller"], p["account"], state,
                                      tuple(int(r["seq"]) for r in missed)), p, missed))
            return out

        events = self.store.run(run)
        for event, p, missed in events:
            self._notify(event, p, missed)
        return [e for e, _, _ in events]

    def _notify(self, event: PlanEvent, p: dict, missed: list[dict]) -> None:
        b = billers.biller(p["biller"])
        lang, cur = p["language"], p["currency"]
        if event.state == "defaulted":
            left = Money(int(p["debt"]) - int(p["paid"]), cur)
            send_text(self.sms, self.sms_sender, p["customer"], "sms_plan_defaulted", lang, biller=b.name(lang),
                      account=p["account"], outstanding=show(left, b.market))
            return
        for r in missed:
            send_text(self.sms, self.sms_sender, p["customer"], "sms_plan_late", lang, biller=b.name(lang),
                      account=p["account"], amount=show(Money(int(r["amount"]) - int(r["paid"]), cur), b.market),
                      due=show_day(int(r["due_ms"]), b.market))
