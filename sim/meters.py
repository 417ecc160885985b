"""The households' prepaid meters: a compact book for all of them, the device model for the
ones that take part.

A million households cannot each run a meter process, so until a household first buys
electricity its meter is a line in a book: consumption follows the shape's ``electricity``
weights (local time), ``credit - rate * W(t)`` with ``W`` the weight's integral precomputed
per simulated minute, so the credit at any moment is one subtraction and the moment it runs
out one bisection; a meter that runs out inside the run gets one event (it disconnects, its
household may go and buy).

The first purchase makes the meter live: the book hands its credit and load to a
``devices.meter.PrepaidMeter`` (the model face of the meter role, run on the SimPy
environment), and from then on the model decides everything: STS tokens typed on its keypad
(decoded under the decoder key the core derives, TID memory, lock-out after wrong tokens),
credit records loaded from the card into its slot (MAC, purchase count + 1, the registered
card, the hoarding limit), consumption, the relay opening at zero and closing on credit.

Units: the book keeps tenths of a kWh (keypad meters) or money in minor units (card meters,
as their records carry it); the model keeps 0.01 kWh or minor units. ``hours_disconnected``
(book time with no credit plus the models' relay-open time) is the KPI "meter hours
disconnected".
"""
from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Callable

from core.tariffs import tariff as tariff_of
from devices.meter import LoadProfile, MeterEvent, MeterTariff, PrepaidMeter, ResultCode
from devices.meter.errors import MeterInputError
from sim.draw import LogNormal
from sim.population import CARD, NO_METER, STS

if TYPE_CHECKING:
    from sim.world import World


