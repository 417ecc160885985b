"""KPI collectors: cheap to record on every event, summarised once at the end.

Recording is a few integer additions and one float append (latencies); percentiles are
computed at the end (nearest rank, deterministic). Every attempt ends exactly once: success
(with its end-to-end latency and the money it brought), failure (with a reason) or
abandonment; what is still running when the run stops ends as the failure ``unfinished``.

Latencies are those of successes: from the moment the person starts to the moment the money
is delivered (airtime credited, bill paid, meter credited).
"""
from __future__ import annotations

import math
from array import array
from collections import Counter

import simpy

from sim.result import CHANNELS, MINUTE_COLUMNS, rounded

_MINUTE_COUNTS = ("arrivals", "attempts", "successes", "failures", "abandoned", "otp_expiries", "ussd_timeouts")


def percentile(sorted_values, q: float) -> float:
    """Nearest-rank percentile of already sorted values (0.0 when empty)."""
    n = len(sorted_values)
    if n == 0:
        return 0.0
    return float(sorted_values[max(0, math.ceil(q / 100.0 * n) - 1)])


class Kpis:
    def __init__(self, env: simpy.Environment, markets: list[str], currencies: dict[str, str]) -> None:
        self.env, self.markets, self.currencies = env, markets, currencies
        keys = [(m, c) for m in markets for c in CHANNELS]
        self.attempts = Counter({k: 0 for k in keys})
        self.successes = Counter({k: 0 for k in keys})
        self.abandoned = Counter({k: 0 for k in keys})
        self.otp_expiries = Counter({k: 0 for k in keys})
        self.ussd_timeouts = Counter({k: 0 for k in keys})
        self.revenue = Counter({k: 0 for k in keys})
        self.failures: dict[tuple[str, str], Counter] = {k: Counter() for k in keys}
        self.latencies: dict[tuple[str, str], array] = {k: array("d") for k in keys}
        self.minute = {name: array("i") for name in _MINUTE_COUNTS}
        self.minute_latency: list[array] = []
        self.samples = {"smsc_queue": array("i"), "gateway_queue": array("i")}
        self.counters: Counter[str] = Counter()        # world-wide tallies (usage events, retries...)
        self.open_attempts = 0
        self.running: dict[int, tuple[str, str]] = {}  # attempt id -> key, while running
        self._next_id = 0

    # -- recording ---------------------------------------------------------------------------
    def _bump(self, name: str, at: float | None = None) -> None:
        col = self.minute[name]
        m = int((self.env.now if at is None else at) // 60)
        while len(col) <= m:
            col.append(0)
        col[m] += 1

    def arrival(self) -> None:
        self._bump("arrivals")

    def begin(self, market: str, channel: str) -> int:
        """An attempt starts; returns its id (pass it to the end call)."""
        key = (market, channel)
        self.attempts[key] += 1
        self._bump("attempts")
        self._next_id += 1
        self.running[self._next_id] = key
        return self._next_id

    def succeed(self, attempt: int, started: float, revenue_minor: int = 0, at: float | None = None) -> None:
        """``at``: when it succeeded, if not now (an outcome learnt afterwards)."""
        key = self.running.pop(attempt)
        self.successes[key] += 1
        self.revenue[key] += revenue_minor
        now = self.env.now if at is None else at
        latency = max(0.0, now - started)
        self.latencies[key].append(latency)
        self._bump("successes", now)
        m = int(now // 60)
        while len(self.minute_latency) <= m:
            self.minute_latency.append(array("d"))
        self.minute_latency[m].append(latency)

    def fail(self, attempt: int, reason: str) -> None:
        key = self.running.pop(attempt)
        self.failures[key][reason] += 1
        self._bump("failures")

    def abandon(self, attempt: int, reason: str = "") -> None:
        key = self.running.pop(attempt)
        self.abandoned[key] += 1
        self._bump("abandoned")

    def otp_expired(self, market: str, channel: str) -> None:
        self.otp_expiries[(market, channel)] += 1
        self._bump("otp_expiries")

    def ussd_timeout(self, market: str, channel: str) -> None:
        self.ussd_timeouts[(market, channel)] += 1
        self._bump("ussd_timeouts")

    def sample(self, smsc_queue: int, gateway_queue: int) -> None:
        """Called once per simulated minute, at its end."""
        self.samples["smsc_queue"].append(smsc_queue)
        self.samples["gateway_queue"].append(gateway_queue)

    def close_running(self) -> None:
        for attempt in list(self.running):
            self.fail(attempt, "unfinished")

    # -- summaries ---------------------------------------------------------------------------
    def channel(self, key: tuple[str, str]) -> dict:
        lat = sorted(self.latencies[key])
        return {"attempts": self.attempts[key], "successes": self.successes[key],
                "failures": dict(sorted(self.failures[key].items())), "abandoned": self.abandoned[key],
                "latency_s": {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99)},
                "otp_expiries": self.otp_expiries[key], "ussd_timeouts": self.ussd_timeouts[key],
                "revenue_minor": self.revenue[key]}

    def markets_block(self) -> dict:
        out = {}
        for m in self.markets:
            chans = {c: self.channel((m, c)) for c in CHANNELS}
            out[m] = {"channels": chans, "currency": self.currencies[m],
                      "revenue_minor": sum(ch["revenue_minor"] for ch in chans.values())}
        return out

    def totals(self) -> dict:
        keys = list(self.attempts)
        attempts = sum(self.attempts[k] for k in keys)
        successes = sum(self.successes[k] for k in keys)
        fails: Counter[str] = Counter()
        for k in keys:
            fails.update(self.failures[k])
        lat = sorted(x for k in keys for x in self.latencies[k])
        revenue: Counter[str] = Counter()
        for (m, _), v in self.revenue.items():
            revenue[self.currencies[m]] += v
        return {"attempts": attempts, "successes": successes,
                "success_rate": successes / attempts if attempts else 0.0,
                "failures": sum(fails.values()), "failures_by_reason": dict(sorted(fails.items())),
                "abandoned": sum(self.abandoned.values()), "otp_expiries": sum(self.otp_expiries.values()),
                "ussd_timeouts": sum(self.ussd_timeouts.values()),
                "latency_s": {"p50": percentile(lat, 50), "p95": percentile(lat, 95), "p99": percentile(lat, 99)},
                "revenue_minor": dict(sorted(revenue.items())),
                "arrivals": sum(self.minute["arrivals"]), **dict(sorted(self.counters.items()))}

    def minutes(self, epoch: float, total_s: float) -> list[dict]:
        from datetime import datetime, timezone
        n = max(1, math.ceil(total_s / 60.0))
        rows = []
        for i in range(n):
            def at(col: array) -> int:
                return col[i] if i < len(col) else 0
            counts = {name: at(self.minute[name]) for name in _MINUTE_COUNTS}
            ended = counts["successes"] + counts["failures"] + counts["abandoned"]
            lat = sorted(self.minute_latency[i]) if i < len(self.minute_latency) else []
            rows.append(rounded({
                "minute": i,
                "time": datetime.fromtimestamp(epoch + 60 * i, timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
                **counts,
                "success_rate": counts["successes"] / ended if ended else 0.0,
                "latency_p50_s": percentile(lat, 50), "latency_p95_s": percentile(lat, 95),
                "latency_p99_s": percentile(lat, 99),
                "smsc_queue": at(self.samples["smsc_queue"]), "gateway_queue": at(self.samples["gateway_queue"]),
            }))
        return [{k: row[k] for k in MINUTE_COLUMNS} for row in rows]
