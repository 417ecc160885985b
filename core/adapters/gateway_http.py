"""HTTP clients for real card gateways, behind the same :class:`core.ports.CardGateway` port.

SATIM style speaks the RBS REST calls (``register.do``, ``getOrderStatusExtended.do``,
``refund.do``; form-encoded, credentials in the body, never in the URL). The card and the OTP
are typed on the gateway's own page, so ``submit_card``/``confirm_otp``/``resend_otp`` refuse
with code ``hosted_page``. Shaparak style speaks a JSON token/inquiry/verify/settle/reverse API
of the common PSP shape; adjust the paths in :class:`ShaparakHttpGateway` for one PSP.

Errors: a connect failure (or connect timeout) means the call never arrived: GatewayError code
``unavailable``. A read timeout, 500 or 504 means the outcome is unknown: GatewayTimeout, and
the core must ask ``status``. Callbacks come to the core's own HTTP endpoint (the return URL),
not through this client; ``set_notify`` is kept for the port's shape only.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from core.adapters.http_client import HttpClient
from core.money import CURRENCIES, Money
from core.ports import Card, GatewayError, GatewayTimeout, Notify, Payment, PaymentStatus, \
    Registration

S = PaymentStatus
SATIM_STATUS = {0: S.REGISTERED, 1: S.AUTHORISED, 2: S.PAID, 3: S.CANCELLED, 4: S.REFUNDED,
                5: S.OTP_PENDING, 6: S.DECLINED}
SATIM_SESSION_EXPIRED = -2007          # actionCode of a status-6 order whose session ran out
_SATIM_ERRORS = {"1": "duplicate_order", "3": "invalid_request", "4": "invalid_request",
                 "5": "access_denied", "6": "unknown_order"}
_SATIM_FIELDS = {"orderNumber": "order_ref", "amount": "amount", "currency": "amount",
                 "orderId": "gateway_ref"}
_BY_NUMERIC = {c.numeric: c.code for c in CURRENCIES.values()}


@dataclass(frozen=True)
class HttpGatewayConfig:
    base_url: str                         # e.g. https://test.satim.dz/payment/rest
    username: str = ""                    # SATIM userName / Shaparak terminalId
    password: str = ""
    return_url: str = ""                  # SATIM returnUrl / Shaparak callbackUrl ({order_ref})
    fail_url: str = ""
    session_timeout_s: int = 1200
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    def __repr__(self) -> str:            # never show the password
        return f"HttpGatewayConfig({self.base_url!r}, username={self.username!r})"


class _HttpGateway:
    style = ""

    def __init__(self, name: str, config: HttpGatewayConfig, *,
                 client: httpx.Client | HttpClient | None = None) -> None:
        self.name, self.config = name, config
        self._client = client or HttpClient(timeout_s=config.read_timeout_s,
                                            connect_timeout_s=config.connect_timeout_s)
        self._notify: Notify | None = None

    def set_notify(self, notify: Notify) -> None:
        self._notify = notify

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, *, data: dict[str, str] | None = None,
              json: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.config.base_url.rstrip('/')}/{path}"
        try:
            r = self._client.post(url, data=data, json=json)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise GatewayError(f"{self.name}: cannot reach {url}: {type(e).__name__}",
                               code="unavailable") from None
        except httpx.TimeoutException:
            raise GatewayTimeout(f"{self.name}: no answer from {path} within "
                                 f"{self.config.read_timeout_s} s") from None
        except httpx.TransportError as e:
            raise GatewayTimeout(f"{self.name}: {path} failed mid-call: {type(e).__name__}"
                                 ) from None
        if r.status_code in (502, 503):
            raise GatewayError(f"{self.name}: {path} answered HTTP {r.status_code}",
                               code="unavailable")
        if r.status_code >= 500:
            raise GatewayTimeout(f"{self.name}: {path} answered HTTP {r.status_code}; "
                                 f"outcome unknown")
        try:
            body = r.json()
        except ValueError:
            body = None
        if r.status_code >= 400 or not isinstance(body, dict):
            raise GatewayError(f"{self.name}: {path} answered HTTP {r.status_code} with "
                               f"{r.text[:120]!r}; expected a JSON object", code="bad_response")
        return body

    def _url(self, template: str, order_ref: str) -> str:
        return template.replace("{order_ref}", order_ref)


def _money(minor: object, numeric: object, where: str) -> Money:
    code = _BY_NUMERIC.get(str(numeric).zfill(3))
    if code is None or not str(minor).isdigit():
        raise GatewayError(f"{where}: amount {minor!r} / currency {numeric!r} not understood",
                           code="bad_response")
    return Money(int(str(minor)), code)


class SatimHttpGateway(_HttpGateway):
    style = "satim"

    def _call(self, path: str, **params: object) -> dict[str, Any]:
        data = {"userName": self.config.username, "password": self.config.password,
                **{k: str(v) for k, v in params.items() if v is not None}}
        body = self._post(path, data=data)
        code = str(body.get("errorCode", body.get("ErrorCode", "0")))
        if code != "0":
            field = body.get("rbenchField") or _SATIM_FIELDS.get(str(body.get("param", "")))
            raise GatewayError(str(body.get("errorMessage") or f"{path}: error {code}"),
                               field=field, code=str(body.get("rbenchCode")
                                                     or _SATIM_ERRORS.get(code, "gateway_refused")))
        return body

    def register(self, order_ref: str, amount: Money, *, description: str = "",
                 language: str = "ar") -> Registration:
        body = self._call(
            "register.do", orderNumber=order_ref, amount=amount.minor,
            currency=CURRENCIES[amount.currency].numeric,
            returnUrl=self._url(self.config.return_url, order_ref),
            failUrl=self._url(self.config.fail_url or self.config.return_url, order_ref),
            sessionTimeoutSecs=self.config.session_timeout_s, language=language.upper(),
            description=description or None)
        if not body.get("orderId") or not body.get("formUrl"):
            raise GatewayError(f"register.do: expected orderId and formUrl, got {sorted(body)}",
                               code="bad_response")
        return Registration(str(body["orderId"]), str(body["formUrl"]))

    def status(self, gateway_ref: str) -> Payment:
        b = self._call("getOrderStatusExtended.do", orderId=gateway_ref)
        raw = b.get("orderStatus", b.get("OrderStatus"))
        if raw is None or int(raw) not in SATIM_STATUS:
            raise GatewayError(f"getOrderStatusExtended.do: orderStatus {raw!r}; expected 0..6",
                               code="bad_response")
        status, action = SATIM_STATUS[int(raw)], int(b.get("actionCode", 0) or 0)
        if status is S.DECLINED and action == SATIM_SESSION_EXPIRED:
            status = S.EXPIRED
        auth = b.get("cardAuthInfo") or {}
        return Payment(
            gateway_ref, str(b.get("orderNumber", "")), status,
            _money(b.get("amount", b.get("Amount")), b.get("currency"), "getOrderStatusExtended"),
            masked_pan=auth.get("maskedPan") or auth.get("pan") or b.get("Pan") or None,
            approval_code=auth.get("approvalCode") or b.get("approvalCode") or None,
            reason=(b.get("actionCodeDescription") or None) if action else None,
            otp_attempts_left=b.get("otpAttemptsLeft"), otp_resends_left=b.get("otpResendsLeft"))

    def refund(self, gateway_ref: str, amount: Money) -> Payment:
        self._call("refund.do", orderId=gateway_ref, amount=amount.minor)
        return self.status(gateway_ref)

    def verify(self, gateway_ref: str) -> Payment:
        return self.status(gateway_ref)

    def settle(self, gateway_ref: str) -> Payment:
        return self.status(gateway_ref)

    def _hosted(self, field: str) -> Payment:
        raise GatewayError("card entry happens on the gateway's page: redirect the browser to "
                           "form_url", field=field, code="hosted_page")

    def submit_card(self, gateway_ref: str, card: Card) -> Payment:
        return self._hosted("card")

    def confirm_otp(self, gateway_ref: str, otp: str) -> Payment:
        return self._hosted("otp")

    def resend_otp(self, gateway_ref: str) -> Payment:
        return self._hosted("otp")


class ShaparakHttpGateway(_HttpGateway):
    style = "shaparak"
    paths = {"token": "token", "inquiry": "inquiry", "verify": "verify", "settle": "settle",
             "reverse": "reverse"}

    def _call(self, step: str, **payload: object) -> dict[str, Any]:
        body = self._post(self.paths[step], json={"terminalId": self.config.username,
                                                  "password": self.config.password, **payload})
        if body.get("resultCode", -1) != 0:
            raise GatewayError(str(body.get("resultMessage") or f"{step}: refused"),
                               field=body.get("errorField"),
                               code=str(body.get("errorCode") or "gateway_refused"))
        return body

    def _payment(self, body: dict[str, Any]) -> Payment:
        t: Any = body.get("transaction")
        try:
            return Payment(str(t["token"]), str(t["orderId"]), PaymentStatus(t["state"]),
                           Money(int(t["amount"]), str(t["currency"])),
                           masked_pan=t.get("maskedPan"), approval_code=t.get("rrn"),
                           reason=t.get("reason"))
        except (TypeError, KeyError, ValueError) as e:
            raise GatewayError(f"expected a transaction with token, orderId, state, amount "
                               f"and currency, got {t!r} ({e})", code="bad_response") from None

    def register(self, order_ref: str, amount: Money, *, description: str = "",
                 language: str = "fa") -> Registration:
        b = self._call("token", orderId=order_ref, amount=amount.minor, currency=amount.currency,
                       callbackUrl=self._url(self.config.return_url, order_ref),
                       description=description)
        if not b.get("token") or not b.get("formUrl"):
            raise GatewayError(f"token: expected token and formUrl, got {sorted(b)}",
                               code="bad_response")
        return Registration(str(b["token"]), str(b["formUrl"]))

    def status(self, gateway_ref: str) -> Payment:
        return self._payment(self._call("inquiry", token=gateway_ref))

    def verify(self, gateway_ref: str) -> Payment:
        return self._payment(self._call("verify", token=gateway_ref))

    def settle(self, gateway_ref: str) -> Payment:
        return self._payment(self._call("settle", token=gateway_ref))

    def refund(self, gateway_ref: str, amount: Money) -> Payment:
        return self._payment(self._call("reverse", token=gateway_ref, amount=amount.minor))

    def submit_card(self, gateway_ref: str, card: Card) -> Payment:
        raise GatewayError("card and PIN2 are typed on the gateway's page: redirect the "
                           "browser to form_url", field="card", code="hosted_page")

    def confirm_otp(self, gateway_ref: str, otp: str) -> Payment:
        raise GatewayError("shaparak-style payments have no OTP step", field="otp",
                           code="not_supported")

    def resend_otp(self, gateway_ref: str) -> Payment:
        return self.confirm_otp(gateway_ref, "")
