"""Bills (F3) and ADSL recharges (F2): issued per billing cycle, looked up by account, paid in
full or in part by card + OTP (the F1 flow) or directly (kiosk, wallet, bank app, postal mandate).

    bill = bills.issue("dz-sonelgaz-elec", "165012345678", "2026-01", "4800", "2026-02-15")
    bills.lookup("dz-sonelgaz-elec", "165012345678")        # open bills and any live plan
    order = bills.pay("dz-sonelgaz-elec", "165012345678", "2000", payer="0551234567")
    order = bills.recharge("dz-at-adsl", "034123456", "adsl-2m", method="wallet", method_account="baridimob")

A payment is an order with purpose ``bill`` and target ``<biller>:<account>``; ``BillPurpose``
is what :class:`core.payments.Payments` calls inside the capture transaction. It refuses when
the account owes nothing or less than the order (the money goes back), else posts
``credit:<order>`` from ``held:<CUR>`` to the biller's payable ``biller:<biller>:<CUR>`` and
allocates, oldest first: to the live instalment plan's instalments due by now, then to the open
bills outside the plan (open -> part_paid -> paid), then to the plan's later instalments (paying
ahead; the whole remainder pays the plan off). Every allocation is a ``bill_allocations`` row.

A recharge is an order with purpose ``adsl`` and target ``<biller>:<account>:<product>``:
``AdslPurpose`` credits the payable and extends the access by the product's months (30 days
each), after any validity still running.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from core import billers, ledger
from core.billers import DAY_MS, Biller, account_key, day_ms, send_text, show, show_day
from core.clock import Clock
from core.errors import Conflict, GatewayUnavailable, InvalidInput, NotFound, Refused
from core.instalments import Plan, account_known, allocate, live_plan, load_plan, pay_plan
from core.market import market as market_of
from core.money import Money
from core.orders import Order
from core.payments import DIRECT_METHODS, Notice, Payments
from core.store import Store, Tx
from core.subscribers import Subscribers, find as find_subscriber

CHANNELS = ("web", "app", "ussd", "kiosk", "wallet", "bank", "mandate", "sim")
OPEN = ("open", "part_paid")
RECHARGE_DAYS_PER_MONTH = 30


def payable(biller_id: str, cur: str) -> str:
    """What we owe a biller for the payments we collected for it (liability)."""
    return f"biller:{biller_id}:{cur}"


def split_target(target: str) -> tuple[Biller, str, str | None]:
    """An order's target back into (biller, account, product)."""
    parts = (target or "").split(":")
    return billers.biller(parts[0]), parts[1], parts[2] if len(parts) > 2 else None


@dataclass(frozen=True)
class Bill:
    id: str
    biller: str
    account: str
    period: str
    amount: Money
    paid: Money
    state: str              # open | part_paid | paid | in_plan
    plan_id: str | None
    issued_ms: int
    due_ms: int

    @property
    def outstanding(self) -> Money:
        return self.amount - self.paid

    @classmethod
    def from_row(cls, r: dict) -> "Bill":
        cur = r["currency"]
        return cls(r["id"], r["biller"], r["account"], r["period"], Money(int(r["amount"]), cur),
                   Money(int(r["paid"]), cur), r["state"], r["plan_id"], int(r["issued_ms"]), int(r["due_ms"]))

    def public(self) -> dict:
        return {"id": self.id, "biller": self.biller, "account": self.account, "period": self.period,
                "currency": self.amount.currency, "amount": self.amount.major_str(), "paid": self.paid.major_str(),
                "outstanding": self.outstanding.major_str(), "state": self.state, "plan_id": self.plan_id,
                "due_ms": self.due_ms}


@dataclass(frozen=True)
class Statement:
    """What an account owes: unpaid bills oldest first, its live plan, the total, ADSL access."""

    biller: str
    account: str
    bills: tuple[Bill, ...]
    plan: Plan | None
    outstanding: Money
    adsl_valid_until_ms: int | None

    def public(self) -> dict:
        return {"biller": self.biller, "account": self.account, "currency": self.outstanding.currency,
                "outstanding": self.outstanding.major_str(), "bills": [b.public() for b in self.bills],
                "plan": self.plan.public() if self.plan else None, "adsl_valid_until_ms": self.adsl_valid_until_ms}


