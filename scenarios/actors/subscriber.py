"""The subscriber: the web and app pages and the USSD aggregator, all over the core's HTTP API.

Every call is a real HTTP request to the core's routes (in process), so the transcript shows
what a browser or an aggregator sent and what the core answered; answers are the JSON bodies
with ``http`` (the status code) added.
"""
from __future__ import annotations

from typing import Any

from core.ports import GatewayError, GatewayTimeout
from protocols.gsm import encoding_for, length_in, ussd_fits
from scenarios.actors import Result, action, arg, order_id

DIRECT = ("kiosk", "wallet", "bank")


def _body(args: dict, *keys: str) -> dict:
    return {k: str(args[k]) if k in ("amount", "monthly") else args[k] for k in keys if args.get(k) is not None}


@action("subscriber.topup")
def topup(world: Any, args: dict) -> Result:
    channel = args.get("channel", "web")
    body = {"market": args.get("market", world.market.code), **_body(
        args, "recipient", "payer", "amount", "product", "save_recipient", "email", "language", "method_account")}
    if channel in ("web", "app"):
        body["channel"] = channel
    return world.http("POST", "/v1/topups", channel if channel in DIRECT else "web", body, idempotent=True)


def card_body(world: Any, name: str, args: dict) -> dict:
    card = world.bank_cards[name]
    pin2 = args.get("pin2", world.market.code == "IR")
    body = {"pan": card.pan, "expiry": f"{card.expiry_month:02d}/{card.expiry_year % 100:02d}",
            "holder": args.get("holder", card.holder)}
    if "cvc2" in args or not pin2:
        body["cvc2"] = str(args.get("cvc2", card.cvc2))
    if pin2:
        body["pin2"] = card.pin2
    return body


@action("subscriber.card")
def card(world: Any, args: dict) -> Result:
    oid = order_id(args["order"])
    return world.http("POST", f"/v1/topups/{oid}/card", "web", card_body(world, args["card"], args), idempotent=True)


@action("subscriber.otp")
def otp(world: Any, args: dict) -> Result:
    oid = order_id(args["order"])
    return world.http("POST", f"/v1/topups/{oid}/otp", "web", {"otp": str(args["otp"])}, idempotent=True)


@action("subscriber.resend_otp")
def resend_otp(world: Any, args: dict) -> Result:
    return world.http("POST", f"/v1/topups/{order_id(args['order'])}/otp/resend", "web", idempotent=True)


@action("subscriber.order")
def order(world: Any, args: dict) -> Result:
    return world.http("GET", f"/v1/topups/{order_id(args['order'])}", "web")


@action("subscriber.reconcile")
def reconcile(world: Any, args: dict) -> Result:
    return world.http("POST", f"/v1/topups/{order_id(args['order'])}/reconcile", "web")


@action("subscriber.receipt")
def receipt(world: Any, args: dict) -> Result:
    return world.http("GET", f"/v1/topups/{order_id(args['order'])}/receipt", "web")


@action("subscriber.balance")
def balance(world: Any, args: Any) -> Result:
    msisdn = arg(args, "msisdn", short="msisdn")
    out = world.http("GET", f"/v1/subscribers/{msisdn}?market={world.market.code}", "web")
    for part in ("main", "bonus"):
        if isinstance(out.get(part), dict):
            out[f"{part}_minor"] = out[part]["minor"]
            out[part] = out[part]["value"]
    return out


# -- USSD, as the aggregator sends it ------------------------------------------------------------
def _screen(world: Any, answer: Result) -> Result:
    text = answer.get("text") or ""
    enc = encoding_for(text)
    rules = world.market.ussd
    return {**answer, "end": answer.get("action") == "end", "length": length_in(text, enc) if text else 0,
            "encoding": enc, "fits": ussd_fits(text, rules.max_gsm7, rules.max_ucs2)}


