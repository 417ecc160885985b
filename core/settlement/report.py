"""What a settlement run reports: one CSV row per line with its class and action, and a
summary for people (counts and sums per class, actions taken, what waits for a human, and the
conservation verdict after the run)."""
from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from core.ledger import ConservationReport
from core.money import Money

CLASSES = ("matched", "paid_not_credited", "credited_not_paid", "amount_mismatch", "duplicate",
           "unknown_reference")
CSV_COLUMNS = ("gateway", "business_date", "item", "line_no", "reference", "order_number", "order_id",
               "amount_minor", "currency", "status", "captured_at", "classification", "action",
               "action_state", "outcome", "settle_amount_minor")


@dataclass(frozen=True)
class Item:
    """One classified line of a run (or an order the file does not list: ``line_no`` None)."""

    item: str
    line_no: int | None
    reference: str | None
    order_number: str | None
    order_id: str | None
    amount: Money
    status: str | None
    captured_at: str | None
    classification: str
    action: str              # none | reconcile | reverse | review
    action_state: str        # none | pending | done | review
    outcome: str
    settle_amount: int = 0   # minor units this line adds to the day's payout

    @classmethod
    def from_row(cls, r: dict) -> Item:
        return cls(r["item"], None if r["line_no"] is None else int(r["line_no"]), r["reference"],
                   r["order_number"], r["order_id"], Money(int(r["amount"]), r["currency"]), r["status"],
                   r["captured_at"], r["classification"], r["action"], r["action_state"], r["outcome"],
                   int(r["settle_amount"]))

    @property
    def where(self) -> str:
        return f"line {self.line_no}" if self.line_no is not None else f"order {self.order_id}"


def _sums(amounts: dict[str, int]) -> str:
    return ", ".join(Money(v, c).display() for c, v in sorted(amounts.items())) or "-"


@dataclass
class RunReport:
    gateway: str
    business_date: date
    file_sha256: str
    source: str
    items: list[Item]
    first_run: bool = False
    acted: list[Item] = field(default_factory=list)        # actions tried by this invocation
    conservation: ConservationReport | None = None
    file_captured: dict[str, int] = field(default_factory=dict)

    def by_class(self) -> dict[str, tuple[int, dict[str, int]]]:
        counts: Counter[str] = Counter()
        sums: dict[str, Counter[str]] = defaultdict(Counter)
        for i in self.items:
            counts[i.classification] += 1
            sums[i.classification][i.amount.currency] += i.amount.minor
        return {c: (counts[c], dict(sums[c])) for c in CLASSES}

    def payable(self) -> dict[str, int]:
        """What the matched and credited lines add up to: the day's payout before fees."""
        out: Counter[str] = Counter()
        for i in self.items:
            if i.settle_amount:
                out[i.amount.currency] += i.settle_amount
        return dict(out)

    def waiting(self, state: str) -> list[Item]:
        return [i for i in self.items if i.action_state == state]

    @property
    def ok(self) -> bool:
        return (self.conservation is None or self.conservation.ok) and not self.waiting("pending")

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for i in self.items:
            w.writerow((self.gateway, self.business_date.isoformat(), i.item,
                        "" if i.line_no is None else i.line_no, i.reference or "", i.order_number or "",
                        i.order_id or "", i.amount.minor, i.amount.currency, i.status or "",
                        i.captured_at or "", i.classification, i.action, i.action_state, i.outcome,
                        i.settle_amount))
        return out.getvalue()

    def summary(self) -> str:
        lines = [f"settlement {self.gateway} {self.business_date}: {len(self.items)} items "
                 f"({'first run' if self.first_run else 'run found again'}), file sha256 "
                 f"{self.file_sha256[:12]}… from {self.source}",
                 f"  {'class':<18} {'items':>5}  amount"]
        for cls, (n, sums) in self.by_class().items():
            lines.append(f"  {cls:<18} {n:>5}  {_sums(sums)}")
        lines.append("actions taken by this run:" if self.acted else "actions taken by this run: none")
        for i in self.acted:
            lines.append(f"  {i.where:<34} {i.action:<9} {i.action_state:<7} {i.outcome}")
        review = self.waiting("review")
        lines.append(f"for a human, no money moved: {len(review) or 'none'}")
        for i in review:
            lines.append(f"  {i.where:<34} {i.classification:<18} {i.outcome}")
        pending = self.waiting("pending")
        lines.append(f"pending, retried by the next run: {len(pending) or 'none'}")
        for i in pending:
            lines.append(f"  {i.where:<34} {i.action:<9} {i.outcome}")
        if self.file_captured:
            lines.append(f"the file's captured lines: {_sums(self.file_captured)}; matched and credited: "
                         f"{_sums(self.payable())}")
        if self.conservation is not None:
            lines.append(self.conservation.summary())
        return "\n".join(lines)
