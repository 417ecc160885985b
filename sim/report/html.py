"""``report.html``: one self-contained page a manager can open, mail or archive.

Everything is inside the file (inline CSS, PNGs as base64 ``data:`` URIs, no script, no
external font or stylesheet), so it opens the same from a mail attachment, a CI artifact or
an offline laptop. Every text that came from a profile or the engine is HTML-escaped.
"""
from __future__ import annotations

import base64
import json
from html import escape

from sim.report.tables import (
    ChannelRow,
    channel_rows,
    failure_rows,
    idle_channels,
    market_facts,
    money,
    percent,
    seconds,
)
from sim.result import RunResult

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1180px;margin:0 auto;padding:24px}
.wide{overflow-x:auto}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d6d9df;padding-bottom:4px}
.sub{color:#5b6475;margin:0 0 16px}
.verdict{font-size:40px;font-weight:800;letter-spacing:1px;padding:18px 22px;border-radius:8px;margin:16px 0}
.pass{background:#e3f5e8;color:#146c2e;border:2px solid #3fa35b} .fail{background:#fde7e7;color:#a11a1a;border:2px solid #d64545}
.verdict small{display:block;font-size:14px;font-weight:500;letter-spacing:0}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:10px} .card{background:#fff;border:1px solid #d6d9df;border-radius:6px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:20px} .card span{color:#5b6475;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d6d9df;padding:4px 7px;text-align:right;white-space:nowrap} th{background:#eceef2;white-space:normal} td.l,th.l{text-align:left}
tr.bad td{background:#fff4f4}
img{max-width:100%;background:#fff;border:1px solid #d6d9df;border-radius:4px;margin:4px 0 14px}
pre{background:#fff;border:1px solid #d6d9df;padding:10px;overflow:auto;font-size:12px}
.muted{color:#5b6475}
"""


def _e(value) -> str:
    return escape(str(value), quote=True)


def _verdict(result: RunResult) -> str:
    conservation = result.kpis.get("conservation", {})
    if result.ok:
        return ('<div class="verdict pass">CONSERVATION OK'
                '<small>what the gateways captured equals what was credited plus refunded, per currency; '
                'no order credited twice</small></div>')
    what = "CONSERVATION FAILED" if not conservation.get("ok", False) else "RUN FAILED"
    items = "".join(f"<li>{_e(p)}</li>" for p in result.problems) or "<li>(no reason given)</li>"
    return f'<div class="verdict fail">{what}<small><ul>{items}</ul></small></div>'


HEADLINE = ("attempts", "successes", "success_rate", "failures", "abandoned", "otp_expiries", "ussd_timeouts")


def _shown(key: str, value: float) -> str:
    if key.endswith("rate") and isinstance(value, float):
        return percent(value)
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


def _totals(result: RunResult) -> str:
    """The headline totals as cards, every other numeric total in a compact table."""
    totals = {k: v for k, v in result.kpis.get("totals", {}).items()
              if isinstance(v, (int, float)) and not isinstance(v, bool)}
    cards = [f'<div class="card"><b>{_e(_shown(k, totals[k]))}</b><span>{_e(k.replace("_", " "))}</span></div>'
             for k in HEADLINE if k in totals]
    rest = [k for k in sorted(totals) if k not in HEADLINE]
    table = ""
    if rest:
        half = (len(rest) + 1) // 2
        cells = []
        for left, right in zip(rest[:half], rest[half:] + [None]):
            row = f"<td class=l>{_e(left.replace('_', ' '))}</td><td>{_e(_shown(left, totals[left]))}</td>"
            row += (f"<td class=l>{_e(right.replace('_', ' '))}</td><td>{_e(_shown(right, totals[right]))}</td>"
                    if right else "<td></td><td></td>")
            cells.append(f"<tr>{row}</tr>")
        table = "<table>" + "".join(cells) + "</table>"
    return '<div class="cards">' + "".join(cards) + "</div>" + table


def _channel_table(rows: list[ChannelRow]) -> str:
    head = ("<tr><th class=l>market</th><th class=l>channel</th><th>attempts</th><th>successes</th>"
            "<th>success</th><th>failures</th><th>abandoned</th><th>p50 s</th><th>p95 s</th><th>p99 s</th>"
            "<th>OTP expiries</th><th>USSD timeouts</th><th>revenue</th></tr>")
    body = []
    for r in rows:
        bad = ' class="bad"' if r.success_rate is not None and r.success_rate < 0.9 else ""
        body.append(f"<tr{bad}><td class=l>{_e(r.market)}</td><td class=l>{_e(r.channel)}</td>"
                    f"<td>{r.attempts:,}</td><td>{r.successes:,}</td><td>{percent(r.success_rate)}</td>"
                    f"<td>{r.failures:,}</td><td>{r.abandoned:,}</td><td>{seconds(r.p50_s)}</td>"
                    f"<td>{seconds(r.p95_s)}</td><td>{seconds(r.p99_s)}</td><td>{r.otp_expiries:,}</td>"
                    f"<td>{r.ussd_timeouts:,}</td><td>{_e(money(r.revenue_minor, r.currency))}</td></tr>")
    if not body:
        body.append('<tr><td class=l colspan=13>no attempts in any channel</td></tr>')
    return '<div class="wide"><table>' + head + "".join(body) + "</table></div>"


def _failure_table(kpis: dict) -> str:
    rows = failure_rows(kpis)
    if not rows:
        return '<p class="muted">No failures.</p>'
    body = "".join(f"<tr><td class=l>{_e(m)}</td><td class=l>{_e(c)}</td><td class=l>{_e(why)}</td>"
                   f"<td>{n:,}</td></tr>" for m, c, why, n in rows)
    return ("<table><tr><th class=l>market</th><th class=l>channel</th><th class=l>reason</th><th>count</th></tr>"
            + body + "</table>")


def _market_table(kpis: dict) -> str:
    body = "".join(f"<tr><td class=l>{_e(m)}</td><td class=l>{_e(cur)}</td><td>{_e(rev)}</td>"
                   f"<td>{hours:,.2f}</td><td>{disc:,}</td></tr>" for m, cur, rev, hours, disc in market_facts(kpis))
    return ("<table><tr><th class=l>market</th><th class=l>currency</th><th>revenue</th>"
            "<th>meter hours disconnected</th><th>settlement discrepancies</th></tr>" + body + "</table>")


def _plots(pngs: dict[str, bytes], titles: dict[str, str]) -> str:
    if not pngs:
        return '<p class="muted">Plots were not drawn for this report (--no-plots); minutes.csv has the data.</p>'
    out = []
    for name, data in pngs.items():
        b64 = base64.b64encode(data).decode("ascii")
        title = titles.get(name, name)
        out.append(f'<h3>{_e(title)}</h3><img alt="{_e(title)}" src="data:image/png;base64,{b64}">')
    return "".join(out)


def _title(config: dict) -> str:
    profile = config.get("profile", "simulation")
    return f"rechargebench simulation: {profile}"


def render(result: RunResult, pngs: dict[str, bytes], titles: dict[str, str]) -> str:
    """The whole page as text."""
    config = result.config
    facts = [f"{k} {config[k]}" for k in ("subscribers", "hours", "seed", "faults", "start") if config.get(k) is not None]
    markets = ", ".join(sorted(result.kpis.get("markets", {}))) or "none"
    machine = (f"{result.events:,} SimPy events in {result.wall_s:,.1f} s wall"
               + (f" ({result.events / result.wall_s:,.0f} events/s)" if result.wall_s > 0 else "")
               + f", peak memory {result.peak_rss_mb:,.0f} MB")
    idle = idle_channels(result.kpis)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(_title(config))}</title><style>{CSS}</style></head><body><main>",
        f"<h1>{_e(_title(config))}</h1>",
        f'<p class="sub">markets {_e(markets)}; {_e(", ".join(facts))}</p>',
        _verdict(result),
        "<h2>Totals</h2>", _totals(result),
        "<h2>Per market and channel</h2>", _channel_table(channel_rows(result.kpis)),
        (f'<p class="muted">No attempts: {_e(", ".join(idle))}.</p>' if idle else ""),
        _market_table(result.kpis),
        "<h2>Failures by reason</h2>", _failure_table(result.kpis),
        "<h2>Over the simulated time</h2>", _plots(pngs, titles),
        "<h2>Run configuration</h2>",
        f"<pre>{_e(json.dumps(config, sort_keys=True, indent=2, default=str))}</pre>",
        (f'<p class="muted">{_e(machine)}. The KPIs above are in kpis.json (deterministic: same seed, same '
         "bytes); per-minute figures in minutes.csv; machine figures in run.json.</p>"),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
