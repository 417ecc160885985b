"""The emulated card issuer behind the emulated gateways: the bank that holds the cards.

Gateways ask it to authorise, then debit on capture (SATIM) or on the hold (Shaparak) and
credit back on refund or reversal. It answers with an opaque ``card_id`` so a gateway never
has to keep a PAN; the issuer, being the card's bank, is the one place that knows it.
"""
from __future__ import annotations

import calendar
import random
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from typing import Mapping, Sequence

from core.clock import Clock
from core.digits import to_ascii_digits
from core.money import Money
from core.ports import Card
from protocols.luhn import check_digit, valid

PIN2_TRIES = 3      # wrong PIN2 in a row before the issuer blocks the card
DEFAULT_BALANCES = {"DZD": 1_000_000, "IRR": 5_000_000, "EGP": 500_000}   # minor units
_HOLDERS = ("AMINA BENALI", "KARIM HADDAD", "YACINE BOUZID", "SARA MOHAMMADI", "REZA AHMADI",
            "NEGAR KARIMI", "MONA HASSAN", "OMAR FAROUK", "HODA MOSTAFA", "LYDIA MEZIANE")


def luhn_valid(pan: str) -> bool:
    """The mod-10 check every card number carries in its last digit."""
    return pan.isascii() and pan.isdigit() and 12 <= len(pan) <= 19 and valid(pan)


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` Luhn-valid."""
    if not partial.isascii() or not partial.isdigit() or not 11 <= len(partial) <= 18:
        raise ValueError(f"pan: expected 11-18 ASCII digits, got {partial!r}")
    return check_digit(partial)


@dataclass
class IssuedCard:
    """A card as its issuer knows it. Secrets live here (and only here) for the emulator."""

    card_id: str
    pan: str
    expiry_month: int
    expiry_year: int
    holder: str
    phone: str                               # E.164 digits: where the OTP goes
    pin2: str = field(repr=False)
    cvc2: str = field(repr=False)
    balances: dict[str, int] = field(default_factory=dict)   # available, minor units
    blocked: bool = False
    stolen: bool = False
    pin2_fails: int = 0

    def card(self, *, with_pin2: bool = False, **override: object) -> Card:
        """The :class:`Card` a cardholder would type (with PIN2 for Shaparak style);
        ``override`` replaces fields, e.g. ``cvc2="000"`` to type a wrong one."""
        values: dict[str, object] = dict(
            pan=self.pan, expiry_month=self.expiry_month, expiry_year=self.expiry_year,
            holder=self.holder, cvc2=self.cvc2, pin2=self.pin2 if with_pin2 else None)
        values.update(override)
        return Card(**values)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"IssuedCard({self.card_id}, {self.pan[:6]}******{self.pan[-4:]}, {self.phone})"


@dataclass(frozen=True)
class Authorisation:
    ok: bool
    card_id: str | None = None
    code: str | None = None       # why not: unknown_card, blocked, stolen, expired_card, ...
    reason: str | None = None

    @classmethod
    def decline(cls, code: str, reason: str, card_id: str | None = None) -> "Authorisation":
        return cls(False, card_id, code, reason)


def expired(month: int, year: int, now: float) -> bool:
    """A card is valid through the last day of its expiry month (UTC)."""
    return now >= _month_after(month, year)


@lru_cache(maxsize=1024)
def _month_after(month: int, year: int) -> int:
    """The first second after expiry month ``month``/``year`` (kept: two card checks per payment)."""
    if month == 12:
        month, year = 0, year + 1
    return calendar.timegm((year, month + 1, 1, 0, 0, 0))


class Issuer:
    """Cards, balances and the authorisation rules of one emulated bank (thread-safe)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._by_pan: dict[str, IssuedCard] = {}
        self._by_id: dict[str, IssuedCard] = {}

    def add(self, card: IssuedCard) -> IssuedCard:
        if not luhn_valid(card.pan):
            raise ValueError(f"pan: {card.pan[:6]}...: expected a Luhn-valid card number")
        with self._lock:
            if card.pan in self._by_pan or card.card_id in self._by_id:
                raise ValueError(f"card {card!r} is already issued")
            self._by_pan[card.pan] = card
            self._by_id[card.card_id] = card
        return card

    def generate(self, rng: random.Random, n: int, phones: Sequence[str], *,
                 prefix: str = "628058",
                 balances: Mapping[str, int] | None = None) -> list[IssuedCard]:
        """``n`` reproducible test cards (same ``rng`` state, same cards), phones in turn."""
        if not phones:
            raise ValueError("phones: expected at least one E.164 number to link cards to")
        year = datetime.fromtimestamp(self.clock.now(), timezone.utc).year
        made: list[IssuedCard] = []
        for _ in range(n):
            while True:
                body = prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix)))
                pan = body + luhn_check_digit(body)
                if pan not in self._by_pan:
                    break
            made.append(self.add(IssuedCard(
                card_id=f"card-{len(self._by_id) + 1:05d}", pan=pan,
                expiry_month=rng.randint(1, 12), expiry_year=year + rng.randint(1, 4),
                holder=rng.choice(_HOLDERS), phone=phones[len(made) % len(phones)],
                pin2=f"{rng.randrange(10**6):06d}", cvc2=f"{rng.randrange(1000):03d}",
                balances=dict(DEFAULT_BALANCES if balances is None else balances))))
        return made

    def get(self, card_id: str) -> IssuedCard:
        with self._lock:
            return self._by_id[card_id]

    def cards(self) -> list[IssuedCard]:
        """Every issued test card, in issue order."""
        with self._lock:
            return list(self._by_id.values())

    def phone_of(self, card_id: str) -> str:
        return self.get(card_id).phone

    def balance(self, card_id: str, currency: str) -> Money:
        with self._lock:
            return Money(self._by_id[card_id].balances.get(currency, 0), currency)

    def authorise(self, card: Card, amount: Money) -> Authorisation:
        """May this card pay ``amount`` now? Checks what the card data lets the issuer check."""
        pan = to_ascii_digits(card.pan).replace(" ", "")
        with self._lock:
            known = self._by_pan.get(pan)
            if known is None:
                return Authorisation.decline("unknown_card", "card not issued by this bank")
            cid = known.card_id
            if known.stolen:
                return Authorisation.decline("stolen", "card reported stolen", cid)
            if known.blocked:
                return Authorisation.decline("blocked", "card blocked by the issuer", cid)
            if expired(known.expiry_month, known.expiry_year, self.clock.now()):
                return Authorisation.decline(
                    "expired_card",
                    f"card expired {known.expiry_month:02d}/{known.expiry_year}", cid)
            if (card.expiry_month, card.expiry_year) != (known.expiry_month, known.expiry_year):
                return Authorisation.decline("card_mismatch",
                                             "expiry date does not match the card", cid)
            if card.cvc2 is not None and to_ascii_digits(card.cvc2) != known.cvc2:
                return Authorisation.decline("wrong_cvc2", "wrong CVC2", cid)
            if card.pin2 is not None:
                if to_ascii_digits(card.pin2) != known.pin2:
                    known.pin2_fails += 1
                    if known.pin2_fails >= PIN2_TRIES:
                        known.blocked = True
                        return Authorisation.decline(
                            "wrong_pin2", f"wrong PIN2 ({PIN2_TRIES} in a row): card blocked",
                            cid)
                    return Authorisation.decline("wrong_pin2", "wrong PIN2", cid)
                known.pin2_fails = 0
            if known.balances.get(amount.currency, 0) < amount.minor:
                return Authorisation.decline("insufficient_funds", "insufficient funds", cid)
            return Authorisation(True, cid)

    def debit(self, card_id: str, amount: Money) -> Authorisation:
        """Take ``amount`` off the available balance (capture, or a Shaparak hold)."""
        with self._lock:
            card = self._by_id.get(card_id)
            if card is None:
                return Authorisation.decline("unknown_card", "card not issued by this bank")
            if card.blocked or card.stolen:
                return Authorisation.decline("blocked", "card blocked by the issuer", card_id)
            have = card.balances.get(amount.currency, 0)
            if have < amount.minor:
                return Authorisation.decline("insufficient_funds", "insufficient funds", card_id)
            card.balances[amount.currency] = have - amount.minor
            return Authorisation(True, card_id)

    def credit(self, card_id: str, amount: Money) -> None:
        """Give ``amount`` back (refund, reversal). Works on blocked cards too."""
        with self._lock:
            card = self._by_id[card_id]
            card.balances[amount.currency] = card.balances.get(amount.currency, 0) + amount.minor
