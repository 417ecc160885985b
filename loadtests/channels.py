"""One Locust user class per channel: what a customer of that channel does, step by step, over
the core's HTTP API (docs/api.md, docs/bills.md), reading OTPs from the SMSC service's inbox.

    WebTopup      POST /v1/topups -> card -> OTP from the SMS -> credited
    UssdTopup     the *1# dialogue, replayed answer by answer: gift, number, amount, card, expiry,
                  PIN2, confirm, do not save; the last screen carries the order reference
    BillPayment   a bill from the biller's feed, looked up, paid by card (+ OTP)
    MandateDebit  a postal mandate (CCP account, form, access code, activation), then each
                  period's bill paid by the debit run
    StsVend       a keypad meter: a vend paid from an e-wallet returns a 20-digit token
    CardVend      a card meter with its first card: a vend returns the card's credit record
    KioskCash     an agent's float, then cash top-ups paid from it
"""
from __future__ import annotations

import re
import time

from locust import task

from loadtests.customer import Customer, Outcome, TxFailed
from loadtests.testdata import RECIPIENTS

_ORDER_REF = re.compile(r"[0-9a-f]{8}\s*$")


class _Recipients(Customer):
    abstract = True

    def setup(self) -> None:
        super().setup()
        self.provisioned: set[int] = set()
        self.turn = 0

    def slot(self, n: int) -> str:
        """The number at slot ``n`` (1..RECIPIENTS), provisioned on first use, untimed."""
        if n not in self.provisioned:
            self.provision(n)
            self.provisioned.add(n)
        return self.data.msisdn(n)

    def run_once(self) -> None:
        """The next number to top up, before the clock starts."""
        self.turn = self.turn % RECIPIENTS + 1
        self.to = self.slot(self.turn)
        super().run_once()

    def amount(self) -> str:
        return self.rng.choice(self.mkt["amounts"])


class WebTopup(_Recipients):
    abstract = True
    tx = "web_topup"

    def setup(self) -> None:
        super().setup()
        self.provision(0)
        self.card = self.test_card()

    @task
    def transact(self) -> None:
        self.run_once()

    def transaction(self) -> None:
        status, o = self.call("POST", "/v1/topups", "POST /v1/topups", idem=True, soft=(422,), body={
            "market": self.market, "recipient": self.to, "payer": self.data.msisdn(0), "amount": self.amount()})
        if status == 422:
            if (o or {}).get("code") == "balance_cap":
                raise Outcome("refused")
            raise TxFailed(f"POST /v1/topups: 422 {(o or {}).get('detail')}")
        self.pay_by_card(o, self.card)


class UssdTopup(_Recipients):
    """Each dialogue comes from the next subscriber of this user's range (one caller dials a few
    times an hour, within the core's per-MSISDN limits) and gifts the one after."""

    abstract = True
    tx = "ussd_topup"

    def setup(self) -> None:
        super().setup()
        self.card = self.test_card()
        self.sessions = 0

    def run_once(self) -> None:
        self.caller = self.slot((self.turn + 1) % RECIPIENTS + 1)      # the recipient is turn % R + 1
        super().run_once()

    @task
    def transact(self) -> None:
        self.run_once()

    def transaction(self) -> None:
        self.sessions += 1
        session = f"{self.plan.run_id}-{self.worker}-{self.index}-{self.sessions}"
        presets = len(self.mkt["amounts"])
        mm, yy = self.card["expiry"].split("/")
        answers = ["1", "2", self.to, str(self.rng.randrange(presets) + 1), self.card["pan"], mm + yy,
                   self.card["pin2"], "1", "2"]
        reply = {"action": "continue", "text": ""}
        for n in range(len(answers) + 1):
            _, reply = self.call("POST", "/v1/ussd", "POST /v1/ussd", channel="ussd", body={
                "session_id": session, "msisdn": self.caller, "service_code": "*1#",
                "text": "*".join(answers[:n]), "market": self.market})
            if reply["action"] == "end":
                break
        if reply["action"] != "end":
            raise TxFailed(f"USSD dialogue still open after {len(answers)} answers: {reply['text'][:60]!r}")
        if not _ORDER_REF.search(reply["text"]):
            raise Outcome("refused") if "cap" in reply["text"].lower() else TxFailed(
                f"USSD dialogue ended without an order reference: {reply['text'][:80]!r}")


class BillPayment(Customer):
    abstract = True
    tx = "bill_payment"

    def setup(self) -> None:
        self.provision(0)
        self.card = self.test_card()
        self.bills = 0

    @task
    def transact(self) -> None:
        self.run_once()

    def run_once(self) -> None:
        """A new bill from the biller's feed (untimed); an account already paid off by an earlier
        run on the same store is skipped."""
        biller = self.mkt["biller"]
        for _ in range(20):
            self.bills += 1
            account = self.data.bill_account(biller, self.bills)
            self.call("POST", "/emulator/bills", "setup: bill from the biller's feed", channel="admin", body={
                "biller": biller, "account": account, "period": "2026-01",
                "amount": self.rng.choice(self.mkt["bill_amounts"]), "due": "2026-01-20"}, ok=(201,))
            _, st = self.call("GET", f"/v1/bills/{biller}/{account}", "setup: bill statement")
            if float(st["outstanding"]) > 0:
                break
        self.pending = (biller, account)
        super().run_once()

    def transaction(self) -> None:
        biller, account = self.pending
        _, st = self.call("GET", f"/v1/bills/{biller}/{account}", "GET /v1/bills/{biller}/{account}")
        _, o = self.call("POST", f"/v1/bills/{biller}/{account}/payments", "POST /v1/bills/{biller}/{account}/payments",
                         idem=True, body={"amount": st["outstanding"], "payer": self.data.msisdn(0)})
        self.pay_by_card(o, self.card)


