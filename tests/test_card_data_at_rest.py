"""Card numbers never stored or logged beyond first 6 / last 4; CVC2, PIN2 and OTPs never
stored in clear. Every flow that carries card data runs (web card + OTP with a wrong code and
a resend, refused cards, Shaparak card + PIN2, USSD with the PAN and PIN2 in the dialogue,
card-paid vends, receipts by e-mail, gateway timeouts and lost callbacks that make the core
log), then a small simulation; the database files (and their WAL) byte for byte, every row,
and every log record are scanned (:mod:`hil.pan_scan`)."""
import json
import logging
import re
import uuid

import pytest
from fastapi.testclient import TestClient

from core.adapters.gateway_profile import GatewayProfile
from hil import pan_scan
from hil.server import app_for
from support import make_world

KEY = {"web": "dev-web-key", "ussd": "dev-ussd-key", "admin": "dev-admin-key"}


class Records(logging.Handler):
    """Every log record of every logger, formatted as a log file would have it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logs():
    handler, root = Records(), logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(old)


def h(channel="web"):
    return {"X-API-Key": KEY[channel], "Idempotency-Key": str(uuid.uuid4())}


def dump_rows(store) -> bytes:
    """Every row of every table as JSON text (what a backup or a support query shows)."""
    with store.autocommit() as tx:
        tables = [r["name"] for r in (tx.all("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if store.dialect == "sqlite" else
                  tx.all("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"))]
        rows = {t: tx.all(f"SELECT * FROM {t}") for t in sorted(tables)}
    return json.dumps(rows, default=str, ensure_ascii=False).encode()


def otps(w, phone):
    return [m.group(1) for s in w.core.sms.inbox(phone) if (m := re.search(r"(\d{6})", s.text))]


def test_the_scanner_finds_what_it_must_and_only_that(tmp_path):
    pan = "6280581234567896"
    assert pan_scan.luhn(pan) and not pan_scan.luhn("6280581234567890")
    found = pan_scan.scan_bytes(b"state credited" + pan.encode() + b"\x00\x01 1767225600000 ord_ab12", "x")
    assert [(f.kind, f.shown) for f in found] == [("card_number", "628058******7896")]
    assert pan_scan.scan_bytes(b"masked 628058******7896 at 1767225600000", "x") == []
    assert pan_scan.scan_bytes(b"6280581234567890", "x") == []                  # not Luhn-valid
    labelled = pan_scan.scan_bytes(b'{"cvc2": "123"} pin2=482139 otp: 555123 OTP pending', "log")
    assert [f.kind for f in labelled] == ["labelled_secret"] * 3 and labelled[0].shown == "cvc2=***"
    assert [f.kind for f in pan_scan.scan_bytes(b"x 482139 y", "x", known=["482139"])] == ["known_secret"]
    digest = b'"request_hash": "e38a265e9c18dbbf' + pan.encode() + b'0b20b0b952ddafb"'
    assert pan_scan.scan_bytes(digest, "rows") == []                 # inside a sha256 hex word: chance
    assert len(pan_scan.scan_bytes(b'"a": "ffff' + pan.encode() + b'"', "rows")) == 1   # a short word: found
    glued = b"\x02ord_ab146908213760324817DZD\x01"                       # an id and an MSISDN, touching
    assert pan_scan.scan_bytes(glued, "page", glued=True) == [] and pan_scan.scan_bytes(glued, "x") != []
    assert len(pan_scan.scan_bytes(b"\x13\x02" + pan.encode() + b"\x00", "page", glued=True)) == 1
    (tmp_path / "a.log").write_bytes(b"card " + pan.encode())
    assert pan_scan.main([str(tmp_path / "a.log")]) == 1
    (tmp_path / "b.log").write_bytes(b"card 628058******7896")
    assert pan_scan.main([str(tmp_path / "b.log")]) == 0
    assert pan_scan.main([str(tmp_path / "none.log")]) == 2
    import sqlite3
    db = sqlite3.connect(tmp_path / "c.db")
    db.execute("CREATE TABLE t (a TEXT, b TEXT)")
    db.execute("INSERT INTO t VALUES ('x', ?)", (pan,))              # glued to 'x' in the page:
    db.commit()                                                        # the row values still show it
    db.close()
    assert pan_scan.main([str(tmp_path / "c.db")]) == 1


def test_no_card_data_at_rest_after_every_flow(store_url, logs):
    w = make_world(store_url, gateway_profile=GatewayProfile(timeout_rate=0.15, callback_loss_rate=0.3))
    w.line("DZ", "0551234567", "100")
    w.line("DZ", "0661234567", email="a@b.dz")
    w.line("IR", "09121234567", "20000", language="fa")
    w.core.meters.register("EG", "47500150231", kind="sts", tariff="EG-RES", customer="Mona Hassan")
    dz, ir, eg = w.card("213661234567"), w.card("989121234567"), w.card("201000000001")
    cards = [dz, ir, eg]
    with TestClient(app_for(w.core), raise_server_exceptions=False) as c:
        for i in range(4):                           # web top-ups: card + OTP, a wrong code, a resend
            r = c.post("/v1/topups", headers=h(), json={"market": "DZ", "recipient": "0551234567",
                                                        "payer": "0661234567", "amount": "100", "email": "a@b.dz"})
            oid = r.json()["id"]
            expiry = f"{dz.expiry_month:02d}/{dz.expiry_year % 100:02d}"
            c.post(f"/v1/topups/{oid}/card", headers=h(), json={"pan": dz.pan, "expiry": expiry, "cvc2": dz.cvc2,
                                                               "holder": dz.holder})
            c.post(f"/v1/topups/{oid}/otp", headers=h(), json={"otp": "000000"})
            c.post(f"/v1/topups/{oid}/otp/resend", headers=h())
            w.settle_time(5)
            c.post(f"/v1/topups/{oid}/otp", headers=h(), json={"otp": (otps(w, dz.phone) or ["1"])[-1]})
            c.post(f"/v1/topups/{oid}/receipt/email", headers=h(), json={})
            c.post(f"/v1/topups/{oid}/reconcile", headers=h())
        r = c.post("/v1/topups", headers=h(), json={"market": "DZ", "recipient": "0551234567", "amount": "100"})
        oid = r.json()["id"]
        for bad in ({"pan": dz.pan[:-1] + str((int(dz.pan[-1]) + 1) % 10)},            # Luhn fails
                    {"cvc2": f"{(int(dz.cvc2) + 1) % 1000:03d}"},                         # wrong CVC2
                    {"expiry": "01/20"}, {"pan": "4111 1111 1111 1111"}):                 # expired, unknown
            body = {"pan": dz.pan, "expiry": f"{dz.expiry_month:02d}/{dz.expiry_year % 100:02d}",
                    "cvc2": dz.cvc2} | bad
            r = c.post(f"/v1/topups/{oid}/card", headers=h(), json=body)
            assert dz.pan not in r.text and "4111111111111111" not in r.text
        r = c.post("/v1/topups", headers=h(), json={"market": "IR", "recipient": "09121234567", "amount": "50000"})
        oid = r.json()["id"]                          # Shaparak style: card + PIN2 on the web
        c.post(f"/v1/topups/{oid}/card", headers=h(), json={
            "pan": ir.pan, "expiry": f"{ir.expiry_month:02d}/{ir.expiry_year % 100:02d}", "pin2": ir.pin2})
        answers = ["1", "1", ir.pan, f"{ir.expiry_month:02d}{ir.expiry_year % 100:02d}", ir.pin2, "1"]
        for n in range(len(answers) + 1):             # USSD: the PAN and PIN2 travel in the text
            c.post("/v1/ussd", headers={"X-API-Key": KEY["ussd"]}, json={
                "session_id": "u1", "msisdn": "+989121234567", "service_code": "*1*1#",
                "text": "*".join(answers[:n])})
        r = c.post("/v1/vends", headers=h(), json={"meter": "47500150231", "amount": "50"})
        vid = r.json()["id"]
        c.post(f"/v1/topups/{vid}/card", headers=h(), json={
            "pan": eg.pan, "expiry": f"{eg.expiry_month:02d}/{eg.expiry_year % 100:02d}", "cvc2": eg.cvc2})
        w.settle_time(30)
        c.post(f"/v1/topups/{vid}/otp", headers=h(), json={"otp": (otps(w, eg.phone) or ["1"])[-1]})
        w.settle_time(2000)                           # verify windows, sweeps, late callbacks
        c.post("/v1/admin/sweep", params={"older_than_s": 0}, headers={"X-API-Key": KEY["admin"]})
        assert c.get("/v1/admin/conservation", headers={"X-API-Key": KEY["admin"]}).json()["ok"]
    with w.core.store.autocommit() as tx:
        states = {r["state"] for r in tx.all("SELECT state FROM orders")}
        masked = {r["masked_pan"] for r in tx.all("SELECT masked_pan FROM orders WHERE masked_pan IS NOT NULL")}
    assert "credited" in states and masked, states                # the flows did reach the gateways
    known = [x for card in cards for x in (card.pan, card.pin2)] + \
        [code for card in cards for code in otps(w, card.phone)]
    rows = dump_rows(w.core.store)
    assert b"628058******" in rows                                # the scan does see the card columns
    findings = pan_scan.scan_bytes(rows, "rows", known)
    findings += pan_scan.scan_bytes("\n".join(logs.lines).encode(), "logs", known)
    findings += pan_scan.scan_bytes("\n".join(m.body + "".join(a[2].decode(errors="replace") for a in m.attachments)
                                              for m in w.core.email.messages()).encode(), "e-mails", known)
    w.core.close()
    if store_url.startswith("sqlite"):
        findings += pan_scan.store_findings(store_url, known)          # raw pages and WAL too
    assert logs.lines, "the flows logged nothing: the log scan would prove nothing"
    assert findings == [], "\n".join(map(str, findings))


def test_no_card_data_at_rest_after_a_small_simulation(tmp_path, logs):
    from sim.run import load_config, run
    db = f"sqlite:///{tmp_path / 'sim.db'}"
    result = run(load_config("mixed-peak-hour", subscribers=4000, hours=0.5, seed=11, db=db))
    assert result.ok and result.kpis["totals"]["successes"] > 5, result.kpis["totals"]
    findings = pan_scan.store_findings(db)
    findings += pan_scan.scan_bytes("\n".join(logs.lines).encode(), "logs")
    assert findings == [], "\n".join(map(str, findings))