def _ussd(world: Any, session: dict) -> Result:
    body = {"session_id": session["id"], "msisdn": session["msisdn"], "service_code": session["code"],
            "text": "*".join(session["answers"]), "market": world.market.code}
    answer = _screen(world, world.http("POST", "/v1/ussd", "ussd", body))
    world.transcript.add("ussd", f"{session['msisdn']} [{session['name']}] "
                                 f"{'END' if answer['end'] else 'CON'} {answer.get('text', answer.get('detail', ''))}")
    return answer


@action("subscriber.dial")
def dial(world: Any, args: dict) -> Result:
    name = args.get("session", "main")
    n = len(world.ussd_sessions) + 1
    session = {"name": name, "id": f"ussd-{n}-{world.rng.randrange(10 ** 8):08d}",
               "msisdn": world.e164(args["msisdn"]), "code": args.get("code", world.market.ussd.service_code),
               "answers": []}
    world.ussd_sessions[name] = session
    return _ussd(world, session)


@action("subscriber.answer")
def answer(world: Any, args: Any) -> Result:
    name = arg(args, "session", "main")
    session = world.ussd_sessions.get(name)
    if session is None:
        raise ValueError(f"subscriber.answer: no USSD session {name!r}; dial first (subscriber.dial)")
    session["answers"].append(str(arg(args, "text", short="text")))
    return _ussd(world, session)


# -- the gateway's own page (redirect flow) ---------------------------------------------------------
@action("subscriber.gateway_page")
def gateway_page(world: Any, args: dict) -> Result:
    """The browser on the gateway's own page: the card (PIN2 where the gateway asks for it), or
    with ``otp`` the code on the gateway's OTP page; the core hears of it only by a callback or
    a status query, as when the browser never comes back."""
    o = world.core.payments.get(order_id(args["order"]))
    gw = world.core.gateways[o.gateway]
    try:
        if args.get("otp") is not None:
            payment = gw.confirm_otp(o.gateway_ref, str(args["otp"]))
        else:
            issued = world.bank_cards[args["card"]]
            payment = gw.submit_card(o.gateway_ref, issued.card(with_pin2=gw.style == "shaparak"))
    except GatewayError as e:
        world.transcript.add("gateway", f"{o.gateway} page {o.gateway_ref}: refused {e.code}: {e.message}")
        return {"status": "error", "error": e.code, "detail": e.message}
    except GatewayTimeout as e:
        return {"status": "timeout", "error": "timeout", "detail": str(e)}
    world.transcript.add("gateway", f"{o.gateway} page {o.gateway_ref}: {payment.status.value}")
    return {"status": payment.status.value, "gateway_ref": o.gateway_ref}


# -- bills, plans, mandates -------------------------------------------------------------------------
@action("subscriber.bill")
def bill(world: Any, args: dict) -> Result:
    return world.http("GET", f"/v1/bills/{args['biller']}/{args['account']}", "web")


@action("subscriber.pay_bill")
def pay_bill(world: Any, args: dict) -> Result:
    channel = args.get("channel", "web")
    body = _body(args, "amount", "payer", "method_account")
    return world.http("POST", f"/v1/bills/{args['biller']}/{args['account']}/payments", channel, body,
                      idempotent=True)


@action("subscriber.propose_plan")
def propose_plan(world: Any, args: dict) -> Result:
    return world.http("POST", f"/v1/bills/{args['biller']}/{args['account']}/plan-proposals", "web",
                      _body(args, "monthly"))


@action("subscriber.accept_plan")
def accept_plan(world: Any, args: dict) -> Result:
    body = _body(args, "monthly", "customer", "language")
    return world.http("POST", f"/v1/bills/{args['biller']}/{args['account']}/plans", "web", body, idempotent=True)


@action("subscriber.plan")
def plan(world: Any, args: dict) -> Result:
    return world.http("GET", f"/v1/plans/{order_id(args['plan'])}", "web")


@action("subscriber.activate_mandate")
def activate_mandate(world: Any, args: dict) -> Result:
    return world.http("POST", f"/v1/mandates/{order_id(args['mandate'])}/activate", "web",
                      {"access_code": str(args["code"])})


@action("subscriber.mandate")
def mandate(world: Any, args: dict) -> Result:
    return world.http("GET", f"/v1/mandates/{order_id(args['mandate'])}", "web")

