"""The core's app for a network-side test bench, with the emulator-only routes that stand in for
the parties a load test cannot reach over the core's ``/v1`` API: the biller's feed of bills
and the post office counter (CCP accounts, the mandate form's access code).

    POST /emulator/bills            {"biller", "account", "period", "amount", "due"}   a bill issued
    POST /emulator/postal/accounts  {"ccp", "holder", "balance", "currency"}           a CCP account opened
    GET  /emulator/mandates/{id}/code                                                the code on the form

Admin key only, like the other emulator routes; real deployments have none of them, so they
live here (``hil``) and are mounted only by ``rbench serve --with-emulators`` and ``rbench load``.
"""
from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from core.api import emulators
from core.api.app import create_app
from core.api.auth import channel_of, keys_from_env
from core.api.shedding import ShedLimits
from core.errors import Conflict, InvalidInput, NotFound
from core.mandates import parse_ccp
from core.money import Money
from core.wiring import Core


def networked_app(core: Core, keys: dict[str, str] | None = None, *, shed: dict | None = None) -> FastAPI:
    """``hil.server.app_for`` plus the fixture routes and the load-shedding limits given."""
    keys = keys or keys_from_env()
    app = create_app(core, keys, shed_limits=ShedLimits(**shed) if shed else None)
    emulators.install(app, core, keys)
    install(app, core, keys)
    return app


def _body(data: object, *names: str) -> dict:
    if not isinstance(data, dict):
        raise InvalidInput(f"body: expected a JSON object with {', '.join(names)}", field="body")
    missing = [n for n in names if data.get(n) in (None, "")]
    if missing:
        raise InvalidInput(f"{missing[0]}: missing; expected {', '.join(names)}", field=missing[0])
    return data


def install(app: FastAPI, core: Core, keys: dict[str, str]) -> None:
    def admin(request: Request) -> None:
        channel_of(request, keys, ("admin",))

    async def json_of(request: Request) -> object:
        try:
            return await request.json()
        except ValueError:
            raise InvalidInput("body: expected JSON", field="body") from None

    @app.post("/emulator/bills", status_code=201, tags=["emulator"])
    async def issue_bill(request: Request) -> JSONResponse:
        """The biller's feed: one bill of a period (the same call again returns the same bill)."""
        admin(request)
        b = _body(await json_of(request), "biller", "account", "period", "amount", "due")
        bill = await run_in_threadpool(core.bills.issue, str(b["biller"]), str(b["account"]), str(b["period"]),
                                       b["amount"], b["due"], currency=b.get("currency"))
        return JSONResponse({"id": bill.id, "biller": bill.biller, "account": bill.account,
                             "amount": bill.amount.minor, "currency": bill.amount.currency}, status_code=201)

    @app.post("/emulator/postal/accounts", status_code=201, tags=["emulator"])
    async def open_ccp(request: Request) -> JSONResponse:
        """The post office: a CCP account with a balance, for mandates to debit."""
        admin(request)
        b = _body(await json_of(request), "ccp", "holder", "balance", "currency")
        ccp = parse_ccp(b["ccp"])
        balance = Money.parse(b["balance"], str(b["currency"]), field="balance")
        if core.postal.has_account(ccp):
            raise Conflict(f"ccp: {ccp} is already open", field="ccp")
        core.postal.open_account(ccp, str(b["holder"]), balance)
        return JSONResponse({"ccp": ccp, "balance": balance.minor, "currency": balance.currency}, status_code=201)

    @app.get("/emulator/mandates/{mandate_id}/code", tags=["emulator"])
    def mandate_code(mandate_id: str, request: Request) -> dict:
        """What the clerk handed the customer on paper after the form was signed."""
        admin(request)
        try:
            return {"mandate": mandate_id, "access_code": core.postal.handed_out(mandate_id)}
        except KeyError:
            raise NotFound(f"mandate_id: no mandate form {mandate_id!r} was signed at this post",
                           field="mandate_id") from None