class MeterBook:
    def __init__(self, w: World, m: str) -> None:
        self.w, self.m, self.env = w, m, w.env
        pop = w.pops[m]
        cfg = pop.cfg["meters"]
        self.pop, self.cfg = pop, cfg
        self.tariff = tariff_of(f"{m}-RES")
        self.unit = {STS: 10.0, CARD: float(self.tariff.bands[0].price.minor)}   # per kWh
        self.hoarding = self.tariff.max_credit.minor * 2
        start_hour = ((w.cfg.start + pop.cfg["utc_offset_h"] * 3600) % 86_400) / 3600
        minutes = int(math.ceil(w.stop_s / 60)) + 2
        hourly = w.shape.hourly("electricity", w.cfg.calendar)
        from sim.shape import interpolate
        acc, self.W = 0.0, array("d", [0.0])
        for k in range(minutes):
            acc += interpolate(hourly, start_hour + (k * 60 + 30) / 3600) / 60.0
            self.W.append(acc)
        H = pop.households
        self.credit, self.ref_w = array("d", bytes(8 * H)), array("d", bytes(8 * H))
        self.rate, self.disc = array("d", bytes(8 * H)), array("d", bytes(8 * H))
        self.cut_since = array("d", [-1.0]) * H
        self.gen = array("I", bytes(4 * H))
        rng = w.rng(f"meters:{m}")
        per_day, credit0 = LogNormal.of(cfg["kwh_per_day"]), LogNormal.of(cfg["credit_kwh"])
        self.with_meter: dict[int, array] = {STS: array("i"), CARD: array("i")}
        for h in range(H):
            kind = pop.meter[h]
            if kind == NO_METER:
                continue
            self.with_meter[kind].append(h)
            unit = self.unit[kind]
            self.rate[h] = per_day.draw(rng) / 24.0 * unit
            self.credit[h] = rng.random() * credit0.draw(rng) * unit    # somewhere in its cycle
        self.on_cut: Callable[[int], None] = lambda h: None
        self.registered: dict[int, str] = {}                 # household -> meter number in the core
        self.live: dict[int, PrepaidMeter] = {}              # household -> the device model
        self.card_records: dict[int, list[bytes]] = {}       # records bought, not yet loaded
        self.elec_hourly = hourly
        self.local_start_h = start_hour

    def start(self) -> None:
        for kind in (STS, CARD):
            for h in self.with_meter[kind]:
                self._schedule_cut(h, 0.0)

    # -- consumption ---------------------------------------------------------------------------
    def W_at(self, t: float) -> float:
        x = t / 60.0
        k = int(x)
        if k + 1 >= len(self.W):
            return self.W[-1]
        return self.W[k] + (self.W[k + 1] - self.W[k]) * (x - k)

    def credit_at(self, h: int, t: float) -> float:
        return max(0.0, self.credit[h] - self.rate[h] * (self.W_at(t) - self.ref_w[h]))

    def zero_time(self, h: int) -> float:
        if self.rate[h] <= 0:
            return math.inf
        target = self.ref_w[h] + self.credit[h] / self.rate[h]
        k = bisect_left(self.W, target)
        if k >= len(self.W):
            return math.inf
        if k == 0:
            return 0.0
        lo, hi = self.W[k - 1], self.W[k]
        return (k - 1 + (target - lo) / (hi - lo if hi > lo else 1.0)) * 60.0

    def _schedule_cut(self, h: int, now: float) -> None:
        t = self.zero_time(h)
        if t < self.w.stop_s:
            gen = self.gen[h]
            ev = self.env.timeout(max(0.0, t - now))
            ev.callbacks.append(lambda _e: self._cut(h, gen))

    def _cut(self, h: int, gen: int) -> None:
        if gen != self.gen[h] or self.cut_since[h] >= 0:
            return
        self.cut_since[h] = self.env.now
        self.w.kpis.counters[f"meters_cut_{self.m}"] += 1
        self.on_cut(h)

    def load(self, h: int, units: float) -> None:
        """Credit lands in the meter now: reconnect it if it was cut, and watch for the next cut."""
        now = self.env.now
        left = self.credit_at(h, now)
        if self.cut_since[h] >= 0:
            self.disc[h] += now - self.cut_since[h]
            self.cut_since[h] = -1.0
            self.w.kpis.counters[f"meters_reconnected_{self.m}"] += 1
        self.credit[h], self.ref_w[h] = left + units, self.W_at(now)
        self.gen[h] += 1
        self._schedule_cut(h, now)

    def hours_disconnected(self, until: float) -> float:
        """Hours without supply over [0, until] (``until`` is now or earlier), all meters."""
        total = sum(self.disc)
        for kind in (STS, CARD):
            for h in self.with_meter[kind]:
                since = self.cut_since[h]
                if 0 <= since < until:
                    total += until - since
        for model in self.live.values():
            model.sync()
            total += model.disconnected_s
        return total / 3600.0

    # -- the core's registry and the device model ------------------------------------------------
    def number(self, h: int) -> str:
        """The meter's number: registered in the core (with its first card) and made live on
        first use."""
        number = self.registered.get(h)
        if number is None:
            pop, core = self.pop, self.w.core
            number = pop.meter_number(h)
            kind = "card" if pop.meter[h] == CARD else "sts"
            customer = self.w.provision(self.m, pop.hh_start[h])
            core.meters.register(self.m, number, kind=kind, tariff=self.tariff.id, customer=customer)
            if kind == "card":
                core.meters.issue_card(number, pop.card_serial(h))
            self.registered[h] = number
            self._go_live(h, number)
        return number

    def _go_live(self, h: int, number: str) -> None:
        """Hand the meter from the book to a ``PrepaidMeter`` running on the environment."""
        now = self.env.now
        credit = self.credit_at(h, now)
        if self.cut_since[h] >= 0:
            self.disc[h] += now - self.cut_since[h]
            self.cut_since[h] = -1.0
        self.gen[h] += 1                                     # the book's cut event no longer applies
        kind = self.pop.meter[h]
        watts = self.rate[h] / self.unit[kind] * 1000.0      # at weight 1
        local = datetime.fromtimestamp(self.w.cfg.start + now, timezone.utc).replace(tzinfo=None) \
            + timedelta(hours=self.pop.cfg["utc_offset_h"])
        load = LoadProfile(tuple(min(1_000_000, round(watts * self.elec_hourly[k])) for k in range(24)))
        core = self.w.core
        if kind == STS:
            meter = core.meters.get(number)
            model = PrepaidMeter(number, clock=local, unit="energy", credit=int(credit * 10), load=load,
                                 decoder_key=core.vending.purpose.decoder_key(meter), key_revision=meter.key_revision,
                                 tariff_index=int(meter.tariff_index))
        else:
            t = self.tariff
            bands = tuple((None if b.up_to_tenths is None else b.up_to_tenths // 10, b.price.minor) for b in t.bands)
            model = PrepaidMeter(number, clock=local, unit="money", tariff=MeterTariff(t.currency, bands, 0),
                                 credit=int(credit), load=load, hoarding_limit=self.hoarding,
                                 card_master_keys={1: core.keys.card_master_key(t.utility)})
        model.listeners.append(lambda event: self._heard(h, event))
        self.env.process(model.run(self.env))
        self.live[h] = model
        self.w.kpis.counters[f"meters_live_{self.m}"] += 1

    def _heard(self, h: int, event: MeterEvent) -> None:
        if event.kind == "relay_open" and event.detail == "credit":
            self.w.kpis.counters[f"meters_cut_{self.m}"] += 1
            self.on_cut(h)
        elif event.kind == "relay_close":
            self.w.kpis.counters[f"meters_reconnected_{self.m}"] += 1

    def insert_card(self, h: int) -> tuple[str, int]:
        """The household inserts its card in the meter's slot: each record on it, in turn.
        Returns ("credited" | "already_loaded" | "refused:<meter code>" | "empty", credited)."""
        records = self.card_records.pop(h, [])
        if not records:
            return "empty", 0
        model = self.live[h]
        credited, outcome = 0, "already_loaded"
        for data in records:
            result = model.load_card(data)
            if result.code is ResultCode.ACCEPTED:
                credited += result.credited
                outcome = "credited"
            elif result.code is not ResultCode.ALREADY_LOADED:
                return f"refused:{result.code.wire_name}", credited
        return outcome, credited

    def enter_token(self, h: int, digits: str) -> str:
        """The household types a token on the keypad: the meter's answer ("accepted", "auth"...)."""
        try:
            result = self.live[h].enter_token(digits)
        except MeterInputError:
            return "format"
        return result.code.wire_name
