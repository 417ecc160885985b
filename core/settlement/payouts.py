"""Payout batches: one per business day, one item per payee and currency, posted once.

    batch = post_batch(core.store, core.clock, date(2026, 1, 1), [GatewayPayouts()])
    print(batch.summary())

A payee comes from a :class:`PayoutSource`. ``GatewayPayouts`` is the first: what each card
gateway owes us for the day (the lines of its settlement run that matched and were credited),
less its fee rate from ``fees.toml``, posted as

    settle:<gateway>:<date>:<CUR>      gw:<gateway>:<CUR> -> bank:<CUR>     the net amount
    settle_fee:<gateway>:<date>:<CUR>  gw:<gateway>:<CUR> -> op:fees:<CUR>  the gateway's fee

``PayablePayouts`` is the other side: what we collected for billers and utilities. A source of
money we pay out (``direction="out"``) gives items
whose ``account`` is the payable it clears; the batch posts payable -> bank and keeps the fee
as commission (``op:commission:<CUR>``). A gateway's run with actions still pending is not
paid out yet: ``waiting`` says so, and the next ``post_batch`` of the day picks it up.
"""
from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core import ledger
from core.clock import Clock
from core.ledger import ConservationReport
from core.money import Money
from core.store import Store, Tx

if TYPE_CHECKING:
    from core.wiring import Core

FEES_FILE = Path(__file__).with_name("fees.toml")
SETTLE_KINDS = ("settlement", "settlement_fee")


def fees(cur: str) -> str:
    """Fees payees deduct from what they pay us (expense)."""
    return f"op:fees:{cur}"


def commission(cur: str) -> str:
    """Fees we keep from what we pay out (income)."""
    return f"op:commission:{cur}"


class FeeError(ValueError):
    pass


@dataclass(frozen=True)
class FeeRates:
    gateways: dict[str, int]                 # gateway name -> basis points
    payees: dict[str, int] = field(default_factory=dict)   # "biller:<id>" / "utility:<name>" -> bp
    wallets: dict[str, int] = field(default_factory=dict)  # wallet provider -> bp ("default" too)

    def payee(self, name: str) -> int:
        if name in self.payees:
            return self.payees[name]
        if "default" in self.payees:
            return self.payees["default"]
        raise FeeError(f"no commission rate for payee {name!r} in [payees] of {FEES_FILE.name} and no default")

    def gateway(self, name: str) -> int:
        if name not in self.gateways:
            raise FeeError(f"no fee rate for gateway {name!r} in [gateways] of {FEES_FILE.name}; "
                           f"expected one of {', '.join(sorted(self.gateways))}")
        return self.gateways[name]


def load_fees(path: str | Path = FEES_FILE) -> FeeRates:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FeeError(f"{path}: {e}") from None
    table = data.get("gateways")
    if not isinstance(table, dict):
        raise FeeError(f"{path}: expected a [gateways] table")
    def rates_of(section: str, entries: dict) -> dict[str, int]:
        rates: dict[str, int] = {}
        for name, entry in entries.items():
            bp = entry.get("rate_bp") if isinstance(entry, dict) else None
            if type(bp) is not int or not 0 <= bp <= 10_000:
                raise FeeError(f"{path}: {section}.{name}.rate_bp: expected whole basis points 0..10000, "
                               f"got {bp!r}")
            rates[name] = bp
        return rates
    payees = data.get("payees", {})
    if not isinstance(payees, dict):
        raise FeeError(f"{path}: expected [payees] to be a table")
    wallets = data.get("wallets", {})
    if not isinstance(wallets, dict):
        raise FeeError(f"{path}: expected [wallets] to be a table")
    return FeeRates(rates_of("gateways", table), rates_of("payees", payees), rates_of("wallets", wallets))


