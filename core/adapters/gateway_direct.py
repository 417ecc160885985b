"""HTTP clients for the gateway emulator *service* (``hil.gateway_service``): the merchant API
of :mod:`core.adapters.gateway_http`, plus the server-to-server card steps.

A real SATIM or Shaparak gateway takes the card on its hosted page, so the plain HTTP clients
refuse ``submit_card``/``confirm_otp``/``resend_otp``. The emulator service also offers those
steps as a direct API (what a USSD aggregator or a PCI-scoped merchant page uses: card number,
expiry, CVC2 or PIN2, then the SMS code), so the core's own ``/v1/topups/{id}/card`` and
``/otp`` routes and the USSD ``*1#`` dialogue work unchanged with the gateways on the network.

    gateways = service_gateways("http://127.0.0.1:8081")        # every gateway of every market
    gateways["satim"].register("ord_1", Money(100_000, "DZD"))  # POST /satim/payment/rest/register.do

``stats()`` reads the emulator's counters (``GET /{name}/emulator/stats``) so that
``Core.conservation`` can compare what each gateway says it captured with our clearing account.
"""
from __future__ import annotations

from typing import Any

import httpx

from core.adapters.gateway_http import HttpGatewayConfig, SatimHttpGateway, ShaparakHttpGateway
from core.adapters.http_client import HttpClient
from core.market import load_markets
from core.money import Money
from core.ports import Card, GatewayError, Payment, PaymentStatus


def _payment(body: dict[str, Any], where: str) -> Payment:
    t: Any = body.get("transaction")
    try:
        return Payment(str(t["token"]), str(t["orderId"]), PaymentStatus(t["state"]),
                       Money(int(t["amount"]), str(t["currency"])), masked_pan=t.get("maskedPan"),
                       approval_code=t.get("rrn"), reason=t.get("reason"),
                       otp_attempts_left=t.get("otpAttemptsLeft"), otp_resends_left=t.get("otpResendsLeft"))
    except (TypeError, KeyError, ValueError) as e:
        raise GatewayError(f"{where}: expected a transaction with token, orderId, state, amount and "
                           f"currency, got {t!r} ({e})", code="bad_response") from None


class _DirectSteps:
    """The emulator's card steps, shared by both styles (mixed into the HTTP clients)."""

    page_url: str
    name: str
    _pages: ShaparakHttpGateway        # the same error handling, rooted at {page_url}/emulator

    def _init_pages(self, config: HttpGatewayConfig, page_url: str,
                    client: httpx.Client | HttpClient | None) -> None:
        self.page_url = page_url.rstrip("/")
        self._pages = ShaparakHttpGateway(self.name, HttpGatewayConfig(
            f"{self.page_url}/emulator", config.username, config.password, read_timeout_s=config.read_timeout_s,
            connect_timeout_s=config.connect_timeout_s), client=self._client)  # type: ignore[attr-defined]

    def _page(self, step: str, **payload: object) -> Payment:
        body = self._post_page(step, payload)
        if body.get("resultCode", -1) != 0:
            raise GatewayError(str(body.get("resultMessage") or f"{step}: refused"), field=body.get("errorField"),
                               code=str(body.get("errorCode") or "gateway_refused"))
        return _payment(body, f"{self.name} {step}")

    def _post_page(self, step: str, payload: dict[str, object]) -> dict[str, Any]:
        return self._pages._post(step, json=payload)  # type: ignore[attr-defined, no-any-return]

    def submit_card(self, gateway_ref: str, card: Card) -> Payment:
        return self._page("card", ref=gateway_ref, pan=card.pan, expiry_month=card.expiry_month,
                          expiry_year=card.expiry_year, holder=card.holder, cvc2=card.cvc2, pin2=card.pin2)

    def confirm_otp(self, gateway_ref: str, otp: str) -> Payment:
        return self._page("otp", ref=gateway_ref, otp=otp)

    def resend_otp(self, gateway_ref: str) -> Payment:
        return self._page("resend", ref=gateway_ref)

    def stats(self) -> dict[str, Any]:
        body = self._post_page("stats", {})
        if body.get("resultCode", -1) != 0 or not isinstance(body.get("net_captured"), dict):
            raise GatewayError(f"{self.name} stats: expected counters with net_captured, got {sorted(body)}",
                               code="bad_response")
        return body


class DirectSatimGateway(_DirectSteps, SatimHttpGateway):
    def __init__(self, name: str, config: HttpGatewayConfig, page_url: str, *,
                 client: httpx.Client | HttpClient | None = None) -> None:
        super().__init__(name, config, client=client)
        self._init_pages(config, page_url, client)


class DirectShaparakGateway(_DirectSteps, ShaparakHttpGateway):
    def __init__(self, name: str, config: HttpGatewayConfig, page_url: str, *,
                 client: httpx.Client | HttpClient | None = None) -> None:
        super().__init__(name, config, client=client)
        self._init_pages(config, page_url, client)


def service_gateways(base_url: str, *, username: str = "merchant", password: str = "secret",
                     read_timeout_s: float = 10.0, connect_timeout_s: float = 2.0,
                     max_connections: int = 100) -> dict[str, DirectSatimGateway | DirectShaparakGateway]:
    """A client per gateway that the market profiles name, each at ``{base_url}/{name}``,
    sharing one connection pool (an :class:`HttpClient`: a quarter of httpx's CPU per call)."""
    base = base_url.rstrip("/")
    client = HttpClient(timeout_s=read_timeout_s, connect_timeout_s=connect_timeout_s,
                        max_connections=max_connections)
    out: dict[str, DirectSatimGateway | DirectShaparakGateway] = {}
    for mkt in load_markets().values():
        for name, style in mkt.gateways.items():
            if name in out:
                continue
            page = f"{base}/{name}"
            if style == "satim":
                cfg = HttpGatewayConfig(f"{page}/payment/rest", username, password,
                                        return_url=f"{page}/back/{{order_ref}}", read_timeout_s=read_timeout_s,
                                        connect_timeout_s=connect_timeout_s)
                out[name] = DirectSatimGateway(name, cfg, page, client=client)
            else:
                cfg = HttpGatewayConfig(f"{page}/shaparak", username, password,
                                        return_url=f"{page}/back/{{order_ref}}", read_timeout_s=read_timeout_s,
                                        connect_timeout_s=connect_timeout_s)
                out[name] = DirectShaparakGateway(name, cfg, page, client=client)
    return out
