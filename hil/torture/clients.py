"""The clients of a torture run: web browsers (card + SMS OTP), USSD handsets (card + PIN2),
web and kiosk meter vends, lines spending airtime, and clients that repeat a request with the
same Idempotency-Key. Each request goes through the core's idempotency layer as the HTTP
handler sends it; an unanswered one (a 500, a refused connection) is sent again later.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from core.adapters.issuer import IssuedCard
from core.cards import parse_card
from core.errors import RechargeError
from core.idempotency import derived_id
from core.money import Money
from core.orders import State
from core.topups import TopupRequest
from core.wiring import Core

MAX_ACTIVE = 4          # purchases in progress at once
STS_METER, CARD_METER, CARD_SERIAL, AGENT = "47500150231", "04040404040", "04A1B2C3D4E5F607", "aman-3"
_OTP = re.compile(r"(?<!\d)(\d{6})(?!\d)")


@dataclass
class Flow:
    """One client's purchase in progress, as its browser or handset sees it."""

    kind: str                       # web | vend | ussd
    market: str
    payload: dict
    card: IssuedCard
    key: str                        # Idempotency-Key of the order's creation
    stage: str = "create"           # create -> card -> otp -> done; ussd: dialogue -> done
    order_id: str | None = None
    pending: dict[str, tuple[str, dict]] = field(default_factory=dict)   # stage -> (key, payload) unanswered
    inbox_mark: int = 0
    answers: list[str] = field(default_factory=list)
    said: int = 0                   # USSD answers sent so far
    session: str = ""



def _order_answer(order) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    """As the API answers a created order: 422 refused, 402 failed, else 201."""
    if order.state is State.REFUSED:
        return 422, {"code": "balance_cap", "order": order.public()}
    return (201 if order.state is not State.FAILED else 402), order.public()


