"""Emulator-only routes, mounted when the core runs with its emulated SMSC and card issuer:
a test inbox per MSISDN (to read OTPs and notices) and the emulated issuer's test cards.
Real deployments have neither, so neither is part of ``/v1``."""
from __future__ import annotations

from fastapi import FastAPI, Request

from core.adapters.smsc import EmulatedSmsc
from core.api.auth import channel_of
from core.market import market_for_msisdn
from core.wiring import Core


def install(app: FastAPI, core: Core, keys: dict[str, str]) -> None:
    if isinstance(core.sms, EmulatedSmsc):
        @app.get("/emulator/sms/{msisdn}", tags=["emulator"])
        def inbox(msisdn: str, request: Request) -> list[dict]:
            channel_of(request, keys, ("admin",))
            e164 = core.subscribers.parse(msisdn, market_for_msisdn(msisdn)).e164
            return [{"id": m.message_id, "from": m.sender, "text": m.text, "segments": m.segments,
                     "encoding": m.encoding, "delivered_at": m.delivered_at} for m in core.sms.inbox(e164)]

    if core.issuer is not None:
        issuer = core.issuer

        @app.get("/emulator/cards", tags=["emulator"])
        def cards(request: Request) -> list[dict]:
            """Test cards of the emulated issuer (never real cards: these exist only here)."""
            channel_of(request, keys, ("admin",))
            return [{"pan": c.pan, "expiry": f"{c.expiry_month:02d}/{c.expiry_year % 100:02d}",
                     "holder": c.holder, "cvc2": c.cvc2, "pin2": c.pin2, "phone": c.phone}
                    for c in issuer.cards()]