class MandateDebit(Customer):
    abstract = True
    tx = "mandate_debit"

    def setup(self) -> None:
        self.provision(0)
        self.biller = self.mkt["mandate_biller"]
        self.account = self.data.bill_account(self.biller, 0)
        ccp = self.data.ccp()
        self.call("POST", "/emulator/postal/accounts", "setup: CCP account at the post", channel="admin",
                  body={"ccp": ccp, "holder": self.data.name(), "balance": "100000000", "currency": "DZD"},
                  ok=(201,), soft=(409,))
        self.periods = 0
        self.issue_bill()
        status, m = self.call("POST", "/v1/mandates", "setup: mandate form", channel="admin", idem=True, body={
            "market": self.market, "biller": self.biller, "account": self.account, "ccp": ccp,
            "customer": self.data.msisdn(0)}, ok=(201,), soft=(409,))
        if status == 409:                # the account's mandate from an earlier run on this store
            if not (m or {}).get("mandate"):
                raise TxFailed(f"setup: mandate form: 409 {(m or {}).get('detail')}")
            m = {"id": m["mandate"]}
        _, code = self.call("GET", f"/emulator/mandates/{m['id']}/code", "setup: access code", channel="admin")
        self.call("POST", f"/v1/mandates/{m['id']}/activate", "setup: activate mandate",
                  body={"access_code": code["access_code"]})

    def issue_bill(self) -> None:
        """The next bimonthly period's bill, due in the past, so the next run debits it."""
        year, month = 2000 + self.periods // 6, 1 + 2 * (self.periods % 6)
        self.periods += 1
        self.call("POST", "/emulator/bills", "setup: bill from the biller's feed", channel="admin", ok=(201,), body={
            "biller": self.biller, "account": self.account, "period": f"{year}-{month:02d}", "amount": "1500",
            "due": f"{year}-{month:02d}-20"})

    @task
    def transact(self) -> None:
        if self.periods > 1:
            self.issue_bill()
        self.run_once()

    def transaction(self) -> None:
        self.call("POST", "/v1/admin/mandate-runs", "POST /v1/admin/mandate-runs", channel="admin")
        deadline = time.monotonic() + 10.0
        while True:                  # another customer's run may hold this mandate's lease
            _, st = self.call("GET", f"/v1/bills/{self.biller}/{self.account}", "GET /v1/bills/{biller}/{account}")
            if float(st["outstanding"]) == 0:
                return
            if time.monotonic() > deadline:
                raise TxFailed(f"mandate debit run left {st['outstanding']} unpaid on {self.account}")
            time.sleep(0.2)


class _Vend(Customer):
    abstract = True
    kind = ""

    def setup(self) -> None:
        self.meter = self.data.meter(0)
        self.call("POST", "/v1/meters", "setup: register meter", channel="admin", idem=True, soft=(409,), body={
            "market": self.market, "number": self.meter, "kind": self.kind, "tariff": self.mkt["tariff"],
            "customer": self.data.name()})

    @task
    def transact(self) -> None:
        self.run_once()

    def transaction(self) -> None:
        _, o = self.call("POST", "/v1/vends", "POST /v1/vends", channel="wallet", idem=True, body={
            "meter": self.meter, "amount": self.rng.choice(self.mkt["vend_amounts"]),
            "method_account": self.mkt["wallet"]})
        vend = o.get("vend") or {}
        if o["state"] != "credited" or not vend.get("token" if self.kind == "sts" else "record"):
            raise TxFailed(f"vend {o['id']} ended {o['state']} without a {'token' if self.kind == 'sts' else 'record'}")


class StsVend(_Vend):
    abstract = True
    tx, kind = "vend_sts", "sts"


class CardVend(_Vend):
    abstract = True
    tx, kind = "vend_card", "card"

    def setup(self) -> None:
        super().setup()
        self.call("POST", f"/v1/meters/{self.meter}/cards", "setup: first card", channel="admin", idem=True,
                  soft=(409,), body={"serial": self.data.card_serial(0)})


class KioskCash(_Recipients):
    abstract = True
    tx = "kiosk_cash"

    def setup(self) -> None:
        super().setup()
        self.agent = self.data.agent()
        currency = {"DZ": "DZD", "IR": "IRR", "EG": "EGP"}[self.market]
        self.call("POST", f"/v1/agents/{self.agent}/float", "setup: agent float", channel="admin", idem=True,
                  body={"amount": "100000000", "currency": currency})

    @task
    def transact(self) -> None:
        self.run_once()

    def transaction(self) -> None:
        status, o = self.call("POST", "/v1/topups", "POST /v1/topups (kiosk)", channel="kiosk", idem=True, soft=(422,),
                              body={"market": self.market, "recipient": self.to, "amount": self.amount(),
                                    "method_account": self.agent})
        if status == 422:
            raise Outcome("refused") if (o or {}).get("code") == "balance_cap" else TxFailed(
                f"POST /v1/topups (kiosk): 422 {(o or {}).get('detail')}")
        if o["state"] != "credited":
            raise TxFailed(f"kiosk top-up {o['id']} ended {o['state']}: {o.get('reason')}")


CLASSES = {c.tx: c for c in (WebTopup, UssdTopup, BillPayment, MandateDebit, StsVend, CardVend, KioskCash)}
