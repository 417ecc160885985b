"""Security controls of the core's API: which channel key may call which route (and keys
narrowed by scopes), rate limits per API key and per MSISDN answered 429 with Retry-After,
and OTP brute force limited per payer MSISDN per hour across orders."""
import random
import threading
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from core.api.app import create_app
from core.adapters.gateway_profile import GatewayProfile
from core.clock import FakeClock, ImmediateScheduler
from core.wiring import build_core
from core.api.auth import DEV_KEYS, keys_from_env, scopes_from_env
from core.api.limits import Buckets, Limiter, Limits, Rate
from core.errors import Conflict, NotFound, Refused, TooManyAttempts
from core.orders import State
from core.ports import GatewayTimeout
from hil.server import app_for
from support import World, make_world

KEY = {c: k for k, c in DEV_KEYS.items()}
WEB, DIRECT, ALL = ("web", "app", "admin"), ("kiosk", "wallet", "bank"), tuple(KEY)

# The access policy, written out: every route of the API and the channels whose key it admits.
# A change to who may call what must change this table on purpose.
POLICY = {
    ("POST", "/v1/subscribers"): ("admin",),
    ("GET", "/v1/subscribers/{msisdn}"): ("web", "app", "admin", "ussd"),
    ("POST", "/v1/topups"): WEB + DIRECT,
    ("GET", "/v1/topups/{order_id}"): WEB,
    ("POST", "/v1/topups/{order_id}/card"): WEB,
    ("POST", "/v1/topups/{order_id}/otp"): WEB,
    ("POST", "/v1/topups/{order_id}/otp/resend"): WEB,
    ("POST", "/v1/topups/{order_id}/reconcile"): WEB,
    ("GET", "/v1/topups/{order_id}/receipt"): WEB,
    ("POST", "/v1/topups/{order_id}/receipt/email"): WEB,
    ("POST", "/v1/meters"): ("admin",),
    ("POST", "/v1/meters/{number}/cards"): ("admin",) + DIRECT,
    ("POST", "/v1/vends"): WEB + DIRECT,
    ("GET", "/v1/vends/{order_id}"): WEB + DIRECT,
    ("POST", "/v1/agents/{agent}/float"): ("admin",),
    ("GET", "/v1/billers"): WEB + DIRECT,
    ("GET", "/v1/bills/{biller}/{account}"): WEB + DIRECT,
    ("POST", "/v1/bills/{biller}/{account}/payments"): WEB + DIRECT,
    ("POST", "/v1/bills/{biller}/{account}/recharges"): WEB + DIRECT,
    ("POST", "/v1/bills/{biller}/{account}/plan-proposals"): WEB,
    ("POST", "/v1/bills/{biller}/{account}/plans"): WEB,
    ("GET", "/v1/plans/{plan_id}"): WEB,
    ("POST", "/v1/mandates"): ("admin",),
    ("GET", "/v1/mandates/{mandate_id}"): WEB,
    ("POST", "/v1/mandates/{mandate_id}/activate"): WEB,
    ("POST", "/v1/mandates/{mandate_id}/revoke"): WEB,
    ("POST", "/v1/admin/mandate-runs"): ("admin",),
    ("POST", "/v1/admin/plans/check-missed"): ("admin",),
    ("POST", "/v1/ussd"): ("ussd",),
    ("POST", "/v1/admin/sweep"): ("admin",),
    ("GET", "/v1/admin/conservation"): ("admin",),
    ("GET", "/emulator/sms/{msisdn}"): ("admin",),
    ("GET", "/emulator/cards"): ("admin",),
}
PUBLIC = {("GET", "/healthz"), ("GET", "/metrics"), ("POST", "/v1/gateways/{gateway}/callback")}   # no key


@pytest.fixture
def sq(sqlite_url):
    w = make_world(sqlite_url)
    w.line("DZ", "0551234567", "100")
    w.line("DZ", "0661234567")
    with TestClient(app_for(w.core), raise_server_exceptions=False) as client:
        yield w, client
    w.core.close()


def concrete(path: str) -> str:
    for name in ("order_id", "msisdn", "number", "biller", "account", "plan_id", "mandate_id", "agent", "gateway"):
        path = path.replace("{" + name + "}", "x")
    return path


