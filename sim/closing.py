"""The end of a run: learn what people never saw, settle the day(s), check conservation, and
turn the collectors into the deterministic ``kpis`` and ``minutes`` of the result contract.

In order: the core comes back if a restart was still under way; its sweeper asks the gateways
about every order still waiting; the attempts whose person left before the outcome (browser
closed, USSD outcome by SMS) take it from their order; each gateway's and wallet provider's
end-of-day file of every simulated UTC day is reconciled against the core (lines not
``matched`` are the settlement discrepancies); then the ledger's conservation invariant.
"""
from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from core.market import load_markets
from core.orders import State
from core.settlement import Reconciler, wallets
from core.settlement.emulated import end_of_day_file
from sim.channels.outcome import order_reason
from sim.result import rounded

if TYPE_CHECKING:
    from sim.world import World


def days_of(w: World) -> list[date]:
    first = datetime.fromtimestamp(w.cfg.start, timezone.utc).date()
    last = datetime.fromtimestamp(w.cfg.start + w.stop_s, timezone.utc).date()
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def resolve_orphans(w: World) -> None:
    k = w.kpis
    for attempt, started, order_id, market, channel, on_ok in w.orphans:
        order = w.core.payments.get(order_id)
        if order.state is State.CREDITED:
            at = (order.credited_ms or 0) / 1000.0 - w.cfg.start
            k.succeed(attempt, started, order.amount.minor, at=at)
            k.counters["outcomes_learnt_late"] += 1
            if on_ok is not None:
                from sim.channels.attempt import Outcome
                on_ok(Outcome.ok(order))
        elif order.state in (State.FAILED, State.REFUSED, State.REFUNDED, State.REFUND_PENDING):
            k.fail(attempt, order_reason(order))
            if order_reason(order) == "otp_expired":
                k.otp_expired(market, channel)
        else:
            k.fail(attempt, f"unresolved_{order.state}")
    w.orphans.clear()


def settle(w: World) -> dict[str, dict]:
    """Reconcile every gateway's and wallet provider's file of each day; per market counts."""
    out: dict[str, dict] = {}
    core = w.core
    reconciler = Reconciler(core, conservation=lambda: None)
    for m in w.markets:
        classes: Counter[str] = Counter()
        for day in days_of(w):
            for name in load_markets()[m].gateways:
                report = reconciler.run(end_of_day_file(w.gateways[name], day))
                classes.update(i.classification for i in report.items)
            for provider in w.cfg.markets[m]["wallets"]:
                report = wallets.reconcile_wallet(core, wallets.end_of_day_file(core, provider, day))
                classes.update(i.classification for i in report.items)
        out[m] = {"lines": sum(classes.values()), "by_class": dict(sorted(classes.items())),
                  "discrepancies": sum(n for c, n in classes.items() if c != "matched")}
    return out


def close(w: World) -> tuple[dict, list[dict]]:
    if not w.core_up:
        w.revive()
    core, k = w.core, w.kpis
    core.payments.reconcile_pending(0.0, limit=1_000_000)
    resolve_orphans(w)
    k.close_running()
    settlement = settle(w)
    report = core.conservation()
    markets = k.markets_block()
    for m in w.markets:
        markets[m]["meter_hours_disconnected"] = w.meters[m].hours_disconnected(w.end_s)
        markets[m]["settlement_discrepancies"] = settlement[m]["discrepancies"]
        markets[m]["settlement"] = settlement[m]
    totals = k.totals()
    totals["settlement_discrepancies"] = sum(s["discrepancies"] for s in settlement.values())
    totals["meter_hours_disconnected"] = sum(markets[m]["meter_hours_disconnected"] for m in w.markets)
    totals["scheduler_errors"] = dict(sorted(w.scheduler.errors.items()))
    sms = w.smsc
    network = {"smsc": {"submitted": sms.submitted, "segments": sms.segments, "lost": sms.lost},
               "ussd_gateway": {"refused": w.ussd_gw.refused, "timeouts": w.ussd_gw.timeouts, "drops": w.ussd_gw.drops},
               "gateways": {name: _gateway_stats(gw) for name, gw in sorted(w.gateways.items())}}
    kpis = {"markets": markets, "totals": totals, "network": network,
            "conservation": {"ok": report.ok, "problems": list(report.errors[:100]),
                             "transfers": report.transfers, "captured": dict(sorted(report.captured.items())),
                             "credited": dict(sorted(report.credited.items())),
                             "refunded": dict(sorted(report.refunded.items()))}}
    return rounded(kpis), k.minutes(w.cfg.start, w.stop_s)


def _gateway_stats(gw) -> dict:  # type: ignore[no-untyped-def]
    s = gw.stats()
    keep = ("orders", "callbacks_sent", "callbacks_lost", "timeouts", "unavailable", "random_declines", "otp_sent")
    return {**{k: s[k] for k in keep}, "by_status": dict(sorted(s["by_status"].items())),
            "net_captured": dict(sorted(s["net_captured"].items()))}