@dataclass(frozen=True)
class Owed:
    """An account's unpaid items in the order payments go to: the live plan's instalments due by
    now (missed ones first, being oldest), then the bills outside the plan, oldest first, then
    the plan's instalments not yet due (paying ahead, up to an early payoff)."""

    plan: dict | None
    due: list[dict]
    bills: list[dict]
    later: list[dict]

    @property
    def units(self) -> list[int]:
        return [int(r["amount"]) - int(r["paid"]) for r in (*self.due, *self.bills, *self.later)]

    @property
    def total(self) -> int:
        return sum(self.units)

    def boundaries(self) -> list[int]:
        """The amounts that settle whole items, oldest first."""
        out, running = [], 0
        for u in self.units:
            running += u
            out.append(running)
        return out


def owed(tx: Tx, biller_id: str, account: str, at_ms: int, *, lock: bool = False) -> Owed:
    plan = live_plan(tx, biller_id, account, lock=lock)
    bills = tx.all("SELECT * FROM bills WHERE biller = ? AND account = ? AND state IN ('open', 'part_paid')"
                   " ORDER BY due_ms, period, id" + (tx.for_update if lock else ""), (biller_id, account))
    rows = plan[1] if plan else []
    return Owed(plan[0] if plan else None, [r for r in rows if int(r["due_ms"]) <= at_ms], bills,
                [r for r in rows if int(r["due_ms"]) > at_ms])


def adsl_valid_until(tx: Tx, biller_id: str, account: str) -> int | None:
    row = tx.one("SELECT MAX(valid_until_ms) AS u FROM adsl_recharges WHERE biller = ? AND account = ?",
                 (biller_id, account))
    return int(row["u"]) if row and row["u"] is not None else None


class BillPurpose:
    """Pay what the account owes, oldest first (see :class:`Owed`)."""

    name = "bill"

    def __init__(self, store: Store, payments: Payments) -> None:
        self.store, self.payments = store, payments

    def refusal(self, tx: Tx, order: Order) -> str | None:
        b, account, _ = split_target(order.target or "")
        total = owed(tx, b.id, account, self.payments.now_ms(), lock=True).total
        if total == 0:
            return "nothing_owed"
        return "over_outstanding" if order.amount.minor > total else None

    def fulfil(self, batch: ledger.Batch, order: Order) -> None:
        tx, at_ms, cur = batch.tx, batch.at_ms, order.amount.currency
        b, account, _ = split_target(order.target or "")
        batch.add(f"credit:{order.id}", ledger.held(cur), payable(b.id, cur), order.amount, kind="credit",
                  order_id=order.id)
        o = owed(tx, b.id, account, at_ms)
        takes = allocate(o.units, order.amount.minor)
        if sum(takes) != order.amount.minor:   # refusal() said it fits, under the same locks: a bug
            raise AssertionError(f"order {order.id}: {order.amount.minor - sum(takes)} left unallocated")
        nd, nb = len(o.due), len(o.bills)
        if o.plan is not None:
            pay_plan(tx, o.plan, o.due + o.later, takes[:nd] + takes[nd + nb:], at_ms)
        for r, take in zip(o.bills, takes[nd:nd + nb]):
            if take:
                paid = int(r["paid"]) + take
                tx.execute("UPDATE bills SET paid = ?, state = ?, updated_ms = ? WHERE id = ?",
                           (paid, "paid" if paid == int(r["amount"]) else "part_paid", at_ms, r["id"]))
        plan_id = o.plan["id"] if o.plan else None
        items = ([(None, plan_id, int(r["seq"])) for r in o.due] + [(r["id"], None, None) for r in o.bills]
                 + [(None, plan_id, int(r["seq"])) for r in o.later])
        rows = [(*item, take) for item, take in zip(items, takes) if take]
        for seq, (bill_id, plan_id, inst, take) in enumerate(rows):
            tx.execute("INSERT INTO bill_allocations (order_id, seq, bill_id, plan_id, instalment, amount, currency,"
                       " at_ms) VALUES (?,?,?,?,?,?,?,?)", (order.id, seq, bill_id, plan_id, inst, take, cur, at_ms))

    def notices(self, order: Order, event: str, balances: dict[str, int] | None = None) -> list[Notice]:
        """Sent here, not returned: bill texts live in billers.toml, not in the market profiles."""
        b, account, _ = split_target(order.target or "")
        values = dict(amount=show(order.amount, b.market), biller=b.name(order.language), account=account,
                      order=order.id)
        if event == "credited":
            with self.store.autocommit() as tx:
                left = Money(owed(tx, b.id, account, self.payments.now_ms()).total, b.currency)
            send_text(self.payments.sms, self.payments.sms_sender, order.payer, "sms_bill_paid", order.language,
                      outstanding=show(left, b.market), **values)
        else:
            key = "sms_bill_refunded" if event == "refused" else "sms_bill_failed"
            send_text(self.payments.sms, self.payments.sms_sender, order.payer, key, order.language,
                      reason=order.reason or "", **values)
        return []


