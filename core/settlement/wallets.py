"""Wallet providers' end-of-day settlement: their file, its reconciliation, their payout.

    f = wallets.end_of_day_file(core, "vodafone-cash", day, inject=[drop("ord_1")])
    report = wallets.reconcile_wallet(core, f)        # again later: finds its run, changes nothing
    batch = post_batch(core.store, core.clock, day, [GatewayPayouts(), wallets.WalletPayouts()])

A wallet payment is direct (``Payments.pay_direct``): the money is taken from the clearing
account ``wallet:<provider>:<CUR>`` in the transaction that credits, and the order's gateway
column is just "wallet". The provider debits its customer's wallet and owes us the money; its
end-of-day file lists what it debited for us. In this emulation that is built from our own
record: the provider's wallet orders credited that UTC day. The file has the format of a card
gateway's (``files``); its trailer's gateway is ``wallet-<provider>`` (the format allows
lowercase letters, digits and "-" only). A line's ``reference`` is the provider's transaction
id (:func:`wallet_reference`, derived from our order id: we keep none of the provider's own),
its ``order_number`` our order id.

``Reconciler`` cannot take such a file: it finds orders by their gateway column and reference
(a wallet order has neither of its own), it looks only at card orders for what the file leaves
out, and it acts (asks a gateway, reverses). :func:`reconcile_wallet` classifies instead, into
the same tables (``settlement_runs``/``settlement_lines``, keyed by ``wallet-<provider>``) and
the same ``RunReport``, and never moves money:

    matched             the provider debited it, we credited it        paid out by WalletPayouts
    credited_not_paid   we credited a wallet order the file leaves out  review: a wallet has no
                        (or lists as refunded/reversed/declined)       status query, so nothing is
                                                                       reversed on the file's word
    paid_not_credited   the file lists a debit for a wallet order we   review (cannot happen for a
                        did not credit                                 direct payment: disputed)
    amount_mismatch     same payment, another amount                   review
    duplicate           a reference presented again (this day/another) review
    unknown_reference   no wallet order of this provider has it        review

Matched lines keep ``settle_amount`` 0 in the table, so that ``GatewayPayouts`` (which pays
out lines with a ``settle_amount`` and has no fee rate for a wallet) passes over wallet runs;
``WalletPayouts`` pays the matched captured lines instead, and the ``RunReport`` shows them
with their amount as what they add to the payout.
"""
from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import Conflict
from core.money import Money
from core.orders import Order, State
from core.payments import clearing_account
from core.settlement.emulated import Discrepancy, day_bounds
from core.settlement.files import SettlementFile, SettlementLine, iso, render, utc
from core.settlement.payouts import FEES_FILE, FeeError, PayoutItem, load_fees
from core.settlement.reconcile import REVERSED_REASON, _chunked, earlier_lines, insert_run
from core.settlement.report import Item, RunReport
from core.store import Tx, UniqueViolation

if TYPE_CHECKING:
    from core.wiring import Core

PREFIX = "wallet-"
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9-]{0,24}")      # "wallet-" + provider: a file gateway name


def file_gateway(provider: str) -> str:
    """The gateway field of a provider's file (and the key of its runs): ``wallet-<provider>``."""
    if not _PROVIDER.fullmatch(provider):
        raise ValueError(f"provider: {provider!r}; expected up to 25 lowercase letters, digits or -")
    return PREFIX + provider


def provider_of(gateway: str) -> str | None:
    """The provider a file's gateway names, or None if it is not a wallet's file."""
    return gateway[len(PREFIX):] if gateway.startswith(PREFIX) and len(gateway) > len(PREFIX) else None


def payee(provider: str) -> str:
    """The payee of a provider's payout items (and of its transfer ids)."""
    return f"wallet:{provider}"


def wallet_reference(order_id: str) -> str:
    """The provider's transaction id for our order (derived: we keep none of its own)."""
    return "W" + hashlib.sha256(order_id.encode("utf-8")).hexdigest()[:23].upper()


