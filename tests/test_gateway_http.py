"""The HTTP client adapters against the emulated gateways served by uvicorn over real HTTP."""
from __future__ import annotations

import random
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi.testclient import TestClient

from core.adapters.gateway_http import (HttpGatewayConfig, SatimHttpGateway,
                                        ShaparakHttpGateway)
from core.adapters.gateway_profile import GatewayProfile, fixed
from core.adapters.gateway_server import create_app
from core.adapters.gateways import EmulatedGateway
from core.adapters.issuer import IssuedCard, Issuer
from core.adapters.satim import SatimGateway
from core.adapters.shaparak import ShaparakGateway
from core.clock import FakeClock, ManualScheduler
from core.money import Money
from core.ports import CardGateway, GatewayError, GatewayTimeout, PaymentStatus as S
from hil.server import serve_app_in_thread

CARD_PHONE = "213661112233"


class RecordingSms:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, text: str, *, sender: str = "RBENCH") -> str:
        self.sent.append((to, text))
        return str(len(self.sent))

    def last_code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.sent[-1][1])
        assert found
        return found.group(1)


def serve(app: object):  # type: ignore[no-untyped-def]
    """uvicorn on 127.0.0.1, on a port the OS picks, in a thread."""
    return serve_app_in_thread(app)


@dataclass
class Rig:
    base: str
    clock: FakeClock
    gw: EmulatedGateway
    card: IssuedCard
    sms: RecordingSms
    issuer: Issuer

    def page(self, path: str, **payload: object) -> dict:
        """What the browser does on the gateway's hosted page (emulator-only routes)."""
        r = httpx.post(f"{self.base}/emulator/{path}", json=payload, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def enter_card(self, ref: str, **override: object) -> dict:
        c = self.card
        body = dict(ref=ref, pan=c.pan, expiry_month=c.expiry_month,
                    expiry_year=c.expiry_year, cvc2=c.cvc2, pin2=c.pin2)
        return self.page("card", **{**body, **override})


@contextmanager
def rig(style: str, profile: GatewayProfile = GatewayProfile()) -> Iterator[Rig]:
    clock = FakeClock()
    issuer = Issuer(clock)
    card = issuer.generate(random.Random(3), 1, [CARD_PHONE])[0]
    sms = RecordingSms()
    cls = SatimGateway if style == "satim" else ShaparakGateway
    gw = cls(style, clock, ManualScheduler(clock), random.Random(3), issuer, sms,
             profile=profile)
    with serve(create_app(gw, username="merchant", password="s3cret")) as base:
        yield Rig(base, clock, gw, card, sms, issuer)


def satim_client(base: str, password: str = "s3cret", **kw: object) -> SatimHttpGateway:
    return SatimHttpGateway("satim", HttpGatewayConfig(
        f"{base}/payment/rest", "merchant", password,
        return_url="https://operator.test/back/{order_ref}", **kw))  # type: ignore[arg-type]


def shaparak_client(base: str, **kw: object) -> ShaparakHttpGateway:
    return ShaparakHttpGateway("shaparak", HttpGatewayConfig(
        f"{base}/shaparak", "merchant", "s3cret", **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def satim() -> Iterator[Rig]:
    with rig("satim") as r:
        yield r


@pytest.fixture(scope="module")
def shaparak() -> Iterator[Rig]:
    with rig("shaparak") as r:
        yield r


def test_satim_full_flow_over_http(satim: Rig) -> None:
    client: CardGateway = satim_client(satim.base)
    reg = client.register("http-1", Money(150_000, "DZD"), language="fr")
    assert reg.form_url.endswith(reg.gateway_ref)
    p = client.status(reg.gateway_ref)
    assert (p.status, p.order_ref, p.amount) == (S.REGISTERED, "http-1", Money(150_000, "DZD"))
    assert satim.enter_card(reg.gateway_ref)["transaction"]["state"] == "otp_pending"
    assert satim.sms.sent[-1][0] == CARD_PHONE
    p = client.status(reg.gateway_ref)
    assert p.status is S.OTP_PENDING and p.otp_attempts_left == 3
    satim.page("otp", ref=reg.gateway_ref, otp=satim.sms.last_code())
    p = client.status(reg.gateway_ref)
    assert p.status is S.PAID
    assert p.masked_pan == satim.card.pan[:6] + "******" + satim.card.pan[-4:]
    assert p.approval_code and p.reason is None
    assert client.verify(reg.gateway_ref).status is S.PAID
    assert client.refund(reg.gateway_ref, Money(150_000, "DZD")).status is S.REFUNDED


def test_satim_card_entry_is_the_gateways_page(satim: Rig) -> None:
    client = satim_client(satim.base)
    ref = client.register("http-2", Money(100, "DZD")).gateway_ref
    for call in (lambda: client.submit_card(ref, satim.card.card()),
                 lambda: client.confirm_otp(ref, "123456"), lambda: client.resend_otp(ref)):
        with pytest.raises(GatewayError) as e:
            call()
        assert e.value.code == "hosted_page" and "form_url" in e.value.message


def test_satim_errors_come_back_as_gateway_errors(satim: Rig) -> None:
    client = satim_client(satim.base)
    client.register("http-3", Money(100, "DZD"))
    with pytest.raises(GatewayError) as e:
        client.register("http-3", Money(999, "DZD"))
    assert (e.value.code, e.value.field) == ("duplicate_order", "order_ref")
    with pytest.raises(GatewayError) as e:
        client.status("no-such-order")
    assert (e.value.code, e.value.field) == ("unknown_order", "gateway_ref")
    with pytest.raises(GatewayError) as e:
        satim_client(satim.base, password="wrong").status("x")
    assert e.value.code == "access_denied"


def test_satim_decline_and_expiry_map_to_our_statuses(satim: Rig) -> None:
    client = satim_client(satim.base)
    ref = client.register("http-4", Money(100, "DZD")).gateway_ref
    satim.enter_card(ref, cvc2=f"{(int(satim.card.cvc2) + 1) % 1000:03d}")
    p = client.status(ref)
    assert p.status is S.DECLINED and "CVC2" in (p.reason or "")
    ref = client.register("http-5", Money(100, "DZD")).gateway_ref
    satim.clock.advance(satim.gw.session_timeout_s)
    p = client.status(ref)
    assert p.status is S.EXPIRED and "timed out" in (p.reason or "")


def test_satim_field_error_from_the_page(satim: Rig) -> None:
    ref = satim_client(satim.base).register("http-6", Money(100, "DZD")).gateway_ref
    r = httpx.post(f"{satim.base}/emulator/card", json=dict(
        ref=ref, pan="1234", expiry_month=1, expiry_year=2030, cvc2="123"))
    body = r.json()
    assert body["resultCode"] == -1 and body["errorField"] == "pan"
    assert "expected" in body["resultMessage"]


def test_emulated_timeout_and_outage_over_http() -> None:
    t0 = FakeClock().now()
    with rig("satim", GatewayProfile(outages=[(t0 + 100, t0 + 200)])) as r:
        client = satim_client(r.base)
        ref = client.register("t-1", Money(100, "DZD")).gateway_ref
        r.gw.profile = GatewayProfile(timeout_rate=1.0)
        with pytest.raises(GatewayTimeout):
            client.refund(ref, Money(100, "DZD"))
        r.gw.profile = GatewayProfile(outages=[(t0 + 100, t0 + 200)])
        r.clock.advance(150)
        with pytest.raises(GatewayError) as e:
            client.status(ref)
        assert e.value.code == "unavailable"


def test_a_slow_answer_is_a_real_read_timeout() -> None:
    with rig("satim", GatewayProfile(answer_latency=fixed(1.0))) as r:
        client = satim_client(r.base, read_timeout_s=0.2)
        with pytest.raises(GatewayTimeout, match="no answer"):     # an answer at 1.0 s would not raise
            client.register("slow-1", Money(100, "DZD"))
        deadline = time.monotonic() + 30
        while r.gw.stats()["orders"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert r.gw.stats()["orders"] == 1    # the gateway still registered it


def test_nobody_listening_is_unavailable() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = satim_client(f"http://127.0.0.1:{port}", connect_timeout_s=1.0)
    with pytest.raises(GatewayError) as e:
        client.status("x")
    assert e.value.code == "unavailable" and "cannot reach" in e.value.message
    assert "s3cret" not in e.value.message


def test_a_non_json_answer_is_a_bad_response(satim: Rig) -> None:
    client = SatimHttpGateway("satim", HttpGatewayConfig(f"{satim.base}/nowhere", "m", "p"))
    with pytest.raises(GatewayError) as e:
        client.status("x")
    assert e.value.code == "bad_response" and "404" in e.value.message


def test_shaparak_full_flow_over_http(shaparak: Rig) -> None:
    client: CardGateway = shaparak_client(shaparak.base, return_url="https://op.test/cb")
    start = shaparak.issuer.balance(shaparak.card.card_id, "IRR")
    reg = client.register("sh-1", Money(250_000, "IRR"))
    assert client.status(reg.gateway_ref).status is S.REGISTERED
    shaparak.enter_card(reg.gateway_ref)
    p = client.status(reg.gateway_ref)
    assert p.status is S.AUTHORISED and p.approval_code and p.masked_pan
    assert client.verify(reg.gateway_ref).status is S.PAID
    assert client.verify(reg.gateway_ref).status is S.PAID
    assert client.settle(reg.gateway_ref).status is S.SETTLED
    assert shaparak.issuer.balance(shaparak.card.card_id, "IRR") == start - Money(250_000, "IRR")
    with pytest.raises(GatewayError) as e:
        client.confirm_otp(reg.gateway_ref, "1")
    assert e.value.code == "not_supported"


def test_shaparak_missed_window_and_reverse_over_http(shaparak: Rig) -> None:
    client = shaparak_client(shaparak.base)
    late = client.register("sh-2", Money(10_000, "IRR")).gateway_ref
    shaparak.enter_card(late)
    shaparak.clock.advance(shaparak.gw.verify_window_s + 1)
    with pytest.raises(GatewayError) as e:
        client.verify(late)
    assert e.value.code == "verify_window_missed"
    assert client.status(late).status is S.REVERSED
    held = client.register("sh-3", Money(10_000, "IRR")).gateway_ref
    shaparak.enter_card(held)
    assert client.refund(held, Money(10_000, "IRR")).status is S.REVERSED
    with pytest.raises(GatewayError) as e:
        client.settle(held)
    assert e.value.code == "wrong_state"


def test_shaparak_pin2_is_required_on_the_page(shaparak: Rig) -> None:
    ref = shaparak_client(shaparak.base).register("sh-4", Money(10, "IRR")).gateway_ref
    r = httpx.post(f"{shaparak.base}/emulator/card", json=dict(
        ref=ref, pan=shaparak.card.pan, expiry_month=shaparak.card.expiry_month,
        expiry_year=shaparak.card.expiry_year, cvc2=shaparak.card.cvc2))
    assert r.json()["errorField"] == "pin2"


def test_emulator_stats_and_hosted_page(shaparak: Rig) -> None:
    ref = shaparak_client(shaparak.base).register("sh-5", Money(10, "IRR")).gateway_ref
    page = httpx.get(f"{shaparak.base}/pay/{ref}").json()
    assert page["transaction"]["state"] == "registered"
    stats = httpx.get(f"{shaparak.base}/emulator/stats").json()
    assert stats["orders"] >= 1 and "captured" in stats


def test_fixed_paths_skip_the_router_and_answer_as_it_would(satim: Rig) -> None:
    """DirectRoutes: the merchant API and page steps bypass the router; their answers, the
    router's 405 for another method and a templated path are unchanged."""
    app = create_app(satim.gw, username="merchant", password="s3cret")
    assert "/payment/rest/register.do" in app.state.direct and "/pay/{ref}" not in app.state.direct
    with TestClient(app) as c:
        r = c.post("/payment/rest/register.do", data={"userName": "merchant", "password": "s3cret",
                                                       "orderNumber": "direct-1", "amount": "500", "currency": "012"})
        assert r.status_code == 200 and r.json()["errorCode"] == "0"
        ref = r.json()["orderId"]
        q = c.get("/payment/rest/getOrderStatusExtended.do",
                  params={"userName": "merchant", "password": "s3cret", "orderId": ref})
        assert q.json()["orderStatus"] == 0
        denied = c.post("/payment/rest/register.do", data={"userName": "merchant", "password": "wrong"})
        assert denied.json()["errorCode"] == "5"
        assert c.put("/payment/rest/register.do").status_code == 405          # the router's answer
        assert c.get(f"/pay/{ref}").json()["transaction"]["state"] == "registered"
        bad = c.post("/emulator/otp", content=b"{", headers={"Content-Type": "application/json"})
        assert bad.json()["errorField"] == "body"
        routes, app.router.routes = app.router.routes, []                   # no router any more:
        assert c.post("/emulator/stats").json()["resultCode"] == 0           # still answered directly
        assert c.get(f"/pay/{ref}").status_code == 404
        app.router.routes = routes
