"""Load shedding (core/api/shedding.py): over capacity the core answers 503 + Retry-After at
once, never crashes or queues without bound, keeps /healthz answering, and takes traffic again
as soon as the burst is over. Real uvicorn on an ephemeral port."""
from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.api.app import create_app
from core.api.shedding import ShedLimits, Shedder
from core.wiring import build_core
from hil.server import serve_app_in_thread


def served(app: object):  # type: ignore[no-untyped-def]
    return serve_app_in_thread(app)


def gated_app(limits: ShedLimits, gate: threading.Event) -> Starlette:
    """``/slow`` answers once the test opens ``gate``: requests pile up exactly as the test says."""
    async def slow(request):  # type: ignore[no-untyped-def]
        while not gate.is_set():
            await asyncio.sleep(0.01)
        return JSONResponse({"ok": True})

    async def healthz(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"status": "ok"})
    app = Starlette(routes=[Route("/slow", slow), Route("/healthz", healthz)])
    app.add_middleware(Shedder, limits=limits)
    return app


def wait_done(futures: list, n: int, timeout_s: float = 10) -> list[httpx.Response]:
    deadline = time.monotonic() + timeout_s
    while sum(f.done() for f in futures) < n:
        assert time.monotonic() < deadline, f"only {sum(f.done() for f in futures)} of {n} answers came"
        time.sleep(0.01)
    return [f.result() for f in futures if f.done()]


def test_a_burst_is_shed_at_once_and_the_core_recovers() -> None:
    gate = threading.Event()
    with served(gated_app(ShedLimits(max_inflight=2, max_queue=2, max_wait_s=30), gate)) as base, \
            httpx.Client(timeout=30, limits=httpx.Limits(max_connections=20)) as client, ThreadPoolExecutor(12) as pool:
        futures = [pool.submit(client.get, f"{base}/slow") for _ in range(10)]
        shed = wait_done(futures, 6)                   # 2 handled + 2 queued; the other 6 at once
        assert [r.status_code for r in shed] == [503] * 6
        assert client.get(f"{base}/healthz").status_code == 200      # probes are never shed
        for r in shed:
            assert r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["Retry-After"]) >= 1
            body = r.json()
            assert body["code"] == "overloaded" and "the queue is full" in body["detail"]
            assert body["retry_after_s"] == int(r.headers["Retry-After"])
        gate.set()
        assert sorted(r.status_code for r in wait_done(futures, 10)) == [200] * 4 + [503] * 6
        assert [client.get(f"{base}/slow").status_code for _ in range(3)] == [200] * 3     # recovered


def test_waiting_too_long_is_shed() -> None:
    gate = threading.Event()
    with served(gated_app(ShedLimits(max_inflight=1, max_queue=10, max_wait_s=0.2), gate)) as base, \
            httpx.Client(timeout=30) as client, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client.get, f"{base}/slow") for _ in range(3)]
        shed = wait_done(futures, 2)
        assert [r.status_code for r in shed] == [503, 503]
        assert "no slot within 0.2 s" in shed[0].json()["detail"]
        gate.set()
        assert sorted(r.status_code for r in wait_done(futures, 3)) == [200, 503, 503]


def test_no_shedding_when_turned_off() -> None:
    gate = threading.Event()
    with served(gated_app(ShedLimits(max_inflight=0), gate)) as base, \
            httpx.Client(timeout=30, limits=httpx.Limits(max_connections=20)) as client, ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client.get, f"{base}/slow") for _ in range(8)]
        time.sleep(0.5)
        assert not any(f.done() for f in futures)        # all of them wait: nothing is shed
        gate.set()
        assert [r.status_code for r in wait_done(futures, 8)] == [200] * 8


def test_slots_come_back_when_a_waiting_client_goes_away() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            await gate.wait()
        shedder = Shedder(app, ShedLimits(max_inflight=1, max_queue=5, max_wait_s=5))
        scope = {"type": "http", "path": "/x"}
        first = asyncio.create_task(shedder(scope, None, None))
        await asyncio.sleep(0)
        waiting = [asyncio.create_task(shedder(scope, None, None)) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert shedder.inflight == 1 and len(shedder.waiting) == 3
        waiting[0].cancel()                                # that client hung up while queued
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(first, *waiting[1:])
        assert shedder.inflight == 0 and shedder.shed == 0
        assert not [w for w in shedder.waiting if not w.done()]
    asyncio.run(scenario())


def test_limits_from_the_environment() -> None:
    assert ShedLimits.from_env({}) == ShedLimits()
    assert ShedLimits.from_env({"RBENCH_MAX_INFLIGHT": "8", "RBENCH_MAX_QUEUE": "16", "RBENCH_MAX_WAIT_S": "0.5"}) == \
        ShedLimits(8, 16, 0.5)
    with pytest.raises(ValueError, match="RBENCH_MAX_INFLIGHT='lots': expected a whole number"):
        ShedLimits.from_env({"RBENCH_MAX_INFLIGHT": "lots"})
    with pytest.raises(ValueError, match="expected max_inflight >= 0"):
        ShedLimits(-1)


def test_the_core_sheds_through_its_own_app(tmp_path) -> None:
    core = build_core(f"sqlite:///{tmp_path / 'rb.db'}")
    app = create_app(core, {"k-admin": "admin"}, shed_limits=ShedLimits(max_inflight=1, max_queue=0, max_wait_s=0))

    gate = threading.Event()

    async def hold():  # type: ignore[no-untyped-def]
        while not gate.is_set():
            await asyncio.sleep(0.01)
        return {"held": True}
    app.add_api_route("/test/hold", hold)
    with served(app) as base, httpx.Client(timeout=30) as client, ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client.get, f"{base}/test/hold") for _ in range(4)]
        shed = wait_done(futures, 3)
        assert [r.status_code for r in shed] == [503] * 3 and all("Retry-After" in r.headers for r in shed)
        assert client.get(f"{base}/healthz").status_code == 200
        gate.set()
        assert sorted(r.status_code for r in wait_done(futures, 4)) == [200, 503, 503, 503]
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'status="503"' in metrics                   # shed answers are counted like any other
        assert httpx.get(f"{base}/test/hold", timeout=5).status_code == 200
    core.close()