# -- the provider's file -------------------------------------------------------------------
def _credited(tx: Tx, provider: str, day: date) -> list[Order]:
    start, end = (int(t * 1000) for t in day_bounds(day))
    rows = tx.all("SELECT * FROM orders WHERE method = 'wallet' AND method_account = ? AND state = ?"
                  " AND paid_ms >= ? AND paid_ms < ? AND (reason IS NULL OR reason <> ?)"
                  " ORDER BY paid_ms, id", (provider, str(State.CREDITED), start, end, REVERSED_REASON))
    return [Order.from_row(r) for r in rows]


def end_of_day_file(core: Core, provider: str, day: date, *, inject: Sequence[Discrepancy] = (),
                    rng: random.Random | None = None) -> SettlementFile:
    """The file ``provider`` would send for ``day``: one captured line per wallet order of
    it credited that day (read, never changed), with ``inject``'s discrepancies (``drop``,
    ``duplicate``, ``change_amount``, ``unknown_reference`` of ``emulated``; a phantom capture
    has no meaning here: a direct payment either took the money and credited, or took none)."""
    gateway = file_gateway(provider)
    rng = rng or random.Random(f"settlement:{gateway}:{day}")
    with core.store.transaction() as tx:
        orders = _credited(tx, provider, day)
    lines = [SettlementLine(wallet_reference(o.id), o.id, o.amount, "captured", utc(o.paid_ms / 1000), "")
             for o in orders]
    for d in inject:
        lines = _inject(d, lines, rng, day)
    return SettlementFile(gateway, day, tuple(lines))


