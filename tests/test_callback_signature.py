"""Signed gateway callbacks: the HMAC over timestamp and body, the tolerance window, secret
rotation, the replay guard, and the callback route refusing what is unsigned, tampered,
stale or replayed (while a genuine callback still makes the core ask the gateway)."""
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, strategies as st

from core.adapters import callback_signature as cs
from core.adapters.gateway_profile import GatewayProfile
from core.orders import State
from hil.server import app_for
from support import make_world

NOW = 1_767_225_600.0


@given(st.binary(max_size=512), st.text(min_size=16, max_size=40), st.integers(-300, 300))
def test_what_is_signed_verifies_within_the_window(body, secret, skew):
    headers = cs.signed_headers(secret, body, now=NOW)
    sig = cs.verify([secret], headers[cs.TIMESTAMP_HEADER], headers[cs.SIGNATURE_HEADER], body, now=NOW + skew)
    assert sig == headers[cs.SIGNATURE_HEADER] and sig.startswith("v1=") and len(sig) == 67


@given(st.binary(min_size=1, max_size=256), st.data())
def test_any_changed_byte_is_refused(body, data):
    headers = cs.signed_headers("a-secret-of-16-chars", body, now=NOW)
    i = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:i] + bytes([body[i] ^ flip]) + body[i + 1:]
    with pytest.raises(cs.BadCallback) as e:
        cs.verify(["a-secret-of-16-chars"], headers[cs.TIMESTAMP_HEADER], headers[cs.SIGNATURE_HEADER],
                  tampered, now=NOW)
    assert e.value.code == "bad_signature"


@given(st.text(max_size=30), st.text(max_size=80))
def test_arbitrary_headers_are_refused_with_a_reason_never_a_crash(ts, sig):
    with pytest.raises(cs.BadCallback) as e:
        cs.verify(["s" * 16], ts, sig, b"{}", now=NOW)
    assert e.value.code in ("unsigned_callback", "bad_timestamp", "stale_callback", "bad_signature")


def test_refusals_name_the_header_and_what_was_expected():
    body = b'{"gateway_ref":"r1"}'
    h = cs.signed_headers("secret-one-16chars", body, now=NOW)
    ts, sig = h[cs.TIMESTAMP_HEADER], h[cs.SIGNATURE_HEADER]
    cases = [((None, sig), "unsigned_callback", "X-Rbench-Timestamp: header missing"),
             ((ts, None), "unsigned_callback", "X-Rbench-Signature: header missing"),
             (("12.5", sig), "bad_timestamp", "whole seconds"),
             ((ts, "sha256=abc"), "bad_signature", "v1= and 64 lowercase hex"),
             ((ts, "v1=" + "0" * 64), "bad_signature", "does not match")]
    for (t, s), code, words in cases:
        with pytest.raises(cs.BadCallback) as e:
            cs.verify(["secret-one-16chars"], t, s, body, now=NOW)
        assert e.value.code == code and words in e.value.message
    with pytest.raises(cs.BadCallback, match=r"is \+301 s from the core's clock; expected within 300 s"):
        cs.verify(["secret-one-16chars"], ts, sig, body, now=NOW + 301)
    with pytest.raises(cs.BadCallback, match="does not match"):
        cs.verify(["another-secret-16"], ts, sig, body, now=NOW)


def test_rotation_two_secrets_and_two_signatures():
    body = b"{}"
    old = cs.signed_headers("old-secret-16-chars", body, now=NOW)
    new = cs.signed_headers("new-secret-16-chars", body, now=NOW)
    ts = old[cs.TIMESTAMP_HEADER]
    assert cs.verify(["new-secret-16-chars", "old-secret-16-chars"], ts, old[cs.SIGNATURE_HEADER], body, now=NOW)
    both = f"{old[cs.SIGNATURE_HEADER]}, {new[cs.SIGNATURE_HEADER]}"
    assert cs.verify(["new-secret-16-chars"], ts, both, body, now=NOW) == new[cs.SIGNATURE_HEADER]


def test_secrets_from_the_environment():
    assert cs.secrets_from_env("") == {"*": (cs.DEV_SECRET,)}
    table = cs.secrets_from_env("satim=aaaaaaaaaaaaaaaa,satim=bbbbbbbbbbbbbbbb,*=cccccccccccccccc")
    assert cs.secrets_for(table, "satim") == ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb")
    assert cs.secrets_for(table, "shaparak") == ("cccccccccccccccc",)
    with pytest.raises(ValueError, match="at least 16 characters"):
        cs.secrets_from_env("satim=short")
    with pytest.raises(ValueError, match="gateway=secret"):
        cs.secrets_from_env("satim")


def test_the_replay_guard_remembers_across_a_restart(sqlite_url):
    w = make_world(sqlite_url)
    guard = cs.ReplayGuard(w.core.store)
    assert guard.first_time("satim", "v1=aa", NOW) and not guard.first_time("satim", "v1=aa", NOW + 10)
    assert guard.first_time("shaparak", "v1=aa", NOW)                  # per gateway
    w.core.close()
    again = make_world(sqlite_url)                                     # same file, new process
    assert not cs.ReplayGuard(again.core.store).first_time("satim", "v1=aa", NOW + 20)
    assert cs.ReplayGuard(again.core.store).first_time("satim", "v1=aa", NOW + 601)   # forgotten after 2x window
    again.core.close()


