"""One emulated gateway served over HTTP, speaking what :mod:`core.adapters.gateway_http` speaks.

SATIM style: ``/payment/rest/{register,getOrderStatusExtended,refund}.do`` (form or query
parameters, ``errorCode`` "0" on success). Shaparak style: ``/shaparak/{token,inquiry,verify,
settle,reverse}`` (JSON, ``resultCode`` 0). ``/emulator/*`` stands in for the gateway's hosted
page (card entry, OTP, resend) and shows counters. An outage answers HTTP 503 and an emulated
timeout HTTP 504 (the call was processed). Callbacks to ``--notify-url`` are signed with
``--callback-secret`` (:mod:`core.adapters.callback_signature`). Run one as its own process:

    python -m core.adapters.gateway_server --style satim --market DZ --port 8081 --seed 7
"""
from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any, Awaitable, Callable, Protocol
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.concurrency import run_in_threadpool

from core.adapters.callback_signature import DEV_SECRET, http_notifier
from core.money import CURRENCIES, Money
from core.ports import (Card, CardGateway, GatewayError, GatewayTimeout, Payment,
                        PaymentStatus as S)

_SATIM_CODE = {S.REGISTERED: 0, S.AUTHORISED: 1, S.PAID: 2, S.SETTLED: 2, S.CANCELLED: 3,
               S.REFUNDED: 4, S.REVERSED: 4, S.OTP_PENDING: 5, S.DECLINED: 6, S.EXPIRED: 6}
_SATIM_ERROR = {"duplicate_order": "1", "invalid_request": "4", "access_denied": "5",
                "unknown_order": "6"}
_BY_NUMERIC = {c.numeric: c.code for c in CURRENCIES.values()}


class ServedGateway(CardGateway, Protocol):
    """An emulated gateway (:mod:`core.adapters.gateways`) as this server uses it."""

    def answer_delay(self) -> float: ...

    def currency_of(self, gateway_ref: str) -> str: ...

    def stats(self) -> dict[str, Any]: ...


def _bad(field: str, expected: str) -> GatewayError:
    return GatewayError(f"{field}: expected {expected}", field=field, code="invalid_request")


def _need(p: dict[str, Any], key: str, expected: str = "a value") -> Any:
    if p.get(key) in (None, ""):
        raise _bad(key, expected)
    return p[key]


def _int(p: dict[str, Any], key: str) -> int:
    value = str(_need(p, key, "an integer"))
    if not value.lstrip("-").isdigit():
        raise _bad(key, f"an integer, got {value!r}")
    return int(value)


def payment_json(p: Payment) -> dict[str, Any]:
    return {"token": p.gateway_ref, "orderId": p.order_ref, "state": p.status.value,
            "amount": p.amount.minor, "currency": p.amount.currency, "maskedPan": p.masked_pan,
            "rrn": p.approval_code, "reason": p.reason, "otpAttemptsLeft": p.otp_attempts_left,
            "otpResendsLeft": p.otp_resends_left}


def satim_status_json(p: Payment) -> dict[str, Any]:
    action = -2007 if p.status is S.EXPIRED else 5 if p.status is S.DECLINED else 0
    body: dict[str, Any] = {
        "errorCode": "0", "errorMessage": "Success", "orderNumber": p.order_ref,
        "orderStatus": _SATIM_CODE[p.status], "actionCode": action,
        "actionCodeDescription": p.reason or "", "amount": p.amount.minor,
        "currency": CURRENCIES[p.amount.currency].numeric,
        "otpAttemptsLeft": p.otp_attempts_left, "otpResendsLeft": p.otp_resends_left}
    if p.masked_pan:
        body["cardAuthInfo"] = {"maskedPan": p.masked_pan, "approvalCode": p.approval_code}
    return body


Endpoint = Callable[[Request], Awaitable[Response]]


