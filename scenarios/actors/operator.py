"""The back office (sweeps, mandate runs, plan checks, settlement), the clock and the post office."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.mandates import parse_ccp
from core.settlement import GatewayPayouts, PayablePayouts, Reconciler, post_batch
from core.settlement.payouts import conservation
from scenarios.actors import Result, action, arg, order_id
from scenarios.values import parse_duration


@action("clock.advance")
def advance(world: Any, args: Any) -> Result:
    seconds = parse_duration(args)
    world.transcript.add("clock", f"advance {seconds:g} s")
    world.advance(seconds)
    return {"now": datetime.fromtimestamp(world.now(), UTC).isoformat().replace("+00:00", "Z")}


@action("operator.sweep")
def sweep(world: Any, args: Any) -> Result:
    older = parse_duration(arg(args, "older_than", 60))
    return world.http("POST", f"/v1/admin/sweep?older_than_s={older:g}", "admin")


@action("operator.conservation")
def conservation_check(world: Any, args: Any) -> Result:
    return world.http("GET", "/v1/admin/conservation", "admin")


@action("operator.mandate_run")
def mandate_run(world: Any, args: Any) -> Result:
    out = world.http("POST", "/v1/admin/mandate-runs", "admin")
    out["outcomes"] = [line["outcome"] for line in out.get("lines", ())]
    return out


@action("operator.check_plans")
def check_plans(world: Any, args: Any) -> Result:
    out = world.http("POST", "/v1/admin/plans/check-missed", "admin")
    events = out.pop("items", [])
    return {**out, "events": events, "states": [e["state"] for e in events]}


@action("operator.issue_bill")
def issue_bill(world: Any, args: dict) -> Result:
    bill = world.core.bills.issue(args["biller"], args["account"], args["period"], str(args["amount"]), args["due"])
    world.transcript.add("note", f"bill issued: {bill.id} {bill.amount}")
    return bill.public()


@action("operator.request_mandate")
def request_mandate(world: Any, args: dict) -> Result:
    body = {"market": world.market.code, **{k: str(v) for k, v in args.items()}}
    return world.http("POST", "/v1/mandates", "admin", body, idempotent=True)


@action("operator.settle")
def settle(world: Any, args: dict) -> Result:
    name = world.gateway_name(args.get("gateway"))
    if name not in world.settlement_files:
        raise ValueError(f"operator.settle: no settlement file from {name} yet; make one with gateway.settlement_file")
    f, path = world.settlement_files[name]
    report = Reconciler(world.core).run(f, source=str(path))
    batch = post_batch(world.core.store, world.core.clock, f.business_date,
                       [GatewayPayouts(gateways=[name]), PayablePayouts()])
    verdict = conservation(world.core)
    world.transcript.add("note", report.summary())
    return {"classes": {c: n for c, (n, _) in report.by_class().items()},
            "pending": len(report.waiting("pending")), "review": len(report.waiting("review")),
            "acted": len(report.acted), "ok": report.ok, "conservation_ok": verdict.ok,
            "payouts": batch.summary(), "summary": report.summary()}


@action("post.access_code")
def access_code(world: Any, args: dict) -> Result:
    return {"code": world.core.postal.handed_out(order_id(args["mandate"]))}


@action("post.deposit")
def deposit(world: Any, args: dict) -> Result:
    balance = world.core.postal.deposit(parse_ccp(str(args["ccp"])), world.money(args["amount"], "DZD"))
    world.transcript.add("note", f"post: {args['amount']} paid into {args['ccp']}")
    return {"balance": balance.major_str(), "minor": balance.minor}


@action("post.balance")
def post_balance(world: Any, args: Any) -> Result:
    ccp = parse_ccp(str(arg(args, "ccp", short="ccp")))
    money = world.core.postal.balance(ccp, "DZD")
    return {"balance": money.major_str(), "minor": money.minor}
