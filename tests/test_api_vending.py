"""Meters, vending, kiosk float and direct-channel top-ups over HTTP."""
import uuid

import pytest
from fastapi.testclient import TestClient

from core.api.auth import DEV_KEYS
from hil.server import app_for
from protocols import sts
from support import make_world

KEY = {c: k for k, c in DEV_KEYS.items()}


def h(channel):
    return {"X-API-Key": KEY[channel], "Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture
def api(store_url):
    w = make_world(store_url)
    with TestClient(app_for(w.core), raise_server_exceptions=False) as client:
        yield w, client
    assert w.core.conservation().ok
    w.core.close()


def test_kiosk_sells_a_token_and_a_top_up_from_its_float(api):
    w, c = api
    r = c.post("/v1/meters", headers=h("admin"), json={"market": "EG", "number": "47500150231", "kind": "sts",
                                                       "tariff": "EG-RES", "customer": "Mona"})
    assert r.status_code == 201, r.text
    r = c.post("/v1/vends", headers=h("kiosk"), json={"meter": "47500150231", "amount": "١٠٠", "method_account": "k9"})
    assert r.status_code == 402 and r.json()["reason"].startswith("agent_float_low")
    assert c.post("/v1/agents/k9/float", headers=h("admin"), json={"amount": "500", "currency": "EGP"}).json() == {
        "agent": "k9", "float_minor": 50000}
    headers = h("kiosk")
    r = c.post("/v1/vends", headers=headers, json={"meter": "47500150231", "amount": "100", "method_account": "k9"})
    assert r.status_code == 201 and r.json()["state"] == "credited"
    token = r.json()["vend"]["token"]
    again = c.post("/v1/vends", headers=headers, json={"meter": "47500150231", "amount": "100", "method_account": "k9"})
    assert again.json()["vend"]["token"] == token and again.headers["Idempotent-Replayed"] == "true"
    assert c.get(f"/v1/vends/{r.json()['id']}", headers=h("kiosk")).json()["token"] == token
    key = w.core.vending.purpose.decoder_key(w.core.meters.get("47500150231"))
    assert sts.decode(token, key).result is sts.TokenResult.ACCEPTED
    w.line("EG", "01012345678")
    r = c.post("/v1/topups", headers=h("kiosk"), json={"market": "EG", "recipient": "01012345678", "amount": "50",
                                                       "method_account": "k9"})
    assert r.status_code == 201 and r.json()["state"] == "credited" and r.json()["method"] == "kiosk"


@pytest.mark.parametrize("body,field", [
    ({"meter": "47500150232", "amount": "100", "method_account": "k9"}, "meter"),
    ({"meter": "47500150231", "amount": "5", "method_account": "k9"}, "amount"),
    ({"meter": "47500150231", "amount": "100"}, "method_account"),
    ({"meter": "47500150231", "amount": "100", "method_account": "k9", "kwh": 3}, "kwh"),
])
def test_bad_vends(api, body, field):
    w, c = api
    w.core.meters.register("EG", "47500150231", kind="sts", tariff="EG-RES", customer="Mona")
    r = c.post("/v1/vends", headers=h("kiosk"), json=body)
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    with w.core.store.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM orders")["n"] == 0


def test_unknown_meter_is_404(api):
    _, c = api
    r = c.post("/v1/vends", headers=h("kiosk"), json={"meter": "12345678903", "amount": "100", "method_account": "k"})
    assert r.status_code == 404 and r.json()["field"] == "meter"
