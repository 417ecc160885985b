"""The network side as real HTTP services: the SMSC service (test inbox per MSISDN), the gateway
service (SATIM and Shaparak flows, signed callbacks, settlement files), the HTTP adapters the
core uses to reach them, and ``rbench serve --with-emulators`` as a real process."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI, Request
from hypothesis import given, strategies as st

from core.adapters.callback_signature import DEV_SECRET, verify
from core.adapters.gateway_direct import service_gateways
from core.adapters.smsc import DeliveryDelay
from core.adapters.smsc_http import HttpSmsSender, SmscUnavailable
from core.money import Money
from core.ports import Card, GatewayError, PaymentStatus as S
from core.settlement import files
from hil.emulator_profiles import EmulatorProfileError, SmscProfile, emulator_profile, parse_profile, profile_names
from hil.emulator_services import EmulatorServices, wait_healthy
from hil.server import free_port, serve_app_in_thread
from hil.smsc_service import create_app as smsc_app

CARD_PHONE = "213661112233"


def served(app: object):  # type: ignore[no-untyped-def]
    return serve_app_in_thread(app, lifespan="auto")


class FakeCore:
    """Stands in for the core's callback endpoint and checks each signature."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.app = FastAPI()

        @self.app.post("/v1/gateways/{gateway}/callback")
        async def callback(gateway: str, request: Request) -> dict:
            raw = await request.body()
            verify((DEV_SECRET,), request.headers.get("x-rbench-timestamp"),
                   request.headers.get("x-rbench-signature"), raw, now=time.time())
            self.received.append((gateway, json.loads(raw)["gateway_ref"]))
            return {"received": True}

        @self.app.get("/healthz")
        async def healthz() -> dict:
            return {"status": "ok"}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EmulatorServices, FakeCore]]:
    fake = FakeCore()
    with served(fake.app) as core_url:
        services = EmulatorServices.start(profile="instant", seed=3, core_url=core_url,
                                          log_dir=tmp_path_factory.mktemp("emulators"))
        try:
            yield services, fake
        finally:
            services.stop()


def inbox(smsc_url: str, msisdn: str, after: int = 0, wait: float = 0) -> list[dict]:
    r = httpx.get(f"{smsc_url}/inbox/{msisdn}", params={"after": after, "wait": wait}, timeout=wait + 5)
    assert r.status_code == 200, r.text
    return r.json()["messages"]


# -- the SMSC service --------------------------------------------------------------------------
def test_smsc_takes_messages_and_fills_the_inbox(net) -> None:
    services, _ = net
    url = services.smsc_url
    r = httpx.post(f"{url}/sms", json={"to": "213550000001", "text": "hello", "sender": "RBENCH"})
    assert r.status_code == 202 and r.json()["message_id"].startswith("sms-") and r.json()["segments"] == 1
    got = inbox(url, "+213550000001")
    assert [m["text"] for m in got] == ["hello"] and got[0]["from"] == "RBENCH"
    assert inbox(url, "٢١٣٥٥٠٠٠٠٠٠١") == got                  # Arabic-Indic digits in the path
    assert inbox(url, "213550000001", after=got[0]["seq"]) == []
    long = "x" * 200
    assert httpx.post(f"{url}/sms", json={"to": "213550000001", "text": long}).json()["segments"] == 2
    stats = httpx.get(f"{url}/stats").json()
    assert stats["submitted"] >= 2 and stats["lost"] == 0


@pytest.mark.parametrize("body, field, words", [
    ({"to": "0551", "text": "x"}, "to", "expected E.164 digits"),
    ({"to": "213550000001", "text": ""}, "text", "non-empty"),
    ({"to": "213550000001", "text": "x", "sender": "A VERY LONG SENDER NAME"}, "sender", "11 GSM 7-bit"),
    (["not", "an", "object"], "body", "JSON object"),
])
def test_smsc_refuses_what_it_cannot_send(net, body, field: str, words: str) -> None:
    r = httpx.post(f"{net[0].smsc_url}/sms", json=body)
    assert r.status_code == 422 and r.json()["field"] == field and words in r.json()["detail"]
    r = httpx.get(f"{net[0].smsc_url}/inbox/12ab")
    assert r.status_code == 422 and r.json()["field"] == "msisdn"


