"""The lean lane (core/api/lean.py) answers a recharge's hot routes exactly as FastAPI does: the
same script of requests, good and bad, against a core with the lane and one without gives the
same statuses, headers and bodies; the lane really answers (FastAPI's route is not called) and
the OpenAPI document still lists its routes."""
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import make_world

from core.adapters import callback_signature as cs
from core.api import lean
from core.api.app import create_app
from core.api.auth import DEV_KEYS
from core.api.limits import Limits, Rate

KEY = {c: k for k, c in DEV_KEYS.items()}
HEADERS = ("content-type", "retry-after", "idempotent-replayed", "content-length")


def world(path, lean_routes, *, limits=None):
    w = make_world(f"sqlite:///{path}")
    w.line("DZ", "0551234567", "100")
    w.line("DZ", "0661234567")
    app = create_app(w.core, rate_limits=limits, lean_routes=lean_routes)
    return w, app


def answer(r):
    body = r.json() if r.content else None
    return r.status_code, {h: r.headers.get(h) for h in HEADERS}, body


def script(w, c):
    """Requests of a recharge, with every refusal the routes know; yields each answer."""
    card = w.card("213661234567")
    web = {"X-API-Key": KEY["web"]}
    good = {"market": "DZ", "recipient": "0551234567", "payer": "0661234567", "amount": "1000"}
    yield answer(c.post("/v1/topups", json=good, headers=web | {"Idempotency-Key": "k-1"}))
    yield answer(c.post("/v1/topups", json=good, headers=web | {"Idempotency-Key": "k-1"}))            # replay
    yield answer(c.post("/v1/topups", json=good | {"amount": "7"}, headers=web | {"Idempotency-Key": "k-1"}))
    yield answer(c.post("/v1/topups", json=good, headers=web))                                        # no key
    yield answer(c.post("/v1/topups", json=good, headers={"Idempotency-Key": "k-2"}))                 # no API key
    yield answer(c.post("/v1/topups", json=good, headers={"X-API-Key": "nope", "Idempotency-Key": "k-2"}))
    yield answer(c.post("/v1/topups", json=good, headers={"X-API-Key": KEY["ussd"], "Idempotency-Key": "k-2"}))
    yield answer(c.post("/v1/topups", content=b"{bad", headers=web | {"Idempotency-Key": "k-3",
                                                                          "Content-Type": "application/json"}))
    yield answer(c.post("/v1/topups", content=b"{bad", headers={"Content-Type": "application/json"}))
    yield answer(c.post("/v1/topups", content=json.dumps(good), headers=web | {"Idempotency-Key": "k-4",
                                                                                   "Content-Type": "text/plain"}))
    yield answer(c.post("/v1/topups", content=json.dumps(good), headers=web | {"Idempotency-Key": "k-4b"}))
    yield answer(c.post("/v1/topups", content=b"", headers=web | {"Idempotency-Key": "k-5",
                                                                    "Content-Type": "application/json"}))
    yield answer(c.post("/v1/topups", json=good | {"extra": 1}, headers=web | {"Idempotency-Key": "k-6"}))
    yield answer(c.post("/v1/topups", json={"market": "DZ"}, headers=web | {"Idempotency-Key": "k-7"}))
    yield answer(c.post("/v1/topups", json=good | {"recipient": "0551"}, headers=web | {"Idempotency-Key": "k-8"}))
    yield answer(c.post("/v1/topups", json=[1, 2], headers=web | {"Idempotency-Key": "k-9"}))
    yield answer(c.post("/v1/topups", json=good, headers={"X-API-Key": KEY["kiosk"], "Idempotency-Key": "k-10"}))
    yield answer(c.get("/v1/topups", headers=web))                                                    # 405
    status, _, order = answer(c.post("/v1/topups", json=good, headers=web | {"Idempotency-Key": "k-11"}))
    yield status, {}, order
    if status != 201:                        # refused (rate limits): the rest needs the order
        return
    oid = order["id"]
    card_body = {"pan": card.pan, "expiry": f"{card.expiry_month:02d}/{card.expiry_year % 100:02d}",
                 "cvc2": card.cvc2, "holder": card.holder}
    yield answer(c.post(f"/v1/topups/{oid}/card", json=card_body | {"pan": "4111"},
                        headers=web | {"Idempotency-Key": "c-0"}))
    yield answer(c.post("/v1/topups/ord_nowhere/card", json=card_body, headers=web | {"Idempotency-Key": "c-1"}))
    yield answer(c.post(f"/v1/topups/{oid}/card", json=card_body, headers={"X-API-Key": KEY["kiosk"],
                                                                            "Idempotency-Key": "c-2"}))
    yield answer(c.post(f"/v1/topups/{oid}/card", json=card_body, headers=web | {"Idempotency-Key": "c-3"}))
    yield answer(c.post(f"/v1/topups/{oid}/card", json=card_body, headers=web | {"Idempotency-Key": "c-3"}))
    yield answer(c.post(f"/v1/topups/{oid}/otp", json={"otp": "000000"}, headers=web | {"Idempotency-Key": "o-1"}))
    yield answer(c.post(f"/v1/topups/{oid}/otp", json={"otp": 12}, headers=web | {"Idempotency-Key": "o-2"}))
    yield answer(c.post(f"/v1/topups/{oid}/otp", json={"otp": w.last_otp("213661234567")},
                        headers=web | {"Idempotency-Key": "o-3"}))
    yield answer(c.post(f"/v1/topups/{oid}/otp", json={"otp": "1"}, headers=web | {"Idempotency-Key": "o-3"}))
    payload = json.dumps({"gateway_ref": order.get("gateway_ref", "x")}).encode()
    signed = cs.signed_headers(cs.DEV_SECRET, payload, now=w.clock.now())
    cb = {"Content-Type": "application/json", **signed}
    yield answer(c.post("/v1/gateways/satim/callback", content=payload, headers=cb))
    yield answer(c.post("/v1/gateways/satim/callback", content=payload, headers=cb))                # replayed
    yield answer(c.post("/v1/gateways/nowhere/callback", content=payload, headers=cb))
    yield answer(c.post("/v1/gateways/satim/callback", content=payload))
    yield answer(c.post("/v1/gateways/satim/callback", content=b"[1]",
                        headers=cs.signed_headers(cs.DEV_SECRET, b"[1]", now=w.clock.now())))
    yield answer(c.post("/v1/topups", content=b"x" * 20_000, headers=web | {"Idempotency-Key": "k-big",
                                                                               "Content-Type": "application/json"}))
    chunked = web | {"Idempotency-Key": "k-chunked", "Content-Type": "application/json"}
    yield answer(c.post("/v1/topups", content=iter([b"x" * 10_000] * 2), headers=chunked))
    yield answer(c.post("/v1/topups", content=iter([json.dumps(good).encode()]), headers=chunked))


