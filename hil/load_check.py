"""After every load run: let the core finish what is in flight, then match each gateway's
end-of-day file for the run's days against the core and check that money is conserved. Any
payment credited twice, captured but never credited (lost), credited without a capture, or
taken at the gateway for no order of ours fails the run and is listed.

    result = post_run_check("http://127.0.0.1:8080", keys, db_url="sqlite:///out/core.db",
                            gateway_url="http://127.0.0.1:8081", since=t0, until=t1, out=Path("out"))
    result.ok, result.problems           # e.g. ["credited twice: order ord_... (2 credit transfers)"]

With the store at hand (``--db``, or the core ``rbench load`` started) the check classifies every
line of the gateway service's settlement files by the core's own rules
(:class:`core.settlement.Reconciler`), without acting on them: a load test observes the core and
never settles a business day (run again on the same store, it gives the same answer). Then the
ledger's conservation check, with what each gateway says it captured. Without it (a core
elsewhere, ``--host`` only) it asks the core's ``/v1/admin/conservation``.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from core.adapters.gateway_direct import service_gateways
from core.adapters.smsc_http import HttpSmsSender
from core.clock import SystemClock
from core.settlement import Reconciler, RunReport, files
from core.wiring import build_core

FAILING = ("paid_not_credited", "credited_not_paid", "amount_mismatch", "duplicate", "unknown_reference")
WHAT = {"paid_not_credited": "lost payment (captured at the gateway, not credited by the core)",
        "credited_not_paid": "credited without a capture at the gateway",
        "amount_mismatch": "credited amount differs from the captured one",
        "duplicate": "presented twice by the gateway",
        "unknown_reference": "lost payment (captured at the gateway for no order of the core)"}


@dataclass
class CheckResult:
    ok: bool
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _NoSms:
    def send(self, to: str, text: str, *, sender: str = "RBENCH") -> str:
        return "not-sent"


def run_days(since: float, until: float) -> list[date]:
    first = datetime.fromtimestamp(since, UTC).date()
    last = datetime.fromtimestamp(until, UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def sweep(host: str, admin_key: str, *, grace_s: float) -> str:
    """Wait for callbacks and answers still on their way, then ask the core to reconcile every
    card order it has not heard the outcome of (what its sweeper does every 30 s)."""
    time.sleep(grace_s)
    r = httpx.post(f"{host}/v1/admin/sweep", params={"older_than_s": 0}, headers={"X-API-Key": admin_key},
                   timeout=120)
    r.raise_for_status()
    b = r.json()
    return (f"sweep after {grace_s:g} s: {b.get('reconciled', 0)} card orders asked about, "
            f"{b.get('ussd_sessions_closed', 0)} USSD sessions closed")


def post_run_check(host: str, keys: dict[str, str], *, db_url: str | None, gateway_url: str | None,
                   smsc_url: str | None = None, since: float, until: float, out: Path,
                   grace_s: float = 3.0) -> CheckResult:
    """``grace_s``: how long callbacks may still be on their way (the emulators' callback p95)."""
    result = CheckResult(ok=True)
    try:
        result.lines.append(sweep(host, keys["admin"], grace_s=grace_s))
    except httpx.HTTPError as e:
        result.ok = False
        result.problems.append(f"the core did not take the sweep: {e}")
    if db_url and gateway_url:
        _settle(result, db_url, gateway_url, smsc_url, since, until, out)
    else:
        _conservation_over_http(result, host, keys["admin"])
        result.lines.append("settlement files not reconciled: give --db (the core's store) and --gateway-url")
    result.ok = result.ok and not result.problems
    return result


def _settle(result: CheckResult, db_url: str, gateway_url: str, smsc_url: str | None, since: float,
            until: float, out: Path) -> None:
    core = build_core(db_url, clock=SystemClock(), gateways=service_gateways(gateway_url),
                      sms=HttpSmsSender(smsc_url) if smsc_url else _NoSms())
    folder = out / "settlement"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        reconciler = Reconciler(core)
        for day in run_days(since, until):
            for name in sorted(core.gateways):
                url = f"{gateway_url}/emulator/settlement/{name}"
                r = httpx.get(url, params={"date": day.isoformat()}, timeout=60)
                r.raise_for_status()
                f = files.parse(r.content, source=url, gateway=name, business_date=day)
                with core.store.transaction() as tx:       # classify only: read, never act
                    items = reconciler.classify(tx, f)
                report = RunReport(name, day, hashlib.sha256(files.render(f)).hexdigest(), url, items)
                (folder / f"{name}-{day}.csv").write_text(report.to_csv(), encoding="utf-8")
                counts = {c: n for c, (n, _) in report.by_class().items() if n}
                for c, n in counts.items():
                    result.classes[c] = result.classes.get(c, 0) + n
                if items:
                    result.lines.append(f"{name} {day}: " + ", ".join(f"{n} {c}" for c, n in counts.items()))
                for i in items:
                    if i.classification in FAILING:
                        result.problems.append(
                            f"{WHAT[i.classification]}: {name} {day} {i.where}, order "
                            f"{i.order_id or i.order_number}, ref {i.reference}, {i.amount.display()}: {i.outcome}")
        with core.store.transaction() as tx:
            twice = tx.all("SELECT order_id, COUNT(*) AS n, SUM(amount) AS s, currency FROM transfers"
                           " WHERE kind = 'credit' AND order_id IS NOT NULL GROUP BY order_id, currency"
                           " HAVING COUNT(*) > 1 ORDER BY order_id")
            orders = tx.one("SELECT COUNT(*) AS n FROM orders")["n"]
        for row in twice:
            result.problems.append(f"credited twice: order {row['order_id']} ({row['n']} credit transfers, "
                                   f"{row['s']} {row['currency']} minor units in all)")
        verdict = core.conservation()
        result.lines.append(f"{orders} orders in the store; {verdict.summary()}")
        result.problems += [f"conservation: {e}" for e in verdict.errors]
    finally:
        core.close()


def _conservation_over_http(result: CheckResult, host: str, admin_key: str) -> None:
    try:
        r = httpx.get(f"{host}/v1/admin/conservation", headers={"X-API-Key": admin_key}, timeout=120)
        body = r.json()
    except (httpx.HTTPError, ValueError) as e:
        result.problems.append(f"conservation: the core did not answer /v1/admin/conservation: {e}")
        return
    result.lines.append(str(body.get("summary", body)))
    result.problems += [f"conservation: {e}" for e in body.get("errors", [])]