def _inject(d: Discrepancy, lines: list[SettlementLine], rng: random.Random, day: date) -> list[SettlementLine]:
    if d.kind == "phantom":
        raise ValueError("phantom: a wallet file lists only what the provider debited, and a direct "
                         "payment that took no money has nothing to turn into a capture")
    if d.kind == "unknown":
        if not lines:
            raise ValueError("unknown: the file has no line to take a currency from")
        order = "ord_" + "".join(rng.choice("0123456789abcdef") for _ in range(24))
        ref = wallet_reference(str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        at = utc(day_bounds(day)[0] + rng.randrange(86_400))
        return lines + [SettlementLine(ref, order, Money(rng.randrange(1, 50) * 100, lines[0].amount.currency),
                                       "captured", at, "")]
    candidates = [i for i, ln in enumerate(lines) if d.order is None or ln.order_number == d.order]
    if not candidates:
        raise ValueError(f"{d.kind}: no line for order {d.order!r} in this file" if d.order
                         else f"{d.kind}: the file has no line to alter")
    i = candidates[0] if d.order else rng.choice(candidates)
    ln = lines[i]
    if d.kind == "drop":
        return lines[:i] + lines[i + 1:]
    if d.kind == "duplicate":
        return lines + [replace(ln, captured_at=ln.captured_at + timedelta(seconds=1))]
    minor = ln.amount.minor + d.delta_minor
    if minor <= 0:
        raise ValueError(f"amount: {ln.amount} changed by {d.delta_minor} is not positive")
    return lines[:i] + [replace(ln, amount=Money(minor, ln.amount.currency))] + lines[i + 1:]


# -- reconciliation ------------------------------------------------------------------------
def reconcile_wallet(core: Core, f: SettlementFile, *, source: str = "emulated") -> RunReport:
    """Classify a wallet provider's file against our wallet orders, once: the run is saved
    (``settlement_runs``/``settlement_lines``) the first time; made again with the same file
    it is found and reported unchanged; another file for the same provider and day is refused
    (``Conflict``). No money moves: what is not matched waits for a human (``review``)."""
    provider = provider_of(f.gateway)
    if provider is None:
        raise Conflict(f"file: {f.gateway!r} is not a wallet provider's file (expected "
                       f"{PREFIX}<provider>); card gateways settle with Reconciler", field="file")
    store, day = core.store, f.business_date.isoformat()
    sha = hashlib.sha256(render(f)).hexdigest()
    query = "SELECT * FROM settlement_runs WHERE gateway = ? AND business_date = ?"
    with store.transaction() as tx:
        run = tx.one(query, (f.gateway, day))
    first = False
    if run is None:
        try:
            first = store.run(lambda tx: _create(tx, core, provider, f, sha, source))
        except UniqueViolation:              # made by a concurrent run a moment ago
            first = False
        with store.transaction() as tx:
            run = tx.one(query, (f.gateway, day))
    if run["file_sha256"] != sha:
        raise Conflict(f"file: {f.gateway} {day} was settled from a file with sha256 "
                       f"{run['file_sha256'][:12]}…, this one is {sha[:12]}…; a corrected file "
                       "needs a human to undo the first run", field="file")
    return wallet_report(core, provider, f.business_date, first=first, file_captured=f.captured())


def wallet_report(core: Core, provider: str, day: date, *, first: bool = False,
                  file_captured: dict[str, int] | None = None) -> RunReport:
    """The saved run of ``provider`` for ``day``; matched captured lines show their amount as
    what they add to the payout (``WalletPayouts`` pays them)."""
    gateway = file_gateway(provider)
    with core.store.transaction() as tx:
        run = tx.one("SELECT * FROM settlement_runs WHERE gateway = ? AND business_date = ?",
                     (gateway, day.isoformat()))
        rows = tx.all("SELECT * FROM settlement_lines WHERE gateway = ? AND business_date = ?",
                      (gateway, day.isoformat()))
    if run is None:
        raise Conflict(f"no settlement run for {gateway} {day}", field="date")
    items = sorted((Item.from_row(r) for r in rows), key=lambda i: (i.line_no is None, i.line_no or 0, i.item))
    items = [replace(i, settle_amount=i.amount.minor) if _paid(i.classification, i.status) else i
             for i in items]
    return RunReport(gateway, day, run["file_sha256"], run["source"], items, first, [],
                     core.conservation(), dict(file_captured or {}))


def _paid(classification: str, status: str | None) -> bool:
    return classification == "matched" and status == "captured"


def _create(tx: Tx, core: Core, provider: str, f: SettlementFile, sha: str, source: str) -> bool:
    # Matched wallet lines keep settle_amount 0 in the table (see the module's docstring):
    # the classified items carry none.
    return insert_run(tx, f, sha, source, int(core.clock.now() * 1000), _classify(tx, provider, f))


def _classify(tx: Tx, provider: str, f: SettlementFile) -> list[Item]:
    day = f.business_date.isoformat()
    refs = sorted({ln.reference for ln in f.lines})
    by_id = {r["id"]: Order.from_row(r) for r in _chunked(
        tx, "SELECT * FROM orders WHERE id IN ({})", (), sorted({ln.order_number for ln in f.lines}))}
    earlier = earlier_lines(tx, f, refs)
    items: list[Item] = []
    seen: dict[str, int] = {}
    for i, ln in enumerate(f.lines):
        n = ln.line_no if ln.line_no is not None else i + 2
        items.append(_classify_line(provider, ln, n, by_id.get(ln.order_number), seen, earlier))
        seen.setdefault(ln.reference, n)
    credited = _credited(tx, provider, f.business_date)
    listed_elsewhere = {r["reference"] for r in _chunked(
        tx, "SELECT reference FROM settlement_lines WHERE gateway = ? AND business_date <> ?"
            " AND reference IN ({})", (f.gateway, day), sorted({wallet_reference(o.id) for o in credited}))}
    for o in credited:
        ref = wallet_reference(o.id)
        if ref in seen or ref in listed_elsewhere:
            continue
        items.append(Item(f"order:{o.id}", None, ref, o.id, o.id, o.amount, None, None,
                          "credited_not_paid", "review", "review",
                          f"credited {o.amount.display()} to {o.recipient or o.target} on this day; the "
                          f"file lists no debit. A wallet has no status query: nothing is reversed on "
                          f"the file's word; ask {provider} (it stays on wallet:{provider})"))
    return items


def _classify_line(provider: str, ln: SettlementLine, n: int, order: Order | None,
                   seen: dict[str, int], earlier: dict[str, dict]) -> Item:
    def item(cls: str, outcome: str, o: Order | None = order) -> Item:
        action = "none" if cls == "matched" else "review"
        return Item(f"line:{n}", n, ln.reference, ln.order_number, o.id if o else None, ln.amount, ln.status,
                    iso(ln.captured_at) if ln.captured_at else None, cls, action, action, outcome, 0)

    if ln.reference in seen:
        return item("duplicate", f"same reference as line {seen[ln.reference]}: presented twice; "
                    f"ask {provider} to pay it once")
    if ln.reference in earlier:
        e = earlier[ln.reference]
        where = f"line {e['line_no']}" if e["line_no"] is not None else "as a credited order"
        return item("duplicate", f"already in the run of {e['business_date']} ({where})")
    if order is None or order.method != "wallet" or order.method_account != provider:
        why = (f"; order {order.id} is paid by {order.method} {order.method_account or ''}".rstrip()
               if order else "")
        return item("unknown_reference", f"no {provider} wallet order of ours has this reference{why}", o=None)
    if wallet_reference(order.id) != ln.reference:
        return item("unknown_reference", f"order {order.id}'s reference is {wallet_reference(order.id)}; "
                    f"the line says {ln.reference}")
    if ln.amount != order.amount:
        return item("amount_mismatch", f"the file says {ln.amount.display()}, order {order.id} is "
                    f"{order.amount.display()} ({order.state})")
    credited = order.state is State.CREDITED and order.reason != REVERSED_REASON
    if ln.status == "captured":
        if credited:
            return item("matched", "debited by the provider and credited")
        return item("paid_not_credited", f"the core has it {order.state} ({order.reason or 'no reason'}), "
                    "so it took no money from the wallet; the file lists a debit: disputed, no money moved")
    if credited:
        return item("credited_not_paid", f"credited, but the provider lists it {ln.status}; nothing is "
                    "reversed on the file's word: for a human")
    return item("matched", f"{ln.status}; the core has it {order.state}")


# -- payouts -------------------------------------------------------------------------------
def load_wallet_fees(path: str | Path = FEES_FILE) -> dict[str, int]:
    """``[wallets]`` of fees.toml: provider -> basis points ("default" for one not listed)."""
    rates = load_fees(path).wallets
    if not rates:
        raise FeeError(f"{path}: expected a [wallets] table")
    return rates


class WalletPayouts:
    """What wallet providers owe us for a day: the matched captured lines of their runs, net
    of their fee rate (``[wallets]`` of fees.toml), posted ``wallet:<provider>:<CUR> -> bank``
    (and the fee to ``op:fees:<CUR>``) as payee ``wallet:<provider>``. What is under review
    stays on the provider's clearing account until a human settles it."""

    def __init__(self, rates: dict[str, int] | None = None, providers: Sequence[str] | None = None) -> None:
        self.rates = load_wallet_fees() if rates is None else dict(rates)
        self.only = set(providers) if providers else None

    def rate(self, provider: str) -> int:
        if provider in self.rates:
            return self.rates[provider]
        if "default" in self.rates:
            return self.rates["default"]
        raise FeeError(f"no fee rate for wallet provider {provider!r} in [wallets] of {FEES_FILE.name} "
                       "and no default")

    def _providers(self, tx: Tx, day: date) -> list[str]:
        rows = tx.all("SELECT gateway FROM settlement_runs WHERE business_date = ? AND gateway LIKE ?"
                      " ORDER BY gateway", (day.isoformat(), PREFIX + "%"))
        names = [provider_of(r["gateway"]) for r in rows]
        return [p for p in names if p and (self.only is None or p in self.only)]

    def waiting(self, tx: Tx, day: date) -> list[str]:
        return []                 # nothing is ever pending: what is not matched is for a human

    def items(self, tx: Tx, day: date) -> list[PayoutItem]:
        out = []
        for provider in self._providers(tx, day):
            rows = tx.all("SELECT currency, SUM(amount) AS s, COUNT(*) AS n FROM settlement_lines"
                          " WHERE gateway = ? AND business_date = ? AND classification = 'matched'"
                          " AND status = 'captured' GROUP BY currency ORDER BY currency",
                          (file_gateway(provider), day.isoformat()))
            for r in rows:
                cur = r["currency"]
                out.append(PayoutItem(payee(provider), "in", clearing_account("wallet", provider, cur),
                                      Money(int(r["s"]), cur), self.rate(provider), int(r["n"])))
        return out
