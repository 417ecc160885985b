"""``rbench demo``: the core on SQLite, one web top-up (card + SMS OTP, Algeria) and one USSD
``*1#`` gift (card + PIN2, Iran), driven over the real HTTP API and printed step by step."""
from __future__ import annotations

import random
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from core.api.auth import DEV_KEYS
from hil.server import serve_in_thread, wall_clock_core

KEY = {channel: key for key, channel in DEV_KEYS.items()}


class Walk:
    def __init__(self, http: httpx.Client) -> None:
        self.http, self.n = http, 0

    def step(self, title: str) -> None:
        self.n += 1
        print(f"\n[{self.n:2d}] {title}")

    def call(self, method: str, path: str, channel: str, body: dict | None = None,
             idempotent: bool = False, show: tuple[str, ...] = ()) -> dict | list | str:
        headers = {"X-API-Key": KEY[channel]}
        if idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        r = self.http.request(method, path, json=body, headers=headers)
        kind = r.headers.get("content-type", "")
        data = r.json() if "json" in kind else r.text
        print(f"     {method} {path} -> {r.status_code}")
        if isinstance(data, dict):
            for k in show:
                print(f"       {k}: {data.get(k)}")
        if r.status_code >= 400:
            raise SystemExit(f"demo failed: {method} {path} answered {r.status_code}: {data}")
        return data


