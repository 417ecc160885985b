"""The HTTP API: auth per channel, problem+json errors naming the field, idempotency headers,
the web flow end to end, and card data never stored beyond first 6 / last 4."""
import logging
import re
import uuid

import pytest
from fastapi.testclient import TestClient

from core.adapters.callback_signature import DEV_SECRET, signed_headers
from core.api.auth import DEV_KEYS
from hil.server import app_for
from support import make_world

KEY = {c: k for k, c in DEV_KEYS.items()}


def h(channel="web", idem=True, **extra):
    headers = {"X-API-Key": KEY[channel], **extra}
    if idem:
        headers["Idempotency-Key"] = str(uuid.uuid4())
    return headers


@pytest.fixture
def api(store_url):
    w = make_world(store_url)
    w.line("DZ", "0551234567", "100")
    w.line("DZ", "0661234567")
    with TestClient(app_for(w.core), raise_server_exceptions=False) as client:
        yield w, client
    assert w.core.conservation().ok
    w.core.close()


@pytest.fixture
def sq(sqlite_url):
    w = make_world(sqlite_url)
    w.line("DZ", "0551234567", "100")
    with TestClient(app_for(w.core), raise_server_exceptions=False) as client:
        yield w, client
    w.core.close()


def rows(w, table):
    with w.core.store.transaction() as tx:
        return tx.one(f"SELECT COUNT(*) AS n FROM {table}")["n"]


def test_web_topup_over_http(api, caplog):
    w, c = api
    caplog.set_level(logging.DEBUG)
    card = w.card("213661234567")
    body = {"market": "DZ", "recipient": "0551234567", "payer": "0661234567", "amount": "١٠٠٠",
            "email": "x@y.dz"}
    headers = h()
    r = c.post("/v1/topups", json=body, headers=headers)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["state"] == "pending_payment" and order["amount"]["minor"] == 100000
    again = c.post("/v1/topups", json=body, headers=headers)
    assert again.json() == order and again.headers["Idempotent-Replayed"] == "true"
    other = c.post("/v1/topups", json=body | {"amount": "999"}, headers=headers)
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    r = c.post(f"/v1/topups/{order['id']}/card", headers=h(), json={
        "pan": " ".join(re.findall("....", card.pan)), "expiry": f"{card.expiry_month:02d}/{card.expiry_year % 100:02d}",
        "cvc2": card.cvc2, "holder": card.holder})
    assert r.status_code == 200 and r.json()["state"] == "otp_pending", r.text
    r = c.post(f"/v1/topups/{order['id']}/otp", headers=h(), json={"otp": w.last_otp("213661234567")})
    assert r.json()["state"] == "credited"
    r = c.get(f"/v1/topups/{order['id']}/receipt", headers=h(idem=False))
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert "1,000.00 DZD" in r.text
    r = c.post(f"/v1/topups/{order['id']}/receipt/email", headers=h(), json={})
    assert r.status_code == 202 and r.json()["sent_to"] == "x@y.dz"
    bal = c.get("/v1/subscribers/0551234567?market=DZ", headers=h(idem=False)).json()
    assert bal["main"]["value"] == "1100.00"
    # the full card number is nowhere: not in any table, not in the logs
    with w.core.store.transaction() as tx:
        for table in ("orders", "idempotency", "transfers", "accounts"):
            for row in tx.all(f"SELECT * FROM {table}"):
                assert card.pan not in str(row)
                # the CVC as a value of its own (random ids and amounts may contain its digits)
                body = str(row.get("body", ""))
                assert "cvc" not in body.lower()
                assert not re.search(rf"(?<![0-9A-Za-z]){card.cvc2}(?![0-9A-Za-z])", body)
    assert card.pan not in caplog.text


@pytest.mark.parametrize("patch,field", [
    ({"recipient": "0551"}, "recipient"), ({"recipient": "+33612345678"}, "recipient"),
    ({"amount": "0"}, "amount"), ({"amount": "-5"}, "amount"), ({"amount": "999999"}, "amount"),
    ({"amount": "10.005"}, "amount"), ({"amount": 10.5}, "amount"), ({"currency": "EGP"}, "currency"),
    ({"market": "FR"}, "market"), ({"colour": "red"}, "colour"), ({"product": "x"}, "product"),
    ({"amount": None}, "amount"),
])
def test_bad_topups_are_422_naming_the_field_and_write_nothing(sq, patch, field):
    w, c = sq
    body = {"market": "DZ", "recipient": "0551234567", "amount": "100"} | patch
    r = c.post("/v1/topups", json=body, headers=h())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    p = r.json()
    assert p["field"] == field and p["detail"].startswith(field) and p["status"] == 422
    assert rows(w, "orders") == 0 and rows(w, "idempotency") == 0


def test_missing_field_and_malformed_json(sq):
    w, c = sq
    r = c.post("/v1/topups", json={"market": "DZ", "recipient": "0551234567"}, headers=h())
    assert r.status_code == 422 and r.json()["detail"] == "amount: required field is missing"
    r = c.post("/v1/topups", content=b'{"market": "DZ",', headers=h() | {"content-type": "application/json"})
    assert r.status_code == 422 and "malformed JSON" in r.json()["detail"]
    r = c.post("/v1/topups", json=[1, 2], headers=h())
    assert r.status_code == 422


