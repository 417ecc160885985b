"""ASGI wrappers every request of the core's API passes, and the metrics read at scrape time.

Plain ASGI on purpose: Starlette's ``@app.middleware("http")`` runs every request through a
task group and memory streams, a cost each of a recharge's requests would pay.
"""
from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from core.api import problems
from core.wiring import Core

MAX_BODY = 16 * 1024


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 before any handler reads them."""

    def __init__(self, app, limit: int = MAX_BODY) -> None:  # type: ignore[no-untyped-def]
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            response = problems.problem(413, "body_too_large",
                                        f"body: {length.decode(errors='replace')} bytes; expected at most {self.limit}")
            return await response(scope, receive, send)
        seen = 0

        async def limited():  # type: ignore[no-untyped-def]
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge()
            return message
        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            response = problems.problem(413, "body_too_large", f"body: expected at most {self.limit} bytes")
            await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class Measure:
    """Requests and latency per route for ``/metrics``. Plain ASGI: Starlette's
    ``@app.middleware("http")`` runs every request through a task group and memory streams."""

    def __init__(self, app, requests: Counter, latency: Histogram) -> None:  # type: ignore[no-untyped-def]
        self.app, self.requests, self.latency = app, requests, latency

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500                         # what the caller gets if the app fails before answering

        async def send_status(message):  # type: ignore[no-untyped-def]
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(path, scope["method"], str(status)).inc()
            self.latency.labels(path).observe(time.perf_counter() - t0)


class OrdersByState:
    """Prometheus collector: orders by market and state, read from the store at scrape time."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def collect(self):  # type: ignore[no-untyped-def]
        g = GaugeMetricFamily("rbench_orders", "Recharge orders by market and state", labels=["market", "state"])
        with self.core.store.transaction() as tx:
            for r in tx.all("SELECT market, state, COUNT(*) AS n FROM orders GROUP BY market, state"):
                g.add_metric([r["market"], r["state"]], int(r["n"]))
        yield g
