"""An :class:`core.ports.SmsSender` that submits over HTTP to an SMSC service, as the core does
in production (an SMPP/HTTP bridge): ``POST {base}/sms`` with ``{to, text, sender}`` answers
202 with the message id at once; delivery to the handset happens later, on the SMSC's side.

    sms = HttpSmsSender("http://127.0.0.1:8082")
    sms.send("213551234567", "Code 123456 ...", sender="SATIM")   # -> "sms-00000001"

A refusal (4xx) is a ``ValueError`` naming what the SMSC said; an SMSC that cannot be reached,
times out or answers 5xx is :class:`SmscUnavailable`. Callers of the port already treat a
failed send as "not sent" (the core never undoes a payment for a notice).
"""
from __future__ import annotations

import httpx

from core.adapters.http_client import HttpClient


class SmscUnavailable(Exception):
    """The SMSC did not take the message (unreachable, timeout, 5xx): it was not sent."""


class HttpSmsSender:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0,
                 client: httpx.Client | HttpClient | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client or HttpClient(timeout_s=timeout_s, connect_timeout_s=min(timeout_s, 2.0),
                                            max_connections=64)

    def send(self, to: str, text: str, *, sender: str = "RBENCH") -> str:
        url = f"{self.base_url}/sms"
        try:
            r = self._client.post(url, json={"to": to, "text": text, "sender": sender})
        except httpx.HTTPError as e:
            raise SmscUnavailable(f"SMSC {url}: {type(e).__name__}: {e}") from None
        if r.status_code >= 500:
            raise SmscUnavailable(f"SMSC {url}: HTTP {r.status_code}")
        if r.status_code >= 400:
            try:
                detail = r.json().get("detail", r.text)
            except ValueError:
                detail = r.text
            raise ValueError(f"SMSC refused the message to {to!r}: {detail}")
        try:
            return str(r.json()["message_id"])
        except (ValueError, KeyError, TypeError):
            raise SmscUnavailable(f"SMSC {url}: answered {r.text[:80]!r}; expected {{\"message_id\": ...}}") from None

    def close(self) -> None:
        self._client.close()