class AdslPurpose:
    """Recharge an ADSL access with a product: the access runs product months longer."""

    name = "adsl"

    def __init__(self, store: Store, payments: Payments) -> None:
        self.store, self.payments = store, payments

    def refusal(self, tx: Tx, order: Order) -> str | None:
        b, account, product = split_target(order.target or "")
        if product not in b.products:
            return "unknown_product"
        return None if account_known(tx, b.id, account) else "unknown_account"

    def fulfil(self, batch: ledger.Batch, order: Order) -> None:
        tx, at_ms, cur = batch.tx, batch.at_ms, order.amount.currency
        b, account, product = split_target(order.target or "")
        p = b.products[product or ""]
        batch.add(f"credit:{order.id}", ledger.held(cur), payable(b.id, cur), order.amount, kind="credit",
                  order_id=order.id)
        start = max(at_ms, adsl_valid_until(tx, b.id, account) or 0)
        tx.execute("INSERT INTO adsl_recharges (order_id, biller, account, product, months, valid_from_ms,"
                   " valid_until_ms, at_ms) VALUES (?,?,?,?,?,?,?,?)",
                   (order.id, b.id, account, p.id, p.months, start,
                    start + p.months * RECHARGE_DAYS_PER_MONTH * DAY_MS, at_ms))

    def notices(self, order: Order, event: str, balances: dict[str, int] | None = None) -> list[Notice]:
        b, account, product = split_target(order.target or "")
        p = b.products.get(product or "")
        name = p.names.get(order.language, product) if p else product
        if event == "credited":
            with self.store.autocommit() as tx:
                until = adsl_valid_until(tx, b.id, account) or 0
            send_text(self.payments.sms, self.payments.sms_sender, order.payer, "sms_adsl_recharged",
                      order.language, product=name, account=account, until=show_day(until, b.market), order=order.id)
        else:
            send_text(self.payments.sms, self.payments.sms_sender, order.payer, "sms_adsl_failed", order.language,
                      product=name, account=account, reason=order.reason or "", order=order.id)
        return []


