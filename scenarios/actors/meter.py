"""The meter (the bench's meter role, holding the core's keys for it): readings, the keypad, the
case. Amounts are the meter's register units: 0.01 kWh (keypad meters) or minor units of money
(card meters); ``credit_major`` says the same in kWh or in the currency."""
from __future__ import annotations

from typing import Any

from devices.meter import MeterInputError
from scenarios.actors import Result, action, arg
from scenarios.devices import flush_serial, meter


def _port(world: Any, args: Any) -> Any:
    return meter(world, arg(args, "meter"))


def _major(units: int | None) -> str | None:
    return None if units is None else f"{units / 100:.2f}"


@action("meter.read", role="meter")
def read(world: Any, args: Any) -> Result:
    port = _port(world, args)
    try:
        r = port.read()
    finally:
        flush_serial(world)
    out = {"credit": r.credit, "credit_major": _major(r.credit), "unit": r.unit, "relay_closed": r.relay_closed,
           "relay_reason": r.relay_reason, "low_credit": r.low_credit, "low_credit_threshold": r.low_credit_threshold,
           "tamper": r.tamper, "case_open": r.case_open, "power_w": r.power_w, "energy_wh": r.energy_wh,
           "keypad_locked_s": r.keypad_locked_s, "keypad_wrong": r.keypad_wrong,
           "purchase_count": r.purchase_count, "card_serial": r.card_serial,
           "last_result": r.last_result.wire_name if r.last_result else None, "last_credited": r.last_credited,
           "disconnected_s": r.disconnected_s}
    world.transcript.add("meter", f"read: credit {r.credit} {r.unit}, relay {'closed' if r.relay_closed else 'open'}"
                                  f"{' (' + r.relay_reason + ')' if r.relay_reason else ''}, low {r.low_credit}, "
                                  f"tamper {r.tamper}")
    return out


def _result(world: Any, what: str, result: Any) -> Result:
    world.transcript.add("meter", f"{what}: {result.code.wire_name} credited {result.credited} -> {result.credit}")
    return {"code": result.code.wire_name, "ok": result.ok, "credited": result.credited, "credit": result.credit,
            "credit_major": _major(result.credit), "message": result.code.message}


@action("meter.token", role="meter")
def token(world: Any, args: Any) -> Result:
    port = _port(world, args)
    digits = str(arg(args, "token", short="token"))
    try:
        return _result(world, f"token {digits}", port.enter_token(digits))
    except MeterInputError as e:
        return {"code": "input", "ok": False, "credited": 0, "message": str(e)}
    finally:
        flush_serial(world)


@action("meter.open_case", role="meter")
def open_case(world: Any, args: Any) -> Result:
    port = _port(world, args)
    port.set_case_open(True)
    flush_serial(world)
    return {"case_open": True}


@action("meter.close_case", role="meter")
def close_case(world: Any, args: Any) -> Result:
    port = _port(world, args)
    port.set_case_open(False)
    flush_serial(world)
    return {"case_open": False}


@action("meter.clear_tamper", role="meter")
def clear_tamper(world: Any, args: Any) -> Result:
    port = _port(world, args)
    try:
        return _result(world, "clear tamper", port.clear_tamper())
    finally:
        flush_serial(world)


@action("meter.load", role="meter")
def load(world: Any, args: dict) -> Result:
    port = _port(world, args)
    port.set_test_load(int(args["watts"]))
    flush_serial(world)
    return {"watts": int(args["watts"])}