def run(path, lean_routes, **kw):
    w, app = world(path, lean_routes, **kw)
    with TestClient(app, raise_server_exceptions=False) as c:
        out = list(script(w, c))
        metrics = c.get("/metrics").text
    w.core.close()
    return out, metrics


def test_the_lane_answers_as_fastapi_does(tmp_path):
    lean_out, lean_metrics = run(tmp_path / "lean.db", True)
    plain_out, _ = run(tmp_path / "plain.db", False)
    assert len(lean_out) == len(plain_out) > 30
    for n, (a, b) in enumerate(zip(lean_out, plain_out)):
        assert a == b, f"request {n}: lean {a} != FastAPI {b}"
    statuses = {s for s, _, _ in lean_out}
    assert {200, 201, 401, 403, 404, 405, 409, 413, 422} <= statuses
    # the metrics name the route template, as FastAPI's router does
    assert 'route="/v1/topups/{order_id}/card"' in lean_metrics
    assert 'route="/v1/gateways/{gateway}/callback"' in lean_metrics


def test_rate_limits_answer_429_with_retry_after_on_the_lane(tmp_path):
    limits = Limits(per_key=None, per_msisdn=Rate(1, 60.0))
    lean_out, _ = run(tmp_path / "lean.db", True, limits=limits)
    plain_out, _ = run(tmp_path / "plain.db", False, limits=limits)
    assert lean_out == plain_out
    assert any(s == 429 and h["retry-after"] for s, h, _ in lean_out)


def test_the_lane_answers_without_the_fastapi_route(tmp_path, monkeypatch):
    w, app = world(tmp_path / "rb.db", True)
    route = next(r for r in app.routes if getattr(r, "path", "") == "/v1/topups" and "POST" in r.methods)
    called = []
    original = route.app

    async def spy(scope, receive, send):
        called.append(scope["path"])
        await original(scope, receive, send)
    monkeypatch.setattr(route, "app", spy)
    good = {"market": "DZ", "recipient": "0551234567", "payer": "0661234567", "amount": "1000"}
    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.post("/v1/topups", json=good, headers={"X-API-Key": KEY["web"], "Idempotency-Key": "a"}
                      ).status_code == 201
        assert called == []                                     # the lane answered
        assert c.post("/v1/topups", content=b"{", headers={"X-API-Key": KEY["web"], "Idempotency-Key": "b",
                                                           "Content-Type": "application/json"}).status_code == 422
        assert called == ["/v1/topups"]                         # FastAPI answered the refusal
        doc = c.get("/openapi.json").json()
    for path in ("/v1/topups", "/v1/topups/{order_id}/card", "/v1/topups/{order_id}/otp",
                 "/v1/gateways/{gateway}/callback"):
        assert "post" in doc["paths"][path], path
    w.core.close()


def test_a_lean_route_needs_its_fastapi_declaration(tmp_path):
    w, app = world(tmp_path / "rb.db", True)
    with pytest.raises(ValueError, match="POST /v1/nowhere"):
        lean.Lane(app).post("/v1/nowhere", lambda call: None)
    w.core.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=80), st.dictionaries(
    st.sampled_from(["otp", "pan", "x", "market"]), st.one_of(st.text(max_size=8), st.integers(), st.none()),
    max_size=3).map(lambda d: json.dumps(d).encode())))
def test_any_otp_body_gets_the_same_answer_on_both(tmp_path_factory, body):
    outs = []
    for lean_routes in (True, False):
        w, app = world(tmp_path_factory.mktemp("db") / "rb.db", lean_routes)
        with TestClient(app, raise_server_exceptions=False) as c:
            r = c.post("/v1/topups/ord_x/otp", content=body, headers={
                "X-API-Key": KEY["web"], "Idempotency-Key": "h-1", "Content-Type": "application/json"})
            outs.append(answer(r))
        w.core.close()
    assert outs[0] == outs[1]