class Bills:
    def __init__(self, store: Store, clock: Clock, payments: Payments, subscribers: Subscribers,
                 new_id: Callable[[], str]) -> None:
        self.store, self.clock, self.payments, self.subscribers = store, clock, payments, subscribers
        self.new_id = new_id
        payments.add_purpose(BillPurpose(store, payments))
        payments.add_purpose(AdslPurpose(store, payments))

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- accounts and bills ------------------------------------------------------------------
    def enrol(self, biller: str, account: str) -> str:
        """Make an account known to its biller (bills do it too); returns the account number."""
        b = billers.biller(biller)
        acct = b.parse_account(account)
        with self.store.autocommit() as tx:
            tx.execute("INSERT INTO biller_accounts (biller, account, market, created_ms) VALUES (?,?,?,?)"
                       " ON CONFLICT (biller, account) DO NOTHING", (b.id, acct, b.market, self.now_ms()))
        return acct

    def issue(self, biller: str, account: str, period: str, amount: object, due: object, *,
              currency: str | None = None) -> Bill:
        """Issue the bill of a billing period, once: the same call again returns the same bill;
        another amount or due date for an issued period is a conflict."""
        b = billers.biller(biller)
        acct = b.parse_account(account)
        per = b.period(period)
        money = b.money(amount, currency=currency)
        due_ms = day_ms(due, field="due")
        bill_id, now_ms = f"{b.id}/{acct}/{per}", self.now_ms()

        def run(tx: Tx) -> Bill:
            tx.execute("INSERT INTO biller_accounts (biller, account, market, created_ms) VALUES (?,?,?,?)"
                       " ON CONFLICT (biller, account) DO NOTHING", (b.id, acct, b.market, now_ms))
            row = tx.one("INSERT INTO bills (id, biller, account, period, market, currency, amount, state, issued_ms,"
                         " due_ms, updated_ms) VALUES (?,?,?,?,?,?,?, 'open', ?,?,?) ON CONFLICT (id) DO NOTHING"
                         " RETURNING *", (bill_id, b.id, acct, per, b.market, b.currency, money.minor, now_ms,
                                          due_ms, now_ms))
            bill = Bill.from_row(row or tx.one("SELECT * FROM bills WHERE id = ?", (bill_id,)))
            if bill.amount != money:
                raise Conflict(f"amount: the {per} bill of {acct} was issued for {bill.amount}, not {money}",
                               field="amount", bill=bill_id)
            if bill.due_ms != due_ms:
                raise Conflict(f"due: the {per} bill of {acct} was issued due {show_day(bill.due_ms, b.market)}",
                               field="due", bill=bill_id)
            return bill
        return self.store.run(run)

    def bill(self, bill_id: str) -> Bill:
        with self.store.autocommit() as tx:
            row = tx.one("SELECT * FROM bills WHERE id = ?", (bill_id,))
        if row is None:
            raise NotFound(f"bill_id: no bill {bill_id!r}", field="bill_id")
        return Bill.from_row(row)

    def lookup(self, biller: str, account: str) -> Statement:
        """Unpaid bills (open, part paid, in a plan) oldest first, the live plan, what is owed."""
        b = billers.biller(biller)
        acct = b.parse_account(account)
        with self.store.autocommit() as tx:
            if not account_known(tx, b.id, acct):
                raise NotFound(f"account: {acct} is not an account of {b.id}", field="account")
            rows = tx.all("SELECT * FROM bills WHERE biller = ? AND account = ? AND state <> 'paid'"
                          " ORDER BY due_ms, period, id", (b.id, acct))
            live = live_plan(tx, b.id, acct)
            plan = load_plan(tx, live[0]["id"]) if live else None
            total = owed(tx, b.id, acct, self.now_ms()).total
            until = adsl_valid_until(tx, b.id, acct)
        return Statement(b.id, acct, tuple(Bill.from_row(r) for r in rows), plan, Money(total, b.currency), until)

    def allocations(self, order_id: str) -> list[dict]:
        """Where a credited payment went, in the order it was allocated."""
        with self.store.autocommit() as tx:
            return tx.all("SELECT * FROM bill_allocations WHERE order_id = ? ORDER BY seq", (order_id,))

    # -- paying ---------------------------------------------------------------------------------
    def pay(self, biller: str, account: str, amount: object, *, method: str = "card",
            method_account: str | None = None, payer: str | None = None, order_id: str | None = None,
            channel: str = "web", currency: str | None = None, language: str | None = None) -> Order:
        """Pay ``amount`` towards what the account owes. Card: the order comes back
        pending_payment with the gateway's form; direct: taken and allocated at once. With
        ``order_id`` fixed by the caller, a repeated call resumes the same order."""
        b = billers.biller(biller)
        acct = b.parse_account(account)
        money = b.money(amount, currency=currency)
        v = self._validate(b, method, method_account, channel, payer, language)
        target = account_key(b.id, acct)
        existing = self._existing(order_id, "bill", target, money, method)
        if existing is not None:
            return existing
        with self.store.autocommit() as tx:
            known = account_known(tx, b.id, acct)
            o = owed(tx, b.id, acct, self.now_ms())
        if not known:
            raise NotFound(f"account: {acct} is not an account of {b.id}", field="account")
        total = Money(o.total, b.currency)
        if total.minor == 0:
            raise Refused(f"account: {acct} owes nothing to {b.id}", field="account")
        if money > total:
            raise InvalidInput(f"amount: {money} is above what {acct} owes to {b.id} ({total})", field="amount",
                               outstanding=total.major_str())
        settles = money.minor in o.boundaries()
        if money < b.min_payment and not settles:
            raise InvalidInput(f"amount: {money} is below the minimum payment of {b.min_payment} to {b.id}",
                               field="amount")
        if not b.part_payments and not settles:
            whole = ", ".join(Money(x, b.currency).major_str() for x in o.boundaries()[:5])
            raise InvalidInput(f"amount: {b.id} takes no part payments; expected an amount that settles whole "
                               f"bills or instalments, oldest first: {whole} {b.currency}", field="amount")
        return self._create(b, v, "bill", target, money, method, method_account, order_id, channel,
                            f"{b.name('fr' if 'fr' in b.names else None)} {acct}")

    def recharge(self, biller: str, account: str, product: str, *, method: str = "card",
                 method_account: str | None = None, payer: str | None = None, order_id: str | None = None,
                 channel: str = "web", language: str | None = None) -> Order:
        """Buy an ADSL recharge product for an account (its price, in full)."""
        b = billers.biller(biller)
        if not b.products:
            raise InvalidInput(f"biller: {b.id} sells no recharge products", field="biller")
        acct = b.parse_account(account)
        p = b.product(product)
        v = self._validate(b, method, method_account, channel, payer, language)
        target = f"{account_key(b.id, acct)}:{p.id}"
        existing = self._existing(order_id, "adsl", target, p.price, method)
        if existing is not None:
            return existing
        with self.store.autocommit() as tx:
            known = account_known(tx, b.id, acct)
        if not known:
            raise NotFound(f"account: {acct} is not an account of {b.id}", field="account")
        return self._create(b, v, "adsl", target, p.price, method, method_account, order_id, channel,
                            f"{p.names.get('fr', p.id)} {acct}")

    def _validate(self, b: Biller, method: str, method_account: str | None, channel: str, payer: str | None,
                  language: str | None) -> dict:
        mkt = market_of(b.market)
        if method != "card" and (method not in DIRECT_METHODS or not method_account):
            raise InvalidInput(f"method: {method!r}; expected card, or one of {', '.join(DIRECT_METHODS)} "
                               "with its account", field="method")
        if channel not in CHANNELS:
            raise InvalidInput(f"channel: {channel!r}; expected one of {', '.join(CHANNELS)}", field="channel")
        if language is not None and language not in mkt.languages:
            raise InvalidInput(f"language: {language!r}; expected one of {', '.join(mkt.languages)}",
                               field="language")
        phone = self.subscribers.parse(payer, mkt, field="payer").e164 if payer is not None else None
        gateway = method if method != "card" else mkt.web_gateway
        if method == "card" and gateway not in self.payments.gateways:
            raise GatewayUnavailable(f"no card gateway {gateway!r} is configured for {mkt.code}")
        return dict(mkt=mkt, payer=phone, language=language, gateway=gateway)

    def _existing(self, order_id: str | None, purpose: str, target: str, amount: Money, method: str) -> Order | None:
        if order_id is None:
            return None
        with self.store.autocommit() as tx:
            row = tx.one("SELECT * FROM orders WHERE id = ?", (order_id,))
        if row is None:
            return None
        order = Order.from_row(row)
        if (order.purpose, order.target, order.amount, order.method) != (purpose, target, amount, method):
            raise Conflict(f"order_id: {order_id} is another payment ({order.purpose} {order.target} "
                           f"{order.amount} by {order.method})", field="order_id")
        return self.payments.resume(order, order.target or "")

    def _create(self, b: Biller, v: dict, purpose: str, target: str, amount: Money, method: str,
                method_account: str | None, order_id: str | None, channel: str, description: str) -> Order:
        order_id = order_id or self.new_id()
        lang = v["language"]
        if lang is None and v["payer"] is not None:
            with self.store.autocommit() as tx:
                sub = find_subscriber(tx, v["payer"])
            lang = sub.language if sub and sub.language in v["mkt"].languages else None
        lang = lang or v["mkt"].languages[0]
        return self.payments.open(dict(
            id=order_id, market=b.market, channel=channel, purpose=purpose, target=target, method=method,
            method_account=method_account, payer=v["payer"], amount=amount.minor, currency=amount.currency,
            gateway=v["gateway"], language=lang), description=description)
