"""A small thread-safe HTTP/1.1 keep-alive client on the standard library, for the core's calls
to the gateways and the SMSC, and the emulators' calls to each other.

Why: a recharge makes 6 such calls from the core alone, and ``httpx.Client`` costs about 0.6 ms
of CPU per JSON call and 1 ms per form call on this machine; ``http.client`` on a kept-alive
connection costs about 0.15 ms. It speaks the part of ``httpx.Client`` the adapters use
(``post``/``get``/``request``, ``status_code``, ``headers``, ``text``, ``json()``) and raises
httpx's own exception classes, so :mod:`core.adapters.gateway_http` and
:mod:`core.adapters.smsc_http` map failures exactly as before: a connect failure or connect
timeout means the call never arrived; a read timeout or a connection lost mid-call means the
outcome is unknown. Nothing is retried: a POST is never sent twice.

    client = HttpClient(timeout_s=10.0, connect_timeout_s=2.0, max_connections=100)
    r = client.post("http://127.0.0.1:8081/satim/payment/rest/register.do", data={"amount": "100"})
    r.status_code, r.json()
"""
from __future__ import annotations

import http.client
import json as jsonlib
import select
import socket
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

_IDLE_LIMIT = 64                   # idle connections kept per origin


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))


class Response:
    __slots__ = ("status_code", "headers", "content")

    def __init__(self, status_code: int, headers: dict[str, str], content: bytes) -> None:
        self.status_code, self.headers, self.content = status_code, headers, content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)       # ValueError (JSONDecodeError) if not JSON

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise ValueError(f"HTTP {self.status_code}: {self.text[:120]!r}")


class HttpClient:
    """Connections per origin (scheme, host, port), reused LIFO; at most ``max_connections``
    requests in flight per client (others wait up to ``connect_timeout_s``: ``PoolTimeout``)."""

    def __init__(self, *, timeout_s: float = 10.0, connect_timeout_s: float = 2.0,
                 max_connections: int = 100) -> None:
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- the httpx.Client subset -------------------------------------------------------
    def post(self, url: str, *, data: dict[str, str] | None = None, json: Any = None,
             content: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
        return self.request("POST", url, data=data, json=json, content=content, headers=headers)

    def get(self, url: str, *, headers: dict[str, str] | None = None) -> Response:
        return self.request("GET", url, headers=headers)

    def request(self, method: str, url: str, *, data: dict[str, str] | None = None, json: Any = None,
                content: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
        sent = dict(headers or {})
        if json is not None:
            content = jsonlib.dumps(json, separators=(",", ":")).encode()
            sent.setdefault("Content-Type", "application/json")
        elif data is not None:
            content = urlencode(data).encode()
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise httpx.UnsupportedProtocol(f"{url!r}: expected an http:// or https:// URL")
        origin = (parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if not self._slots.acquire(timeout=self.connect_timeout_s):
            raise httpx.PoolTimeout(f"{url}: no free connection within {self.connect_timeout_s} s")
        try:
            return self._send(origin, method, target, content, sent, url)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections -------------------------------------------------------------------
    def _send(self, origin: tuple[str, str, int], method: str, target: str, body: bytes | None,
              headers: dict[str, str], url: str) -> Response:
        conn = self._reuse(origin) or self._connect(origin, url)
        try:
            conn.request(method, target, body=body, headers=headers)
            r = conn.getresponse()
            content = r.read()
        except (socket.timeout, TimeoutError):
            conn.close()
            raise httpx.ReadTimeout(f"{url}: no answer within {self.timeout_s} s") from None
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise httpx.ReadError(f"{url}: connection lost mid-call: {type(e).__name__}: {e}") from None
        answer = Response(r.status, {k.lower(): v for k, v in r.getheaders()}, content)
        if r.will_close:
            conn.close()
        else:
            self._keep(origin, conn)
        return answer

    def _reuse(self, origin: tuple[str, str, int]) -> http.client.HTTPConnection | None:
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None:
                return None
            # An idle connection with something to read has been closed by the server (or is
            # out of step): never send on it. This is the check httpcore makes before reuse.
            if conn.sock is not None and not _readable(conn.sock):
                return conn
            conn.close()

    def _connect(self, origin: tuple[str, str, int], url: str) -> http.client.HTTPConnection:
        scheme, host, port = origin
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        conn = cls(host, port, timeout=self.connect_timeout_s)
        try:
            conn.connect()
        except (socket.timeout, TimeoutError):
            conn.close()
            raise httpx.ConnectTimeout(f"{url}: no connection within {self.connect_timeout_s} s") from None
        except OSError as e:
            conn.close()
            raise httpx.ConnectError(f"{url}: cannot connect: {type(e).__name__}: {e}") from None
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sock.settimeout(self.timeout_s)
        return conn

    def _keep(self, origin: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(origin, [])
            if not self._closed and len(idle) < _IDLE_LIMIT:
                idle.append(conn)
                return
        conn.close()