def test_the_notifier_posts_a_signed_body():
    sent = []

    class Answer:
        def raise_for_status(self):
            sent.append("checked")

    def post(url, *, content, headers, timeout):
        sent.append((url, content, headers))
        return Answer()
    notify = cs.http_notifier("http://core/v1/gateways/{gateway}/callback", "s3cret-s3cret-16", lambda: NOW, post)
    notify("satim", "ref-1")
    notify("satim", "ref-1")
    (url, body, headers), _, (_, body2, _), _ = sent
    assert url == "http://core/v1/gateways/satim/callback" and json.loads(body)["gateway_ref"] == "ref-1"
    assert body != body2                                              # two events, not a replay
    assert cs.verify(["s3cret-s3cret-16"], headers[cs.TIMESTAMP_HEADER], headers[cs.SIGNATURE_HEADER], body, now=NOW)


# -- the callback route ----------------------------------------------------------------------------
@pytest.fixture
def api(store_url):
    w = make_world(store_url, gateway_profile=GatewayProfile(callback_loss_rate=1.0))
    w.line("DZ", "0551234567", "100")
    app = app_for(w.core)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield w, client
    assert w.core.conservation().ok
    w.core.close()


def post_callback(c, w, gateway, payload, *, secret=cs.DEV_SECRET, now=None, headers=None):
    body = json.dumps(payload).encode()
    signed = cs.signed_headers(secret, body, now=w.clock.now() if now is None else now)
    return c.post(f"/v1/gateways/{gateway}/callback", content=body,
                  headers={"Content-Type": "application/json", **signed, **(headers or {})})


def test_a_signed_callback_makes_the_core_ask_and_credit_and_its_replay_is_refused(api):
    w, c = api
    card = w.card("213551234567")
    order = w.topup("DZ", "0551234567", "500")
    gw = w.core.gateways["satim"]
    gw.submit_card(order.gateway_ref, w.card_data(card))              # paid on the gateway's page;
    gw.confirm_otp(order.gateway_ref, w.last_otp(card.phone))         # the callback was lost
    assert w.core.payments.get(order.id).state is State.PENDING_PAYMENT
    payload = {"gateway_ref": order.gateway_ref, "event_id": "e1", "orderStatus": 2}
    body = json.dumps(payload).encode()
    signed = cs.signed_headers(cs.DEV_SECRET, body, now=w.clock.now())
    send = lambda: c.post("/v1/gateways/satim/callback", content=body,  # noqa: E731
                          headers={"Content-Type": "application/json", **signed})
    r = send()
    assert r.status_code == 200 and r.json() == {"received": True}
    assert w.core.payments.get(order.id).state is State.CREDITED
    again = send()
    assert again.status_code == 409 and again.json()["code"] == "replayed_callback"
    assert again.json()["field"] == "signature"


def test_unsigned_tampered_stale_and_foreign_callbacks_are_refused(api):
    w, c = api
    r = c.post("/v1/gateways/satim/callback", json={"gateway_ref": "x"}, headers={"X-API-Key": "dev-gateway-key"})
    assert r.status_code == 401 and r.json()["code"] == "unsigned_callback"
    assert r.headers["content-type"].startswith("application/problem+json")
    body = b'{"gateway_ref":"x"}'
    signed = cs.signed_headers(cs.DEV_SECRET, body, now=w.clock.now())
    r = c.post("/v1/gateways/satim/callback", content=b'{"gateway_ref":"y"}',
               headers={"Content-Type": "application/json", **signed})
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    r = post_callback(c, w, "satim", {"gateway_ref": "x"}, now=w.clock.now() - 3600)
    assert r.status_code == 401 and r.json()["code"] == "stale_callback"
    r = post_callback(c, w, "satim", {"gateway_ref": "x"}, secret="not-the-gateway-secret")
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    r = post_callback(c, w, "satim", ["not", "an", "object"])
    assert r.status_code == 422 and r.json()["field"] == "gateway_ref"
    r = post_callback(c, w, "nowhere", {"gateway_ref": "x"})
    assert r.status_code == 404 and r.json()["field"] == "gateway"


def test_each_gateway_has_its_own_secret(sqlite_url):
    w = make_world(sqlite_url)
    from core.api.app import create_app
    app = create_app(w.core, callback_secrets={"satim": ("satim-secret-16ch",), "shaparak": ("shap-secret-16chr",)})
    with TestClient(app, raise_server_exceptions=False) as c:
        assert post_callback(c, w, "satim", {"gateway_ref": "a"}, secret="satim-secret-16ch").status_code == 200
        assert post_callback(c, w, "shaparak", {"gateway_ref": "a"}, secret="satim-secret-16ch").status_code == 401
        assert post_callback(c, w, "eg-3ds", {"gateway_ref": "a"}, secret="satim-secret-16ch").status_code == 401
    w.core.close()