def test_every_route_admits_exactly_the_channels_of_the_policy(sq):
    w, c = sq
    routes = {(m.upper(), p) for p, ops in c.get("/openapi.json").json()["paths"].items() for m in ops}
    routes |= {("GET", "/emulator/sms/{msisdn}"), ("GET", "/emulator/cards")}
    assert routes - PUBLIC == set(POLICY), "a route was added or removed: put it in POLICY on purpose"
    for (method, path), allowed in sorted(POLICY.items()):
        assert c.request(method, concrete(path), json={}).status_code == 401, (method, path)
        for channel, key in KEY.items():
            r = c.request(method, concrete(path), json={},
                          headers={"X-API-Key": key, "Idempotency-Key": str(uuid.uuid4())})
            admitted = r.status_code not in (401, 403)
            assert admitted == (channel in allowed), (method, path, channel, r.status_code, r.text[:120])
            if not admitted:
                assert r.json()["field"] == "X-API-Key" and f"the {channel} channel may not" in r.json()["detail"]


def test_a_key_narrowed_by_scopes_calls_only_those_routes(sqlite_url):
    w = make_world(sqlite_url)
    w.line("DZ", "0551234567", "100")
    env = "web=ro-key@topups:read+receipts:*,admin=adm"
    app = create_app(w.core, keys_from_env(env), key_scopes=scopes_from_env(env))
    with TestClient(app, raise_server_exceptions=False) as c:
        ro = {"X-API-Key": "ro-key", "Idempotency-Key": "k1"}
        assert c.get("/v1/topups/ord_missing", headers=ro).status_code == 404          # topups:read
        r = c.post("/v1/topups", headers=ro, json={"market": "DZ", "recipient": "0551234567", "amount": "100"})
        assert r.status_code == 403 and "scopes receipts:*+topups:read" in r.json()["detail"]
        assert "needs topups:write" in r.json()["detail"]
        assert c.post("/v1/topups/x/receipt/email", headers=ro, json={}).status_code == 404   # receipts:* writes
        assert c.get("/v1/billers", headers=ro).status_code == 403                        # bills:read not granted
        assert c.get("/v1/billers", headers={"X-API-Key": "adm"}).status_code == 200      # unscoped: all of admin's
    w.core.close()


def test_key_configuration_is_checked():
    assert keys_from_env("web=a@topups:read,ussd=b") == {"a": "web", "b": "ussd"}
    assert scopes_from_env("web=a@topups:read,ussd=b") == {"a": frozenset({"topups:read"})}
    for bad, words in [("web=a@topups", "tag:read, tag:write or tag:*"), ("web=a@", "tag:read"),
                       ("=a", "expected channel=key"), ("web", "expected channel=key")]:
        with pytest.raises(ValueError, match=words):
            keys_from_env(bad)


def test_a_non_ascii_key_is_refused_not_a_crash(sq):
    _, c = sq
    r = c.get("/v1/topups/x", headers={"X-API-Key": "clé-été".encode()})      # raw UTF-8 bytes on the wire
    assert r.status_code == 401 and r.json()["detail"] == "X-API-Key: unknown key"


# -- rate limits ----------------------------------------------------------------------------------
class Ticks:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def limited_app(w, limits: Limits, ticks: Ticks):
    return create_app(w.core, dict(DEV_KEYS), rate_limits=Limiter(limits, now=ticks))


def test_a_key_over_its_rate_gets_429_with_retry_after_then_recovers(sqlite_url):
    w = make_world(sqlite_url)
    ticks = Ticks()
    with TestClient(limited_app(w, Limits(per_key=Rate(3, 1.0), per_msisdn=None), ticks),
                    raise_server_exceptions=False) as c:
        web = {"X-API-Key": KEY["web"]}
        assert [c.get("/v1/topups/x", headers=web).status_code for _ in range(3)] == [404] * 3
        r = c.get("/v1/topups/x", headers=web)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert r.json()["code"] == "too_many_attempts" and r.json()["field"] == "X-API-Key"
        assert r.headers["content-type"].startswith("application/problem+json")
        assert c.get("/v1/topups/x", headers={"X-API-Key": KEY["app"]}).status_code == 404   # its own budget
        assert [c.get("/healthz").status_code for _ in range(4)] == [200, 200, 200, 429]        # per address
        ticks.t += 1.0
        assert c.get("/v1/topups/x", headers=web).status_code == 404
        metrics = c.get("/metrics").text
        assert 'status="429"' in metrics
    w.core.close()