class DirectRoutes:
    """ASGI middleware: GET/POST on a fixed path of ``routes`` goes straight to its endpoint,
    without the router's walk and per-route wrappers (about half this service's CPU went there);
    anything else (another method, a path with parameters) to the app. An endpoint answers its
    own errors; an unexpected one still reaches the app's error middleware (a 500)."""

    def __init__(self, app, routes: dict[str, Endpoint]) -> None:  # type: ignore[no-untyped-def]
        self.app, self.routes = app, routes

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["method"] in ("GET", "POST"):
            endpoint = self.routes.get(scope["path"])
            if endpoint is not None:
                response = await endpoint(Request(scope, receive))
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(gateway: ServedGateway, *, username: str = "merchant",
               password: str = "secret") -> FastAPI:
    """An app for ``gateway``; only its own style's merchant routes are served. ``app.state.direct``:
    its fixed paths and their endpoints (an app mounting this one's router can serve them directly)."""
    app = FastAPI(title=f"rbench gateway emulator: {gateway.name} ({gateway.style})")
    direct: dict[str, Endpoint] = {}
    app.state.direct = direct
    app.add_middleware(DirectRoutes, routes=direct)

    async def params(request: Request) -> dict[str, Any]:
        p: dict[str, Any] = dict(request.query_params)
        p.update(request.path_params)
        raw = await request.body()
        if raw and request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise _bad("body", "a JSON object")
            p.update(body)
        elif raw:
            p.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return p

    async def answer(request: Request, fn: Callable[[dict[str, Any]], dict[str, Any]],
                     error: Callable[[GatewayError], dict[str, Any]], texts: bool) -> JSONResponse:
        try:
            p = await params(request)
            delay = gateway.answer_delay()
            if delay > 0:
                await asyncio.sleep(delay)
            # A step that texts (card, resend) waits for the SMSC: on a thread. The others only
            # touch the emulator's memory under its lock: on the loop, without a thread hand-off.
            return JSONResponse(await run_in_threadpool(fn, p) if texts else fn(p))
        except GatewayTimeout as e:
            return JSONResponse({"message": str(e)}, status_code=504)
        except GatewayError as e:
            return JSONResponse(error(e), status_code=503 if e.code == "unavailable" else 200)

    def satim_error(e: GatewayError) -> dict[str, Any]:
        return {"errorCode": _SATIM_ERROR.get(e.code, "7"), "errorMessage": e.message,
                "rbenchCode": e.code, "rbenchField": e.field}

    def json_error(e: GatewayError) -> dict[str, Any]:
        return {"resultCode": -1, "resultMessage": e.message, "errorCode": e.code,
                "errorField": e.field}

    def login(p: dict[str, Any], user_key: str) -> None:
        if (p.get(user_key), p.get("password")) != (username, password):
            raise GatewayError(f"{user_key}/password: access denied", code="access_denied")

    def route(path: str, fn: Callable[[dict[str, Any]], dict[str, Any]],
              error: Callable[[GatewayError], dict[str, Any]], *, texts: bool = False) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            return await answer(request, fn, error, texts)
        # A plain Starlette route: the endpoint reads the request itself, so FastAPI's dependency
        # solving would only add work to every call (these routes are not in an OpenAPI document).
        app.add_route(path, endpoint, methods=["GET", "POST"], name=path, include_in_schema=False)
        if "{" not in path:
            direct[path] = endpoint

    if gateway.style == "satim":
        def register(p: dict[str, Any]) -> dict[str, Any]:
            login(p, "userName")
            code = _BY_NUMERIC.get(str(_need(p, "currency", "an ISO 4217 numeric code")))
            if code is None:
                raise _bad("currency", f"one of {sorted(_BY_NUMERIC)}")
            reg = gateway.register(_need(p, "orderNumber"), Money(_int(p, "amount"), code),
                                   description=p.get("description", ""),
                                   language=str(p.get("language", "ar")).lower())
            return {"errorCode": "0", "orderId": reg.gateway_ref, "formUrl": reg.form_url}

        def status(p: dict[str, Any]) -> dict[str, Any]:
            login(p, "userName")
            return satim_status_json(gateway.status(_need(p, "orderId")))

        def refund(p: dict[str, Any]) -> dict[str, Any]:
            login(p, "userName")
            ref = _need(p, "orderId")
            gateway.refund(ref, Money(_int(p, "amount"), gateway.currency_of(ref)))
            return {"errorCode": "0", "errorMessage": "Success"}

        route("/payment/rest/register.do", register, satim_error)
        route("/payment/rest/getOrderStatusExtended.do", status, satim_error)
        route("/payment/rest/refund.do", refund, satim_error)
    else:
        def token(p: dict[str, Any]) -> dict[str, Any]:
            login(p, "terminalId")
            reg = gateway.register(_need(p, "orderId"), Money(_int(p, "amount"),
                                   str(p.get("currency", "IRR"))),
                                   description=str(p.get("description", "")))
            return {"resultCode": 0, "token": reg.gateway_ref, "formUrl": reg.form_url}

        def step(call: Callable[..., Payment], with_amount: bool = False
                 ) -> Callable[[dict[str, Any]], dict[str, Any]]:
            def run(p: dict[str, Any]) -> dict[str, Any]:
                login(p, "terminalId")
                ref = _need(p, "token")
                args = (Money(_int(p, "amount"), gateway.currency_of(ref)),) \
                    if with_amount else ()
                return {"resultCode": 0, "transaction": payment_json(call(ref, *args))}
            return run

        route("/shaparak/token", token, json_error)
        route("/shaparak/inquiry", step(gateway.status), json_error)
        route("/shaparak/verify", step(gateway.verify), json_error)
        route("/shaparak/settle", step(gateway.settle), json_error)
        route("/shaparak/reverse", step(gateway.refund, True), json_error)

    # -- the hosted page's stand-in (emulator only) ------------------------------------
    def card(p: dict[str, Any]) -> dict[str, Any]:
        c = Card(str(_need(p, "pan")), _int(p, "expiry_month"), _int(p, "expiry_year"),
                 str(p.get("holder", "")), p.get("cvc2"), p.get("pin2"))
        paid = gateway.submit_card(_need(p, "ref"), c)
        return {"resultCode": 0, "transaction": payment_json(paid)}

    route("/emulator/card", card, json_error, texts=True)
    route("/emulator/otp", lambda p: {"resultCode": 0, "transaction": payment_json(
        gateway.confirm_otp(_need(p, "ref"), str(_need(p, "otp"))))}, json_error)
    route("/emulator/resend", lambda p: {"resultCode": 0, "transaction": payment_json(
        gateway.resend_otp(_need(p, "ref")))}, json_error, texts=True)
    route("/emulator/stats", lambda p: {"resultCode": 0, **gateway.stats()}, json_error)
    route("/emulator/last-otp", lambda p: {"resultCode": 0, "otp": getattr(
        gateway, "last_otp", lambda ref: None)(_need(p, "ref"))}, json_error)
    route("/pay/{ref}", lambda p: {"resultCode": 0, "transaction": payment_json(
        gateway.status(p["ref"]))}, json_error)
    return app


