"""The card gateways (their faults, callbacks and end-of-day files) and the card issuer."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.adapters import callback_signature as signing
from core.ports import GatewayError, GatewayTimeout
from core.settlement import emulated
from core.settlement import files as settlement_files
from scenarios.actors import Result, action, arg, order_id


def _order(world: Any, value: Any) -> Any:
    return world.core.payments.get(order_id(value))


@action("gateway.set")
def set_profile(world: Any, args: dict) -> Result:
    name = world.gateway_name(args.get("gateway"))
    changes = {k: v for k, v in args.items() if k != "gateway"}
    p = world.set_gateway(world.core, name, changes)
    world.transcript.add("gateway", f"{name} now: decline {p.decline_rate}, timeout {p.timeout_rate}, "
                                    f"callback loss {p.callback_loss_rate}")
    return {"gateway": name, "decline_rate": p.decline_rate, "timeout_rate": p.timeout_rate,
            "callback_loss_rate": p.callback_loss_rate}


@action("gateway.callback")
def callback(world: Any, args: dict) -> Result:
    """Signed callbacks as the gateway sends them; ``times`` > 1 sends that many distinct events
    (duplicates of the notification); ``replay: true`` sends the same bytes and signature again."""
    o = _order(world, args["order"])
    secret = signing.secrets_for(signing.secrets_from_env(), o.gateway)[0]
    answers = []
    body = headers = None
    for _ in range(int(args.get("times", 1))):
        if body is None or not args.get("replay"):
            body = signing.callback_body(o.gateway, o.gateway_ref)
            headers = {"Content-Type": "application/json",
                       **signing.signed_headers(secret, body, now=world.now())}
        answers.append(world.http("POST", f"/v1/gateways/{o.gateway}/callback", None, content=body,
                                  headers=headers))
    return {**answers[-1], "callbacks": len(answers), "all_http": [a["http"] for a in answers]}


@action("gateway.status")
def status(world: Any, args: dict) -> Result:
    o = _order(world, args["order"])
    try:
        p = world.core.gateways[o.gateway].status(o.gateway_ref)
    except GatewayTimeout as e:
        return {"status": "timeout", "detail": str(e)}
    except GatewayError as e:
        return {"status": "error", "error": e.code, "detail": e.message}
    world.transcript.add("gateway", f"{o.gateway} status of {o.gateway_ref}: {p.status.value}")
    return {"status": p.status.value, "reason": p.reason, "gateway": o.gateway}


def _day(world: Any, text: Any) -> Any:
    if text:
        return datetime.fromisoformat(str(text)).date()
    return datetime.fromtimestamp(world.now(), UTC).date()


@action("gateway.settlement_file")
def settlement_file(world: Any, args: dict) -> Result:
    name = world.gateway_name(args.get("gateway"))
    day = _day(world, args.get("day"))
    inject = [emulated.Discrepancy(d["kind"], order_id(d["order"]) if d.get("order") else None,
                                   int(d.get("delta", 0))) for d in args.get("inject", ())]
    f = emulated.end_of_day_file(world.core.gateways[name], day, inject=inject)
    path = settlement_files.write(f, world.workdir / f"{name}-{day.isoformat()}.csv")
    world.settlement_files[name] = (settlement_files.read(path, gateway=f.gateway, business_date=day), path)
    world.transcript.add("gateway", f"{name} settlement file for {day}: {len(f.lines)} lines, "
                                    f"{len(inject)} discrepancies injected")
    return {"gateway": name, "day": day.isoformat(), "lines": len(f.lines), "path": str(path)}


@action("bank.balance")
def bank_balance(world: Any, args: Any) -> Result:
    name = arg(args, "card", short="card")
    issued = world.bank_cards[name]
    money = world.core.issuer.balance(issued.card_id, world.market.currency)
    return {"balance": money.major_str(), "minor": money.minor, "currency": money.currency}
