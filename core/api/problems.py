"""Errors as RFC 9457 ``application/problem+json``: what was wrong, which field, what was expected.

Every refusal of user input ends here with a 4xx and a specific message; an unexpected error is
a 500 without a traceback (the traceback goes to the log, never to the caller).
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from core.errors import RechargeError

log = logging.getLogger("rbench.api")
PROBLEM = "application/problem+json"
_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 409: "Conflict", 413: "Request too large",
           415: "Unsupported media type", 422: "Unprocessable request", 429: "Too many requests",
           500: "Internal error", 503: "Service unavailable"}


def problem_body(status: int, code: str, detail: str, field: str | None = None, **extra: object) -> dict:
    body = {"type": f"https://rechargebench.dev/problems/{code}", "title": _TITLES.get(status, "Error"),
            "status": status, "code": code, "detail": detail}
    if field:
        body["field"] = field
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def from_error(e: RechargeError) -> dict:
    return problem_body(e.status, e.code, e.message, e.field, **e.extra)


def problem(status: int, code: str, detail: str, field: str | None = None, **extra: object) -> JSONResponse:
    return JSONResponse(problem_body(status, code, detail, field, **extra), status_code=status,
                        media_type=PROBLEM)


_TYPE_TAGS = {"str", "int", "float", "bool", "list", "dict", "none"}


def _describe(err: dict) -> tuple[str, str]:
    loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header")
           and str(x) not in _TYPE_TAGS and "[" not in str(x)]
    field = ".".join(loc) or str(err.get("loc", ["body"])[0])
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return field, f"{field}: unknown field; remove it (see the OpenAPI document for the fields)"
    if kind == "missing":
        return field, f"{field}: required field is missing"
    if kind == "json_invalid":
        return "body", f"body: malformed JSON ({err.get('ctx', {}).get('error', 'cannot parse')})"
    if kind in ("string_type", "int_type") and len(err.get("loc", ())) > 2:
        return field, f"{field}: expected a string of digits such as \"1000.50\" or an integer"
    if kind in ("model_attributes_type", "dict_type"):
        return field or "body", f"{field or 'body'}: expected a JSON object"
    return field, f"{field}: {err.get('msg', 'invalid value')}"


def answer(e: RechargeError) -> JSONResponse:
    """The problem+json answer to a domain error (for the lean lane as for FastAPI's handler)."""
    return JSONResponse(from_error(e), status_code=e.status, media_type=PROBLEM)


def install(app: FastAPI) -> None:
    @app.exception_handler(RechargeError)
    async def _domain(request: Request, e: RechargeError) -> JSONResponse:
        return answer(e)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, e: RequestValidationError) -> JSONResponse:
        errors = list(dict.fromkeys(_describe(err) for err in e.errors()))
        field, detail = errors[0]
        return problem(422, "invalid_input", detail, field,
                       errors=[{"field": f, "detail": d} for f, d in errors] if len(errors) > 1 else None)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, e: HTTPException) -> JSONResponse:
        detail = e.detail if isinstance(e.detail, str) else _TITLES.get(e.status_code, "error")
        if e.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.method} {request.url.path}"
        if e.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(e.status_code, "http_error", detail)

    @app.exception_handler(Exception)
    async def _bug(request: Request, e: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal_error", "the core failed to process this request; "
                       "nothing was charged twice: retry with the same Idempotency-Key")
