"""The double-entry ledger: every movement of money is one transfer between two accounts.

A transfer's id names the business event (``capture:<order>``, ``credit:<order>``), so posting
the same event twice is impossible by construction: the second insert changes nothing and
``transfer`` says so. ``conservation_check`` is the invariant every run ends with.

Accounts (balances are credits - debits for liabilities, debits - credits for assets):
    sub:<msisdn>:main / :bonus        what we owe a subscriber (liability)
    gw:<gateway>:<CUR>                 what a card gateway owes us (asset, clearing)
    held:<CUR>                         captured from a card, not yet credited or refunded
    op:<market>:bonus:<CUR>            bonus given away (expense)
    op:<market>:opening:<CUR>          opening balances of provisioned subscribers (equity)
    op:<market>:revenue:<CUR>          airtime used (revenue)
    bank:<CUR>                         the operator's bank account (asset)
    agent:<id>:<CUR>                   a kiosk agent's float (liability); wallet:, bankapp:, postal:
                                       clearing accounts of the other payment methods (assets)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.money import Money
from core.store import Store, Tx


def sub_main(msisdn: str) -> str:
    return f"sub:{msisdn}:main"


def sub_bonus(msisdn: str) -> str:
    return f"sub:{msisdn}:bonus"


def gateway_clearing(gateway: str, cur: str) -> str:
    return f"gw:{gateway}:{cur}"


def held(cur: str) -> str:
    return f"held:{cur}"


def bonus_expense(market: str, cur: str) -> str:
    return f"op:{market}:bonus:{cur}"


def opening(market: str, cur: str) -> str:
    return f"op:{market}:opening:{cur}"


def bank(cur: str) -> str:
    """The operator's own bank account (asset): float deposits, settlements, payouts."""
    return f"bank:{cur}"


def revenue(market: str, cur: str) -> str:
    return f"op:{market}:revenue:{cur}"


class Batch:
    """Transfers posted together in two statements: one multi-row insert of the transfers (a
    duplicate event is skipped by its id) and one upsert of the touched accounts' totals."""

    def __init__(self, tx: Tx, at_ms: int) -> None:
        self.tx, self.at_ms = tx, at_ms
        self.rows: list[tuple] = []

    def add(self, transfer_id: str, debit: str, credit: str, amount: Money, *, kind: str,
            order_id: str | None) -> "Batch":
        if amount.minor <= 0:
            raise ValueError(f"transfer {transfer_id}: amount must be positive, got {amount}")
        self.rows.append((transfer_id, debit, credit, amount.minor, amount.currency, kind, order_id, self.at_ms))
        return self

    def post(self) -> set[str]:
        """Post what was added; returns the ids actually posted (not seen before)."""
        if not self.rows:
            return set()
        posted = {r["id"] for r in self.tx.all(
            "INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, order_id, at_ms)"
            " VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(self.rows)) +
            " ON CONFLICT (id) DO NOTHING RETURNING id", [v for row in self.rows for v in row])}
        totals: dict[str, list] = {}     # account -> [currency, debits, credits]
        for tid, debit, credit, minor, cur, *_ in self.rows:
            if tid in posted:
                for account, side in ((debit, 1), (credit, 2)):
                    entry = totals.setdefault(account, [cur, 0, 0])
                    if entry[0] != cur:
                        raise ValueError(f"transfer {tid}: account {account} is not in {cur}")
                    entry[side] += minor
        if totals:
            # One statement: create each account on first use, else add to its totals.
            changed = self.tx.execute(
                "INSERT INTO accounts (id, currency, debits, credits) VALUES " +
                ", ".join(["(?, ?, ?, ?)"] * len(totals)) + " ON CONFLICT (id)"
                " DO UPDATE SET debits = accounts.debits + excluded.debits,"
                " credits = accounts.credits + excluded.credits WHERE accounts.currency = excluded.currency",
                [v for account, (cur, d, c) in sorted(totals.items()) for v in (account, cur, d, c)])
            if changed != len(totals):
                raise ValueError(f"transfers {sorted(posted)}: an account is not in the transfer's currency")
        self.rows = []
        return posted


def transfer(tx: Tx, transfer_id: str, debit: str, credit: str, amount: Money, *,
             kind: str, order_id: str | None, at_ms: int) -> bool:
    """Post ``amount`` from ``debit`` to ``credit`` once; False if this event was posted already."""
    return bool(Batch(tx, at_ms).add(transfer_id, debit, credit, amount, kind=kind, order_id=order_id).post())


def liability_balance(tx: Tx, account: str, *, lock: bool = False) -> int:
    """credits - debits of an account (0 if it has never been used)."""
    row = tx.one("SELECT credits - debits AS b FROM accounts WHERE id = ?" + (tx.for_update if lock else ""),
                 (account,))
    return int(row["b"]) if row else 0


