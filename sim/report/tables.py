"""The KPI tables, read out of ``RunResult.kpis`` once for the HTML report and the CLI summary.

Rows are plain dataclasses so both renderings show the same numbers; money stays integer
minor units until it is formatted for people (``Money.display``: "1,500.00 DZD").
"""
from __future__ import annotations

from dataclasses import dataclass

from core.errors import RechargeError
from core.money import Money
from sim.result import CHANNELS, RunResult


@dataclass(frozen=True)
class ChannelRow:
    market: str
    channel: str
    currency: str
    attempts: int
    successes: int
    failures: int
    abandoned: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    otp_expiries: int
    ussd_timeouts: int
    revenue_minor: int

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None


def money(minor: int, currency: str) -> str:
    """``150000, "DZD"`` -> ``1,500.00 DZD`` (integer minor units, never a float on the way)."""
    try:
        return Money(int(minor), currency).display()
    except (RechargeError, KeyError, ValueError, TypeError):
        return f"{int(minor):,} (minor units) {currency}"


def _order(channels: dict) -> list[str]:
    known = [c for c in CHANNELS if c in channels]
    return known + sorted(set(channels) - set(known))


def channel_rows(kpis: dict, *, with_idle: bool = False) -> list[ChannelRow]:
    """One row per market and channel, markets sorted, channels in the contract's order;
    channels without attempts only with ``with_idle``."""
    rows = []
    for market in sorted(kpis.get("markets", {})):
        m = kpis["markets"][market]
        channels = m.get("channels", {})
        for name in _order(channels):
            ch = channels[name]
            if not ch.get("attempts") and not with_idle:
                continue
            lat = ch.get("latency_s") or {}
            rows.append(ChannelRow(
                market=market, channel=name, currency=m.get("currency", "?"),
                attempts=int(ch.get("attempts", 0)), successes=int(ch.get("successes", 0)),
                failures=sum(int(v) for v in (ch.get("failures") or {}).values()),
                abandoned=int(ch.get("abandoned", 0)),
                p50_s=lat.get("p50"), p95_s=lat.get("p95"), p99_s=lat.get("p99"),
                otp_expiries=int(ch.get("otp_expiries", 0)), ussd_timeouts=int(ch.get("ussd_timeouts", 0)),
                revenue_minor=int(ch.get("revenue_minor", 0))))
    return rows


def idle_channels(kpis: dict) -> list[str]:
    """``["DZ sts", ...]``: the channels that had no attempt at all."""
    return [f"{r.market} {r.channel}" for r in channel_rows(kpis, with_idle=True) if not r.attempts]


def failure_rows(kpis: dict) -> list[tuple[str, str, str, int]]:
    """``(market, channel, reason, count)``, the most frequent first."""
    rows = []
    for market, m in kpis.get("markets", {}).items():
        for channel, ch in m.get("channels", {}).items():
            for reason, count in (ch.get("failures") or {}).items():
                if count:
                    rows.append((market, channel, reason, int(count)))
    return sorted(rows, key=lambda r: (-r[3], r[0], r[1], r[2]))


def market_facts(kpis: dict) -> list[tuple[str, str, str, float, int]]:
    """``(market, currency, revenue, meter_hours_disconnected, settlement_discrepancies)``."""
    out = []
    for market in sorted(kpis.get("markets", {})):
        m = kpis["markets"][market]
        cur = m.get("currency", "?")
        out.append((market, cur, money(m.get("revenue_minor", 0), cur),
                    float(m.get("meter_hours_disconnected", 0.0)), int(m.get("settlement_discrepancies", 0))))
    return out


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def verdict_line(result: RunResult) -> str:
    """``conservation OK`` or why the run failed (a conservation problem, or nothing simulated)."""
    if result.ok:
        return "verdict: PASS, conservation OK"
    conserved = bool(result.kpis.get("conservation", {}).get("ok", False))
    what = "conservation OK but " if conserved else "conservation FAILED: "
    return "verdict: FAIL, " + what + "; ".join(result.problems or ["(no reason given)"])


def summary_text(result: RunResult, *, limit_reasons: int = 5) -> str:
    """The short table ``rbench simulate`` prints at the end of a run."""
    kpis = result.kpis
    lines = [(f"{'market':<6} {'channel':<9} {'attempts':>9} {'success':>8} {'abandon':>8} {'p50 s':>7} "
              f"{'p95 s':>7} {'p99 s':>7}  revenue")]
    lines.append("-" * len(lines[0]) + "-" * 12)
    for r in channel_rows(kpis):
        lines.append(f"{r.market:<6} {r.channel:<9} {r.attempts:>9,} {percent(r.success_rate):>8} "
                     f"{r.abandoned:>8,} {seconds(r.p50_s):>7} {seconds(r.p95_s):>7} {seconds(r.p99_s):>7}  "
                     f"{money(r.revenue_minor, r.currency)}")
    totals = kpis.get("totals", {})
    attempts, successes = int(totals.get("attempts", 0)), int(totals.get("successes", 0))
    rate = totals.get("success_rate", successes / attempts if attempts else None)
    lines.append(f"total: {attempts:,} attempts, {successes:,} successes ({percent(rate)})")
    reasons = failure_rows(kpis)[:limit_reasons]
    if reasons:
        lines.append("top failures: " + ", ".join(f"{m} {c} {why} x{n:,}" for m, c, why, n in reasons))
    for market, _cur, revenue, meter_h, discrepancies in market_facts(kpis):
        lines.append(f"{market}: revenue {revenue}, meter hours disconnected {meter_h:.2f}, "
                     f"settlement discrepancies {discrepancies}")
    lines.append(verdict_line(result))
    return "\n".join(lines)
