"""The base of every Locust user: one customer of one market, paced (open model), with unique
test data, who runs one kind of transaction again and again and reports each as one ``TX``
event named after its type (``web_topup``...), timed from its first request to its outcome.

Business outcomes that are not errors (a card declined by the issuer, a top-up refused at the
balance cap) are reported under ``<type> [declined]`` / ``<type> [refused]`` as successes, so
they neither hide in the latency of real recharges nor count as failures. Requests that only
prepare data (provisioning, test cards, bills from the biller's feed) are named ``setup: ...``
and never counted in a transaction's time.
"""
from __future__ import annotations

import itertools
import random
import re
import time
from typing import Any

from locust import FastHttpUser
from locust.exception import StopUser

from loadtests import shapes
from loadtests.pacing import Pacer
from loadtests.plan import Plan
from loadtests.steps import StepStats
from loadtests.testdata import TestData, fold_digits

PLAN: Plan | None = None
STEPS: StepStats | None = None
RUN_START = [time.monotonic()]          # reset by the locustfile at test_start, in every process
_USERS = itertools.count()              # user index in this process: unique across classes
_OTP = re.compile(r"(?<!\d)(\d{4,8})(?!\d)")
OTP_PATIENCE_S = 30.0
RESENDS = 2
SETTLE_POLL_S = 10.0
SETUP_RETRIES = 5                       # a shed or refused setup request is tried again (Retry-After)


class TxFailed(Exception):
    """The transaction failed: ``reason`` is what the report lists."""


class Outcome(Exception):
    """The transaction ended in a business outcome (``declined``, ``refused``), not an error."""


def configure(plan: Plan) -> None:
    global PLAN, STEPS
    PLAN, STEPS = plan, StepStats(plan.stages)


def elapsed() -> float:
    return time.monotonic() - RUN_START[0]


