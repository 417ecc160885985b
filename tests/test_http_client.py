"""core.adapters.http_client: keep-alive reuse, a server's closed idle connection, and failures
mapped to httpx's exception classes exactly as the adapters expect (never a request sent twice)."""
from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator
from urllib.parse import parse_qsl

import httpx
import pytest
from hypothesis import given, settings, strategies as st

from core.adapters.http_client import HttpClient


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.connections = 0
        self.requests: list[dict] = []
        self.mode = "ok"                 # ok | close-after | drop | slow | close-header
        self.lock = threading.Lock()
        self.closed = 0                  # connections this side has closed

    def shutdown_request(self, request) -> None:  # type: ignore[no-untyped-def]
        super().shutdown_request(request)
        with self.lock:
            self.closed += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": self.path, "body": body,
                                         "type": self.headers.get("Content-Type"),
                                         "x": self.headers.get("X-Test")})
        mode = self.server.mode
        if mode == "drop":                # read the request, then vanish without an answer
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(1.0)
        out = json.dumps({"ok": True, "n": len(self.server.requests)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        if mode == "close-header":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)
        if mode == "close-after":         # keep-alive promised, then the server closes anyway
            self.close_connection = True

    do_GET = do_POST = _answer


@contextmanager
def server() -> Iterator[tuple[_Server, str]]:
    srv = _Server()
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    try:
        yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def test_one_connection_is_kept_alive_and_reused() -> None:
    with server() as (srv, url), HttpClient() as client:
        for i in range(5):
            r = client.post(f"{url}/a?x=1", json={"i": i}, headers={"X-Test": "yes"})
            assert r.status_code == 200 and r.json()["ok"] is True
        assert srv.connections == 1
        assert srv.requests[0] == {"method": "POST", "path": "/a?x=1", "body": b'{"i":0}',
                                   "type": "application/json", "x": "yes"}


def test_form_bodies_and_gets() -> None:
    with server() as (srv, url), HttpClient() as client:
        client.post(f"{url}/form", data={"userName": "merchant", "amount": "100", "note": "a b&c"})
        assert srv.requests[0]["type"] == "application/x-www-form-urlencoded"
        assert dict(parse_qsl(srv.requests[0]["body"].decode())) == {"userName": "merchant", "amount": "100",
                                                                       "note": "a b&c"}
        assert client.get(f"{url}/g").headers["content-type"] == "application/json"
        assert srv.requests[1]["method"] == "GET"


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=20), max_size=5))
def test_form_encoding_round_trips(fields: dict[str, str]) -> None:
    with server() as (srv, url), HttpClient() as client:
        client.post(f"{url}/form", data=fields)
        assert dict(parse_qsl(srv.requests[0]["body"].decode(), keep_blank_values=True)) == fields


def test_a_connection_the_server_closed_is_not_reused() -> None:
    with server() as (srv, url), HttpClient() as client:
        srv.mode = "close-after"
        assert client.post(f"{url}/a", json={}).status_code == 200
        deadline = time.monotonic() + 10  # the server closed it (on loopback its FIN is there at once)
        while srv.closed < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        srv.mode = "ok"
        assert client.post(f"{url}/b", json={}).status_code == 200
        assert srv.connections == 2 and len(srv.requests) == 2


def test_connection_close_answer_is_not_kept() -> None:
    with server() as (srv, url), HttpClient() as client:
        srv.mode = "close-header"
        client.get(f"{url}/a")
        client.get(f"{url}/b")
        assert srv.connections == 2


def test_nobody_listening_is_a_connect_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]        # bound, not listening: refused
        with HttpClient() as client, pytest.raises(httpx.ConnectError):
            client.post(f"http://127.0.0.1:{port}/x", json={})


def test_a_slow_answer_is_a_read_timeout() -> None:
    with server() as (srv, url), HttpClient(timeout_s=0.2) as client:
        srv.mode = "slow"
        with pytest.raises(httpx.ReadTimeout):
            client.post(f"{url}/slow", json={})


def test_a_connection_lost_mid_call_is_a_transport_error_and_not_retried() -> None:
    with server() as (srv, url), HttpClient() as client:
        srv.mode = "drop"
        with pytest.raises(httpx.TransportError) as e:
            client.post(f"{url}/pay", json={"amount": 1})
        assert not isinstance(e.value, (httpx.ConnectError, httpx.TimeoutException))  # outcome unknown
        assert len(srv.requests) == 1    # sent once, never again


def test_pool_exhausted_is_a_pool_timeout() -> None:
    with server() as (srv, url):
        srv.mode = "slow"
        client = HttpClient(max_connections=1, connect_timeout_s=0.1)
        t = threading.Thread(target=lambda: client.get(f"{url}/slow"))
        t.start()
        deadline = time.monotonic() + 10  # the first request holds the only connection
        while srv.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(httpx.PoolTimeout):
            client.get(f"{url}/second")
        t.join()
        client.close()


def test_not_an_http_url() -> None:
    with HttpClient() as client, pytest.raises(httpx.UnsupportedProtocol, match="expected an http"):
        client.get("ftp://example.org/x")
