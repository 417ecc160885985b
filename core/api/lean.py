"""A lean lane for the hot routes of a recharge: plain ASGI in front of FastAPI's router.

FastAPI spends about 0.3 ms of CPU per request resolving dependencies, wrapping the endpoint and
routing through some forty routes; a web recharge makes five requests. The routes a recharge
takes (``POST /v1/topups``, ``.../card``, ``.../otp``, the gateway callback) are answered here
instead, by the same handler code, on the happy path only: a request this lane is not sure of
(no JSON content type, a body that does not parse or validate, a refused API key) is handed to
the FastAPI route unchanged, its body replayed, so every refusal keeps its exact answer. The
FastAPI routes stay declared: they describe these routes in ``/openapi.json`` and answer the
refusals.

    lane = Lane(app)                                   # app: the FastAPI app, routes declared
    lane.post("/v1/topups/{order_id}/card", handler)   # handler(call) -> Response | None (None: FastAPI)
    app.add_middleware(LeanRoutes, lane=lane)          # innermost: limits, shedding, metrics apply
"""
from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import compile_path

Handler = Callable[["Call"], Awaitable[Response | None]]


class Call:
    """One request on the lean lane: its scope, path parameters and (once read) body."""

    __slots__ = ("_receive", "body", "params", "request", "scope")

    def __init__(self, scope, receive, params: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
        self.scope, self.params, self._receive = scope, params, receive
        self.request = Request(scope)
        self.body: bytes | None = None

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    async def read(self) -> bytes:
        """The whole body (as Starlette's ``Request.body``: a disconnect raises ClientDisconnect)."""
        if self.body is None:
            chunks = []
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            self.body = b"".join(chunks)
        return self.body

    def json_content(self) -> bool:
        """True for ``application/json`` (with or without parameters): a body FastAPI reads as JSON."""
        value = self.request.headers.get("content-type")
        return value is not None and value.split(";", 1)[0].strip().lower() == "application/json"


class Lane:
    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.routes: list[tuple[str, re.Pattern, object, Handler]] = []

    def post(self, path: str, handler: Handler) -> None:
        """Answer ``POST path`` with ``handler``; the FastAPI route of that path must be declared."""
        route = next((r for r in self.app.routes if getattr(r, "path", None) == path
                      and "POST" in (getattr(r, "methods", None) or ())), None)
        if route is None:
            raise ValueError(f"lean route POST {path}: no FastAPI route declares it (needed for /openapi.json)")
        regex, _, _ = compile_path(path)
        self.routes.append(("POST", regex, route, handler))


class LeanRoutes:
    """ASGI middleware: the lane's routes answered here, anything else (or a request the handler
    gives back) passed on to FastAPI."""

    def __init__(self, app, lane: Lane) -> None:  # type: ignore[no-untyped-def]
        self.app, self.lane = app, lane

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for m, regex, route, handler in self.lane.routes:
                if m == method:
                    match = regex.match(path)
                    if match:
                        scope["route"] = route           # metrics label, key scopes (route tags)
                        call = Call(scope, receive, match.groupdict())
                        response = await handler(call)
                        if response is not None:
                            return await response(scope, receive, send)
                        return await self.app(scope, _replay(call, receive), send)
        await self.app(scope, receive, send)


def _replay(call: Call, receive):  # type: ignore[no-untyped-def]
    """``receive`` giving the body already read once more, then the rest of the connection."""
    if call.body is None:
        return receive
    pending = [{"type": "http.request", "body": call.body, "more_body": False}]

    async def again():  # type: ignore[no-untyped-def]
        return pending.pop() if pending else await receive()
    return again
