"""The report's plots over the simulated day, one PNG each, from the per-minute rows.

Drawn with matplotlib's object API on the Agg canvas (no ``pyplot``, no global backend
switch): safe in worker threads and processes, and never opens a window. Five plots of
about 900x320 pixels take well under a second each; the PNGs carry no version or date
metadata, so the same rows give the same bytes with the same matplotlib.
"""
from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

SIZE_IN = (9.0, 3.2)
DPI = 100


def png_bytes(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _num(value) -> float:
    """A cell as a float; missing (None, "", NaN) is NaN, which matplotlib leaves as a gap."""
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def time_label(value) -> str:
    """``2026-03-20T21:05:00`` or ``2026-03-20T21:05Z`` -> ``21:05``; anything else as given."""
    text = str(value)
    if "T" in text and len(text) >= 16:
        return text[11:16]
    return text


def _tick_step(minutes: int) -> int:
    """Minutes between time ticks: a round step giving at most 12 ticks."""
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440):
        if minutes / step <= 12:
            return step
    return 1440 * (minutes // (1440 * 12) + 1)


def _figure(minutes: Sequence[dict], title: str, ylabel: str,
            drain_from: int | None) -> tuple[Figure, object, list[int]]:
    fig = Figure(figsize=SIZE_IN, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11, loc="left")
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    xs = [int(_num(row.get("minute", i))) if not math.isnan(_num(row.get("minute", i))) else i
          for i, row in enumerate(minutes)]
    labels = {x: time_label(row.get("time", x)) for x, row in zip(xs, minutes)}
    first = xs[0] if xs else 0
    ax.xaxis.set_major_locator(MultipleLocator(_tick_step(len(xs)), offset=first))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: labels.get(round(x), "")))
    utc = bool(minutes) and str(minutes[0].get("time", "")).endswith(("Z", "+00:00"))
    ax.set_xlabel("simulated time (UTC)" if utc else "simulated time")
    if not minutes:
        ax.text(0.5, 0.5, "no simulated minutes", ha="center", va="center", transform=ax.transAxes)
        return fig, ax, xs
    last = max(xs[-1], first + 1)
    ax.set_xlim(first, last)
    if drain_from is not None and first < drain_from < last:
        ax.axvspan(drain_from, last, color="#e9ebef", zorder=0, linewidth=0)
        ax.text((drain_from + last) / 2, 0.97, "drain: no new arrivals", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize=7, color="#5b6475")
    return fig, ax, xs


def _lines(minutes: Sequence[dict], title: str, ylabel: str, series: Sequence[tuple[str, str]],
           drain_from: int | None, *, ymin: float | None = 0.0, ymax: float | None = None,
           scale: float = 1.0, only_when: tuple[str, ...] = ()) -> bytes:
    """One line per (column, label), small dots so a lone minute between gaps still shows;
    with ``only_when``, a minute where those columns add up to 0 is a gap (a minute in which
    no attempt ended has no success rate, not a rate of 0%)."""
    fig, ax, xs = _figure(minutes, title, ylabel, drain_from)
    shown = [not only_when or sum(_num(row.get(c)) or 0.0 for c in only_when) > 0 for row in minutes]
    for column, label in series:
        ys = [_num(row.get(column)) * scale if keep else math.nan for row, keep in zip(minutes, shown)]
        ax.plot(xs, ys, label=label, linewidth=1.2, marker=".", markersize=3 if len(xs) <= 360 else 1.5)
    if minutes:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, ncols=len(series),
                  borderaxespad=0.1)
        ax.set_ylim(bottom=ymin, top=ymax)
    return png_bytes(fig)


def load(minutes: Sequence[dict], drain_from: int | None = None) -> bytes:
    return _lines(minutes, "Load: arrivals and attempts per simulated minute", "per minute",
                  [("arrivals", "arrivals"), ("attempts", "attempts"), ("successes", "successes")], drain_from)


def success_rate(minutes: Sequence[dict], drain_from: int | None = None) -> bytes:
    return _lines(minutes, "Success rate of the attempts that ended in each minute", "%",
                  [("success_rate", "success rate")], drain_from, ymin=0.0, ymax=100.5, scale=100.0,
                  only_when=("successes", "failures", "abandoned"))


def latency(minutes: Sequence[dict], drain_from: int | None = None) -> bytes:
    return _lines(minutes, "End-to-end latency of the minute's successes", "seconds",
                  [("latency_p50_s", "p50"), ("latency_p95_s", "p95"), ("latency_p99_s", "p99")], drain_from,
                  only_when=("successes",))


def queues(minutes: Sequence[dict], drain_from: int | None = None) -> bytes:
    return _lines(minutes, "SMSC queue and card-gateway queue (at the end of each minute)", "messages / requests",
                  [("smsc_queue", "SMSC queue"), ("gateway_queue", "gateway queue")], drain_from)


def expiries(minutes: Sequence[dict], drain_from: int | None = None) -> bytes:
    return _lines(minutes, "OTP expiries and USSD timeouts per minute", "per minute",
                  [("otp_expiries", "OTP expiries"), ("ussd_timeouts", "USSD timeouts")], drain_from)


PLOTS: dict[str, tuple[str, Callable[..., bytes]]] = {
    "load.png": ("Load over the day", load),
    "success_rate.png": ("Success rate", success_rate),
    "latency.png": ("Latency percentiles", latency),
    "smsc_queue.png": ("SMSC queue", queues),
    "otp_ussd.png": ("OTP expiries and USSD timeouts", expiries),
}


def render_all(minutes: Sequence[dict], drain_from: int | None = None) -> dict[str, bytes]:
    """``{"load.png": b"\\x89PNG...", ...}`` in the order the report shows them; ``drain_from``
    (a minute) shades the end of the run, after the last arrival, when only what was started
    finishes."""
    return {name: draw(minutes, drain_from) for name, (_title, draw) in PLOTS.items()}