@dataclass(frozen=True)
class PayoutItem:
    payee: str               # a gateway's name; other payees prefix their kind ("biller:...")
    direction: str           # "in": the payee pays us; "out": we pay the payee
    account: str             # what the item clears: gw:<name>:<CUR> (in), a payable (out)
    gross: Money
    fee_rate_bp: int
    lines: int = 0

    @property
    def fee(self) -> Money:
        """Half up, in minor units, on the gross."""
        return Money((self.gross.minor * self.fee_rate_bp + 5_000) // 10_000, self.gross.currency)

    @property
    def net(self) -> Money:
        return self.gross - self.fee


class PayoutSource(Protocol):
    def items(self, tx: Tx, day: date) -> list[PayoutItem]: ...

    def waiting(self, tx: Tx, day: date) -> list[str]:
        """Why some of the day cannot be paid out yet (empty when nothing waits)."""


class GatewayPayouts:
    """What card gateways owe us for a day, from their settlement runs, net of their fees."""

    def __init__(self, rates: FeeRates | None = None, gateways: Sequence[str] | None = None) -> None:
        self.rates, self.only = rates or load_fees(), set(gateways) if gateways else None

    def _runs(self, tx: Tx, day: date) -> list[tuple[str, int]]:
        rows = tx.all("SELECT r.gateway, (SELECT COUNT(*) FROM settlement_lines l WHERE l.gateway = r.gateway"
                      " AND l.business_date = r.business_date AND l.action_state = 'pending') AS pending"
                      " FROM settlement_runs r WHERE r.business_date = ? ORDER BY r.gateway",
                      (day.isoformat(),))
        return [(r["gateway"], int(r["pending"])) for r in rows
                if self.only is None or r["gateway"] in self.only]

    def waiting(self, tx: Tx, day: date) -> list[str]:
        return [f"{gw}: {n} action(s) pending in its settlement run" for gw, n in self._runs(tx, day) if n]

    def items(self, tx: Tx, day: date) -> list[PayoutItem]:
        out = []
        for gw, pending in self._runs(tx, day):
            if pending:
                continue
            rows = tx.all("SELECT currency, SUM(settle_amount) AS s, COUNT(*) AS n FROM settlement_lines"
                          " WHERE gateway = ? AND business_date = ? AND settle_amount > 0 GROUP BY currency"
                          " ORDER BY currency", (gw, day.isoformat()))
            for r in rows:
                cur = r["currency"]
                out.append(PayoutItem(gw, "in", ledger.gateway_clearing(gw, cur), Money(int(r["s"]), cur),
                                      self.rates.gateway(gw), int(r["n"])))
        return out


class PayablePayouts:
    """What we owe billers and utilities for what we collected on their behalf: each payable
    account's balance at batch time, paid out less our commission (``[payees]`` of fees.toml)."""

    PREFIXES = ("biller:", "utility:")

    def __init__(self, rates: FeeRates | None = None) -> None:
        self.rates = rates or load_fees()

    def waiting(self, tx: Tx, day: date) -> list[str]:
        return []

    def items(self, tx: Tx, day: date) -> list[PayoutItem]:
        out = []
        rows = tx.all("SELECT id, currency FROM accounts WHERE id LIKE 'biller:%' OR id LIKE 'utility:%'"
                      " ORDER BY id")
        for r in rows:
            balance = ledger.liability_balance(tx, r["id"])
            if balance > 0:
                payee = r["id"].rsplit(":", 1)[0]          # "biller:dz-at-fixe"
                out.append(PayoutItem(payee, "out", r["id"], Money(balance, r["currency"]),
                                      self.rates.payee(payee)))
        return out


@dataclass
class PayoutBatch:
    business_date: date
    posted: list[PayoutItem] = field(default_factory=list)      # by this call
    already: list[PayoutItem] = field(default_factory=list)     # by an earlier call
    waiting: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"payout batch {self.business_date}: {len(self.posted)} item(s) posted now, "
                 f"{len(self.already)} posted before"]
        for label, items in (("posted", self.posted), ("already posted", self.already)):
            for i in items:
                arrow = "pays us" if i.direction == "in" else "is paid"
                lines.append(f"  {label:<14} {i.payee:<10} {arrow} {i.net.display()} net of "
                             f"{i.fee.display()} fee ({i.fee_rate_bp} bp) on {i.gross.display()} "
                             f"({i.lines} lines)")
        for why in self.waiting:
            lines.append(f"  waiting        {why}")
        return "\n".join(lines)


def post_batch(store: Store, clock: Clock, day: date, sources: Sequence[PayoutSource]) -> PayoutBatch:
    """Post the day's payouts once: items already posted are reported, not posted again."""
    def run(tx: Tx) -> PayoutBatch:
        now = int(clock.now() * 1000)
        d = day.isoformat()
        tx.execute("INSERT INTO payout_batches (business_date, created_ms, updated_ms) VALUES (?, ?, ?)"
                   " ON CONFLICT (business_date) DO NOTHING", (d, now, now))
        batch = PayoutBatch(day)
        for source in sources:
            batch.waiting += source.waiting(tx, day)
            for item in source.items(tx, day):
                cur = item.gross.currency
                done = tx.one("SELECT 1 AS x FROM payout_items WHERE business_date = ? AND payee = ?"
                              " AND currency = ?" + tx.for_update, (d, item.payee, cur))
                if done:
                    batch.already.append(item)
                    continue
                _post(tx, item, d, now)
                tx.execute("INSERT INTO payout_items (business_date, payee, direction, currency, gross, fee,"
                           " net, fee_rate_bp, lines, posted_ms) VALUES (?,?,?,?,?,?,?,?,?,?)",
                           (d, item.payee, item.direction, cur, item.gross.minor, item.fee.minor,
                            item.net.minor, item.fee_rate_bp, item.lines, now))
                batch.posted.append(item)
        tx.execute("UPDATE payout_batches SET updated_ms = ? WHERE business_date = ?", (now, d))
        return batch
    return store.run(run)


def _post(tx: Tx, item: PayoutItem, day: str, now: int) -> None:
    cur, tid = item.gross.currency, f"{item.payee}:{day}:{item.gross.currency}"
    if item.direction == "in":
        net_legs = (ledger.bank(cur), item.account)
        fee_legs = (fees(cur), item.account)
    elif item.direction == "out":
        net_legs = (item.account, ledger.bank(cur))
        fee_legs = (item.account, commission(cur))
    else:
        raise ValueError(f"direction: {item.direction!r}; expected 'in' or 'out'")
    if item.net.minor > 0:
        ledger.transfer(tx, f"settle:{tid}", *net_legs, item.net, kind="settlement", order_id=None, at_ms=now)
    if item.fee.minor > 0:
        ledger.transfer(tx, f"settle_fee:{tid}", *fee_legs, item.fee, kind="settlement_fee", order_id=None,
                        at_ms=now)


def conservation(core: Core) -> ConservationReport:
    """``Core.conservation``: the ledger's check counts what gateways paid out as captured."""
    return core.conservation()