def test_oversized_body_is_413(sq):
    _, c = sq
    r = c.post("/v1/topups", content=b"{" + b" " * 20000 + b"}", headers=h() | {"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"


def test_card_edge_checks(sq):
    w, c = sq
    order = c.post("/v1/topups", json={"market": "DZ", "recipient": "0551234567", "amount": "100"},
                   headers=h()).json()
    card = w.card("213551234567")
    good = {"pan": card.pan, "expiry": f"{card.expiry_month:02d}/{card.expiry_year % 100:02d}", "cvc2": card.cvc2}
    bad_luhn = card.pan[:-1] + str((int(card.pan[-1]) + 1) % 10)
    for patch, field, needle in [({"pan": bad_luhn}, "pan", "Luhn"), ({"expiry": "01/20"}, "expiry", "expired"),
                                 ({"expiry": "13/30"}, "expiry", "month"), ({"cvc2": "12"}, "cvc2", "3 digits"),
                                 ({"pan": "1234"}, "pan", "16 to 19")]:
        r = c.post(f"/v1/topups/{order['id']}/card", json=good | patch, headers=h())
        assert r.status_code == 422 and r.json()["field"] == field and needle in r.json()["detail"], r.text
        assert card.pan not in r.text
    c.post(f"/v1/topups/{order['id']}/card", json=good, headers=h())
    r = c.post(f"/v1/topups/{order['id']}/otp", json={"otp": "12ab56"}, headers=h())
    assert r.status_code == 422 and r.json()["field"] == "otp"


def test_auth_per_channel(sq):
    _, c = sq
    body = {"market": "DZ", "recipient": "0551234567", "amount": "100"}
    assert c.post("/v1/topups", json=body).status_code == 401
    assert c.post("/v1/topups", json=body, headers={"X-API-Key": "nope"}).status_code == 401
    r = c.post("/v1/topups", json=body, headers=h("ussd"))
    assert r.status_code == 403 and "ussd channel may not" in r.json()["detail"]
    assert c.post("/v1/topups", json=body, headers={"Authorization": f"Bearer {KEY['web']}",
                                                    "Idempotency-Key": "b1"}).status_code == 201
    assert c.post("/v1/topups", json=body, headers={"X-API-Key": KEY["web"]}).json()["field"] == "Idempotency-Key"


def test_ussd_and_callback_routes(sq):
    w, c = sq
    r = c.post("/v1/ussd", headers=h("ussd", idem=False), json={
        "session_id": "s1", "msisdn": "+213551234567", "service_code": "*1*1#", "text": ""})
    assert r.status_code == 200 and r.json()["action"] == "continue"
    body = b'{"gateway_ref": "nope", "x": 1}'
    signed = signed_headers(DEV_SECRET, body, now=w.clock.now())
    r = c.post("/v1/gateways/satim/callback", headers={"Content-Type": "application/json", **signed}, content=body)
    assert r.status_code == 200
    r = c.post("/v1/gateways/other/callback", headers=h("gateway", idem=False), json={"gateway_ref": "n"})
    assert r.status_code == 404 and r.json()["field"] == "gateway"


def test_ops_routes(sq):
    w, c = sq
    assert c.get("/healthz").json() == {"status": "ok", "store": "sqlite"}
    spec = c.get("/openapi.json").json()
    assert "/v1/topups" in spec["paths"] and "/v1/ussd" in spec["paths"]
    c.post("/v1/topups", json={"market": "DZ", "recipient": "0551234567", "amount": "100"}, headers=h())
    metrics = c.get("/metrics").text
    assert 'rbench_orders{market="DZ",state="pending_payment"} 1.0' in metrics
    assert "rbench_http_requests_total" in metrics
    assert c.get("/v1/admin/conservation", headers=h("admin", idem=False)).json()["ok"]
    sweep = c.post("/v1/admin/sweep", headers=h("admin", idem=False)).json()
    assert set(sweep) == {"reconciled", "bonuses_expired", "ussd_sessions_closed"}
    r = c.get("/v1/nothing")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    c.post("/v1/topups", json={"market": "DZ", "recipient": "0551234567", "amount": "100"})   # no key: 401
    metrics = c.get("/metrics").text                  # counted per route template, method and status
    assert 'rbench_http_requests_total{method="POST",route="/v1/topups",status="201"} 1.0' in metrics
    assert 'rbench_http_requests_total{method="POST",route="/v1/topups",status="401"} 1.0' in metrics
    assert 'rbench_http_requests_total{method="GET",route="unmatched",status="404"} 1.0' in metrics
    assert 'rbench_http_request_seconds_count{route="/v1/topups"} 2.0' in metrics
    assert c.get("/v1/topups/ord_missing", headers=h(idem=False)).status_code == 404


def test_cap_refusal_is_a_422_problem_with_the_order(sq):
    w, c = sq
    w.line("DZ", "0771234567", "19900")
    r = c.post("/v1/topups", json={"market": "DZ", "recipient": "0771234567", "amount": "500"}, headers=h())
    assert r.status_code == 422 and r.json()["code"] == "balance_cap" and r.json()["order"]["state"] == "refused"


def test_subscriber_provisioning(sq):
    w, c = sq
    r = c.post("/v1/subscribers", headers=h("admin"), json={"market": "EG", "msisdn": "٠١٠١٢٣٤٥٦٧٨"})
    assert r.status_code == 201 and r.json()["msisdn"] == "201012345678" and r.json()["operator"] == "Vodafone"
    r = c.post("/v1/subscribers", headers=h("admin"), json={"market": "EG", "msisdn": "0101", "kind": "prepaid"})
    assert r.status_code == 422 and r.json()["field"] == "msisdn"
    assert c.post("/v1/subscribers", headers=h("web"), json={"market": "EG", "msisdn": "01012345678"}).status_code == 403
