"""Who the subscribers are: Faker identities per market, made only when a subscriber acts.

Locales: ``ar_DZ`` / ``fr_DZ`` (Algeria, by the subscriber's language), ``fa_IR`` (Iran) and
``ar_EG`` with :class:`EgyptPersonProvider` (Faker's ``ar_EG`` has no Egyptian names).
:class:`MsisdnProvider` makes numbers valid for the core's numbering plans, by operator.

Numbers in the population are not stored: :class:`NumberPlanMap` gives subscriber ``i`` of a
market its MSISDN by a bijection (operator prefix + an affine permutation of ``i`` modulo
10^k), so a million subscribers cost no strings until they act, and no two share a number.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache

from faker import Faker
from faker.providers import BaseProvider

from core.market import Market, load_markets

_LOCALES = {("DZ", "ar"): "ar_DZ", ("DZ", "fr"): "fr_DZ", ("IR", "fa"): "fa_IR", ("EG", "ar"): "ar_EG"}


class EgyptPersonProvider(BaseProvider):
    """Egyptian given and family names, in Arabic script."""

    first_names_male = ("محمد", "أحمد", "محمود", "مصطفى", "عمر", "يوسف", "كريم", "حسن", "إبراهيم", "طارق",
                        "خالد", "شريف", "عمرو", "هشام", "وليد", "سامح", "أيمن", "ياسر", "مينا", "بيشوي")
    first_names_female = ("فاطمة", "مريم", "نور", "هدى", "منى", "سارة", "آية", "ياسمين", "دينا", "رانيا",
                          "هبة", "إيمان", "شيماء", "نادية", "سلمى", "مارينا", "ريهام", "أسماء", "ندى", "علياء")
    last_names = ("عبد الرحمن", "السيد", "حسن", "إبراهيم", "مصطفى", "عبد الله", "فاروق", "منصور", "الشريف",
                  "سليمان", "عطية", "رزق", "جرجس", "حنا", "عبد العزيز", "النجار", "الشافعي", "زكي", "فهمي", "صبري")

    def egyptian_name(self) -> str:
        first = self.random_element(self.first_names_male + self.first_names_female)
        return f"{first} {self.random_element(self.last_names)}"


class MsisdnProvider(BaseProvider):
    """Mobile numbers valid for a served market's numbering plan (core/profiles/*.toml)."""

    def msisdn(self, market: str = "DZ", operator: str | None = None) -> str:
        """E.164 digits without '+', e.g. '213551234567', of ``operator`` or any operator."""
        mkt = load_markets()[market]
        prefixes = sorted(p for p, op in mkt.numbering.operators.items() if operator in (None, op))
        if not prefixes:
            ops = sorted(set(mkt.numbering.operators.values()))
            raise ValueError(f"operator: {operator!r} is not an operator of {market}; expected one of {', '.join(ops)}")
        prefix = self.random_element(prefixes)
        rest = mkt.numbering.national_length - len(prefix)
        return mkt.numbering.country_code + prefix + "".join(str(self.random_digit()) for _ in range(rest))

    def msisdn_national(self, market: str = "DZ", operator: str | None = None) -> str:
        """The same in national form, as people type it ('0551234567')."""
        mkt = load_markets()[market]
        return "0" + self.msisdn(market, operator)[len(mkt.numbering.country_code):]


@lru_cache(maxsize=None)
def faker_for(market: str, lang: str) -> Faker:
    fake = Faker(_LOCALES.get((market, lang), "en_US"))
    fake.add_provider(MsisdnProvider)
    if market == "EG":
        fake.add_provider(EgyptPersonProvider)
    return fake


@dataclass(frozen=True)
class Identity:
    name: str
    email: str | None


def identity(seed: int, market: str, index: int, lang: str) -> Identity:
    """The person behind subscriber ``index``: the same for the same seed, made on demand."""
    fake = faker_for(market, lang)
    fake.seed_instance(f"{seed}:{market}:{index}")
    name = fake.egyptian_name() if market == "EG" else fake.name()
    email = f"u{index}@{fake.free_email_domain()}" if fake.random_int(0, 9) < 3 else None
    return Identity(name, email)


class NumberPlanMap:
    """Subscriber index -> MSISDN for one market, by operator, without storing numbers."""

    def __init__(self, mkt: Market, operators: list[str], seed: int) -> None:
        plan = mkt.numbering
        self.cc, self.operators = plan.country_code, operators
        self.prefixes, self.widths = [], []
        for op in operators:
            prefixes = sorted(p for p, o in plan.operators.items() if o == op)
            if not prefixes:
                raise ValueError(f"operator {op!r} is not in the {mkt.code} numbering plan")
            self.prefixes.append(prefixes[0])
            self.widths.append(plan.national_length - len(prefixes[0]))
        rng = random.Random(f"{seed}:numbers:{mkt.code}")
        self.mult = rng.randrange(10**6, 10**9) * 10 + 3      # ends in 3: coprime with 10^k
        self.shift = rng.randrange(10**9)

    def capacity(self) -> int:
        return min(10 ** w for w in self.widths)

    def msisdn(self, index: int, op: int) -> str:
        w = self.widths[op]
        return f"{self.cc}{self.prefixes[op]}{(index * self.mult + self.shift) % 10 ** w:0{w}d}"