def test_an_msisdn_over_its_rate_gets_429_and_its_idempotency_key_is_not_used_up(sqlite_url):
    w = make_world(sqlite_url)
    w.line("DZ", "0551234567", "100")
    ticks = Ticks()
    with TestClient(limited_app(w, Limits(per_key=None, per_msisdn=Rate(2, 60.0)), ticks),
                    raise_server_exceptions=False) as c:
        body = {"market": "DZ", "recipient": "0551234567", "amount": "100"}
        codes = [c.post("/v1/topups", json=body, headers={"X-API-Key": KEY["web"], "Idempotency-Key": f"m{i}"})
                 .status_code for i in range(3)]
        assert codes == [201, 201, 429]
        r = c.post("/v1/topups", json=body | {"recipient": "+213 551 234 567"},      # same line, other form
                   headers={"X-API-Key": KEY["web"], "Idempotency-Key": "m2"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "30"
        assert "213551234567" in r.json()["detail"] and "2/min" in r.json()["detail"]
        ticks.t += 30
        again = c.post("/v1/topups", json=body, headers={"X-API-Key": KEY["web"], "Idempotency-Key": "m2"})
        assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
        ussd = {"X-API-Key": KEY["ussd"]}
        dial = {"session_id": "s1", "msisdn": "+213551234567", "service_code": "*1#", "text": ""}
        assert [c.post("/v1/ussd", headers=ussd, json=dial | {"session_id": f"s{i}"}).status_code
                for i in range(3)][2] == 429                                           # USSD has its own budget
    w.core.close()


def test_limits_from_the_environment():
    assert Limits.from_env("") == Limits()
    assert Limits.from_env("off") == Limits(None, None)
    assert Limits.from_env("key=20/s,msisdn=off") == Limits(Rate(20, 1.0), None)
    assert Limits.from_env("msisdn=10/h") == Limits(Limits.per_key, Rate(10, 3600.0))
    assert str(Rate.parse("30/min")) == "30/min"
    for bad, words in [("key=fast", "count per unit"), ("ip=1/s", "key=RATE"), ("key=0/s", "count per unit")]:
        with pytest.raises(ValueError, match=words):
            Limits.from_env(bad)


def test_buckets_keep_bounded_memory_and_refill_at_the_rate():
    ticks = Ticks()
    b = Buckets(Rate(2, 10.0), now=ticks, max_names=3)
    assert [b.take("a"), b.take("a")] == [0.0, 0.0] and b.take("a") == pytest.approx(5.0)
    for name in "bcd":
        b.take(name)
    assert b.take("a") == 0.0                       # "a" was forgotten (bounded), so it came back full
    ticks.t += 5
    assert b.take("b") == 0.0 and len(b._state) == 3


# -- OTP brute force per MSISDN ---------------------------------------------------------------------
def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def w(store_url):
    world = make_world(store_url)
    world.line("DZ", "0551234567", "100")
    world.line("DZ", "0661234567")
    yield world
    assert world.core.conservation().ok
    world.core.close()


def otp_order(w, card):
    order = w.topup("DZ", "0551234567", "100", payer="0661234567")
    order = w.core.payments.submit_card(order.id, w.card_data(card))
    assert order.state is State.OTP_PENDING
    return order


def test_wrong_codes_are_limited_per_payer_across_orders_for_an_hour(w):
    card = w.card("213661234567")
    payer = "213661234567"
    wrongs = 0
    for _ in range(3):                                 # 3 orders x 3 wrong codes = 9: each order declined
        order = otp_order(w, card)
        code = w.last_otp(card.phone)
        for _ in range(3):
            try:
                w.core.payments.confirm_otp(order.id, wrong(code))
            except Refused:
                pass
            wrongs += 1
        assert w.core.payments.get(order.id).state is State.FAILED
    order = otp_order(w, card)
    code = w.last_otp(card.phone)
    with pytest.raises(Refused):
        w.core.payments.confirm_otp(order.id, wrong(code))            # the 10th
    with pytest.raises(TooManyAttempts) as e:
        w.core.payments.confirm_otp(order.id, code)                   # even the right code: no more tries
    assert e.value.status == 429 and 1 <= e.value.extra["retry_after"] <= 3600
    assert "10 wrong codes for this payer in the last hour" in e.value.message
    assert w.core.payments.otp_guard.failures(payer) == 10
    assert w.core.payments.get(order.id).state is State.OTP_PENDING  # the order itself is untouched
    w.clock.advance(3601)
    order = otp_order(w, card)
    assert w.core.payments.confirm_otp(order.id, w.last_otp(card.phone)).state is State.CREDITED


def test_a_right_or_malformed_code_does_not_count(w):
    card = w.card("213661234567")
    order = otp_order(w, card)
    with pytest.raises(Refused):
        w.core.payments.confirm_otp(order.id, "12ab")                 # malformed: not a guess
    assert w.core.payments.otp_guard.failures("213661234567") == 0
    assert w.core.payments.confirm_otp(order.id, w.last_otp(card.phone)).state is State.CREDITED
    assert w.core.payments.otp_guard.failures("213661234567") == 0


def test_a_code_for_an_order_not_waiting_for_one_is_not_counted(w):
    """On PostgreSQL the order's read and the reservation are one statement: the reservation
    must run only when the order waits for a code."""
    card = w.card("213661234567")
    waiting = w.topup("DZ", "0551234567", "100", payer="0661234567")       # pending_payment
    with pytest.raises(Conflict):
        w.core.payments.confirm_otp(waiting.id, "123456")
    order = otp_order(w, card)
    assert w.core.payments.confirm_otp(order.id, w.last_otp(card.phone)).state is State.CREDITED
    for _ in range(2):
        with pytest.raises(Conflict):
            w.core.payments.confirm_otp(order.id, "123456")                 # credited already
    with pytest.raises(NotFound):
        w.core.payments.confirm_otp("no-such-order", "123456")
    assert w.core.payments.otp_guard.failures("213661234567") == 0
    with w.core.store.transaction() as tx:
        assert tx.one("SELECT COUNT(*) AS n FROM otp_attempts")["n"] == 0


def test_a_code_that_paid_does_not_count_even_when_its_answer_was_lost(store_url):
    """The gateway's callback came during the step and credited, then its answer to the code
    timed out: the capture's own transaction released the attempt, so the payer is not one
    guess down. (Callbacks run at once here, as with the emulators in one process.)"""
    clock = FakeClock()
    w = World(build_core(store_url, clock=clock, scheduler=ImmediateScheduler(), seed=1), clock, None, random.Random(1))
    w.line("DZ", "0551234567", "100")
    w.line("DZ", "0661234567")
    card = w.card("213661234567")
    order = otp_order(w, card)
    gw = w.core.payments.gateways["satim"]

    def answer_lost(gateway_ref, otp):
        gw.__class__.confirm_otp(gw, gateway_ref, otp)     # judged, captured, called back
        raise GatewayTimeout("satim: no answer in time")
    gw.confirm_otp = answer_lost
    assert w.core.payments.confirm_otp(order.id, w.last_otp(card.phone)).state is State.CREDITED
    assert w.core.payments.otp_guard.failures("213661234567") == 0
    del gw.confirm_otp
    order = otp_order(w, card)
    gw.profile = GatewayProfile(timeout_rate=1.0, callback_loss_rate=1.0)
    assert w.core.payments.confirm_otp(order.id, w.last_otp(card.phone)).state is State.OTP_PENDING
    assert w.core.payments.otp_guard.failures("213661234567") == 1    # outcome unknown: counted
    gw.profile = GatewayProfile()
    assert w.core.payments.reconcile(order.id).state is State.CREDITED
    assert w.core.conservation().ok
    w.core.close()


def test_concurrent_codes_cannot_overshoot_the_limit(w):
    guard = w.core.payments.otp_guard
    got, refused = [], []

    def attempt(i):
        try:
            got.append(guard.reserve("DZ", "213699999999", f"ord_{i}"))
        except TooManyAttempts:
            refused.append(i)
    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(14)]
    if w.core.store.dialect == "postgresql":
        # Hold the payer's lock (migration 0014) until all 14 wait on it: then they race.
        import psycopg
        key = "7243502, hashtext('213699999999')"
        with psycopg.connect(w.core.store.url, autocommit=True) as holder:
            holder.execute(f"SELECT pg_advisory_lock({key})")
            for t in threads:
                t.start()
            deadline, waiting = time.monotonic() + 30, 0
            while waiting < 14 and time.monotonic() < deadline:
                time.sleep(0.02)
                waiting = holder.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                                         " AND NOT granted").fetchone()[0]
            holder.execute(f"SELECT pg_advisory_unlock({key})")
        assert waiting == 14
    else:
        for t in threads:
            t.start()
    for t in threads:
        t.join()
    assert len(got) == 10 and len(refused) == 4 and len(set(got)) == 10


