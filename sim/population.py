"""The subscribers of one market, compact: a few bytes each in flat arrays, nothing in the core.

A million subscribers must fit in memory and cost nothing until they act, so the population
is columns (``array``/``bytearray``) indexed by subscriber: kind (prepaid/postpaid), language,
operator, an estimate of the balance that usage drains, the household. Households own the
meter (none, keypad STS or card), the bill account and the postal mandate. Names, numbers,
cards and core rows are made on first use (:meth:`World.provision` does the core side).

    pop = Population.build(cfg.markets["DZ"], "DZ", 100_000, rng, seed=7)
    pop.msisdn(42)          # '213...' valid for core/msisdn.py, unique in the market
    pop.members(pop.household[42])
"""
from __future__ import annotations

import math
import random
from array import array
from dataclasses import dataclass, field

from core.adapters.issuer import IssuedCard
from core.market import Market, load_markets
from core.money import Money
from sim.draw import Choice, LogNormal
from sim.identities import Identity, NumberPlanMap, identity

NO_METER, STS, CARD = 0, 1, 2
TOPUP_CHANNELS = ("web", "ussd", "kiosk", "wallet", "bank_app")
HABIT = 0.85        # how often a person tops up on their usual channel


@dataclass
class Population:
    code: str
    mkt: Market
    cfg: dict
    seed: int
    n: int
    kind: bytearray            # 0 prepaid, 1 postpaid
    lang: bytearray            # index into mkt.languages
    op: bytearray              # index into plan.operators
    pref: bytearray            # preferred top-up channel: index into TOPUP_CHANNELS
    balance: array             # 'q': minor units, main + bonus as the sim estimates it
    provisioned: bytearray     # 1 once the core has the line
    household: array           # 'i': household of each subscriber
    hh_start: array            # 'i': first member of each household (+ sentinel)
    meter: bytearray           # per household: NO_METER, STS, CARD
    biller: bytearray          # per household: 0 none, else 1 + index into billers
    mandate: bytearray         # per household: 1 if the household pays by postal mandate
    plan: NumberPlanMap
    billers: list[str]
    languages: list[str]
    cards: dict[int, IssuedCard] = field(default_factory=dict)
    low_pending: set[int] = field(default_factory=set)    # a low-balance recharge is on its way

    @classmethod
    def build(cls, cfg: dict, code: str, n: int, rng: random.Random, *, seed: int) -> Population:
        mkt = load_markets()[code]
        rnd, gauss, exp = rng.random, rng.gauss, math.exp
        prepaid = cfg["prepaid"]
        kind = bytearray(0 if rnd() < prepaid else 1 for _ in range(n))
        langs = Choice(cfg["languages"])
        lang_idx = [mkt.languages.index(x) for x in langs.items]
        lang = bytearray(lang_idx[langs.index(rng)] for _ in range(n))
        ops = Choice(cfg["operators"])
        op = bytearray(ops.index(rng) for _ in range(n))
        chans = Choice(cfg["topup"]["channels"])
        chan_idx = [TOPUP_CHANNELS.index(c) for c in chans.items]
        pref = bytearray(chan_idx[chans.index(rng)] for _ in range(n))
        bal = LogNormal.of(cfg["balance"])
        cap = mkt.balance_cap.minor
        balance = array("q", (min(cap, int(exp(bal.mu + bal.sigma * gauss(0.0, 1.0)))) for _ in range(n)))
        household, starts = array("i", bytes(4 * n)), array("i")
        extra = cfg["household_size"] - 1.0
        i = h = 0
        while i < n:
            size = 1 + (min(9, int(rng.expovariate(1.0 / extra))) if extra > 0 else 0)
            starts.append(i)
            for j in range(i, min(n, i + size)):
                household[j] = h
            i += size
            h += 1
        starts.append(n)
        meters_cfg, bills_cfg, mandate_cfg = cfg["meters"], cfg["bills"], cfg["mandates"]
        meter = bytearray((CARD if rnd() < meters_cfg["card_share"] else STS) if rnd() < meters_cfg["households"]
                          else NO_METER for _ in range(h))
        billers = list(bills_cfg["billers"])
        pick = Choice(bills_cfg["billers"])
        biller = bytearray(1 + billers.index(pick.draw(rng)) if rnd() < bills_cfg["households"] else 0
                           for _ in range(h))
        share = mandate_cfg["households"] if mandate_cfg else 0.0
        mandate = bytearray(1 if share and rnd() < share else 0 for _ in range(h))
        plan = NumberPlanMap(mkt, list(ops.items), seed)
        if n > plan.capacity():
            raise ValueError(f"{code}: {n} subscribers do not fit the numbering plan ({plan.capacity()} per operator)")
        return cls(code=code, mkt=mkt, cfg=cfg, seed=seed, n=n, kind=kind, lang=lang, op=op, pref=pref, balance=balance,
                   provisioned=bytearray(n), household=household, hh_start=starts, meter=meter, biller=biller,
                   mandate=mandate, plan=plan, billers=billers, languages=list(mkt.languages))

    # -- per subscriber ---------------------------------------------------------------------
    @property
    def households(self) -> int:
        return len(self.hh_start) - 1

    def msisdn(self, i: int) -> str:
        return self.plan.msisdn(i, self.op[i])

    def language(self, i: int) -> str:
        return self.languages[self.lang[i]]

    def prepaid(self, i: int) -> bool:
        return self.kind[i] == 0

    def channel(self, i: int, rng: random.Random, mix: Choice) -> str:
        """The channel ``i`` uses this time: their usual one, or now and then another."""
        return TOPUP_CHANNELS[self.pref[i]] if rng.random() < HABIT else mix.draw(rng)

    def identity(self, i: int) -> Identity:
        return identity(self.seed, self.code, i, self.language(i))

    def members(self, h: int) -> range:
        return range(self.hh_start[h], self.hh_start[h + 1])

    def money(self, minor: int) -> Money:
        return Money(minor, self.mkt.currency)

    def someone_else(self, i: int, rng: random.Random, *, prepaid: bool = True) -> int | None:
        """A gift recipient: a household member, else anyone (prepaid), never ``i``."""
        others = [j for j in self.members(self.household[i]) if j != i and (not prepaid or self.kind[j] == 0)]
        if others and rng.random() < 0.6:
            return rng.choice(others)
        for _ in range(8):
            j = rng.randrange(self.n)
            if j != i and (not prepaid or self.kind[j] == 0):
                return j
        return None

    def card_phone_owner(self, i: int, rng: random.Random) -> int:
        """Whose phone the card's OTP goes to: usually the payer's, sometimes a relative's."""
        if rng.random() < self.cfg["cards"]["other_phone"]:
            others = [j for j in self.members(self.household[i]) if j != i]
            if others:
                return rng.choice(others)
        return i

    # -- per household ----------------------------------------------------------------------
    def meter_number(self, h: int) -> str:
        """An 11-digit meter number with its Luhn digit (protocols.utility_card rules)."""
        from protocols.utility_card import luhn_digit
        body = f"{ {'DZ': 4, 'EG': 7, 'IR': 3}[self.code] }{h:09d}"
        return body + str(luhn_digit(body))

    def account(self, h: int, biller_id: str) -> str:
        """The household's account number at ``biller_id``, in the biller's pattern."""
        if biller_id.startswith(("dz-at-", "ir-tci")):
            if self.code == "IR":
                return f"021{h:08d}"
            return f"03{h:07d}"
        return f"{h + 10**11:012d}"[-12:]

    def card_serial(self, h: int, generation: int = 0) -> str:
        """A utility card serial (8 bytes hex) for the household's card meter."""
        return f"04{generation:02X}{ {'DZ': 1, 'EG': 2, 'IR': 3}[self.code]:02X}{h:010X}"