def _wait_sms(w: Walk, msisdn: str, count: int, timeout_s: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout_s
    while True:
        inbox = w.http.get(f"/emulator/sms/{msisdn}", headers={"X-API-Key": KEY["admin"]}).json()
        if len(inbox) >= count or time.monotonic() > deadline:
            return inbox
        time.sleep(0.05)


def _wait_state(w: Walk, order_id: str, states: set[str], timeout_s: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        order = w.http.get(f"/v1/topups/{order_id}", headers={"X-API-Key": KEY["web"]}).json()
        if order["state"] in states or time.monotonic() > deadline:
            return order
        time.sleep(0.05)


def run_demo(db_url: str | None, *, seed: int = 7, keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rbench-demo-"))
    try:
        return _run(db_url or f"sqlite:///{workdir / 'rbench.db'}", seed)
    finally:
        if keep and db_url is None:
            print(f"the demo's database is kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(db_url: str, seed: int) -> int:
    core = wall_clock_core(db_url, seed=seed)
    rng = random.Random(seed)
    print(f"rbench demo: core on {core.store.dialect} ({db_url}), emulated card gateways and SMSC")
    with serve_in_thread(core) as base, httpx.Client(base_url=base, timeout=10) as http:
        w = Walk(http)
        print(f"core listening on {base} (OpenAPI at {base}/openapi.json)")

        w.step("provision subscribers (admin channel)")
        for body in ({"market": "DZ", "msisdn": "0551 23 45 67", "opening_balance": "150"},
                     {"market": "DZ", "msisdn": "+213661234567", "language": "fr"},
                     {"market": "IR", "msisdn": "۰۹۱۲۳۴۵۶۷۸۹", "language": "fa", "opening_balance": "20000"},
                     {"market": "IR", "msisdn": "09351234567", "language": "fa"}):
            sub = w.call("POST", "/v1/subscribers", "admin", body, idempotent=True)
            print(f"       {body['msisdn']!r:18} -> {sub['msisdn']} {sub['operator']} {sub['kind']}")
        dz_card = core.issuer.generate(rng, 1, ["213661234567"])[0]
        ir_card = core.issuer.generate(rng, 1, ["989123456789"])[0]
        print(f"       test cards: {dz_card.card().masked} (phone +213661234567), "
              f"{ir_card.card().masked} (phone +989123456789)")

        print("\n=== Web top-up, Algeria: 1000 DZD for 0551234567 paid by card + SMS OTP (flow F1) ===")
        w.step("create the order (web channel, Idempotency-Key)")
        order = w.call("POST", "/v1/topups", "web", {"market": "DZ", "recipient": "0551234567",
                                                      "payer": "0661234567", "amount": "1000",
                                                      "product": "amazing", "email": "client@example.dz",
                                                      "save_recipient": True},
                       idempotent=True, show=("id", "state", "gateway", "payment_url"))
        w.step("card entry on the gateway page: the gateway sends an OTP to the card's phone")
        w.call("POST", f"/v1/topups/{order['id']}/card", "web",
               {"pan": dz_card.pan, "expiry": f"{dz_card.expiry_month:02d}/{dz_card.expiry_year % 100:02d}",
                "holder": dz_card.holder, "cvc2": dz_card.cvc2}, idempotent=True, show=("state", "masked_pan"))
        w.step("the SMS arrives on +213661234567")
        sms = _wait_sms(w, "+213661234567", 1)[-1]
        print(f"       SMS from {sms['from']}: {sms['text']}")
        code = re.search(r"\b(\d{6})\b", sms["text"]).group(1)
        w.step(f"type the code {code}")
        w.call("POST", f"/v1/topups/{order['id']}/otp", "web", {"otp": code}, idempotent=True, show=("state",))
        done = _wait_state(w, order["id"], {"credited", "failed", "refunded"})
        if done["state"] != "credited":
            raise SystemExit(f"demo failed: the web order ended {done['state']} ({done['reason']})")
        print(f"       order {done['id']}: {done['state']}, bonus {done['bonus']['value']} "
              f"{done['bonus']['currency']} for {done['bonus']['valid_hours']} h")
        w.step("balances and notices")
        bal = w.call("GET", "/v1/subscribers/+213551234567", "web")
        print(f"       0551234567: main {bal['main']['value']} DZD, bonus {bal['bonus']['value']} DZD")
        for m in _wait_sms(w, "+213661234567", 2)[1:] + _wait_sms(w, "+213551234567", 2):
            print(f"       SMS: {m['text']}")
        w.step("download the receipt and e-mail it")
        print("       " + str(w.call("GET", f"/v1/topups/{order['id']}/receipt", "web")).split("\n\n")[-1]
              .replace("\n", "\n       "))
        w.call("POST", f"/v1/topups/{order['id']}/receipt/email", "web", {}, idempotent=True, show=("sent_to",))

        print("\n=== USSD *1*1#, Iran: gift of 50,000 IRR to 09351234567, card + PIN2 (flow F4) ===")
        session, text = f"demo-{uuid.uuid4().hex[:8]}", []
        answers = [("2", "gift to another number"), ("09351234567", "the recipient"), ("3", "amount 50,000"),
                   (ir_card.pan, "card number"), (f"{ir_card.expiry_month:02d}{ir_card.expiry_year % 100:02d}",
                                                  "expiry MMYY"), (ir_card.pin2, "PIN2"), ("1", "confirm"),
                   ("1", "save the number")]
        w.step("dial *1*1#")
        for i in range(len(answers) + 1):
            reply = w.call("POST", "/v1/ussd", "ussd", {"session_id": session, "msisdn": "+989123456789",
                                                        "service_code": "*1*1#", "text": "*".join(text)})
            print("       | " + reply["text"].replace("\n", "\n       | ") + f"   [{reply['action']}]")
            if reply["action"] == "end":
                break
            answer, what = answers[i]
            shown = answer if what not in ("card number", "PIN2") else "*" * len(answer)
            w.step(f"answer {shown} ({what})")
            text.append(answer)
        w.step("the outcome arrives by SMS; the gateway callback was verified within the window")
        for m in _wait_sms(w, "+989123456789", 1) + _wait_sms(w, "+989351234567", 1):
            print(f"       SMS: {m['text']}")
        deadline = time.monotonic() + 10
        while (bal := w.call("GET", "/v1/subscribers/+989351234567", "ussd"))["main"]["minor"] < 50000:
            if time.monotonic() > deadline:
                raise SystemExit("demo failed: the USSD gift was not credited within 10 s")
            time.sleep(0.1)
        print(f"       09351234567: main {bal['main']['value']} IRR")
        saved = w.call("GET", "/v1/subscribers/+989123456789", "ussd")["saved_recipients"]
        print(f"       saved numbers of 09123456789: {saved}")

        w.step("conservation check of the ledger")
        report = w.call("GET", "/v1/admin/conservation", "admin")
        print(f"       {report['summary']}")
    core.close()
    return 0 if report["ok"] else 1