class Clients:
    """Mixed into :class:`hil.torture.run.Run`, whose ``guard``, ``request``, ``rng``,
    ``plan``, ``smsc``, ``lines`` and ``cards`` it uses."""

    # -- clients -----------------------------------------------------------------------------
    def next_key(self) -> str:
        self.n += 1
        return f"t{self.seed}-{self.n}"

    def start(self, kind: str) -> None:
        key = self.next_key()
        if kind == "web":
            payer = self.rng.choice(self.lines["DZ"])
            recipient = self.lines["DZ"][2] if self.rng.random() < 0.4 else self.rng.choice(self.lines["DZ"])
            payload = {"market": "DZ", "recipient": recipient, "payer": payer,
                       "amount": self.near_cap_amount(recipient) or self.rng.choice(["100", "500", "1000", "2000"]),
                       "product": self.rng.choice(["normal", "normal", "amazing"])}
            flow = Flow("web", "DZ", payload, self.cards[payer], key)
        elif kind == "vend":
            payload = {"meter": self.rng.choice([STS_METER, CARD_METER]), "amount": self.rng.choice(["20", "50", "100"])}
            flow = Flow("vend", "EG", payload, self.eg_card, key)
        else:
            market = self.rng.choice(["IR", "IR", "DZ"])
            busy = {x.payload["msisdn"] for x in self.flows if x.kind == "ussd" and x.stage != "done"}
            msisdn = self.rng.choice([m for m in self.lines[market] if m not in busy] or self.lines[market])
            msisdn = self.lines["IR"][1] if market == "IR" and msisdn not in busy and self.rng.random() < 0.3 \
                and self.lines["IR"][1] not in busy else msisdn
            card = self.cards[msisdn]
            flow = Flow("ussd", market, {"msisdn": msisdn}, card, key, stage="dialogue", session=f"s{self.seed}-{self.n}",
                        answers=["1", self.rng.choice(["1", "2", "3"]), card.pan,
                                 f"{card.expiry_month:02d}{card.expiry_year % 100:02d}", card.pin2, "1"])
            flow.order_id = derived_id("ord_", "ussd", flow.session)
        self.flows.append(flow)
        self.trace.append(f"{self.step_no} start {kind} {key}")
        self.progress(flow)

    def near_cap_amount(self, recipient: str) -> str | None:
        """For the line kept near its cap: an amount that fits alone but not twice, so two
        purchases in flight meet the cap when the second is credited (a refund)."""
        if recipient != self.lines["DZ"][2]:
            return None
        b = self.guard("balance", lambda core: core.subscribers.balances(recipient))
        headroom = 20_000 - (b.main.minor // 100 if hasattr(b, "main") else 20_000)
        return str(max(50, headroom * 6 // 10)) if headroom >= 100 else None

    def use_airtime(self) -> None:
        """A line spends credit (calls, data), so balances move under the cap again."""
        market = self.rng.choice(["DZ", "IR"])
        msisdn = self.lines["DZ"][2] if market == "DZ" and self.rng.random() < 0.5 else self.rng.choice(self.lines[market])
        amount = Money.parse(self.rng.choice(["300", "800", "1500"]) if market == "DZ" else
                             self.rng.choice(["20000", "40000"]), {"DZ": "DZD", "IR": "IRR"}[market])
        usage = self.next_key()
        self.guard("usage", lambda core: core.subscribers.use_airtime(msisdn, amount, usage))

    def kiosk_vend(self) -> None:
        key = self.next_key()
        payload = {"meter": self.rng.choice([STS_METER, CARD_METER]), "amount": self.rng.choice(["20", "50"])}
        oid = derived_id("ord_", "kiosk", key)

        def fn(core: Core) -> tuple[int, dict]:
            order = core.vending.vend(payload["meter"], payload["amount"], method="kiosk", method_account=AGENT,
                                      channel="kiosk", order_id=oid)
            return (201 if order.state is not State.FAILED else 402), order.public()
        self.remember("kiosk:/v1/vends", key, payload, fn)
        answer = self.request("kiosk:/v1/vends", key, payload, fn)
        self.trace.append(f"{self.step_no} kiosk {key} -> {answer and answer[0]}")
        self.fetch_vend(oid)

    def progress(self, flow: Flow | None = None) -> None:
        """One to three requests of one purchase in progress (a person types on)."""
        active = [x for x in self.flows if x.stage != "done"]
        if flow is None:
            if not active:
                return
            flow = self.rng.choice(active)
        for _ in range(self.rng.randint(1, 3)):
            if flow.stage == "done":
                return
            if flow.kind == "ussd":
                self.ussd_step(flow)
            elif flow.stage == "create":
                self.create(flow)
            elif flow.stage == "card":
                self.submit_card(flow)
            elif flow.stage == "otp":
                self.enter_otp(flow)

    def create(self, flow: Flow) -> None:
        oid = derived_id("ord_", "web", flow.key)
        if flow.kind == "web":
            req = TopupRequest(market="DZ", recipient=flow.payload["recipient"], payer=flow.payload["payer"],
                               amount=flow.payload["amount"], product=flow.payload["product"])

            def fn(core: Core) -> tuple[int, dict]:
                return _order_answer(core.topups.create(req, order_id=oid))
            scope = "web:/v1/topups"
        else:
            def fn(core: Core) -> tuple[int, dict]:
                order = core.vending.vend(flow.payload["meter"], flow.payload["amount"], method="card",
                                          channel="web", order_id=oid)
                return (201 if order.state is not State.FAILED else 402), order.public()
            scope = "web:/v1/vends"
        self.remember(scope, flow.key, flow.payload, fn)
        answer = self.request(scope, flow.key, flow.payload, fn)
        self.trace.append(f"{self.step_no} create {flow.key} -> {answer and (answer[0], answer[1].get('state'))}")
        if answer is None or answer[0] == 409:
            return                                       # no answer: the client retries later
        flow.order_id = answer[1].get("id") or (answer[1].get("order") or {}).get("id")
        if flow.order_id:
            self.key_orders.setdefault(f"{scope} {flow.key}", set()).add(flow.order_id)
        flow.stage = "card" if answer[1].get("state") == "pending_payment" else "done"

    def submit_card(self, flow: Flow) -> None:
        card = flow.card
        if "card" not in flow.pending:
            flow.pending["card"] = (self.next_key(), {"order": flow.order_id, "card": card.card_id})
            flow.inbox_mark = len(self.smsc.inbox(card.phone))      # the OTP is what arrives after this
        key, payload = flow.pending["card"]
        data = parse_card(pan=card.pan, expiry=f"{card.expiry_month:02d}/{card.expiry_year % 100:02d}",
                          cvc2=card.cvc2, now=self.clock.now())
        oid = flow.order_id
        scope = f"web:/v1/topups/{oid}/card"
        fn = lambda core: (200, core.payments.submit_card(oid, data).public())  # noqa: E731
        self.remember(scope, key, payload, fn)
        answer = self.request(scope, key, payload, fn)
        self.trace.append(f"{self.step_no} card {flow.key} -> {answer and (answer[0], answer[1].get('state'))}")
        if answer is None:
            return
        del flow.pending["card"]
        self.after_answer(flow, answer)

    def enter_otp(self, flow: Flow) -> None:
        if "otp" in flow.pending:
            key, payload = flow.pending["otp"]
        else:
            inbox = self.smsc.inbox(flow.card.phone)
            codes = [m.group(1) for s in inbox[flow.inbox_mark:] if (m := _OTP.search(s.text))]
            if not codes:                                   # lost or late: wait, or ask again
                if self.rng.random() < 0.3:
                    self.resend(flow)
                return
            code = codes[-1]
            if self.rng.random() < self.plan.wrong_otp_rate:
                code = f"{(int(code) + 1 + self.rng.randrange(999_998)) % 1_000_000:06d}"
            key, payload = self.next_key(), {"otp": code}
            flow.pending["otp"] = (key, payload)
        oid, code = flow.order_id, payload["otp"]
        scope = f"web:/v1/topups/{oid}/otp"
        fn = lambda core: (200, core.payments.confirm_otp(oid, code).public())  # noqa: E731
        self.remember(scope, key, payload, fn)
        answer = self.request(scope, key, payload, fn)
        self.trace.append(f"{self.step_no} otp {flow.key} -> {answer and (answer[0], answer[1].get('state'))}")
        if answer is None:
            return
        del flow.pending["otp"]
        if answer[0] == 422 and answer[1].get("state") == "otp_pending":
            return                                          # a wrong code: type again
        self.after_answer(flow, answer)

    def resend(self, flow: Flow) -> None:
        oid, key = flow.order_id, self.next_key()
        scope = f"web:/v1/topups/{oid}/otp/resend"
        answer = self.request(scope, key, {"order": oid}, lambda core: (200, core.payments.resend_otp(oid).public()))
        self.trace.append(f"{self.step_no} resend {flow.key} -> {answer and answer[0]}")
        if answer is not None and answer[0] >= 400 and answer[0] != 409:
            self.look(flow)

    def after_answer(self, flow: Flow, answer: tuple[int, dict]) -> None:
        """The page follows the order's state; after a refusal it reloads the order."""
        status, body = answer
        if status < 300:
            flow.stage = {"pending_payment": "card", "otp_pending": "otp"}.get(body.get("state"), "done")
        else:
            self.look(flow)
        if flow.stage == "done" and flow.kind == "vend":
            self.fetch_vend(flow.order_id)

    def look(self, flow: Flow) -> None:
        """After a refusal or a conflict the page reloads the order and follows its state."""
        oid = flow.order_id
        answer = self.guard("get order", lambda core: core.payments.get(oid))
        if answer is None or isinstance(answer, RechargeError):
            return
        flow.stage = {"pending_payment": "card", "otp_pending": "otp"}.get(str(answer.state), "done")

    def fetch_vend(self, order_id: str | None) -> None:
        answer = self.guard("vend result", lambda core: core.vending.result(order_id))
        if isinstance(answer, dict):
            self.vend_results.setdefault(order_id, set()).add(answer["token"] or answer["record"])

    def ussd_step(self, flow: Flow) -> None:
        mkt = flow.market
        code = "*1*1#"
        text = "*".join(flow.answers[:flow.said])
        dropped = self.rng.random() < self.plan.ussd_drop_rate
        if dropped:
            self.counts["ussd_drops"] += 1
            if self.rng.random() < 0.5:                      # lost before the core saw it
                self.trace.append(f"{self.step_no} ussd {flow.session} dropped")
                return
        reply = self.guard("ussd", lambda core: core.ussd.handle(flow.session, flow.payload["msisdn"], code, text, mkt))
        self.trace.append(f"{self.step_no} ussd {flow.session} {flow.said} -> "
                          f"{type(reply).__name__ if not hasattr(reply, 'end') else reply.end}")
        if dropped:                                          # the answer was lost: the network sends it again
            return
        if reply is None or isinstance(reply, RechargeError):
            if isinstance(reply, RechargeError):
                flow.stage = "done"
            return
        if reply.end:
            flow.stage = "done"
        elif flow.said < len(flow.answers):
            flow.said += 1
        else:
            flow.stage = "done"

    # -- client retries ----------------------------------------------------------------------
    def remember(self, scope: str, key: str, payload: dict, fn: Callable[[Core], tuple[int, dict]]) -> None:
        self.sent.append((scope, key, payload, fn))

    def retry(self) -> None:
        """A client that did not trust its answer sends the very same request again."""
        if not self.sent:
            return
        scope, key, payload, fn = self.rng.choice(self.sent)
        self.counts["client_retries"] += 1
        answer = self.request(scope, key, payload, fn)
        self.trace.append(f"{self.step_no} retry {key} -> {answer and answer[0]}")
        if answer is not None and answer[0] < 300 and scope.endswith(("/v1/topups", "/v1/vends")):
            self.key_orders.setdefault(f"{scope} {key}", set()).add(answer[1]["id"])
            if scope.endswith("/v1/vends"):
                self.fetch_vend(answer[1]["id"])

