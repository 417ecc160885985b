"""Unique test data per Locust worker and user: every MSISDN, bill account, meter, card serial,
CCP account and kiosk agent carries the worker index (2 digits) and the user index (4 digits),
so two workers, on one machine or many, never touch the same subscriber's balance, and a
second run with the same seed reuses the same ranges.

    d = TestData("DZ", worker=3, user=17, seed=1)
    d.msisdn(0)          # "0503001700": the user's own phone (payer, cardholder, USSD caller)
    d.msisdn(5)          # "0503001705": the user's 5th recipient
    d.meter(0)           # 11 digits with its Luhn check digit
    d.name()             # Faker: a reproducible name in the market's locale

Names come from Faker in the market's locale, seeded by (seed, worker, user) for each name.
Ranges: mobile numbers ``<prefix><ww><uuuu><kk>`` in each market's first operator prefix (DZ 05,
IR 091, EG 010): 100 workers x 10,000 users x 100 numbers. Pure: no Locust, no core.
"""
from __future__ import annotations

import random

from protocols.luhn import check_digit

PREFIX = {"DZ": ("05", "213"), "IR": ("091", "98"), "EG": ("010", "20")}
BILL_ACCOUNT = {"dz-sonelgaz-elec": "7{w:02d}{u:04d}{k:05d}", "dz-sonelgaz-gaz": "8{w:02d}{u:04d}{k:05d}",
                "eg-ncedc-elec": "7{w:02d}{u:04d}{k:05d}", "ir-tci-fixed": "07{w:02d}{u:04d}{k:03d}",
                "dz-at-fixe": "03{w:02d}{u:04d}{k:01d}", "dz-at-adsl": "04{w:02d}{u:04d}{k:01d}"}
MAX_WORKERS, MAX_USERS, MAX_SLOTS = 100, 10_000, 100
RECIPIENTS = 20                  # numbers each customer tops up in turn: slots 1..20


luhn_digit = check_digit


def fold_digits(text: str) -> str:
    """Arabic-Indic and Persian digits to ASCII (SMS texts may carry either)."""
    return text.translate(str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789"))


def range_msisdns(market: str, workers: int, users: int, slots: int) -> list[str]:
    """National numbers at slots 0..slots-1 of users 0..users-1 of workers 0..workers-1: the
    subscribers such users provision on first use, for creating them ahead of a timed run."""
    if market not in PREFIX:
        raise ValueError(f"market: {market!r}; expected one of {', '.join(PREFIX)}")
    if not (0 < workers <= MAX_WORKERS and 0 < users <= MAX_USERS and 0 < slots <= MAX_SLOTS):
        raise ValueError(f"{workers} workers x {users} users x {slots} slots: expected at most "
                         f"{MAX_WORKERS} x {MAX_USERS} x {MAX_SLOTS}")
    prefix = PREFIX[market][0]
    return [f"{prefix}{w:02d}{u:04d}{k:02d}" for w in range(workers) for u in range(users) for k in range(slots)]


class TestData:
    __test__ = False                       # not a pytest class

    def __init__(self, market: str, worker: int, user: int, seed: int = 0, *, locale: str | None = None) -> None:
        if market not in PREFIX:
            raise ValueError(f"market: {market!r}; expected one of {', '.join(PREFIX)}")
        if not 0 <= worker < MAX_WORKERS or not 0 <= user < MAX_USERS:
            raise ValueError(f"worker {worker} / user {user}: expected worker < {MAX_WORKERS} and "
                             f"user < {MAX_USERS} (the ranges of loadtests/testdata.py)")
        self.market, self.worker, self.user, self.seed = market, worker, user, seed
        self.rng = random.Random(f"{seed}:{market}:{worker}:{user}")
        self._locale = locale or "en_US"
        self._names = 0

    def msisdn(self, slot: int) -> str:
        """National format; slot 0 is the user's own phone."""
        if not 0 <= slot < MAX_SLOTS:
            raise ValueError(f"slot {slot}: expected 0 to {MAX_SLOTS - 1}")
        return f"{PREFIX[self.market][0]}{self.worker:02d}{self.user:04d}{slot:02d}"

    def e164(self, slot: int) -> str:
        national = self.msisdn(slot)
        return PREFIX[self.market][1] + national[1:]

    def bill_account(self, biller: str, k: int) -> str:
        try:
            pattern = BILL_ACCOUNT[biller]
        except KeyError:
            raise ValueError(f"biller {biller!r}: no account range; expected one of {', '.join(BILL_ACCOUNT)}") from None
        return pattern.format(w=self.worker, u=self.user, k=k)

    def meter(self, k: int) -> str:
        body = f"4{self.worker:02d}{self.user:04d}{k:03d}"
        return body + luhn_digit(body)

    def card_serial(self, k: int) -> str:
        return f"A5{self.worker:02X}{self.user:04X}{k:08X}"

    def ccp(self) -> str:
        return f"9{self.worker:02d}{self.user:04d} {self.rng.randrange(100):02d}"

    def agent(self) -> str:
        return f"lt-{self.market.lower()}-{self.worker}-{self.user}"

    def name(self) -> str:
        """A person's name in the market's locale: Faker seeded by (seed, worker, user, n)."""
        fake = _faker(self._locale)
        self._names += 1
        fake.seed_instance(f"{self.seed}:{self.worker}:{self.user}:{self._names}")
        return str(fake.name())


_FAKERS: dict[str, object] = {}


def _faker(locale: str):  # type: ignore[no-untyped-def]
    """One Faker per locale and process (building one takes milliseconds), re-seeded per name."""
    if locale not in _FAKERS:
        from faker import Faker
        _FAKERS[locale] = Faker(locale)
    return _FAKERS[locale]