def test_over_http_the_otp_limit_is_a_429_and_the_key_can_be_retried(sqlite_url):
    w = make_world(sqlite_url)
    w.line("DZ", "0551234567", "100")
    w.line("DZ", "0661234567")
    card = w.card("213661234567")
    for i in range(10):
        w.core.payments.otp_guard.reserve("DZ", "213661234567", f"earlier-{i}")
    order = otp_order(w, card)
    with TestClient(app_for(w.core), raise_server_exceptions=False) as c:
        headers = {"X-API-Key": KEY["web"], "Idempotency-Key": "otp-1"}
        r = c.post(f"/v1/topups/{order.id}/otp", json={"otp": w.last_otp(card.phone)}, headers=headers)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) == 3600 and r.json()["field"] == "otp"
        w.clock.advance(3601)
        r = c.post(f"/v1/topups/{order.id}/otp", json={"otp": "123456"}, headers=headers)
        assert r.status_code != 429 and "Idempotent-Replayed" not in r.headers    # the key was not used up
    w.core.close()


def test_wrong_codes_older_than_the_hour_are_dropped_when_a_new_one_is_kept(w):
    guard = w.core.payments.otp_guard
    old = guard.reserve("DZ", "213661234599", "ord-old")
    w.clock.advance(3_601)
    guard.reserve("DZ", "213661234599", "ord-new")
    guard.forget_expired("213661234599")
    with w.core.store.autocommit() as tx:
        ids = [r["id"] for r in tx.all("SELECT id FROM otp_attempts WHERE msisdn = ?", ("213661234599",))]
    assert old not in ids and len(ids) == 1
    assert guard.failures("213661234599") == 1


