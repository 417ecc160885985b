"""The card gateways as their own HTTP service: every gateway the market profiles name
(SATIM style: satim, eg-3ds; Shaparak style: shaparak, dz-pin, eg-pin), each under its name,
behind one emulated issuing bank, texting OTPs through the SMSC service and calling the core
back over HTTP.

    python -m hil.gateway_service --port 8081 --smsc http://127.0.0.1:8082 \\
        --core http://127.0.0.1:8080 --profile normal --seed 7

    /{name}/payment/rest/register.do ...      SATIM-style merchant API  (core.adapters.gateway_server)
    /{name}/shaparak/token ...                Shaparak-style merchant API
    /{name}/emulator/card|otp|resend|stats    the hosted page's steps as a direct API, counters
    POST /emulator/cards                      issue test cards: {"phone", "count", "balances"}
    GET  /emulator/stats                      counters of every gateway
    GET  /emulator/settlement/{name}?date=D   the gateway's end-of-day settlement file (CSV)
    GET  /healthz

Callbacks (``POST {core}/v1/gateways/{name}/callback``, signed with the gateway's callback secret,
:mod:`core.adapters.callback_signature`) announce outcomes the merchant acts on (authorised, paid,
declined, expired, refunded, reversed), as real gateways notify, not every step (an OTP sent is
not news to the merchant who asked for it). They leave the gateway's own threads at once: a queue feeds a few sender
threads, which retry a 429/503 or a refused connection after its ``Retry-After`` (at most 3 tries), as real gateways
retry.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import queue
import random
import threading
import time
from contextlib import asynccontextmanager
from datetime import date
from typing import Any, AsyncIterator

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from core.adapters.callback_signature import DEV_SECRET, callback_body, signed_headers
from core.adapters.gateway_server import DirectRoutes, create_app as gateway_app
from core.adapters.gateways import EmulatedGateway
from core.adapters.http_client import HttpClient
from core.adapters.issuer import Issuer
from core.adapters.smsc_http import HttpSmsSender
from core.clock import SystemClock, ThreadScheduler
from core.ports import PaymentStatus
from core.settlement import files
from core.settlement.emulated import end_of_day_file
from core.wiring import emulated_gateways
from hil.emulator_profiles import EmulatorProfile, emulator_profile
from hil.smsc_service import msisdn_digits

log = logging.getLogger("rbench.gateway_service")
LOAD_BALANCE_MINOR = 10 ** 12            # test cards for load: never declined for funds
CALLBACK_SENDERS = 8
CALLBACK_TRIES = 3


QUIET = (PaymentStatus.REGISTERED, PaymentStatus.OTP_PENDING)   # steps, not outcomes: no callback


def status_of(gw: EmulatedGateway, gateway_ref: str) -> PaymentStatus | None:
    """The payment's status as the gateway holds it, without a status call (no fault draw, no
    counter): the emulator reading its own records, as core.settlement.emulated does."""
    with gw._lock:
        order = gw._orders.get(gateway_ref)
        return order.status if order is not None else None


class Callbacks:
    """Notifications to the core, sent by a few sender threads so the gateway's threads never wait.

    Threads with a kept-alive :class:`HttpClient`, not asyncio with ``httpx.AsyncClient``: one
    callback cost about 2 ms of CPU that way, a third of this service's CPU per recharge."""

    def __init__(self, core_url: str | None, secret: str, gateways: dict[str, EmulatedGateway]) -> None:
        self.core_url, self.secret, self.gateways = (core_url or "").rstrip("/"), secret, gateways
        self.queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self.sent = self.failed = self.quiet = 0
        self._told: dict[tuple[str, str], PaymentStatus] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._client: HttpClient | None = None

    def notify(self, gateway: str, gateway_ref: str) -> None:
        """Called on a gateway's thread (the scheduler's): hand over and return. One callback per
        outcome: a step, or an outcome already told (two changes delivered late), is skipped."""
        status = status_of(self.gateways[gateway], gateway_ref)
        with self._lock:
            if status in QUIET or self._told.get((gateway, gateway_ref)) == status:
                self.quiet += 1
                return
            self._told[(gateway, gateway_ref)] = status
        if self._threads and self.core_url:
            self.queue.put((gateway, gateway_ref))

    def start(self) -> None:
        self._client = HttpClient(timeout_s=10.0, connect_timeout_s=2.0, max_connections=CALLBACK_SENDERS)
        self._threads = [threading.Thread(target=self._sender, name=f"callback-{i}", daemon=True)
                         for i in range(CALLBACK_SENDERS)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        for _ in self._threads:
            self.queue.put(None)
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        if self._client is not None:
            self._client.close()

    def _sender(self) -> None:
        assert self._client is not None
        while (item := self.queue.get()) is not None:
            self._send(self._client, *item)

    def _send(self, client: HttpClient, gateway: str, ref: str) -> None:
        for attempt in range(CALLBACK_TRIES):
            wait = 0.5 * (attempt + 1)
            body = callback_body(gateway, ref)
            headers = {"Content-Type": "application/json", **signed_headers(self.secret, body, now=time.time())}
            try:
                r = client.post(f"{self.core_url}/v1/gateways/{gateway}/callback", content=body, headers=headers)
                if r.status_code < 400:
                    with self._lock:
                        self.sent += 1
                    return
                if r.status_code not in (429, 503):
                    log.warning("callback %s/%s: HTTP %s %s", gateway, ref, r.status_code, r.text[:120])
                    with self._lock:
                        self.failed += 1
                    return
                wait = min(float(r.headers.get("retry-after", wait) or wait), 5.0)
            except (httpx.HTTPError, ValueError) as e:
                log.info("callback %s/%s: %s", gateway, ref, e)
            if attempt == CALLBACK_TRIES - 1:
                with self._lock:
                    self.failed += 1
            else:
                time.sleep(wait)


def build_gateways(profile: EmulatorProfile, seed: int | str, *, smsc_url: str | None,
                   public_url: str) -> tuple[Issuer, dict[str, EmulatedGateway]]:
    clock, scheduler = SystemClock(), ThreadScheduler()
    issuer = Issuer(clock)
    sms = HttpSmsSender(smsc_url) if smsc_url else None
    gateways = emulated_gateways(clock, scheduler, seed, issuer, sms, profile.gateway,
                                 page_url=f"{public_url.rstrip('/')}/{{name}}/pay/{{ref}}")
    return issuer, gateways  # type: ignore[return-value]


def create_app(profile: EmulatorProfile, seed: int | str = 0, *, smsc_url: str | None = None,
               core_url: str | None = None, public_url: str = "http://127.0.0.1:8081",
               callback_secret: str = DEV_SECRET, username: str = "merchant",
               password: str = "secret") -> FastAPI:
    issuer, gateways = build_gateways(profile, seed, smsc_url=smsc_url, public_url=public_url)
    callbacks = Callbacks(core_url if profile.callbacks else None, callback_secret, gateways)
    for gw in gateways.values():
        gw.set_notify(callbacks.notify)
    cards_rng, cards_lock = random.Random(f"{seed}:test-cards"), threading.Lock()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        callbacks.start()
        yield
        await asyncio.to_thread(callbacks.stop)

    # No OpenTelemetry hooks: an emulator is not what is observed, and FastAPI's check whether
    # a tracer is configured cost about 4% of this service's CPU, once per request.
    app = FastAPI(title="rbench card gateway emulators", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.gateways, app.state.issuer, app.state.callbacks = gateways, issuer, callbacks

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "service": "gateways", "gateways": sorted(gateways)}

    @app.post("/emulator/cards", status_code=201)
    def issue_cards(body: dict[str, Any]) -> JSONResponse:
        """Test cards of the emulated bank, linked to ``phone`` (where their OTPs go)."""
        phone = msisdn_digits(body.get("phone")) if isinstance(body.get("phone"), str) else None
        if phone is None:
            return JSONResponse({"field": "phone", "detail": f"phone: {body.get('phone')!r}; expected the "
                                 "E.164 digits of the cardholder's phone"}, status_code=422)
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 100:
            return JSONResponse({"field": "count", "detail": f"count: {count!r}; expected 1 to 100"},
                                status_code=422)
        balances = body.get("balances") or {c: LOAD_BALANCE_MINOR for c in ("DZD", "IRR", "EGP")}
        if not isinstance(balances, dict) or not all(
                isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                for k, v in balances.items()):
            return JSONResponse({"field": "balances", "detail": "balances: expected {currency: minor units >= 0}"},
                                status_code=422)
        with cards_lock:
            made = issuer.generate(cards_rng, count, [phone], balances=balances)
        return JSONResponse([{"pan": c.pan, "expiry": f"{c.expiry_month:02d}/{c.expiry_year % 100:02d}",
                              "expiry_month": c.expiry_month, "expiry_year": c.expiry_year,
                              "holder": c.holder, "cvc2": c.cvc2, "pin2": c.pin2, "phone": c.phone}
                             for c in made], status_code=201)

    @app.get("/emulator/stats")
    def stats() -> dict:
        return {"gateways": {name: gw.stats() for name, gw in gateways.items()},
                "callbacks": {"sent": callbacks.sent, "failed": callbacks.failed, "not_sent_steps": callbacks.quiet}}

    @app.get("/emulator/settlement/{name}")
    def settlement(name: str, request: Request) -> Response:
        if name not in gateways:
            return JSONResponse({"field": "gateway", "detail": f"gateway: {name!r}; expected one of "
                                 f"{', '.join(sorted(gateways))}"}, status_code=404)
        text = request.query_params.get("date", "")
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return JSONResponse({"field": "date", "detail": f"date: {text!r}; expected YYYY-MM-DD"},
                                status_code=422)
        return Response(files.render(end_of_day_file(gateways[name], day)), media_type="text/csv")

    direct: dict = {}
    for name, gw in gateways.items():         # the router alone: this app's middleware already wraps it
        one = gateway_app(gw, username=username, password=password)
        app.mount(f"/{name}", one.router)  # type: ignore[arg-type]
        direct.update({f"/{name}{path}": endpoint for path, endpoint in one.state.direct.items()})
    app.add_middleware(DirectRoutes, routes=direct)   # the merchant API and page steps, past the router
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(prog="python -m hil.gateway_service",
                                 description="Serve every emulated card gateway over HTTP.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--smsc", default=None, metavar="URL", help="SMSC service for OTP texts")
    ap.add_argument("--core", default=None, metavar="URL", help="the core, for callbacks")
    ap.add_argument("--callback-secret", default=os.environ.get("RBENCH_CALLBACK_SECRET", DEV_SECRET),
                    help="HMAC secret of the callbacks, shared with the core (default $RBENCH_CALLBACK_SECRET "
                         "or the development secret)")
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    ap.add_argument("--profile", default="normal", help="emulator profile name or YAML file (its gateway part)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--username", default="merchant")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--log-level", default="warning")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if a.parent_pid:
        from hil.emulator_services import exit_with_parent
        exit_with_parent(a.parent_pid)
    app = create_app(emulator_profile(a.profile), a.seed, smsc_url=a.smsc, core_url=a.core,
                     public_url=f"http://{a.host}:{a.port}", callback_secret=a.callback_secret,
                     username=a.username, password=a.password)
    uvicorn.run(app, host=a.host, port=a.port, log_level=a.log_level, access_log=False,
                loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
