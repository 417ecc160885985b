"""The kiosk (the vending point on the bench's card reader) and the card reader itself (F5, F6).

The kiosk reads the card, the core sells energy to its meter, the record is written and read
back (``hil.vending_point``); refusals are results (``error``: wrong_card, card_not_loaded...),
so a story can expect them. ``card_reader.*`` handles a card as a test rig does, down to
writing an old record back onto it (a replay).
"""
from __future__ import annotations

from typing import Any

from core.tariffs import tariff as tariff_of
from devices.card import AuthenticationFailed, CardReaderError, CardRefused
from hil import vending_point as vp
from protocols import utility_card as uc
from scenarios.actors import Result, action, arg
from scenarios.devices import utility_card

ERRORS = ((vp.WrongCard, "wrong_card"), (vp.CardNotLoaded, "card_not_loaded"), (vp.CardNotIssued, "card_not_issued"),
          (vp.VendNotPaid, "not_paid"), (vp.VendNotWritten, "not_written"), (vp.VendingPointError, "refused"),
          (AuthenticationFailed, "authentication"))


def _refusal(world: Any, e: Exception) -> Result:
    code = next(name for kind, name in ERRORS if isinstance(e, kind))
    world.transcript.add("card", f"refused: {code}: {e}")
    return {"error": code, "message": str(e)}


def _meter_number(world: Any, name: str) -> str:
    return world.ctx.values[name]["number"]


def master_key(world: Any) -> bytes:
    return world.core.keys.card_master_key(tariff_of(world.tariff_id()).utility)


@action("card_reader.insert", role="card_reader")
def insert(world: Any, args: Any) -> Result:
    name = arg(args, "card", short="card")
    card = utility_card(world, name)
    return {"card": name, "serial": card.start().serial}


@action("card_reader.read", role="card_reader")
def read(world: Any, args: Any) -> Result:
    name = arg(args, "card") or world.devices.get("reader", {}).get("card")
    card = utility_card(world, name).start()
    card.authenticate(master_key(world))
    contents = card.read_contents()
    r = contents.receipt
    return {"serial": contents.card_serial, "meter": contents.meter_number, "purchase_count": contents.purchase_count,
            "pending": contents.pending, "record": contents.record.hex().upper() if contents.record else None,
            "receipt": {"meter_count": r.meter_count, "outcome": r.outcome, "reason": r.reason}}


@action("card_reader.write_record", role="card_reader")
def write_record(world: Any, args: dict) -> Result:
    card = utility_card(world, args["card"]).start()
    card.authenticate(master_key(world))
    try:
        card.write_record(bytes.fromhex(str(args["record"])))
    except CardRefused as e:           # the card's own rules (it never goes back to an older count)
        world.transcript.add("card", f"write refused by the card: {e}")
        return {"written": False, "error": "refused", "message": str(e)}
    back = card.read_record()
    return {"written": back is not None and back.hex().upper() == str(args["record"]).upper()}


@action("kiosk.deposit_float")
def deposit_float(world: Any, args: dict) -> Result:
    return world.http("POST", f"/v1/agents/{args['agent']}/float", "admin",
                      {"amount": str(args["amount"]), "currency": world.market.currency}, idempotent=True)


@action("kiosk.issue_card", role="card_reader")
def issue_card(world: Any, args: dict) -> Result:
    card = utility_card(world, args["card"])
    try:
        m = vp.issue_card(world.core, card, _meter_number(world, args["meter"]))
    except (vp.VendingPointError, CardReaderError) as e:
        return _refusal(world, e)
    return {"meter": m.number, "serial": card.serial}


@action("kiosk.replace_card", role="card_reader")
def replace_card(world: Any, args: dict) -> Result:
    """The fee is paid at the kiosk, then the new card is personalised for the meter."""
    card = utility_card(world, args["card"]).start()
    number = _meter_number(world, args["meter"])
    order = world.core.vending.replace_card(number, card.serial, args["reason"], method="kiosk",
                                            method_account=args["agent"], channel="kiosk")
    world.transcript.add("card", f"replacement of {number}'s card by {card.serial}: order {order.id} {order.state}")
    out = order.public()
    if out["state"] == "credited":
        vp.personalise(world.core, card, number)
    return out


@action("kiosk.vend_card", role="card_reader")
def vend_card(world: Any, args: dict) -> Result:
    card = utility_card(world, args["card"])
    try:
        vend = vp.vend_to_card(world.core, card, str(args["amount"]), method="kiosk",
                               method_account=str(args["agent"]))
    except (vp.VendingPointError, AuthenticationFailed) as e:
        return _refusal(world, e)
    result = world.core.vending.result(vend.order_id)
    world.transcript.add("card", f"vend {vend.order_id}: record {vend.purchase_count} written to {vend.card_serial}")
    return {"order": vend.order_id, "purchase_count": vend.purchase_count, "written": vend.written,
            "meter": vend.meter_number, "record": vend.record.hex().upper(), "paid": result["paid"],
            "fee": result["fee"]}


@action("kiosk.vend_token")
def vend_token(world: Any, args: dict) -> Result:
    out = world.http("POST", "/v1/vends", "kiosk", {"meter": _meter_number(world, args["meter"]),
                                                      "amount": str(args["amount"]),
                                                      "method_account": str(args["agent"])}, idempotent=True)
    vend = out.get("vend") or {}
    return {**out, "order": out.get("id"), "token": vend.get("token"), "energy_kwh": vend.get("energy_kwh"),
            "tid": vend.get("tid")}


@action("meter.insert_card", role="meter")
def insert_card(world: Any, args: dict) -> Result:
    from scenarios.devices import flush_serial, meter
    port = meter(world, args.get("meter"))
    card = utility_card(world, args["card"])
    try:
        load = vp.meter_loads_card(card, port, master_key(world))
    except AuthenticationFailed as e:
        return _refusal(world, e)
    finally:
        flush_serial(world)
    answer = load.answer
    credited = getattr(answer, "credited", 0) or 0
    credit = getattr(answer, "credit", None)
    world.transcript.add("meter", f"card {args['card']}: {load.status} {load.reason}".rstrip())
    return {"status": load.status, "reason": load.reason, "credited": credited, "credit": credit,
            "message": uc.FIELD_ERRORS.get(load.reason, "") if load.reason else ""}
