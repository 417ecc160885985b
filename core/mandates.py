"""Standing mandates on a postal (CCP) account (F2, seed 001): the post pays bills and ADSL
recharges from the customer's CCP account, without the customer going anywhere.

    m = mandates.request("DZ", "dz-at-adsl", "034123456", "0012345678 90", "0551234567", product="adsl-2m")
    # the post office hands the customer an access code on the signed form
    mandates.activate(m.id, "12345678")
    run = mandates.debit_due()          # run daily
    print(run.summary())

Lifecycle: requested -> active (the access code, of which only a hash is kept) -> revoked;
requested -> blocked after too many wrong codes. ``debit_due`` takes, for every active mandate
and oldest first, each instalment and bill due by now and the ADSL recharge of the current
period, once per item and period: a ``mandate_debits`` row keyed
``mandate:<id>:<item>:<period>``. For each: debit the CCP account at the post with a reference
fixed per attempt (a retry after a lost answer is the same debit), then create and pay directly
an order (method ``mandate``, account the CCP) whose id is derived from the key. Insufficient
funds: recorded, told to the customer, tried again by the next runs up to the biller's
``max_attempts``; the younger items of that mandate wait for the next run. If the order cannot
be delivered (the bill was paid another way meanwhile), the post gives the money back and the
item is tried again next run if still due (the same limit applies). A debit takes what is due
through its item, oldest first: the item alone, unless an older one was left unpaid.

One run at a time works on a mandate (a lease on its row, expiring after ``LEASE_S`` if a run
dies), and each run first finishes what an earlier one left open: money the post took for an
order not yet paid, an answer from the post that was lost (``PostalBank.status``).
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from core import billers
from core.adapters.postal import PostalBank, PostalDebit, PostalUnavailable
from core.billers import month_label, month_start_ms, send_text, show
from core.bills import Bills, owed
from core.clock import Clock
from core.digits import to_ascii_digits
from core.errors import Conflict, InvalidInput, NotFound, RechargeError, Refused
from core.idempotency import derived_id
from core.instalments import account_known
from core.market import market as market_of
from core.money import Money
from core.msisdn import normalise
from core.orders import State
from core.store import Store, Tx, UniqueViolation

LEASE_S = 300                 # a run's hold on a mandate; a crashed run's hold expires after it
RETRY = ("pending", "insufficient", "reversed")
_RETRY = "('pending', 'insufficient', 'reversed')"
_OPEN = "('pending', 'insufficient', 'reversed', 'debited')"
_tokens = itertools.count(1)
_CCP = re.compile(r"^(\d{1,10})\s*(?:[/-]|cl[eé]|key)?\s*(\d{2})$")
_HASH_ROUNDS = 20_000


def parse_ccp(text: object, *, field: str = "ccp") -> str:
    """A CCP account as written on a cheque ("12345678 clé 90", "0012345678/90", 12 digits)
    -> "0012345678-90" (account on 10 digits, key)."""
    s = re.sub(r"^(ccp|n°|no)\s*", "", to_ascii_digits(text).strip().lower()) if isinstance(text, str) else ""
    m = _CCP.match(s)
    if m is None or (not re.search(r"\D", s) and len(s) != 12):
        raise InvalidInput(f"{field}: {text!r} is not a CCP account; expected up to 10 digits then the 2-digit "
                           "key, e.g. \"0012345678 90\" or \"12345678 clé 90\"", field=field)
    return f"{int(m.group(1)):010d}-{m.group(2)}"


def code_hash(mandate_id: str, code: str) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", code.encode(), mandate_id.encode(), _HASH_ROUNDS).hex()
    return f"pbkdf2_sha256${_HASH_ROUNDS}${digest}"


@dataclass(frozen=True)
class Mandate:
    id: str
    market: str
    biller: str
    account: str
    ccp: str
    customer: str
    language: str
    product: str | None
    state: str              # requested | active | revoked | blocked
    code_fails: int
    created_ms: int
    activated_ms: int | None
    revoked_ms: int | None

    @classmethod
    def from_row(cls, r: dict) -> "Mandate":
        return cls(r["id"], r["market"], r["biller"], r["account"], r["ccp"], r["customer"], r["language"],
                   r["product"], r["state"], int(r["code_fails"]), int(r["created_ms"]), r["activated_ms"],
                   r["revoked_ms"])

    def public(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "code_fails"}


@dataclass(frozen=True)
class DebitLine:
    mandate_id: str
    key: str
    kind: str               # instalment | bill | recharge
    item: str
    amount: Money
    outcome: str            # paid | insufficient_funds | gave_up | reversed | failed | postal_unavailable
    detail: str = ""
    order_id: str | None = None


@dataclass
class DebitRun:
    """What one ``debit_due`` run did, line by line."""

    at_ms: int
    lines: list[DebitLine] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for x in self.lines if x.outcome == outcome)

    def summary(self) -> str:
        when = datetime.fromtimestamp(self.at_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")
        outcomes = sorted({x.outcome for x in self.lines})
        n = len(self.lines)
        head = f"mandate run {when} UTC: {n} debit{'' if n == 1 else 's'}" + (
            " (" + ", ".join(f"{self.count(o)} {o}" for o in outcomes) + ")" if outcomes else "")
        return "\n".join([head] + [f"  {x.mandate_id} {x.kind} {x.item}: {x.amount.display()} {x.outcome}"
                                   + (f" ({x.detail})" if x.detail else "") for x in self.lines])


@dataclass(frozen=True)
class _Item:
    kind: str
    item: str
    period: str
    amount: Money           # what is due through this item, oldest first

    def key(self, mandate_id: str) -> str:
        return f"mandate:{mandate_id}:{self.item}:{self.period}"


class Mandates:
    def __init__(self, store: Store, clock: Clock, bills: Bills, postal: PostalBank,
                 new_id: Callable[[], str]) -> None:
        self.store, self.clock, self.bills, self.postal, self.new_id = store, clock, bills, postal, new_id
        self.sms, self.sms_sender = bills.payments.sms, bills.payments.sms_sender

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- lifecycle -------------------------------------------------------------------------------
    def request(self, market: str, biller: str, account: str, ccp: str, customer: str, *,
                product: str | None = None, language: str | None = None) -> Mandate:
        """Record the mandate form signed at the post office; the post hands the customer the
        access code. Asking again for the same account, CCP and customer returns the same mandate."""
        mkt = market_of(market)
        b = billers.biller(biller, market=mkt.code)
        if b.mandates is None:
            raise Refused(f"biller: {b.id} does not take postal mandates", field="biller")
        acct = b.parse_account(account)
        ccp_no = parse_ccp(ccp)
        phone = normalise(customer, mkt.numbering, field="customer").e164
        if product is not None:
            b.product(product)
        lang = language or mkt.languages[0]
        if lang not in mkt.languages:
            raise InvalidInput(f"language: {lang!r}; expected one of {', '.join(mkt.languages)}", field="language")
        with self.store.autocommit() as tx:
            known = account_known(tx, b.id, acct)
            live = tx.one("SELECT * FROM mandates WHERE biller = ? AND account = ?"
                          " AND state IN ('requested', 'active')", (b.id, acct))
        if not known:
            raise NotFound(f"account: {acct} is not an account of {b.id}", field="account")
        if live is not None:
            same = (live["ccp"], live["customer"], live["product"]) == (ccp_no, phone, product)
            if same and live["state"] == "requested":
                return Mandate.from_row(live)
            raise Conflict(f"account: {acct} already has the {live['state']} mandate {live['id']}; revoke it first",
                           field="account", mandate=live["id"])
        if not self.postal.has_account(ccp_no):
            raise NotFound(f"ccp: no open CCP account {ccp_no} at the post", field="ccp")
        mandate_id, now_ms = self.new_id(), self.now_ms()
        code = self.postal.sign_mandate(mandate_id, ccp_no, payee=b.id)
        try:
            with self.store.autocommit() as tx:
                row = tx.one("INSERT INTO mandates (id, market, biller, account, ccp, customer, language, product,"
                             " state, code_hash, created_ms, updated_ms) VALUES (?,?,?,?,?,?,?,?, 'requested', ?,?,?)"
                             " RETURNING *", (mandate_id, mkt.code, b.id, acct, ccp_no, phone, lang, product,
                                              code_hash(mandate_id, code), now_ms, now_ms))
        except UniqueViolation:
            self.postal.revoke_mandate(mandate_id)
            raise Conflict(f"account: {acct} got another mandate at the same time", field="account") from None
        return Mandate.from_row(row)

    def get(self, mandate_id: str) -> Mandate:
        with self.store.autocommit() as tx:
            row = tx.one("SELECT * FROM mandates WHERE id = ?", (mandate_id,))
        if row is None:
            raise NotFound(f"mandate_id: no mandate {mandate_id!r}", field="mandate_id")
        return Mandate.from_row(row)

    def activate(self, mandate_id: str, access_code: object) -> Mandate:
        """The customer types the code from the post office: the mandate becomes active."""
        code = to_ascii_digits(access_code).strip().replace(" ", "") if isinstance(access_code, str) else ""
        if not code.isdigit():
            raise InvalidInput("access_code: expected the digits printed on the mandate form", field="access_code")
        now_ms = self.now_ms()

        def run(tx: Tx) -> tuple[Mandate, str]:
            row = tx.one("SELECT * FROM mandates WHERE id = ?" + tx.for_update, (mandate_id,))
            if row is None:
                raise NotFound(f"mandate_id: no mandate {mandate_id!r}", field="mandate_id")
            if row["state"] in ("revoked", "blocked"):
                raise Conflict(f"mandate_id: mandate {mandate_id} is {row['state']}; request a new one at the post",
                               field="mandate_id")
            right = hmac.compare_digest(code_hash(mandate_id, code), row["code_hash"])
            if row["state"] == "active":
                return Mandate.from_row(row), "already" if right else "wrong"
            if right:
                row = tx.one("UPDATE mandates SET state = 'active', activated_ms = ?, updated_ms = ? WHERE id = ?"
                             " RETURNING *", (now_ms, now_ms, mandate_id))
                return Mandate.from_row(row), "activated"
            fails = int(row["code_fails"]) + 1
            limit = billers.biller(row["biller"]).mandates.code_attempts  # type: ignore[union-attr]
            row = tx.one("UPDATE mandates SET code_fails = ?, state = ?, updated_ms = ? WHERE id = ? RETURNING *",
                         (fails, "blocked" if fails >= limit else "requested", now_ms, mandate_id))
            return Mandate.from_row(row), "wrong"

        m, outcome = self.store.run(run)
        if outcome == "wrong":
            limit = billers.biller(m.biller).mandates.code_attempts  # type: ignore[union-attr]
            if m.state == "blocked":
                self.postal.revoke_mandate(m.id)
                raise Refused(f"access_code: wrong code for mandate {m.id}, {limit} times: the mandate is blocked; "
                              "request a new one at the post", field="access_code", state=m.state)
            left = "" if m.state == "active" else f" ({limit - m.code_fails} tries left)"
            raise Refused(f"access_code: wrong code for mandate {m.id}{left}", field="access_code", state=m.state)
        if outcome == "activated":
            b = billers.biller(m.biller)
            send_text(self.sms, self.sms_sender, m.customer, "sms_mandate_active", m.language,
                      biller=b.name(m.language), account=m.account, ccp=m.ccp)
        return m

    def revoke(self, mandate_id: str) -> Mandate:
        """End the mandate (the customer, the post or the biller asks): no more debits."""
        now_ms = self.now_ms()
        with self.store.autocommit() as tx:
            row = tx.one("UPDATE mandates SET state = 'revoked', revoked_ms = ?, updated_ms = ? WHERE id = ?"
                         " AND state IN ('requested', 'active') RETURNING *", (now_ms, now_ms, mandate_id))
        if row is None:
            return self.get(mandate_id)
        self.postal.revoke_mandate(mandate_id)
        return Mandate.from_row(row)

    def debits(self, mandate_id: str) -> list[dict]:
        with self.store.autocommit() as tx:
            return tx.all("SELECT * FROM mandate_debits WHERE mandate_id = ? ORDER BY created_ms, id", (mandate_id,))

    # -- debiting --------------------------------------------------------------------------------
    def debit_due(self, now: float | None = None, *, mandate_id: str | None = None) -> DebitRun:
        """Debit what is due on every active mandate (or on ``mandate_id``, which must be active).

        Each mandate is worked on by one run at a time (a lease on its row). A run first finishes
        what earlier runs left open (the post took the money but the order was not paid; an
        answer from the post was lost), then debits the mandate's items oldest first.
        """
        now_ms = int((self.clock.now() if now is None else now) * 1000)
        run = DebitRun(now_ms)
        if mandate_id is not None:
            m = self.get(mandate_id)
            if m.state != "active":
                raise Conflict(f"mandate_id: mandate {mandate_id} is {m.state}; debits need an active mandate",
                               field="mandate_id")
        only = " AND m.id = ?" if mandate_id else ""
        args = (mandate_id,) if mandate_id else ()
        with self.store.autocommit() as tx:
            ids = [r["id"] for r in tx.all(
                "SELECT m.id FROM mandates m WHERE (m.state = 'active' OR EXISTS (SELECT 1 FROM mandate_debits d"
                f" WHERE d.mandate_id = m.id AND d.state IN {_OPEN}))" + only + " ORDER BY m.created_ms, m.id", args)]
        for mid in ids:
            token = self._lease(mid)
            if token is None:
                continue              # another run is working on it
            try:
                self._run_one(self.get(mid), now_ms, run)
            finally:
                with self.store.autocommit() as tx:
                    tx.execute("UPDATE mandates SET run_token = NULL, run_until_ms = NULL WHERE id = ?"
                               " AND run_token = ?", (mid, token))
        return run

    def _lease(self, mandate_id: str) -> str | None:
        token, now_ms = f"{os.getpid()}:{threading.get_ident()}:{next(_tokens)}", self.now_ms()
        with self.store.autocommit() as tx:
            got = tx.execute("UPDATE mandates SET run_token = ?, run_until_ms = ? WHERE id = ?"
                             " AND (run_token IS NULL OR run_until_ms < ?)",
                             (token, now_ms + LEASE_S * 1000, mandate_id, now_ms))
        return token if got else None

    def _run_one(self, m: Mandate, now_ms: int, run: DebitRun) -> None:
        with self.store.autocommit() as tx:
            rows = tx.all(f"SELECT * FROM mandate_debits WHERE mandate_id = ? AND state IN {_OPEN}"
                          " ORDER BY created_ms, id", (m.id,))
        seen: set[str] = set()        # items with an outcome in this run: not tried again before the next
        for row in rows:
            outcome = self._deliver(m, row, run) if row["state"] == "debited" else self._recover(m, row, now_ms, run)
            if outcome is not None:
                seen.add(row["id"])
        if m.state != "active":
            return
        while True:                   # what is due is read again after each debit
            item = next((i for i in self._items(m, now_ms) if i.key(m.id) not in seen), None)
            if item is None:
                return
            seen.add(item.key(m.id))
            if self._debit(m, item, run) in ("insufficient_funds", "gave_up", "postal_unavailable"):
                return                # younger items wait: money goes to the oldest first

    def _items(self, m: Mandate, now_ms: int) -> list[_Item]:
        """What the mandate pays now, oldest first; each amount is what is due through its item."""
        b = billers.biller(m.biller)
        with self.store.autocommit() as tx:
            o = owed(tx, m.biller, m.account, now_ms)
        out, running = [], 0
        for r, kind in [(r, "instalment") for r in o.due] + [(r, "bill") for r in o.bills]:
            running += int(r["amount"]) - int(r["paid"])
            if int(r["due_ms"]) > now_ms:
                break
            item = f"{r['plan_id']}#{r['seq']}" if kind == "instalment" else r["id"]
            period = month_label(int(r["due_ms"])) if kind == "instalment" else r["period"]
            out.append(_Item(kind, item, period, Money(running, b.currency)))
        if m.product is not None and m.activated_ms is not None and m.product in b.products:
            p = b.products[m.product]
            elapsed = _month_index(now_ms) - _month_index(int(m.activated_ms))
            start = month_start_ms(int(m.activated_ms), elapsed // p.months * p.months)
            out.append(_Item("recharge", p.id, month_label(start), p.price))
        return out

    def _debit(self, m: Mandate, item: _Item, run: DebitRun) -> str | None:
        key, now_ms = item.key(m.id), self.now_ms()
        with self.store.autocommit() as tx:
            tx.execute("INSERT INTO mandate_debits (id, mandate_id, kind, item, period, amount, currency, state,"
                       " created_ms, updated_ms) VALUES (?,?,?,?,?,?,?, 'pending', ?,?) ON CONFLICT (id) DO NOTHING",
                       (key, m.id, item.kind, item.item, item.period, item.amount.minor, item.amount.currency,
                        now_ms, now_ms))
            row = tx.one("SELECT * FROM mandate_debits WHERE id = ?", (key,))
        if row["state"] == "debited":
            return self._deliver(m, row, run)
        if row["state"] not in RETRY:
            return None               # paid, failed or cancelled before: once per item and period
        if int(row["amount"]) != item.amount.minor:
            with self.store.autocommit() as tx:
                tx.execute(f"UPDATE mandate_debits SET amount = ? WHERE id = ? AND state IN {_RETRY} AND attempts = ?",
                           (item.amount.minor, key, row["attempts"]))
            row = row | {"amount": item.amount.minor}
        try:
            answer = self.postal.debit(m.ccp, item.amount, _ref(row), mandate=m.id)
        except PostalUnavailable as e:
            run.lines.append(DebitLine(m.id, key, item.kind, item.item, item.amount, "postal_unavailable", str(e)))
            return "postal_unavailable"
        return self._answer(m, row, answer, run)

    def _recover(self, m: Mandate, row: dict, now_ms: int, run: DebitRun) -> str | None:
        """A debit claimed by an earlier run: did the post apply its last attempt? If it did, carry
        on from its answer; if not, and the item is no longer due, cancel it (nothing was taken)."""
        try:
            answer = self.postal.status(_ref(row))
        except PostalUnavailable:
            return None
        if answer is not None:
            return self._answer(m, row, answer, run)
        due = {i.key(m.id) for i in self._items(m, now_ms)} if m.state == "active" else set()
        if row["id"] not in due:
            with self.store.autocommit() as tx:
                tx.execute("UPDATE mandate_debits SET state = 'cancelled', reason = ?, updated_ms = ? WHERE id = ?"
                           f" AND state IN {_RETRY} AND attempts = ?",
                           ("no longer due" if m.state == "active" else f"mandate {m.state}", self.now_ms(),
                            row["id"], row["attempts"]))
        return None

    def _answer(self, m: Mandate, row: dict, answer: PostalDebit, run: DebitRun) -> str | None:
        """Record the post's answer to the row's current attempt (once), then act on it."""
        key, attempt, now_ms = row["id"], int(row["attempts"]) + 1, self.now_ms()
        amount = Money(int(row["amount"]), row["currency"])
        b = billers.biller(m.biller)
        if answer.ok:
            with self.store.autocommit() as tx:
                done = tx.one("UPDATE mandate_debits SET state = 'debited', ref = ?, amount = ?, updated_ms = ?"
                              f" WHERE id = ? AND state IN {_RETRY} AND attempts = ? RETURNING *",
                              (answer.ref, answer.amount.minor, now_ms, key, attempt - 1))
            return self._deliver(m, done, run) if done is not None else None
        limit = b.mandates.max_attempts if b.mandates else 1
        short = answer.code == "insufficient_funds"
        outcome = "insufficient_funds" if short and attempt < limit else "gave_up" if short else "failed"
        with self.store.autocommit() as tx:
            changed = tx.execute("UPDATE mandate_debits SET state = ?, attempts = ?, reason = ?, updated_ms = ?"
                                 f" WHERE id = ? AND state IN {_RETRY} AND attempts = ?",
                                 ("insufficient" if outcome == "insufficient_funds" else "failed", attempt,
                                  answer.code, now_ms, key, attempt - 1))
        if not changed:
            return None               # another run recorded this attempt
        detail = f"attempt {attempt} of {limit}" if short else answer.reason or ""
        run.lines.append(DebitLine(m.id, key, row["kind"], row["item"], amount, outcome, detail))
        values = dict(amount=show(amount, b.market), biller=b.name(m.language), account=m.account, ccp=m.ccp)
        if outcome == "insufficient_funds":
            send_text(self.sms, self.sms_sender, m.customer, "sms_mandate_insufficient", m.language,
                      attempt=attempt, attempts=limit, **values)
        elif outcome == "gave_up":
            send_text(self.sms, self.sms_sender, m.customer, "sms_mandate_gave_up", m.language,
                      attempts=limit, **values)
        return outcome

    def _deliver(self, m: Mandate, row: dict, run: DebitRun) -> str:
        """The post took the money: pay the order (once, its id derived from the key), or give it back."""
        key, amount = row["id"], Money(int(row["amount"]), row["currency"])
        order_id = derived_id("ord_", "mandate", key)
        common = dict(method="mandate", method_account=m.ccp, payer=m.customer, order_id=order_id,
                      channel="mandate", language=m.language)
        order, why = None, ""
        try:
            if row["kind"] == "recharge":
                order = self.bills.recharge(m.biller, m.account, row["item"], **common)
            else:
                order = self.bills.pay(m.biller, m.account, amount, **common)
        except RechargeError as e:
            why = e.message
        now_ms = self.now_ms()
        if order is not None and order.state is State.CREDITED:
            with self.store.autocommit() as tx:
                tx.execute("UPDATE mandate_debits SET state = 'paid', order_id = ?, updated_ms = ? WHERE id = ?"
                           " AND state = 'debited'", (order.id, now_ms, key))
            run.lines.append(DebitLine(m.id, key, row["kind"], row["item"], amount, "paid", "", order.id))
            return "paid"
        why = why or (order.reason if order is not None else "") or "not delivered"
        try:
            self.postal.reverse(row["ref"])
        except PostalUnavailable as e:
            run.lines.append(DebitLine(m.id, key, row["kind"], row["item"], amount, "postal_unavailable",
                                       f"giving the money back waits: {e}", order.id if order else None))
            return "postal_unavailable"
        b = billers.biller(m.biller)
        limit = b.mandates.max_attempts if b.mandates else 1
        attempt = int(row["attempts"]) + 1
        with self.store.autocommit() as tx:
            tx.execute("UPDATE mandate_debits SET state = ?, attempts = ?, order_id = ?, reason = ?, updated_ms = ?"
                       " WHERE id = ? AND state = 'debited'", ("reversed" if attempt < limit else "failed", attempt,
                                                                order.id if order else None, why, now_ms, key))
        run.lines.append(DebitLine(m.id, key, row["kind"], row["item"], amount, "reversed", why,
                                   order.id if order else None))
        return "reversed"


def _ref(row: dict) -> str:
    """The post's reference of the row's next attempt: fixed until that attempt is recorded."""
    return f"{row['id']}#{int(row['attempts']) + 1}"


def _month_index(ms: int) -> int:
    d = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return d.year * 12 + d.month - 1