class Customer(FastHttpUser):
    abstract = True
    tx = ""
    network_timeout = 30.0
    connection_timeout = 10.0

    # -- lifecycle ----------------------------------------------------------------------
    def on_start(self) -> None:
        assert PLAN is not None, "loadtests.customer.configure(plan) first"
        self.plan = PLAN
        self.worker = max(0, int(getattr(self.environment.runner, "worker_index", 0) or 0))
        self.index = next(_USERS)
        self.rng = random.Random(f"{PLAN.seed}:{self.tx}:{self.worker}:{self.index}")
        weights = PLAN.markets_for(self.tx)
        self.market = self.rng.choices(list(weights), list(weights.values()))[0]
        self.mkt = PLAN.market_data[self.market]
        self.data = TestData(self.market, self.worker, self.index, PLAN.seed,
                             locale=self.mkt.get("faker_locale"))
        self.pacer = Pacer(lambda: shapes.per_user_rate(PLAN.stages, PLAN.per_user_tps, elapsed()),
                           self.rng, PLAN.arrivals)
        self.requests = itertools.count(1)
        self.sms_seen = 0
        try:
            self.setup()
        except (TxFailed, Outcome) as e:
            self.report(f"{self.tx} [setup]", 0.0, error=str(e))
            raise StopUser() from None
        time.sleep(self.pacer.first())      # Locust runs the first task at once: spread the starts

    def setup(self) -> None:
        """Prepare this customer's data (untimed); subclasses add to it."""

    def wait_time(self) -> float:
        return self.pacer.wait()

    def run_once(self) -> None:
        self.pacer.started()
        t0 = time.perf_counter()
        name, error = self.tx, None
        try:
            self.transaction()
        except Outcome as o:
            name = f"{self.tx} [{o}]"
        except TxFailed as e:
            error = str(e)
        self.report(name, (time.perf_counter() - t0) * 1000, error=error)

    def transaction(self) -> None:
        raise NotImplementedError

    def report(self, name: str, ms: float, *, error: str | None = None) -> None:
        self.environment.events.request.fire(request_type="TX", name=name, response_time=ms, response_length=0,
                                             exception=TxFailed(error) if error else None, context={})
        if STEPS is not None:
            STEPS.record(elapsed(), name, ms, ok=error is None, error=error)

    # -- HTTP ---------------------------------------------------------------------------
    def key(self) -> str:
        return f"{self.plan.run_id}-{self.worker}-{self.index}-{next(self.requests)}"

    def call(self, method: str, url: str, name: str, *, channel: str | None = "web", body: Any = None,
             idem: bool = False, ok: tuple[int, ...] = (200, 201), soft: tuple[int, ...] = ()) -> tuple[int, Any]:
        """One request; returns (status, JSON). ``ok`` and ``soft`` statuses are successes for
        Locust's per-request stats; ``soft`` ones are returned for the caller to decide. Any other
        status (shedding 429/503 included) raises :class:`TxFailed` with the problem's detail, but a
        ``setup: ...`` request is first tried again after its ``Retry-After`` (5 times at most)."""
        headers = {}
        if channel is not None:
            headers["X-API-Key"] = self.plan.keys[channel]
        if idem:
            headers["Idempotency-Key"] = self.key()
        for attempt in range(SETUP_RETRIES + 1):
            status, data, after = self._request(method, url, name, headers, body, ok, soft)
            if status is not None:
                return status, data
            if not name.startswith("setup:") or attempt == SETUP_RETRIES:
                raise TxFailed(data)
            time.sleep(min(after, 5.0))      # data preparation waits out the core's shedding
        raise AssertionError("unreachable")

    def _request(self, method: str, url: str, name: str, headers: dict, body: Any, ok: tuple[int, ...],
                 soft: tuple[int, ...]) -> tuple[int | None, Any, float]:
        """(status, JSON, 0) on success; (None, why, Retry-After seconds) on failure."""
        with self.client.request(method, url, name=name, json=body, headers=headers, catch_response=True) as r:
            status = r.status_code or 0
            try:
                data = r.json() if r.content else None
            except ValueError:
                data = None
            if status in ok or status in soft:
                r.success()
                return status, data, 0.0
            detail = data.get("detail") if isinstance(data, dict) else (r.text or "")[:160] if r.text else ""
            after = r.headers.get("Retry-After") if status in (429, 503) and r.headers else None
            why = f"{name}: HTTP {status or 'no answer'}" + (f" {detail}" if detail else "") + (
                f" (Retry-After {after})" if after else "")
            r.failure(why)
            try:
                wait = float(after) if after else 1.0
            except ValueError:
                wait = 1.0
            return None, why, wait if status in (429, 503) else 0.5

    # -- shared steps -------------------------------------------------------------------
    def provision(self, slot: int, *, language: str | None = None) -> str:
        """The subscriber at ``slot`` of this user's range (untimed setup); returns the national number.
        With ``plan.provisioned`` the range was created ahead (``rbench load --provisioned``): no call."""
        msisdn = self.data.msisdn(slot)
        if self.plan.provisioned:
            return msisdn
        body: dict[str, Any] = {"market": self.market, "msisdn": msisdn}
        if language:
            body["language"] = language
        status, _ = self.call("POST", "/v1/subscribers", "setup: provision subscriber", channel="admin",
                              body=body, idem=True, ok=(200, 201), soft=(409,))
        return msisdn

    def test_card(self) -> dict:
        """A test card of the emulated bank, its OTPs going to this user's own phone."""
        _, cards = self.call("POST", f"{self.plan.gateway_url}/emulator/cards", "setup: test card", channel=None,
                             body={"phone": self.data.e164(0)})
        if not isinstance(cards, list) or not cards:
            raise TxFailed("setup: test card: expected a list of cards")
        return cards[0]

    def pay_by_card(self, order: dict, card: dict) -> None:
        """Card, then (SATIM style) the SMS code, until the order is credited."""
        oid = order["id"]
        body = {"pan": card["pan"], "expiry": card["expiry"], "holder": card["holder"], "cvc2": card["cvc2"],
                "pin2": card["pin2"]}
        _, o = self.call("POST", f"/v1/topups/{oid}/card", "POST /v1/topups/{id}/card", body=body, idem=True)
        if o["state"] == "otp_pending":
            code = self.read_otp(oid)
            _, o = self.call("POST", f"/v1/topups/{oid}/otp", "POST /v1/topups/{id}/otp", body={"otp": code}, idem=True)
        self.settled(o)

    def settled(self, o: dict) -> None:
        """Wait (briefly) for a paid order to be credited; a failed one is declined or an error."""
        deadline = time.monotonic() + SETTLE_POLL_S
        while o["state"] in ("pending_payment", "otp_pending", "authorised", "paid"):
            if time.monotonic() > deadline:
                raise TxFailed(f"order {o['id']} still {o['state']} after {SETTLE_POLL_S:.0f} s")
            time.sleep(0.2)
            _, o = self.call("GET", f"/v1/topups/{o['id']}", "GET /v1/topups/{id}")
        if o["state"] == "failed" and "declined" in (o.get("reason") or ""):
            raise Outcome("declined")
        if o["state"] != "credited":
            raise TxFailed(f"order {o['id']} ended {o['state']}: {o.get('reason')}")

    def read_otp(self, order_id: str) -> str:
        """The code from the newest SMS of the card's gateway in this user's inbox."""
        phone = self.data.e164(0)
        for attempt in range(RESENDS + 1):
            deadline = time.monotonic() + OTP_PATIENCE_S / (RESENDS + 1)
            while time.monotonic() < deadline:
                wait = max(0.0, min(10.0, deadline - time.monotonic()))
                _, inbox = self.call("GET", f"{self.plan.smsc_url}/inbox/{phone}?after={self.sms_seen}&wait={wait:.1f}",
                                     "SMSC inbox (long poll)", channel=None)
                codes = []
                for m in inbox["messages"]:
                    self.sms_seen = max(self.sms_seen, int(m["seq"]))
                    found = _OTP.search(fold_digits(m["text"])) if m["from"] != "RBENCH" else None
                    if found:
                        codes.append(found.group(1))
                if codes:
                    return codes[-1]
            if attempt < RESENDS:
                self.call("POST", f"/v1/topups/{order_id}/otp/resend", "POST /v1/topups/{id}/otp/resend", idem=True)
        raise TxFailed(f"no OTP SMS for order {order_id} within {OTP_PATIENCE_S:.0f} s ({RESENDS} resends)")