def test_smsc_delay_licence_queue_loss_and_bounded_inbox() -> None:
    profile = SmscProfile(DeliveryDelay.fixed(1.0), 0.0, throughput_per_s=5.0)
    with served(smsc_app(profile, seed=1)) as url, httpx.Client() as client:
        t0 = time.monotonic()
        for i in range(3):
            client.post(f"{url}/sms", json={"to": "213550000002", "text": f"m{i}"})
        first = inbox(url, "213550000002", wait=30)               # the long poll returns on arrival,
        assert first and time.monotonic() - t0 < 25               # long before its 30 s
        deadline = time.monotonic() + 30
        while len(got := inbox(url, "213550000002")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Lower bounds only, so a slow machine cannot fail them: late timers deliver later, never
        # sooner. Each message waited its 1 s delay behind one 0.2 s licence slot per message ahead.
        assert [m["text"] for m in got] == ["m0", "m1", "m2"]
        for k, m in enumerate(got):
            assert m["delivered_at"] - got[0]["submitted_at"] >= 1.0 + 0.2 * k - 0.02, (k, m)
    with served(smsc_app(SmscProfile(loss_rate=1.0), seed=1)) as url:
        httpx.post(f"{url}/sms", json={"to": "213550000003", "text": "lost"})
        assert inbox(url, "213550000003", wait=0.3) == []
        assert httpx.get(f"{url}/stats").json() == {"submitted": 1, "delivered": 0, "lost": 1, "en_route": 0,
                                                     "segments": 1}
    with served(smsc_app(SmscProfile(), seed=1)) as url, httpx.Client() as client:
        for i in range(105):
            client.post(f"{url}/sms", json={"to": "213550000004", "text": f"n{i}"})
        got = inbox(url, "213550000004")
        assert len(got) == 100 and got[0]["text"] == "n5" and got[-1]["text"] == "n104"


def test_http_sms_sender(net) -> None:
    sender = HttpSmsSender(net[0].smsc_url)
    mid = sender.send("213550000009", "bonjour", sender="SATIM")
    assert inbox(net[0].smsc_url, "213550000009")[-1]["id"] == mid
    with pytest.raises(ValueError, match="SMSC refused the message to 'x1'"):
        sender.send("x1", "bonjour")
    with pytest.raises(SmscUnavailable, match="SMSC http://127.0.0.1:.*/sms: ConnectError"):
        HttpSmsSender(f"http://127.0.0.1:{free_port()}", timeout_s=1).send("213550000009", "x")


# -- the gateway service -----------------------------------------------------------------------
def test_test_cards_on_demand(net) -> None:
    url = net[0].gateway_url
    r = httpx.post(f"{url}/emulator/cards", json={"phone": "+213661112299", "count": 2})
    cards = r.json()
    assert r.status_code == 201 and len(cards) == 2 and {c["phone"] for c in cards} == {"213661112299"}
    assert re.fullmatch(r"\d\d/\d\d", cards[0]["expiry"]) and len(cards[0]["pin2"]) == 6
    for body, field in (({"phone": "12"}, "phone"), ({"phone": "213661112299", "count": 0}, "count"),
                        ({"phone": "213661112299", "balances": {"DZD": -1}}, "balances")):
        r = httpx.post(f"{url}/emulator/cards", json=body)
        assert r.status_code == 422 and r.json()["field"] == field


def test_satim_flow_over_the_network_with_signed_callbacks(net) -> None:
    services, fake = net
    card = httpx.post(f"{services.gateway_url}/emulator/cards", json={"phone": CARD_PHONE}).json()[0]
    gw = service_gateways(services.gateway_url)["satim"]
    reg = gw.register("ord_net_1", Money(150_000, "DZD"))
    assert reg.form_url.startswith(f"{services.gateway_url}/satim/pay/")
    seen = max([m["seq"] for m in inbox(services.smsc_url, CARD_PHONE)], default=0)
    p = gw.submit_card(reg.gateway_ref, Card(card["pan"], card["expiry_month"], card["expiry_year"],
                                             card["holder"], card["cvc2"]))
    assert p.status is S.OTP_PENDING and p.otp_attempts_left == 3
    sms = inbox(services.smsc_url, CARD_PHONE, after=seen, wait=5)
    assert sms and sms[-1]["from"] == "SATIM"
    code = re.search(r"(?<!\d)(\d{6})(?!\d)", sms[-1]["text"]).group(1)
    with pytest.raises(GatewayError) as e:
        gw.confirm_otp(reg.gateway_ref, "000000" if code != "000000" else "111111")
    assert e.value.code == "wrong_otp"
    assert gw.confirm_otp(reg.gateway_ref, code).status is S.PAID
    assert gw.status(reg.gateway_ref).status is S.PAID
    deadline = time.monotonic() + 5
    while fake.received.count(("satim", reg.gateway_ref)) < 1:        # paid (an OTP sent is no news)
        assert time.monotonic() < deadline, f"callbacks: {fake.received}"
        time.sleep(0.05)
    time.sleep(0.3)
    assert fake.received.count(("satim", reg.gateway_ref)) == 1
    assert httpx.get(f"{services.gateway_url}/emulator/stats").json()["callbacks"]["not_sent_steps"] >= 1
    assert gw.stats()["net_captured"]["DZD"] >= 150_000
    day = datetime.now(UTC).date().isoformat()
    r = httpx.get(f"{services.gateway_url}/emulator/settlement/satim", params={"date": day})
    f = files.parse(r.content, gateway="satim")
    assert any(ln.order_number == "ord_net_1" and ln.status == "captured" for ln in f.lines)
    assert httpx.get(f"{services.gateway_url}/emulator/settlement/satim", params={"date": "yesterday"}).status_code == 422
    assert httpx.get(f"{services.gateway_url}/emulator/settlement/visa", params={"date": day}).status_code == 404


def test_shaparak_flow_with_pin2_over_the_network(net) -> None:
    services, _ = net
    card = httpx.post(f"{services.gateway_url}/emulator/cards", json={"phone": CARD_PHONE}).json()[0]
    gw = service_gateways(services.gateway_url)["dz-pin"]
    reg = gw.register("ord_net_2", Money(50_000, "DZD"))
    typed = Card(card["pan"], card["expiry_month"], card["expiry_year"], card["holder"], None, card["pin2"])
    assert gw.submit_card(reg.gateway_ref, typed).status is S.AUTHORISED
    assert gw.verify(reg.gateway_ref).status is S.PAID
    assert gw.settle(reg.gateway_ref).status is S.SETTLED
    bad = gw.register("ord_net_3", Money(50_000, "DZD"))
    with pytest.raises(GatewayError) as e:
        gw.submit_card(bad.gateway_ref, Card(card["pan"], card["expiry_month"], card["expiry_year"], "", None, "1"))
    assert e.value.field == "pin2"
    stats = httpx.get(f"{services.gateway_url}/emulator/stats").json()
    assert set(stats["gateways"]) == {"satim", "dz-pin", "shaparak", "eg-3ds", "eg-pin"}


# -- profiles ----------------------------------------------------------------------------------
def test_shipped_profiles() -> None:
    assert profile_names() == ["degraded", "instant", "normal"]
    degraded = emulator_profile("degraded")
    assert degraded.smsc.throughput_per_s == 50 and degraded.gateway.timeout_rate == 0.02
    assert emulator_profile("instant").gateway.answer_latency.median_s == 0
    with pytest.raises(EmulatorProfileError, match="unknown emulator profile 'slow'; expected one of degraded"):
        emulator_profile("slow")


@given(p50=st.floats(-1, 20), p95=st.floats(-1, 40), rate=st.floats(-0.5, 1.5))
def test_profile_values_are_checked(p50: float, p95: float, rate: float) -> None:
    data = {"gateway": {"answer_s": {"p50": p50, "p95": p95}, "decline_rate": rate}}
    ok = 0 <= p50 <= p95 and not (p50 == 0 and p95 > 0) and 0 <= rate <= 1 and math.isfinite(p95)
    if ok:
        p = parse_profile(data, "t", "t.yaml")
        assert p.gateway.decline_rate == rate and p.gateway.answer_latency.median_s == p50
    else:
        with pytest.raises(EmulatorProfileError, match="t.yaml.gateway"):
            parse_profile(data, "t", "t.yaml")


# -- rbench serve --with-emulators -------------------------------------------------------------
def test_serve_with_emulators_as_a_real_process(tmp_path) -> None:
    port, gw_port, smsc_port = free_port(), free_port(), free_port()
    env = dict(os.environ, RBENCH_RATE_LIMITS="key=off")
    proc = subprocess.Popen([sys.executable, "-m", "hil.cli", "serve", "--with-emulators", "--port", str(port),
                             "--gateway-port", str(gw_port), "--smsc-port", str(smsc_port), "--db",
                             f"sqlite:///{tmp_path / 'core.db'}", "--emulator-profile", "instant", "--log-level",
                             "warning", "--emulator-logs", str(tmp_path)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    base, admin, web = f"http://127.0.0.1:{port}", {"X-API-Key": "dev-admin-key"}, {"X-API-Key": "dev-web-key"}
    try:
        wait_healthy(base, proc, "rbench serve --with-emulators", None, timeout_s=60)
        gw, smsc = f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{smsc_port}"
        card = httpx.post(f"{gw}/emulator/cards", json={"phone": "213661112233"}).json()[0]
        httpx.post(f"{base}/v1/subscribers", headers={**admin, "Idempotency-Key": "s1"},
                   json={"market": "DZ", "msisdn": "0551234567"}).raise_for_status()
        o = httpx.post(f"{base}/v1/topups", headers={**web, "Idempotency-Key": "t1"},
                       json={"market": "DZ", "recipient": "0551234567", "payer": "0661112233", "amount": "500"}).json()
        assert o["state"] == "pending_payment" and o["payment_url"].startswith(f"{gw}/satim/pay/")
        o = httpx.post(f"{base}/v1/topups/{o['id']}/card", headers={**web, "Idempotency-Key": "c1"}, json={
            "pan": card["pan"], "expiry": card["expiry"], "cvc2": card["cvc2"]}).json()
        assert o["state"] == "otp_pending"
        code = re.search(r"(?<!\d)(\d{6})(?!\d)", inbox(smsc, "213661112233", wait=5)[-1]["text"]).group(1)
        o = httpx.post(f"{base}/v1/topups/{o['id']}/otp", headers={**web, "Idempotency-Key": "o1"},
                       json={"otp": code}).json()
        assert o["state"] == "credited"
        assert inbox(smsc, "213551234567", wait=5), "the recipient's notice went through the SMSC service"
        c = httpx.get(f"{base}/v1/admin/conservation", headers=admin).json()
        assert c["ok"] and c["captured"] == {"DZD": 50_000}
        code = httpx.get(f"{base}/emulator/mandates/nope/code", headers=admin)
        assert code.status_code == 404 and code.json()["field"] == "mandate_id"
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert f"gateway emulators on http://127.0.0.1:{gw_port}" in out and "SMSC emulator on" in out
    assert proc.returncode in (0, 143), out
    for p in (gw_port, smsc_port):                           # the services stopped with it
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{p}/healthz", timeout=2)
