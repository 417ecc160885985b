"""The handset (the bench's modem role) and the SMSC's view of SMS.

A handset is a ``ModemPort`` on the face the bench gives the modem role, attached to the
core's network: USSD goes to the core's ``*1#`` application through ``AT+CUSD``, SMS from the
core's SMSC arrive as ``+CMTI`` and are read with ``AT+CMGR``. The AT lines go to the
transcript. ``smsc.*`` reads what the core's SMSC delivered to any number, handset or not.
"""
from __future__ import annotations

import re
from typing import Any

from devices.modem import ModemError, ModemTimeout
from protocols.gsm import encoding_for, length_in
from scenarios.actors import Result, action, arg
from scenarios.devices import flush_at, handset

_ENDED = re.compile(r"\+CUSD: (\d)")
MODEL_POLL_S, EMULATOR_POLL_S = 0.05, 0.3


def _screen(world: Any, port: Any, call) -> Result:  # type: ignore[no-untyped-def]
    try:
        screen = call()
    except ModemError as e:
        flush_at(world, port)
        ended = _ENDED.search(str(e))
        if ended is None:
            raise
        world.transcript.add("ussd", f"{port.msisdn} ended by the network: {e}")
        return {"m": int(ended.group(1)), "text": "", "ended": True, "error": str(e), "length": 0}
    flush_at(world, port)
    text = screen.text or ""
    enc = encoding_for(text) if text else "gsm7"
    world.transcript.add("ussd", f"{port.msisdn} m={screen.m} {text}")
    return {"m": screen.m, "text": text, "dcs": screen.dcs, "encoding": enc,
            "length": length_in(text, enc) if text else 0, "ended": screen.m != 1}


@action("handset.dial", role="modem")
def dial(world: Any, args: Any) -> Result:
    port = handset(world, arg(args, "msisdn"))
    code = arg(args, "code", short="code")
    return _screen(world, port, lambda: port.ussd(str(code), timeout=world.io_timeout))


@action("handset.reply", role="modem")
def reply(world: Any, args: Any) -> Result:
    port = handset(world, arg(args, "msisdn"))
    text = str(arg(args, "text", short="text"))
    return _screen(world, port, lambda: port.ussd_reply(text, timeout=world.io_timeout))


@action("handset.cancel", role="modem")
def cancel(world: Any, args: Any) -> Result:
    port = handset(world, arg(args, "msisdn"))
    port.ussd_cancel()
    flush_at(world, port)
    return {"cancelled": True}


def poll_s(world: Any) -> float:
    """How long one look waits for a +CMTI: a model delivers at once; on a pty the line takes a
    moment, and at the step's deadline the look waits the full I/O timeout before giving up."""
    if (world.bench.face("modem") or "model") == "model":
        return MODEL_POLL_S
    return world.io_timeout if world.last_chance else EMULATOR_POLL_S


@action("handset.sms", wait=60.0, role="modem")
def sms(world: Any, args: Any) -> Result:
    """One look for the next matching SMS; the runner advances the clock and looks again."""
    port = handset(world, arg(args, "msisdn"))
    match = arg(args, "match")
    try:
        got = port.wait_sms(match, timeout=world.step_io_timeout or poll_s(world))
    except ModemTimeout as e:
        flush_at(world, port)
        return {"received": False, "error": str(e)}
    flush_at(world, port)
    return {"received": True, "sender": got.sender, "text": got.text, "encoding": got.encoding,
            "sent_at": got.sent_at.isoformat() if got.sent_at else None, "parts": len(got.indices)}


@action("handset.inbox", role="modem")
def inbox(world: Any, args: Any) -> Result:
    port = handset(world, arg(args, "msisdn"))
    stored = port.list_sms("ALL")
    flush_at(world, port)
    return {"count": len(stored), "texts": [s.text for s in stored], "senders": [s.sender for s in stored]}


@action("handset.send_sms", role="modem")
def send_sms(world: Any, args: dict) -> Result:
    port = handset(world, args.get("msisdn"))
    to = str(args["to"])
    refs = port.send_sms(to, str(args["text"]), timeout=world.io_timeout)
    flush_at(world, port)
    return {"refs": refs, "parts": len(refs)}


# -- the SMSC's side ------------------------------------------------------------------------------
def _delivered(world: Any, to: Any) -> list:
    return world.core.sms.inbox(world.e164(to))


@action("smsc.inbox")
def smsc_inbox(world: Any, args: Any) -> Result:
    got = _delivered(world, arg(args, "to", short="to"))
    texts = [m.text for m in got]
    return {"count": len(texts), "texts": texts, "last": texts[-1] if texts else None}


@action("smsc.wait", wait=60.0)
def smsc_wait(world: Any, args: dict) -> Result:
    """The first SMS to ``to`` delivered since this story last waited for one there, matching ``match``."""
    key = ("smsc_seen", world.e164(args["to"]))
    seen = world.devices.get(key, 0)
    pattern = args.get("match")
    got = _delivered(world, args["to"])
    for i, m in enumerate(got[seen:], start=seen):
        if pattern is None or re.search(str(pattern), m.text):
            world.devices[key] = i + 1
            return {"received": True, "text": m.text, "sender": m.sender, "delivered_at": m.delivered_at}
    return {"received": False}
