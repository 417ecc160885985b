"""The USSD ``*1#`` application, aggregator style: (session id, MSISDN, service code, answers
so far) in, one screen and continue/end out.

The dialogue is replayed from the answers on every request, so the only state kept is the
session itself (for timeouts and the one-open-session rule) and never a card number or PIN2:
those travel in the aggregator's text and go straight to the gateway.

    *1#    choose normal or amazing, then as below
    *1*1#  normal top-up      *1*2#  amazing top-up (bonus tiers)
    -> self or gift -> saved numbers / new number -> amount -> card -> expiry -> PIN2
    -> confirm -> (gift to a new number: save it?) -> "processing", outcome by SMS
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable, TypeVar

from core.cards import luhn_ok, parse_card, parse_expiry
from core.clock import Clock
from core.digits import to_ascii_digits, to_local_digits
from core.errors import InvalidInput, RechargeError
from core.idempotency import derived_id
from core.market import Market, load_markets, market as market_of, market_for_msisdn
from core.msisdn import normalise
from core.orders import State
from core.store import Store, Tx
from core.subscribers import Subscriber, Subscribers, find as find_subscriber
from core.topups import TopupRequest, Topups
from protocols.gsm import truncate_ussd, ussd_fits

T = TypeVar("T")
_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
MAX_INVALID = 3


@dataclass(frozen=True)
class UssdReply:
    text: str
    end: bool


class _Screen(Exception):
    """Control flow of the replay: the dialogue stops at this screen."""

    def __init__(self, text: str, end: bool = False) -> None:
        self.text, self.end = text, end


@dataclass(frozen=True)
class _Payment:
    product: str
    recipient: str
    amount: str
    pan: str
    expiry: str
    pin2: str
    save: bool


class UssdApp:
    def __init__(self, store: Store, clock: Clock, subscribers: Subscribers, topups: Topups) -> None:
        self.store, self.clock, self.subscribers, self.topups = store, clock, subscribers, topups

    def handle(self, session_id: object, msisdn: object, service_code: object, text: object,
               market: str | None = None) -> UssdReply:
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            raise InvalidInput("session_id: expected 1 to 64 letters, digits or _.:-", field="session_id")
        mkt = market_of(market) if market is not None else market_for_msisdn(msisdn)
        number = normalise(msisdn, mkt.numbering, field="msisdn")
        code = to_ascii_digits(service_code).strip() if isinstance(service_code, str) else ""
        base = mkt.ussd.service_code
        products = {base: None, base[:-1] + "*1#": "normal", base[:-1] + "*2#": "amazing"}
        if code not in products:
            raise InvalidInput(f"service_code: {service_code!r}; expected one of {', '.join(products)}",
                               field="service_code")
        if not isinstance(text, str) or len(text) > 512:
            raise InvalidInput("text: expected the answers so far joined by '*' (at most 512 characters)",
                               field="text")
        answers = [a.strip() for a in to_ascii_digits(text).split("*")] if text else []
        with self.store.autocommit() as tx:      # a read: no write lock for each screen
            sub = find_subscriber(tx, number.e164)
        lang = sub.language if sub else mkt.languages[0]
        say = lambda key, **kw: mkt.text(key, lang, **kw)  # noqa: E731
        if sub is None:
            return self._fit(mkt, UssdReply(say("ussd_refused", reason=number.national), True))
        opened = None if self._touch(session_id, sub, mkt) else \
            self.store.run(lambda tx: self._open(tx, session_id, sub, mkt, code))
        if opened is not None:
            return self._fit(mkt, UssdReply(say(opened), True))
        try:
            payment = self._walk(mkt, sub, products[code], answers, lang)
        except _Screen as s:
            if s.end:
                self._close(session_id, "cancelled")
            return self._fit(mkt, UssdReply(s.text, s.end))
        reply = self._pay(session_id, mkt, sub, payment, lang)
        self._close(session_id, "paid")
        return self._fit(mkt, reply)

    # -- sessions --------------------------------------------------------------------------
    def _touch(self, session_id: str, sub: Subscriber, mkt: Market) -> bool:
        """The common screen, a live session of this MSISDN answered in time: one guarded
        UPDATE of its last answer time. False sends every other case (new, ended, timed out,
        another MSISDN's) through ``_open``, which says which it is."""
        now_ms = int(self.clock.now() * 1000)
        with self.store.autocommit() as tx:
            return tx.execute(
                "UPDATE ussd_sessions SET last_ms = ? WHERE session_id = ? AND msisdn = ? AND is_open = 1"
                " AND last_ms >= ? AND started_ms >= ?",
                (now_ms, session_id, sub.msisdn, now_ms - mkt.ussd.answer_timeout_s * 1000,
                 now_ms - mkt.ussd.session_timeout_s * 1000)) == 1

    def _open(self, tx: Tx, session_id: str, sub: Subscriber, mkt: Market, code: str) -> str | None:
        """Open or continue the session; returns a text key to end with, or None to go on."""
        now_ms = int(self.clock.now() * 1000)
        answer_cut = now_ms - mkt.ussd.answer_timeout_s * 1000
        session_cut = now_ms - mkt.ussd.session_timeout_s * 1000
        row = tx.one("SELECT * FROM ussd_sessions WHERE session_id = ?" + tx.for_update, (session_id,))
        if row is None:
            tx.execute("UPDATE ussd_sessions SET is_open = 0, end_reason = 'timeout' WHERE msisdn = ?"
                       " AND is_open = 1 AND (last_ms < ? OR started_ms < ?)", (sub.msisdn, answer_cut, session_cut))
            inserted = tx.execute(
                "INSERT INTO ussd_sessions (session_id, msisdn, market, service_code, data, is_open,"
                " started_ms, last_ms) VALUES (?, ?, ?, ?, '{}', 1, ?, ?) ON CONFLICT DO NOTHING",
                (session_id, sub.msisdn, mkt.code, code, now_ms, now_ms))
            return None if inserted else "ussd_busy"
        if row["msisdn"] != sub.msisdn:
            raise InvalidInput(f"session_id: {session_id!r} belongs to another MSISDN", field="session_id")
        if not row["is_open"]:
            return "ussd_timeout" if row["end_reason"] == "timeout" else "ussd_cancelled"
        if int(row["last_ms"]) < answer_cut or int(row["started_ms"]) < session_cut:
            tx.execute("UPDATE ussd_sessions SET is_open = 0, end_reason = 'timeout' WHERE session_id = ?",
                       (session_id,))
            return "ussd_timeout"
        tx.execute("UPDATE ussd_sessions SET last_ms = ? WHERE session_id = ?", (now_ms, session_id))
        return None

    def release(self, session_id: str, reason: str = "cancelled") -> None:
        """End a session the handset or the network gave up (cancel, timeout, drop), so the
        subscriber can dial again at once instead of being refused as "session open"."""
        if reason not in ("cancelled", "timeout", "dropped"):
            raise ValueError(f"reason: {reason!r}; expected cancelled, timeout or dropped")
        self._close(session_id, reason)

    def _close(self, session_id: str, reason: str) -> None:
        self.store.run(lambda tx: tx.execute(
            "UPDATE ussd_sessions SET is_open = 0, end_reason = ?, data = ? WHERE session_id = ?",
            (reason, json.dumps({"closed_ms": int(self.clock.now() * 1000)}), session_id)))

    def expire_sessions(self) -> int:
        """Close sessions whose answer or overall timeout passed (a sweep, e.g. each minute)."""
        now_ms = int(self.clock.now() * 1000)
        closed = 0
        for mkt in load_markets().values():
            closed += self.store.run(lambda tx, m=mkt: tx.execute(
                "UPDATE ussd_sessions SET is_open = 0, end_reason = 'timeout' WHERE market = ? AND"
                " is_open = 1 AND (last_ms < ? OR started_ms < ?)",
                (m.code, now_ms - m.ussd.answer_timeout_s * 1000, now_ms - m.ussd.session_timeout_s * 1000)))
        return closed

    # -- the dialogue ----------------------------------------------------------------------
    def _walk(self, mkt: Market, sub: Subscriber, product: str | None, answers: list[str],
              lang: str) -> _Payment:
        say = lambda key, **kw: mkt.text(key, lang, **kw)  # noqa: E731
        pos = [0]

        def ask(prompt: str, parse: Callable[[str], T]) -> T:
            invalid = 0
            while True:
                if pos[0] >= len(answers):
                    raise _Screen((say("ussd_invalid") + "\n" if invalid else "") + prompt)
                answer = answers[pos[0]]
                pos[0] += 1
                try:
                    return parse(answer)
                except (ValueError, RechargeError):
                    invalid += 1
                    if invalid >= MAX_INVALID:
                        raise _Screen(say("ussd_invalid"), end=True) from None

        def choice(options: dict[str, T]) -> Callable[[str], T]:
            def parse(a: str) -> T:
                if a not in options:
                    raise ValueError(a)
                return options[a]
            return parse

        if product is None:
            product = ask(say("ussd_type"), choice({"1": "normal", "2": "amazing"}))
        target = "gift" if sub.kind == "postpaid" else ask(say("ussd_target"), choice({"1": "self", "2": "gift"}))
        recipient, saved = sub.msisdn, []
        if target == "gift":
            saved = [s for s in self.subscribers.saved_recipients(sub.msisdn) if s != sub.msisdn]
            shown = self._fitting_list(mkt, lambda lines: say("ussd_saved", numbers=lines),
                                       [self._national(mkt, s) for s in saved])
            new = lambda a: normalise(a, mkt.numbering).e164  # noqa: E731
            if shown:
                options = {str(i + 1): saved[i] for i in range(shown)}
                options["0"] = ""
                picked = ask(say("ussd_saved", numbers="\n".join(
                    f"{i + 1} {self._national(mkt, saved[i])}" for i in range(shown))), choice(options))
                recipient = picked or ask(say("ussd_number"), new)
            else:
                recipient = ask(say("ussd_number"), new)
        presets = {str(i + 1): p for i, p in enumerate(mkt.presets)}
        amount = ask(say("ussd_amount", amounts="\n".join(
            f"{k} {to_local_digits(p.display(), mkt.display_digits)}" for k, p in presets.items())),
            choice(presets))
        pan = ask(say("ussd_card"), self._pan)
        expiry = ask(say("ussd_expiry"), lambda a: (parse_expiry(a), a)[1])
        pin2 = ask(say("ussd_pin2"), self._pin2)
        confirmed = ask(say("ussd_confirm", amount=to_local_digits(amount.display(), mkt.display_digits),
                            msisdn=self._national(mkt, recipient)), choice({"1": True, "2": False}))
        if not confirmed:
            raise _Screen(say("ussd_cancelled"), end=True)
        save = False
        if target == "gift" and recipient not in saved:
            save = ask(say("ussd_save", msisdn=self._national(mkt, recipient)), choice({"1": True, "2": False}))
        return _Payment(product, recipient, amount.major_str(), pan, expiry, pin2, save)

    def _pay(self, session_id: str, mkt: Market, sub: Subscriber, p: _Payment, lang: str) -> UssdReply:
        say = lambda key, **kw: mkt.text(key, lang, **kw)  # noqa: E731
        order_id = derived_id("ord_", "ussd", session_id)
        try:
            order = self.topups.create(TopupRequest(
                market=mkt.code, payer=sub.msisdn, recipient=p.recipient, amount=p.amount,
                product=p.product, channel="ussd", save_recipient=p.save, language=lang), order_id=order_id)
            if order.state is State.REFUSED:
                return UssdReply(say("sms_cap_refused", msisdn=self._national(mkt, order.recipient),
                                     cap=to_local_digits(mkt.balance_cap.display(), mkt.display_digits)), True)
            if order.state is State.PENDING_PAYMENT:
                card = parse_card(pan=p.pan, expiry=p.expiry, pin2=p.pin2, now=self.clock.now(), need_pin2=True)
                order = self.topups.payments.submit_card(order.id, card)
        except RechargeError as e:
            return UssdReply(say("ussd_refused", reason=e.message[:40]), True)
        if order.state is State.FAILED:
            return UssdReply(say("ussd_refused", reason=order.reason or ""), True)
        return UssdReply(say("ussd_processing", order=order.id[-8:]), True)

    # -- helpers ---------------------------------------------------------------------------
    def _pan(self, a: str) -> str:
        if not (a.isdigit() and 16 <= len(a) <= 19 and luhn_ok(a)):
            raise ValueError("pan")
        return a

    def _pin2(self, a: str) -> str:
        if not (a.isdigit() and 5 <= len(a) <= 12):
            raise ValueError("pin2")
        return a

    def _national(self, mkt: Market, e164: str) -> str:
        return to_local_digits("0" + e164[len(mkt.numbering.country_code):], mkt.display_digits)

    def _fitting_list(self, mkt: Market, render: Callable[[str], str], items: list[str]) -> int:
        """How many list items fit one USSD screen (182 GSM-7 / 80 UCS2 characters)."""
        n = len(items)
        while n and not ussd_fits(render("\n".join(f"{i + 1} {items[i]}" for i in range(n))),
                                  mkt.ussd.max_gsm7, mkt.ussd.max_ucs2):
            n -= 1
        return n

    def _fit(self, mkt: Market, reply: UssdReply) -> UssdReply:
        if ussd_fits(reply.text, mkt.ussd.max_gsm7, mkt.ussd.max_ucs2):
            return reply
        return UssdReply(truncate_ussd(reply.text, mkt.ussd.max_gsm7, mkt.ussd.max_ucs2), reply.end)
