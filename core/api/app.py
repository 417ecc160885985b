"""Routes of the core's HTTP API. Handlers are thin: parse, call the service, shape the answer."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Awaitable, Callable

from fastapi import Depends, FastAPI, Header, Query, Request
from pydantic import BaseModel, ValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from core.adapters import callback_signature as signing
from core.api import lean, limits, openapi, problems, shedding
from core.api.middleware import BodyLimit, Measure, OrdersByState
from core.api.auth import Unauthorised, channel_of, keys_from_env, scopes_from_env
from core.api.schemas import (AccessCodeIn, BillPaymentIn, CallbackIn, CardIn, CardIssueIn, EmailIn, FloatIn,
                              MandateIn, MeterIn, OtpIn, PlanIn, RechargeIn, SubscriberIn, TopupIn, UssdIn, VendIn)
from core.billers import load_billers
from core.cards import parse_card
from core.errors import Conflict, InvalidInput, NotFound, RechargeError, TooManyAttempts
from core.idempotency import check_key, derived_id
from core.market import market as market_of, market_for_msisdn
from core.money import Money
from core.orders import State
from core.topups import TopupRequest
from core.wiring import Core

WEB = ("web", "app", "admin")
DIRECT = ("kiosk", "wallet", "bank")      # channels that pay from their own clearing account


def _coded(e: RechargeError, code: str) -> RechargeError:
    """``e`` answering with a more precise problem code than its class's."""
    e.code = code
    return e


