"""The SMSC as its own HTTP service: the core and the gateways submit messages, handsets (the
load generator, a test) read a test inbox per MSISDN.

    python -m hil.smsc_service --port 8082 --profile normal --seed 7

    POST /sms                 {"to": "213551234567", "text": "...", "sender": "SATIM"}
                              -> 202 {"message_id": "sms-00000001", "segments": 1}
    GET  /inbox/{msisdn}      ?after=SEQ&wait=S: messages delivered after SEQ; with ``wait`` it
                              holds the request up to S seconds until one arrives (long poll)
    GET  /stats               submitted, delivered, lost, en_route, segments
    GET  /healthz

Delivery follows the profile (:mod:`hil.emulator_profiles`): a lognormal delay per part,
parts queued one licence interval apart when ``throughput_per_s`` is set (a flash crowd's
backlog), a share lost. Every draw comes from one ``random.Random`` seeded from ``--seed``.
An inbox keeps the last 100 messages of its MSISDN, like a handset, so a soak test does not
grow the service without bound.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from core.digits import to_ascii_digits
from hil.emulator_profiles import SmscProfile, emulator_profile
from protocols.gsm import encoding_for, septets, sms_parts

INBOX_SIZE = 100
MAX_WAIT_S = 30.0


@dataclass(frozen=True)
class Delivered:
    seq: int
    message_id: str
    sender: str
    text: str
    segments: int
    encoding: str
    submitted_at: float
    delivered_at: float

    def public(self) -> dict[str, Any]:
        return {"seq": self.seq, "id": self.message_id, "from": self.sender, "text": self.text,
                "segments": self.segments, "encoding": self.encoding, "submitted_at": self.submitted_at,
                "delivered_at": self.delivered_at}


def msisdn_digits(text: str) -> str | None:
    """E.164 digits from what a tester types: '+213 55...', '00213...', Arabic or Persian digits."""
    t = to_ascii_digits(text).strip().replace(" ", "").replace("-", "")
    t = t[1:] if t.startswith("+") else t[2:] if t.startswith("00") else t
    return t if t.isascii() and t.isdigit() and 6 <= len(t) <= 15 else None


def sender_ok(sender: object) -> bool:
    """3GPP TS 23.040 originator: up to 15 digits, or up to 11 GSM 7-bit characters."""
    if not isinstance(sender, str) or not sender:
        return False
    if sender.isascii() and sender.isdigit():
        return len(sender) <= 15
    return encoding_for(sender) == "gsm7" and septets(sender) <= 11


class Smsc:
    """Submissions, the delivery model and the inboxes; runs on one asyncio loop."""

    def __init__(self, profile: SmscProfile, rng: random.Random) -> None:
        self.profile, self.rng = profile, rng
        self._seq = itertools.count(1)
        self._next_departure = -math.inf
        self._inbox: dict[str, deque[Delivered]] = {}
        self._waiters: dict[str, asyncio.Event] = {}
        self.submitted = self.delivered = self.lost = self.segments = 0

    def submit(self, to: str, text: str, sender: str, now: float) -> tuple[str, int, float | None]:
        """Accept a message; returns (message id, segments, delay until delivery or None: lost)."""
        parts = sms_parts(text)
        seq = next(self._seq)
        self.submitted += 1
        self.segments += parts.count
        if self.rng.random() < self.profile.loss_rate:
            self.lost += 1
            return f"sms-{seq:08d}", parts.count, None
        interval = 0.0 if self.profile.throughput_per_s is None else 1.0 / self.profile.throughput_per_s
        due = now
        for _ in range(parts.count):
            departure = max(now, self._next_departure + interval)
            self._next_departure = departure
            due = max(due, departure + self.profile.delay.sample(self.rng))
        return f"sms-{seq:08d}", parts.count, due - now

    def deliver(self, to: str, message: Delivered) -> None:
        self._inbox.setdefault(to, deque(maxlen=INBOX_SIZE)).append(message)
        self.delivered += 1
        event = self._waiters.pop(to, None)
        if event is not None:
            event.set()

    def inbox(self, msisdn: str, after: int) -> list[Delivered]:
        return [m for m in self._inbox.get(msisdn, ()) if m.seq > after]

    async def wait(self, msisdn: str, after: int, timeout_s: float) -> list[Delivered]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            found = self.inbox(msisdn, after)
            left = deadline - loop.time()
            if found or left <= 0:
                return found
            event = self._waiters.setdefault(msisdn, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), left)
            except asyncio.TimeoutError:
                return self.inbox(msisdn, after)

    def stats(self) -> dict[str, int]:
        return {"submitted": self.submitted, "delivered": self.delivered, "lost": self.lost,
                "en_route": self.submitted - self.delivered - self.lost, "segments": self.segments}


def _problem(status: int, field: str, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "field": field, "detail": detail}, status_code=status)


def create_app(profile: SmscProfile, seed: int | str = 0) -> Starlette:
    """A plain Starlette app: every route reads its request itself, so FastAPI's layers would only
    add work to each of the 3-4 calls a recharge makes here."""
    smsc = Smsc(profile, random.Random(f"{seed}:smsc-service"))

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "smsc"})

    async def submit(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _problem(422, "body", "expected a JSON object with to, text and sender")
        to = msisdn_digits(body.get("to")) if isinstance(body.get("to"), str) else None
        if to is None:
            return _problem(422, "to", f"invalid destination {body.get('to')!r}: expected E.164 digits "
                                       "(up to 15, like '213551234567')")
        text, sender = body.get("text"), body.get("sender", "RBENCH")
        if not isinstance(text, str) or not text:
            return _problem(422, "text", "expected the message text, a non-empty string")
        if not sender_ok(sender):
            return _problem(422, "sender", f"invalid sender {sender!r}: expected up to 11 GSM 7-bit "
                                           "characters or up to 15 digits")
        loop = asyncio.get_running_loop()
        now = loop.time()
        message_id, segments, delay = smsc.submit(to, text, sender, now)
        if delay is not None:
            encoding, submitted = sms_parts(text).encoding, time.time()

            def arrive() -> None:
                smsc.deliver(to, Delivered(int(message_id[4:]), message_id, sender, text, segments,
                                           encoding, submitted, time.time()))
            if delay <= 0:
                arrive()
            else:
                loop.call_later(delay, arrive)
        return JSONResponse({"message_id": message_id, "segments": segments}, status_code=202)

    async def inbox(request: Request) -> JSONResponse:
        msisdn = request.path_params["msisdn"]
        after, wait = request.query_params.get("after", "0"), request.query_params.get("wait", "0")
        who = msisdn_digits(msisdn)
        if who is None:
            return _problem(422, "msisdn", f"{msisdn!r}: expected E.164 digits, like 213551234567")
        try:
            seq, wait_s = int(to_ascii_digits(after)), float(to_ascii_digits(wait))
        except ValueError:
            return _problem(422, "after", f"after={after!r}, wait={wait!r}: expected a message seq and seconds")
        if not 0 <= wait_s <= MAX_WAIT_S:
            return _problem(422, "wait", f"wait={wait!r}: expected 0 to {MAX_WAIT_S:.0f} seconds")
        found = await smsc.wait(who, seq, wait_s) if wait_s > 0 else smsc.inbox(who, seq)
        return JSONResponse({"msisdn": who, "messages": [m.public() for m in found]})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(smsc.stats())

    app = Starlette(routes=[Route("/healthz", healthz), Route("/sms", submit, methods=["POST"]),
                            Route("/inbox/{msisdn}", inbox), Route("/stats", stats)])
    app.state.smsc = smsc
    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    ap = argparse.ArgumentParser(prog="python -m hil.smsc_service", description="Serve the emulated SMSC over HTTP.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8082)
    ap.add_argument("--profile", default="normal", help="emulator profile name or YAML file (its smsc part)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-level", default="warning")
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this process is gone")
    a = ap.parse_args(argv)
    if a.parent_pid:
        from hil.emulator_services import exit_with_parent
        exit_with_parent(a.parent_pid)
    profile = emulator_profile(a.profile)
    uvicorn.run(create_app(profile.smsc, a.seed), host=a.host, port=a.port, log_level=a.log_level,
                access_log=False, loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