@pytest.mark.postgres
def test_the_reservation_alone_commits_asynchronously(pg_url):
    """Migration 0011: otp_reserve turns synchronous_commit off for its own transaction only;
    the connection's next statements (orders, the ledger) wait for the flush again."""
    core = build_core(pg_url, clock=FakeClock(), scheduler=ImmediateScheduler(), seed=1)
    try:
        store = core.store
        with store.autocommit() as tx:
            row = tx.one("SELECT n, first, current_setting('synchronous_commit') AS during"
                         " FROM otp_reserve(?, ?, ?, ?, ?, ?)", ("213661234567", "a1", "o1", 10, 0, 10))
            assert (row["n"], row["during"]) == (0, "off")
            assert tx.one("SELECT current_setting('synchronous_commit') AS s")["s"] == "on"
        with store.transaction() as tx:
            tx.one("SELECT n FROM otp_reserve(?, ?, ?, ?, ?, ?)", ("213661234567", "a2", "o1", 11, 0, 10))
        with store.autocommit() as tx:
            assert tx.one("SELECT current_setting('synchronous_commit') AS s")["s"] == "on"
            assert tx.one("SELECT count(*) AS n FROM otp_attempts")["n"] == 2
    finally:
        core.close()


@pytest.mark.postgres
def test_only_the_move_to_otp_pending_commits_without_waiting_for_the_flush(pg_url):
    """A trigger notes the commit mode of every write to an order during one full recharge:
    the insert (the gateway knows the order from then on) and the capture wait for the WAL
    flush; the move to otp_pending, which a crash may forget (docs/security.md), does not."""
    w = make_world(pg_url)
    try:
        with w.core.store.autocommit() as tx:
            tx.execute("CREATE TABLE order_writes (seq SERIAL, state TEXT, sync TEXT)")
            tx.execute("CREATE FUNCTION note_order_write() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                       " INSERT INTO order_writes (state, sync) VALUES (NEW.state,"
                       " current_setting('synchronous_commit')); RETURN NEW; END $$")
            tx.execute("CREATE TRIGGER note_order_write AFTER INSERT OR UPDATE ON orders"
                       " FOR EACH ROW EXECUTE FUNCTION note_order_write()")
        w.line("DZ", "0551234567", "100")
        w.line("DZ", "0661234567")
        card = w.card("213661234567")
        order = otp_order(w, card)
        assert w.core.payments.confirm_otp(order.id, w.last_otp(card.phone)).state is State.CREDITED
        with w.core.store.autocommit() as tx:
            writes = [(r["state"], r["sync"]) for r in tx.all("SELECT state, sync FROM order_writes ORDER BY seq")]
            after = tx.one("SELECT current_setting('synchronous_commit') AS s")["s"]
        assert writes == [("pending_payment", "on"), ("otp_pending", "off"), ("credited", "on")]
        assert after == "on"                               # the setting did not outlive the move
        with w.core.store.transaction() as tx:
            assert tx.lazy_commit == ""                    # never offered to a whole transaction
        assert w.core.conservation().ok
    finally:
        w.core.close()