def create_app(core: Core, api_keys: dict[str, str] | None = None, *, secret: str | None = None,
               key_scopes: dict[str, frozenset[str]] | None = None,
               callback_secrets: dict[str, tuple[str, ...]] | None = None,
               rate_limits: limits.Limits | limits.Limiter | None = None,
               shed_limits: shedding.ShedLimits | None = None, lean_routes: bool = True) -> FastAPI:
    """``lean_routes``: answer a recharge's hot routes on the lean lane (core/api/lean.py);
    off, FastAPI answers every request (the same answers, more CPU)."""
    keys = api_keys or keys_from_env()
    scopes = scopes_from_env() if key_scopes is None else key_scopes
    callback_keys = signing.secrets_from_env() if callback_secrets is None else callback_secrets
    replays = signing.ReplayGuard(core.store)
    hash_key = (secret or os.environ.get("RBENCH_SECRET") or "rbench-dev-secret").encode()
    app = FastAPI(title="rechargebench core", version="1.0.0",
                  description="Reference recharge and settlement core (system under test): web top-up "
                              "with card + OTP, USSD *1#, receipts, ledger.")
    problems.install(app)
    lane = lean.Lane(app)
    if lean_routes:
        app.add_middleware(lean.LeanRoutes, lane=lane)   # innermost: the limits, shedding and metrics apply
    limiter = limits.install(app, rate_limits)      # 429 + Retry-After per API key and MSISDN
    app.add_middleware(BodyLimit)
    app.add_middleware(shedding.Shedder, limits=shed_limits)   # 503 + Retry-After when over capacity
    registry = CollectorRegistry()
    requests = Counter("rbench_http_requests", "HTTP requests", ["route", "method", "status"], registry=registry)
    latency = Histogram("rbench_http_request_seconds", "HTTP request latency", ["route"], registry=registry)
    registry.register(OrdersByState(core))

    app.add_middleware(Measure, requests=requests, latency=latency)

    def need(*allowed: str):  # type: ignore[no-untyped-def]
        """The caller's channel, checked before the body is even parsed (401/403 first). Async:
        a sync dependency would cost every request one more trip through the thread pool."""
        async def dependency(request: Request) -> str:
            return channel_of(request, keys, allowed, scopes)
        return Depends(dependency)

    def once(request: Request | str, channel: str, key: str | None, payload: dict,
             fn: Callable[[], tuple[int, dict]]) -> JSONResponse:
        """Run ``fn`` once per idempotency key; ``request``: the request, or its URL path."""
        if key is None:
            raise InvalidInput("Idempotency-Key: header missing; expected a unique key per request "
                               "(e.g. a UUID), reused only to retry the same request", field="Idempotency-Key")
        digest = hmac.new(hash_key, json.dumps(payload, sort_keys=True).encode(), hashlib.sha256).hexdigest()
        path = request if isinstance(request, str) else request.url.path
        out = core.idempotency.run(f"{channel}:{path}", check_key(key), digest, fn, problems.from_error)
        media = problems.PROBLEM if out.status >= 400 else "application/json"
        return JSONResponse(out.body, status_code=out.status, media_type=media,
                            headers={"Idempotent-Replayed": "true"} if out.replayed else None)

    def _direct(channel: str, method_account: str | None) -> str:
        """The payment method a channel implies: a direct channel pays from the account it names."""
        method = channel if channel in DIRECT else "card"
        if method != "card" and not method_account:
            raise InvalidInput(f"method_account: the {channel} channel must say which account pays "
                               "(agent, wallet provider or bank)", field="method_account")
        return method

    def order_answer(order) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
        if order.state is State.REFUSED:
            mkt = market_of(order.market)
            return 422, problems.problem_body(
                422, "balance_cap", f"recipient: the balance would exceed the cap of {mkt.balance_cap}",
                "recipient", order=order.public())
        return 201 if order.state is not State.FAILED else 402, order.public()

    # -- health and metrics ----------------------------------------------------------------
    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict:
        with core.store.transaction() as tx:
            tx.one("SELECT 1 AS ok")
        return {"status": "ok", "store": core.store.dialect}

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # -- subscribers -----------------------------------------------------------------------
    @app.post("/v1/subscribers", status_code=201, tags=["subscribers"])
    def provision(body: SubscriberIn, request: Request,
                  idempotency_key: str | None = Header(default=None), channel: str = need("admin")) -> JSONResponse:

        def run() -> tuple[int, dict]:
            mkt = market_of(body.market)
            opening = mkt.money(body.opening_balance, field="opening_balance") if body.opening_balance else None
            sub = core.subscribers.provision(body.market, body.msisdn, kind=body.kind, language=body.language,
                                             email=body.email, opening_balance=opening)
            return 201, sub.__dict__ | {"national": "0" + sub.msisdn[len(mkt.numbering.country_code):]}
        return once(request, channel, idempotency_key, body.model_dump(), run)

    @app.get("/v1/subscribers/{msisdn}", tags=["subscribers"])
    def subscriber(msisdn: str, market: str | None = None,
                   channel: str = need("web", "app", "admin", "ussd")) -> dict:
        e164 = _e164(msisdn, market)
        b = core.subscribers.balances(e164)
        sub = core.subscribers.get(e164)
        return sub.__dict__ | {
            "main": {"value": b.main.major_str(), "currency": b.main.currency, "minor": b.main.minor},
            "bonus": {"value": b.bonus.major_str(), "currency": b.bonus.currency, "minor": b.bonus.minor},
            "bonus_buckets": [{"order": x.order_id, "remaining": x.remaining.minor, "expires_ms": x.expires_ms}
                              for x in b.buckets],
            "saved_recipients": core.subscribers.saved_recipients(e164)}

    def _e164(text: str, market: str | None) -> str:
        mkt = market_of(market) if market is not None else market_for_msisdn(text)
        return core.subscribers.parse(text, mkt).e164

    # -- top-ups ---------------------------------------------------------------------------
    @app.post("/v1/topups", status_code=201, tags=["topups"],
              responses={422: {"description": "invalid input, or refused (balance cap)"}})
    def create_topup(body: TopupIn, request: Request, idempotency_key: str | None = Header(default=None),
                     channel: str = need(*WEB, *DIRECT)) -> JSONResponse:
        return topup(body, channel, idempotency_key, request.url.path)

    def topup(body: TopupIn, channel: str, idempotency_key: str | None, path: str) -> JSONResponse:
        method = _direct(channel, body.method_account)
        req = TopupRequest(market=body.market, recipient=body.recipient, payer=body.payer, amount=body.amount,
                           currency=body.currency, product=body.product,
                           channel=channel if method != "card" else body.channel,
                           save_recipient=body.save_recipient, email=body.email, language=body.language,
                           method=method, method_account=body.method_account if method != "card" else None)
        v = core.topups.validate(req)     # bad input: a clear 422, nothing written, no key consumed
        limiter.msisdns("topups", v["payer"], v["recipient"])
        order_id = derived_id("ord_", channel, idempotency_key or "")
        return once(path, channel, idempotency_key, body.model_dump(),
                    lambda: order_answer(core.topups.create(req, order_id=order_id)))

    @app.get("/v1/topups/{order_id}", tags=["topups"])
    def get_topup(order_id: str, channel: str = need(*WEB)) -> dict:
        return core.payments.get(order_id).public()

    @app.post("/v1/topups/{order_id}/card", tags=["topups"])
    def card(order_id: str, body: CardIn, request: Request,
             idempotency_key: str | None = Header(default=None), channel: str = need(*WEB)) -> JSONResponse:
        return submit_card(body, channel, idempotency_key, request.url.path, order_id)

    def submit_card(body: CardIn, channel: str, idempotency_key: str | None, path: str, order_id: str) -> JSONResponse:
        c = parse_card(pan=body.pan, expiry=body.expiry, holder=body.holder, cvc2=body.cvc2,
                       pin2=body.pin2, now=core.clock.now())
        return once(path, channel, idempotency_key, body.model_dump(),
                    lambda: (200, core.payments.submit_card(order_id, c).public()))

    @app.post("/v1/topups/{order_id}/otp", tags=["topups"])
    def otp(order_id: str, body: OtpIn, request: Request,
            idempotency_key: str | None = Header(default=None), channel: str = need(*WEB)) -> JSONResponse:
        return confirm_otp(body, channel, idempotency_key, request.url.path, order_id)

    def confirm_otp(body: OtpIn, channel: str, idempotency_key: str | None, path: str, order_id: str) -> JSONResponse:
        return once(path, channel, idempotency_key, body.model_dump(),
                    lambda: (200, core.payments.confirm_otp(order_id, body.otp).public()))

    @app.post("/v1/topups/{order_id}/otp/resend", tags=["topups"])
    def resend(order_id: str, request: Request, idempotency_key: str | None = Header(default=None),
               channel: str = need(*WEB)) -> JSONResponse:
        return once(request, channel, idempotency_key, {"order": order_id},
                    lambda: (200, core.payments.resend_otp(order_id).public()))

    @app.post("/v1/topups/{order_id}/reconcile", tags=["topups"])
    def reconcile(order_id: str, channel: str = need(*WEB)) -> dict:
        return core.payments.reconcile(order_id).public()

    @app.get("/v1/topups/{order_id}/receipt", tags=["receipts"], response_class=PlainTextResponse)
    def receipt(order_id: str, channel: str = need(*WEB)) -> Response:
        return PlainTextResponse(core.receipts.text(order_id), headers={
            "Content-Disposition": f'attachment; filename="receipt-{order_id}.txt"'})

    @app.post("/v1/topups/{order_id}/receipt/email", tags=["receipts"])
    def email_receipt(order_id: str, body: EmailIn, request: Request,
                      idempotency_key: str | None = Header(default=None), channel: str = need(*WEB)) -> JSONResponse:
        return once(request, channel, idempotency_key, body.model_dump() | {"order": order_id},
                    lambda: (202, {"order": order_id, "sent_to": core.receipts.send(order_id, body.email)}))

    # -- meters and vending ----------------------------------------------------------------
    @app.post("/v1/meters", status_code=201, tags=["meters"])
    def register_meter(body: MeterIn, request: Request, idempotency_key: str | None = Header(default=None),
                       channel: str = need("admin")) -> JSONResponse:
        def run() -> tuple[int, dict]:
            m = core.meters.register(body.market, body.number, kind=body.kind, tariff=body.tariff,
                                     customer=body.customer, supply_group=body.supply_group,
                                     tariff_index=body.tariff_index, key_revision=body.key_revision,
                                     key_ref=body.key_ref)
            return 201, {"number": m.number, "market": m.market, "kind": m.kind, "tariff": m.tariff,
                         "card_serial": m.card_serial}
        return once(request, channel, idempotency_key, body.model_dump(), run)

    @app.post("/v1/meters/{number}/cards", tags=["meters"])
    def meter_card(number: str, body: CardIssueIn, request: Request,
                   idempotency_key: str | None = Header(default=None),
                   channel: str = need("admin", *DIRECT)) -> JSONResponse:
        """A first card (admin, at the branch), or a replacement for the tariff's fee."""
        if body.reason is None:
            if channel != "admin":
                raise InvalidInput("reason: a first card is issued at the branch (admin); "
                                   "give lost or damaged to replace a card", field="reason")
            return once(request, channel, idempotency_key, body.model_dump() | {"meter": number}, lambda: (
                201, {"meter": core.meters.issue_card(number, body.serial).number, "serial": body.serial.upper()}))
        method = channel if channel in DIRECT else "kiosk"
        order_id = derived_id("ord_", channel, idempotency_key or "")
        return once(request, channel, idempotency_key, body.model_dump() | {"meter": number}, lambda: (
            201, core.vending.replace_card(number, body.serial, body.reason, method=method,
                                           method_account=body.method_account or channel,
                                           channel=channel, order_id=order_id).public()))

    @app.post("/v1/vends", status_code=201, tags=["meters"])
    def vend(body: VendIn, request: Request, idempotency_key: str | None = Header(default=None),
             channel: str = need(*WEB, *DIRECT)) -> JSONResponse:
        method = _direct(channel, body.method_account)
        order_id = derived_id("ord_", channel, idempotency_key or "")

        def run() -> tuple[int, dict]:
            order = core.vending.vend(body.meter, body.amount, method=method, method_account=body.method_account,
                                      channel=channel, payer=body.payer, order_id=order_id)
            out = order.public()
            if order.state is State.CREDITED:
                out["vend"] = core.vending.result(order.id)
            return (201 if order.state is not State.FAILED else 402), out
        return once(request, channel, idempotency_key, body.model_dump(), run)

    @app.get("/v1/vends/{order_id}", tags=["meters"])
    def vend_result(order_id: str, channel: str = need(*WEB, *DIRECT)) -> dict:
        return core.vending.result(order_id)

    @app.post("/v1/agents/{agent}/float", tags=["ops"])
    def deposit_float(agent: str, body: FloatIn, request: Request,
                      idempotency_key: str | None = Header(default=None), channel: str = need("admin")) -> JSONResponse:
        amount = Money.parse(body.amount, body.currency)
        key = idempotency_key or ""
        return once(request, channel, idempotency_key, body.model_dump() | {"agent": agent}, lambda: (
            200, {"agent": agent, "float_minor": core.payments.deposit_float(agent, amount, f"{agent}:{key}")}))

    # -- bills, instalment plans, postal mandates (F2, F3) ----------------------------------
    @app.get("/v1/billers", tags=["bills"])
    def billers(market: str | None = None, channel: str = need(*WEB, *DIRECT)) -> list[dict]:
        code = market_of(market).code if market is not None else None
        return [{"id": b.id, "market": b.market, "currency": b.currency, "names": b.names, "kind": b.kind,
                 "cycle": b.cycle, "part_payments": b.part_payments, "min_payment": b.min_payment.major_str(),
                 "instalments": b.instalments is not None, "mandates": b.mandates is not None,
                 "products": [{"id": p.id, "names": p.names, "speed_mbps": p.speed_mbps, "months": p.months,
                               "price": p.price.major_str()} for p in b.products.values()]}
                for b in load_billers().billers.values() if code is None or b.market == code]

    @app.get("/v1/bills/{biller}/{account}", tags=["bills"])
    def statement(biller: str, account: str, channel: str = need(*WEB, *DIRECT)) -> dict:
        return core.bills.lookup(biller, account).public()

    @app.post("/v1/bills/{biller}/{account}/payments", status_code=201, tags=["bills"])
    def pay_bill(biller: str, account: str, body: BillPaymentIn, request: Request,
                 idempotency_key: str | None = Header(default=None),
                 channel: str = need(*WEB, *DIRECT)) -> JSONResponse:
        method = _direct(channel, body.method_account)
        order_id = derived_id("ord_", channel, idempotency_key or "")
        return once(request, channel, idempotency_key, body.model_dump() | {"biller": biller, "account": account},
                    lambda: order_answer(core.bills.pay(
                        biller, account, body.amount, method=method, method_account=body.method_account,
                        payer=body.payer, order_id=order_id, channel="web" if channel == "admin" else channel,
                        currency=body.currency, language=body.language)))

    @app.post("/v1/bills/{biller}/{account}/recharges", status_code=201, tags=["bills"])
    def recharge(biller: str, account: str, body: RechargeIn, request: Request,
                 idempotency_key: str | None = Header(default=None),
                 channel: str = need(*WEB, *DIRECT)) -> JSONResponse:
        method = _direct(channel, body.method_account)
        order_id = derived_id("ord_", channel, idempotency_key or "")
        return once(request, channel, idempotency_key, body.model_dump() | {"biller": biller, "account": account},
                    lambda: order_answer(core.bills.recharge(
                        biller, account, body.product, method=method, method_account=body.method_account,
                        payer=body.payer, order_id=order_id, channel="web" if channel == "admin" else channel,
                        language=body.language)))

    @app.post("/v1/bills/{biller}/{account}/plan-proposals", tags=["bills"])
    def propose_plan(biller: str, account: str, body: PlanIn, channel: str = need(*WEB)) -> dict:
        return core.instalments.propose(biller, account, body.monthly, currency=body.currency).public()

    @app.post("/v1/bills/{biller}/{account}/plans", status_code=201, tags=["bills"])
    def accept_plan(biller: str, account: str, body: PlanIn, request: Request,
                    idempotency_key: str | None = Header(default=None), channel: str = need(*WEB)) -> JSONResponse:
        def run() -> tuple[int, dict]:
            p = core.instalments.propose(biller, account, body.monthly, currency=body.currency)
            if body.debt is not None and Money.parse(body.debt, p.debt.currency, field="debt") != p.debt:
                raise Conflict(f"debt: {account} owes {p.debt} now, not {body.debt}: propose again", field="debt")
            return 201, core.instalments.accept(p, customer=body.customer, language=body.language).public()
        return once(request, channel, idempotency_key, body.model_dump() | {"biller": biller, "account": account},
                    run)

    @app.get("/v1/plans/{plan_id}", tags=["bills"])
    def plan(plan_id: str, channel: str = need(*WEB)) -> dict:
        return core.instalments.get(plan_id).public()

    @app.post("/v1/mandates", status_code=201, tags=["mandates"])
    def request_mandate(body: MandateIn, request: Request, idempotency_key: str | None = Header(default=None),
                        channel: str = need("admin")) -> JSONResponse:
        """The form signed at the post office, entered by the operator."""
        return once(request, channel, idempotency_key, body.model_dump(), lambda: (201, core.mandates.request(
            body.market, body.biller, body.account, body.ccp, body.customer, product=body.product,
            language=body.language).public()))

    @app.get("/v1/mandates/{mandate_id}", tags=["mandates"])
    def mandate(mandate_id: str, channel: str = need(*WEB)) -> dict:
        return core.mandates.get(mandate_id).public()

    @app.post("/v1/mandates/{mandate_id}/activate", tags=["mandates"])
    def activate_mandate(mandate_id: str, body: AccessCodeIn, channel: str = need(*WEB)) -> dict:
        return core.mandates.activate(mandate_id, body.access_code).public()

    @app.post("/v1/mandates/{mandate_id}/revoke", tags=["mandates"])
    def revoke_mandate(mandate_id: str, channel: str = need(*WEB)) -> dict:
        return core.mandates.revoke(mandate_id).public()

    @app.post("/v1/admin/mandate-runs", tags=["ops"])
    def mandate_run(channel: str = need("admin")) -> dict:
        run = core.mandates.debit_due()
        return {"summary": run.summary(), "lines": [
            {"mandate": x.mandate_id, "key": x.key, "kind": x.kind, "item": x.item, "amount": x.amount.major_str(),
             "currency": x.amount.currency, "outcome": x.outcome, "detail": x.detail, "order": x.order_id}
            for x in run.lines]}

    @app.post("/v1/admin/plans/check-missed", tags=["ops"])
    def check_missed(channel: str = need("admin")) -> list[dict]:
        return [e.__dict__ | {"missed": list(e.missed)} for e in core.instalments.check_missed()]

    # -- network side ----------------------------------------------------------------------
    @app.post("/v1/gateways/{gateway}/callback", tags=["gateways"], responses={
        401: {"description": "unsigned, badly signed or stale callback"},
        409: {"description": "replayed callback (this signature was seen already)"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": CallbackIn.model_json_schema()}}}})
    async def callback(gateway: str, request: Request,
                       x_rbench_timestamp: str | None = Header(default=None),
                       x_rbench_signature: str | None = Header(default=None)) -> dict:
        """A gateway's notification, signed (see core/adapters/callback_signature.py); it only
        makes the core ask the gateway for the payment's status."""
        return await notified(gateway, request.body, x_rbench_timestamp, x_rbench_signature)

    async def notified(gateway: str, read_body: Callable[[], Awaitable[bytes]], x_rbench_timestamp: str | None,
                       x_rbench_signature: str | None) -> dict:
        if gateway not in core.gateways:
            raise NotFound(f"gateway: {gateway!r} is not configured; expected one of "
                           f"{', '.join(sorted(core.gateways))}", field="gateway")
        raw = await read_body()
        try:
            sig = signing.verify(signing.secrets_for(callback_keys, gateway), x_rbench_timestamp,
                                 x_rbench_signature, raw, now=core.clock.now())
        except signing.BadCallback as e:
            raise _coded(Unauthorised(e.message, field="signature"), e.code) from None
        try:
            body = CallbackIn.model_validate_json(raw)
        except ValidationError as e:
            raise InvalidInput(f"body: expected a JSON object with gateway_ref ({e.errors()[0]['msg']})",
                               field="gateway_ref") from None
        def act() -> bool:                  # one trip through the thread pool, not two
            if not replays.first_time(gateway, sig, core.clock.now()):
                return False
            core.payments.on_gateway_notify(gateway, body.gateway_ref)
            return True
        if not await run_in_threadpool(act):
            raise _coded(Conflict("callback: this signature was accepted already; a replayed callback "
                                  "changes nothing", field="signature"), "replayed_callback")
        return {"received": True}

    @app.post("/v1/ussd", tags=["ussd"])
    def ussd(body: UssdIn, channel: str = need("ussd")) -> dict:
        limiter.msisdns("ussd", _e164(body.msisdn, body.market))
        reply = core.ussd.handle(body.session_id, body.msisdn, body.service_code, body.text, body.market)
        return {"text": reply.text, "action": "end" if reply.end else "continue"}

    # -- operations ------------------------------------------------------------------------
    @app.post("/v1/admin/sweep", tags=["ops"])
    def sweep(older_than_s: float = Query(60.0, ge=0, le=31_536_000, description="seconds; at most a year"),
              channel: str = need("admin")) -> dict:
        return {"reconciled": core.payments.reconcile_pending(older_than_s),
                "bonuses_expired": core.topups.expire_bonuses(),
                "ussd_sessions_closed": core.ussd.expire_sessions()}

    @app.get("/v1/admin/conservation", tags=["ops"])
    def conservation(channel: str = need("admin")) -> JSONResponse:
        r = core.conservation()
        return JSONResponse({"ok": r.ok, "summary": r.summary(), "errors": r.errors, "captured": r.captured,
                             "credited": r.credited, "refunded": r.refunded, "held": r.held},
                            status_code=200 if r.ok else 500)

    # -- the lean lane: the same handlers, without FastAPI's per-request work (core/api/lean.py) --
    def refused(e: RechargeError) -> JSONResponse:
        """What the exception handlers answer (problems.install, limits.install)."""
        return limits.answer(e) if isinstance(e, TooManyAttempts) else problems.answer(e)

    def lean_body(model: type[BaseModel], allowed: tuple[str, ...], work: Callable[..., JSONResponse]) -> lean.Handler:
        """A JSON body route: on anything but a JSON body of ``model`` from an allowed key, None
        (the FastAPI route answers, with its exact refusal)."""
        async def handler(call: lean.Call) -> Response | None:
            if not call.json_content() or call.header("content-length") is None:
                return None                                # chunked: FastAPI reads it (and its limits)
            try:
                raw = await call.read()
            except ClientDisconnect:                       # what FastAPI answers (to nobody)
                return problems.problem(400, "http_error", "There was an error parsing the body")
            try:
                data = json.loads(raw)
                channel = channel_of(call.request, keys, allowed, scopes)
                body = model.model_validate(data)
            except (ValueError, RechargeError):            # JSON, key, validation: FastAPI's answer
                return None
            try:
                return await run_in_threadpool(work, body, channel, call.header("idempotency-key"),
                                               call.request.url.path, *call.params.values())
            except RechargeError as e:
                return refused(e)
        return handler

    async def lean_callback(call: lean.Call) -> Response:
        try:
            return JSONResponse(await notified(call.params["gateway"], call.read, call.header("x-rbench-timestamp"),
                                               call.header("x-rbench-signature")))
        except RechargeError as e:
            return refused(e)

    lane.post("/v1/topups", lean_body(TopupIn, (*WEB, *DIRECT), topup))
    lane.post("/v1/topups/{order_id}/card", lean_body(CardIn, WEB, submit_card))
    lane.post("/v1/topups/{order_id}/otp", lean_body(OtpIn, WEB, confirm_otp))
    lane.post("/v1/gateways/{gateway}/callback", lean_callback)
    openapi.install(app)        # the document lists the problem answers and required headers
    return app