def main(argv: list[str] | None = None) -> None:
    import random

    import httpx
    import uvicorn

    from core.adapters.issuer import Issuer
    from core.adapters.satim import SatimGateway
    from core.adapters.shaparak import ShaparakGateway
    from core.clock import SystemClock, ThreadScheduler
    from core.market import market

    ap = argparse.ArgumentParser(description="Serve one emulated card gateway over HTTP.")
    ap.add_argument("--style", choices=["satim", "shaparak"], required=True)
    ap.add_argument("--market", default="DZ")
    ap.add_argument("--name", default=None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--seed", type=int, default=7, help="cards are Issuer.generate(Random(seed))")
    ap.add_argument("--cards", type=int, default=100)
    ap.add_argument("--phone", action="append", default=None, help="E.164 digits, repeatable")
    ap.add_argument("--notify-url", default=None,
                    help="POST signed callbacks {gateway, gateway_ref, event_id} here ({gateway}: the name)")
    ap.add_argument("--callback-secret", default=os.environ.get("RBENCH_CALLBACK_SECRET", DEV_SECRET),
                    help="HMAC secret shared with the core (default $RBENCH_CALLBACK_SECRET or the dev secret)")
    ap.add_argument("--username", default="merchant")
    ap.add_argument("--password", default="secret")
    a = ap.parse_args(argv)
    clock, name = SystemClock(), a.name or a.style
    issuer = Issuer(clock)
    issuer.generate(random.Random(a.seed), a.cards, a.phone or ["213550000001"])
    cls: type[SatimGateway] | type[ShaparakGateway] = \
        SatimGateway if a.style == "satim" else ShaparakGateway
    gw = cls.for_market(market(a.market), name, clock, ThreadScheduler(),
                        random.Random(a.seed + 1), issuer, None,
                        page_url=f"http://{a.host}:{a.port}/pay/{{ref}}")
    if a.notify_url:
        gw.set_notify(http_notifier(a.notify_url, a.callback_secret, clock.now, httpx.post))
    uvicorn.run(create_app(gw, username=a.username, password=a.password), host=a.host,
                port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