@dataclass
class ConservationReport:
    """What the ledger says at the end of a run; ``ok`` is the verdict, ``errors`` the why."""

    errors: list[str] = field(default_factory=list)
    captured: dict[str, int] = field(default_factory=dict)
    credited: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    transfers: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.ok:
            parts = [f"{c}: captured {self.captured.get(c, 0)} = credited {self.credited.get(c, 0)}"
                     f" + refunded {self.refunded.get(c, 0)} + held {self.held.get(c, 0)}"
                     for c in sorted(set(self.captured) | set(self.held))]
            return f"conservation OK over {self.transfers} transfers; " + ("; ".join(parts) or "no money moved")
        return "conservation FAILED: " + "; ".join(self.errors)


def conservation_check(store: Store, gateway_net: dict[tuple[str, str], int] | None = None) -> ConservationReport:
    """Check the ledger's invariants; ``gateway_net`` maps (gateway, currency) to what the
    gateway itself says it captured net of refunds and reversals, to compare with clearing."""
    r = ConservationReport()
    with store.transaction() as tx:
        drift = tx.all(
            "SELECT a.id, a.debits, a.credits,"
            " COALESCE((SELECT SUM(amount) FROM transfers t WHERE t.debit_account = a.id), 0) AS d,"
            " COALESCE((SELECT SUM(amount) FROM transfers t WHERE t.credit_account = a.id), 0) AS c"
            " FROM accounts a")
        for row in drift:
            if int(row["debits"]) != int(row["d"]) or int(row["credits"]) != int(row["c"]):
                r.errors.append(f"account {row['id']}: totals {row['debits']}/{row['credits']} "
                                f"differ from its transfers {row['d']}/{row['c']}")
        for row in tx.all("SELECT currency, SUM(debits) AS d, SUM(credits) AS c FROM accounts GROUP BY currency"):
            if int(row["d"]) != int(row["c"]):
                r.errors.append(f"{row['currency']}: debits {row['d']} != credits {row['c']}")
        for row in tx.all("SELECT kind, currency, SUM(amount) AS s, COUNT(*) AS n FROM transfers"
                          " GROUP BY kind, currency"):
            bucket = {"capture": r.captured, "credit": r.credited, "refund": r.refunded}.get(row["kind"])
            if bucket is not None:
                bucket[row["currency"]] = int(row["s"])
            r.transfers += int(row["n"])
        for row in tx.all("SELECT currency, credits - debits AS b FROM accounts WHERE id LIKE 'held:%'"):
            r.held[row["currency"]] = int(row["b"])
        for cur in set(r.captured) | set(r.credited) | set(r.refunded) | set(r.held):
            cap, cred, ref, hel = (r.captured.get(cur, 0), r.credited.get(cur, 0),
                                   r.refunded.get(cur, 0), r.held.get(cur, 0))
            if cap != cred + ref + hel:
                r.errors.append(f"{cur}: captured {cap} != credited {cred} + refunded {ref} + held {hel}")
        pending = tx.one("SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS s FROM orders"
                         " WHERE state IN ('paid', 'refund_pending')")
        if sum(r.held.values()) != int(pending["s"]):
            r.errors.append(f"held {sum(r.held.values())} != amount of the {pending['n']} orders "
                            f"captured but not yet credited or refunded ({pending['s']})")
        for row in tx.all(
                "SELECT o.id, o.state, o.amount,"
                " (SELECT COUNT(*) FROM transfers t WHERE t.id = 'credit:' || o.id) AS credits,"
                " (SELECT COUNT(*) FROM transfers t WHERE t.id = 'capture:' || o.id) AS captures"
                " FROM orders o WHERE o.state = 'credited' OR EXISTS"
                " (SELECT 1 FROM transfers t WHERE t.order_id = o.id AND t.kind IN ('credit', 'capture'))"):
            want_credit = 1 if row["state"] == "credited" else 0
            if int(row["credits"]) != want_credit:
                r.errors.append(f"order {row['id']} ({row['state']}) has {row['credits']} credits, "
                                f"expected {want_credit}")
            if int(row["captures"]) != 1:
                r.errors.append(f"order {row['id']} ({row['state']}) has {row['captures']} captures, expected 1")
        for row in tx.all("SELECT id, credits - debits AS b FROM accounts"
                          " WHERE id LIKE 'sub:%' AND credits < debits"):
            r.errors.append(f"account {row['id']} is negative ({row['b']})")
        if gateway_net is not None:
            clearing = {row["id"]: int(row["b"]) for row in
                        tx.all("SELECT id, debits - credits AS b FROM accounts WHERE id LIKE 'gw:%'")}
            for (gw, cur), net in sorted(gateway_net.items()):
                ours = clearing.get(gateway_clearing(gw, cur), 0)
                if ours != net:
                    r.errors.append(f"gateway {gw} says it captured {net} {cur} net; our clearing says {ours}")
    return r
