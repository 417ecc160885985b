"""The result contract of one simulator run.

`sim.run.run()` returns a `RunResult`; the report writer, the CLI and the sweeps read only
these names, so they can be written before (and independently of) the world itself.

Two halves with different promises:
- `config`, `kpis` and `minutes` are deterministic: same seed, same bytes of
  `json.dumps(kpis, sort_keys=True)` on any machine and any worker (floats rounded to 6
  digits, no wall-clock values anywhere in them).
- `events`, `wall_s` and `peak_rss_mb` describe the machine that ran it; they never go
  into `kpis`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MINUTE_COLUMNS = ("minute", "time", "arrivals", "attempts", "successes", "failures", "abandoned",
                  "success_rate", "latency_p50_s", "latency_p95_s", "latency_p99_s",
                  "smsc_queue", "otp_expiries", "ussd_timeouts", "gateway_queue")

CHANNELS = ("web", "ussd", "mandate", "bill", "kiosk", "wallet", "bank_app", "sts", "card_load")

CHANNEL_KEYS = ("attempts", "successes", "failures", "abandoned", "latency_s", "otp_expiries",
                "ussd_timeouts", "revenue_minor")

ROUND_DIGITS = 6


def rounded(value):
    """Round every float inside `value` (dicts, lists, tuples) to ROUND_DIGITS digits."""
    if isinstance(value, float):
        return round(value, ROUND_DIGITS)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


@dataclass
class RunResult:
    """What one run gives: config and KPIs (deterministic) plus machine figures (not)."""

    config: dict            # resolved run config, JSON-able
    kpis: dict              # JSON-able, deterministic, floats rounded to 6 digits
    minutes: list[dict] = field(default_factory=list)  # one row per simulated minute, MINUTE_COLUMNS
    events: int = 0         # SimPy events processed
    wall_s: float = 0.0     # wall seconds of the run (NOT in kpis)
    peak_rss_mb: float = 0.0  # NOT in kpis

    @property
    def ok(self) -> bool:
        """False when the ledger conservation check failed or nothing was attempted."""
        conservation = self.kpis.get("conservation", {})
        if not conservation.get("ok", False):
            return False
        return self.kpis.get("totals", {}).get("attempts", 0) > 0

    @property
    def problems(self) -> list[str]:
        """Why `ok` is False, in words (empty when ok)."""
        out = list(self.kpis.get("conservation", {}).get("problems", []))
        if self.kpis.get("totals", {}).get("attempts", 0) == 0:
            out.append("no attempts at all: the run simulated nothing (check subscribers/hours/profile)")
        return out
