"""Subscribers: prepaid or postpaid lines with a main balance, bonus buckets and saved numbers.

Balances are not columns here: they are the subscriber's ledger accounts, so the conservation
check covers them too.
"""
from __future__ import annotations

from dataclasses import dataclass

from core import ledger
from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound, Refused
from core.market import Market, market as market_of
from core.money import Money
from core.msisdn import Msisdn, normalise
from core.store import Store, Tx


@dataclass(frozen=True)
class Subscriber:
    msisdn: str
    market: str
    operator: str
    kind: str           # "prepaid" | "postpaid"
    language: str
    email: str | None


@dataclass(frozen=True)
class BonusBucket:
    order_id: str
    amount: Money
    remaining: Money
    expires_ms: int
    state: str


@dataclass(frozen=True)
class Balances:
    msisdn: str
    main: Money
    bonus: Money
    buckets: tuple[BonusBucket, ...]


def from_row(row: dict) -> Subscriber:
    return Subscriber(row["msisdn"], row["market"], row["operator"], row["kind"], row["language"], row["email"])


def find(tx: Tx, msisdn: str) -> Subscriber | None:
    row = tx.one("SELECT * FROM subscribers WHERE msisdn = ?", (msisdn,))
    return from_row(row) if row else None


class Subscribers:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def parse(self, text: object, mkt: Market, *, field: str = "msisdn") -> Msisdn:
        return normalise(text, mkt.numbering, field=field)

    def provision(self, market: str, msisdn: object, *, kind: str = "prepaid",
                  language: str | None = None, email: str | None = None,
                  opening_balance: Money | None = None) -> Subscriber:
        """Create a line (idempotent for the same data); an opening balance is posted once."""
        mkt = market_of(market)
        number = self.parse(msisdn, mkt)
        if kind not in ("prepaid", "postpaid"):
            raise InvalidInput(f"kind: {kind!r}; expected 'prepaid' or 'postpaid'", field="kind")
        lang = language or mkt.languages[0]
        if lang not in mkt.languages:
            raise InvalidInput(f"language: {lang!r} is not offered in {mkt.code}; expected one of "
                               f"{', '.join(mkt.languages)}", field="language")
        if opening_balance is not None and opening_balance.currency != mkt.currency:
            raise InvalidInput(f"opening_balance: expected {mkt.currency}, got {opening_balance.currency}",
                               field="opening_balance")
        if opening_balance is not None and opening_balance > mkt.balance_cap:
            raise InvalidInput(f"opening_balance: {opening_balance} is above the balance cap "
                               f"{mkt.balance_cap}", field="opening_balance")
        now_ms = int(self.clock.now() * 1000)
        sub = Subscriber(number.e164, mkt.code, number.operator, kind, lang, email)

        def run(tx: Tx) -> Subscriber:
            existing = find(tx, sub.msisdn)
            if existing is not None:
                if (existing.kind, existing.market) != (sub.kind, sub.market):
                    raise Conflict(f"msisdn: {number.national} is already a {existing.kind} line "
                                   f"in {existing.market}", field="msisdn")
                return existing
            tx.execute("INSERT INTO subscribers (msisdn, market, operator, kind, language, email, created_ms)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (sub.msisdn, sub.market, sub.operator, sub.kind, sub.language, sub.email, now_ms))
            if opening_balance is not None and opening_balance.minor > 0:
                ledger.transfer(tx, f"opening:{sub.msisdn}", ledger.opening(mkt.code, mkt.currency),
                                ledger.sub_main(sub.msisdn), opening_balance,
                                kind="opening", order_id=None, at_ms=now_ms)
            return sub

        return self.store.run(run)

    def get(self, msisdn: str) -> Subscriber:
        with self.store.transaction() as tx:
            sub = find(tx, msisdn)
        if sub is None:
            raise NotFound(f"msisdn: {msisdn} is not a subscriber", field="msisdn")
        return sub

    def balances(self, msisdn: str) -> Balances:
        sub = self.get(msisdn)
        cur = market_of(sub.market).currency
        now_ms = int(self.clock.now() * 1000)
        with self.store.transaction() as tx:
            main = ledger.liability_balance(tx, ledger.sub_main(msisdn))
            rows = tx.all("SELECT * FROM bonus_buckets WHERE msisdn = ? AND state = 'active'"
                          " AND expires_ms > ? ORDER BY expires_ms", (msisdn, now_ms))
        buckets = tuple(BonusBucket(r["order_id"], Money(int(r["amount"]), cur), Money(int(r["remaining"]), cur),
                                    int(r["expires_ms"]), r["state"]) for r in rows)
        return Balances(msisdn, Money(main, cur), Money(sum(b.remaining.minor for b in buckets), cur), buckets)

    def use_airtime(self, msisdn: str, amount: Money, usage_id: str) -> Balances:
        """Charge airtime used (calls, data): bonus first, soonest to expire first, then the
        main balance; operator revenue either way. Posted once per ``usage_id``; refused
        whole if the line cannot pay it."""
        sub = self.get(msisdn)
        mkt = market_of(sub.market)
        if amount.currency != mkt.currency or amount.minor <= 0:
            raise InvalidInput(f"amount: expected a positive amount in {mkt.currency}", field="amount")
        now_ms = int(self.clock.now() * 1000)

        def run(tx: Tx) -> None:
            if tx.one("SELECT 1 AS x FROM transfers WHERE id IN (?, ?)",
                      (f"usage:{usage_id}", f"usage_bonus:{usage_id}")):
                return
            buckets = tx.all("SELECT order_id, remaining FROM bonus_buckets WHERE msisdn = ? AND state = 'active'"
                             " AND expires_ms > ? AND remaining > 0 ORDER BY expires_ms, order_id" + tx.for_update,
                             (msisdn, now_ms))
            main = ledger.liability_balance(tx, ledger.sub_main(msisdn), lock=True)
            left = amount.minor
            from_bonus = []
            for b in buckets:
                take = min(left, int(b["remaining"]))
                if take:
                    from_bonus.append((b["order_id"], take))
                    left -= take
            if left > main:
                raise Refused(f"msisdn: {msisdn} has {Money(main, mkt.currency)} and a usable bonus of "
                              f"{Money(amount.minor - left, mkt.currency)}; {amount} cannot be charged",
                              field="msisdn")
            for order_id, take in from_bonus:
                tx.execute("UPDATE bonus_buckets SET remaining = remaining - ?, state = CASE WHEN remaining = ?"
                           " THEN 'used' ELSE state END WHERE order_id = ?", (take, take, order_id))
            bonus_total = amount.minor - left
            if bonus_total:
                ledger.transfer(tx, f"usage_bonus:{usage_id}", ledger.sub_bonus(msisdn),
                                ledger.revenue(mkt.code, mkt.currency), Money(bonus_total, mkt.currency),
                                kind="usage", order_id=None, at_ms=now_ms)
            if left:
                ledger.transfer(tx, f"usage:{usage_id}", ledger.sub_main(msisdn),
                                ledger.revenue(mkt.code, mkt.currency), Money(left, mkt.currency),
                                kind="usage", order_id=None, at_ms=now_ms)

        self.store.run(run)
        return self.balances(msisdn)

    def saved_recipients(self, owner: str) -> list[str]:
        with self.store.transaction() as tx:
            return [r["recipient"] for r in tx.all(
                "SELECT recipient FROM saved_recipients WHERE owner = ? ORDER BY saved_ms, recipient", (owner,))]


def save_recipient(tx: Tx, owner: str, recipient: str, at_ms: int) -> None:
    tx.execute("INSERT INTO saved_recipients (owner, recipient, saved_ms) VALUES (?, ?, ?)"
               " ON CONFLICT (owner, recipient) DO NOTHING", (owner, recipient, at_ms))
