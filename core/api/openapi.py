"""The OpenAPI document says what the API really does: every refusal is
``application/problem+json`` (not FastAPI's default validation schema), the problem statuses
each route can give are listed, ``Idempotency-Key`` is required where the route demands it,
and the extra success statuses (402 a failed payment with its order, 202 an e-mail queued)
are documented. Schemathesis checks the API against this document (tests/test_api_fuzz.py).
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM = {
    "type": "object", "title": "Problem", "required": ["type", "title", "status", "code", "detail"],
    "description": "RFC 9457 problem details: what was wrong, which field, what was expected.",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "code": {"type": "string"}, "detail": {"type": "string"}, "field": {"type": "string"},
                   "retry_after": {"type": "integer"},
                   "errors": {"type": "array", "items": {"type": "object"}}},
    "additionalProperties": True}
_WHY = {401: "no API key, an unknown key, or an unsigned callback", 403: "this channel or key may not call the route",
        404: "no such resource", 409: "conflict with the current state (or a replayed callback)",
        413: "body too large", 422: "invalid input, or refused by a business rule",
        429: "rate limit or OTP attempts exhausted (see Retry-After)",
        503: "a card gateway is unavailable or the core sheds load"}
_ORDER = {"type": "object", "description": "the order, with its state and reason", "additionalProperties": True}
_EXTRA_SUCCESS = {  # (method, path) -> {status: description} beyond the route's declared status
    ("post", "/v1/topups"): {402: "the payment failed (the order says why)"},
    ("post", "/v1/vends"): {402: "the payment failed (the order says why)"},
    ("post", "/v1/bills/{biller}/{account}/payments"): {402: "the payment failed (the order says why)"},
    ("post", "/v1/bills/{biller}/{account}/recharges"): {402: "the payment failed (the order says why)"},
    ("post", "/v1/meters/{number}/cards"): {201: "a card issued or its replacement ordered",
                                            402: "the fee's payment failed (the order says why)"},
    ("post", "/v1/topups/{order_id}/receipt/email"): {202: "the receipt is queued for sending"},
    ("post", "/v1/gateways/{gateway}/callback"): {},
}
IDEMPOTENCY_KEY = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$",
                   "description": "a unique key per request (e.g. a UUID), reused only to retry the same request"}


def document(app: FastAPI) -> dict[str, Any]:
    spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            public = path in ("/healthz", "/metrics", "/openapi.json")
            for status, why in _WHY.items():
                if public and status not in (429, 503):
                    continue
                responses[str(status)] = {"description": responses.get(str(status), {}).get("description", why),
                                          "content": problem}
            for status, why in _EXTRA_SUCCESS.get((method, path), {}).items():
                responses.setdefault(str(status), {"description": why, "content": {
                    "application/json": {"schema": _ORDER}}})
            for param in op.get("parameters", []):
                if param.get("in") == "header" and param.get("name", "").lower() == "idempotency-key":
                    param["required"] = True
                    param["schema"] = dict(IDEMPOTENCY_KEY)
    schemas = spec["components"]["schemas"]
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema
    app.openapi = openapi  # type: ignore[method-assign]
