"""The network side on virtual time: card gateways' capacity, the SMSC, the USSD gateway.

- :class:`GatewayDesk`: each card gateway serves ``capacity`` calls at once; callers beyond
  wait in a queue (``gateway_queue``), then the call takes the gateway's answer latency. The
  gateway itself (declines, OTP, callbacks, outages) is the core's emulated one, on SimPy time.
- :class:`SimSmsc`: the core's ``SmsSender`` port. A throughput licence makes parts queue (a
  flash crowd's backlog), each part then takes a lognormal delivery delay, some are lost; a
  fault schedule can slow it down. Handsets waiting for a code register with ``expect``;
  messages nobody waits for are counted, not scheduled (no event for nothing).
- :class:`UssdGateway`: open dialogues up to a capacity, a latency per screen, an application
  timeout (the gateway ends the dialogue, "network timeout"), radio drops; overload faults.
"""
from __future__ import annotations

import math
import random
from typing import Callable, Generator

import simpy

from core.clock import Scheduler
from protocols.gsm import sms_parts
from sim.draw import LogNormal
from sim.faults import FaultSchedule

Handset = Callable[[str, float], None]      # (text, arrival time in run seconds)


class GatewayDesk:
    """Capacity and answer latency in front of the core's emulated gateways."""

    def __init__(self, env: simpy.Environment, gateways: dict, capacity: dict[str, int]) -> None:
        self.env, self.gateways = env, gateways
        self.slots = {name: simpy.Resource(env, capacity=capacity[name]) for name in gateways}

    def call(self, name: str, fn: Callable[[], object]) -> Generator:
        """Wait for a slot, take the gateway's answer time, then make the core call ``fn``."""
        with self.slots[name].request() as req:
            yield req
            yield self.env.timeout(self.gateways[name].answer_delay())
            return fn()

    def queued(self) -> int:
        return sum(len(r.queue) for r in self.slots.values())


class SimSmsc:
    """An SMSC with a throughput licence, delivery delays, loss and slowdown faults."""

    def __init__(self, env: simpy.Environment, scheduler: Scheduler, rng: random.Random, *,
                 throughput_per_s: float | None, delay: LogNormal, loss_rate: float,
                 faults: FaultSchedule | None = None) -> None:
        self.env, self.scheduler, self.rng = env, scheduler, rng
        self.throughput, self.delay, self.loss_rate, self.faults = throughput_per_s, delay, loss_rate, faults
        self._next_departure = -math.inf
        self._waiters: dict[str, list[Handset]] = {}
        self.submitted = self.segments = self.lost = self.accepted = 0
        self._parts_cache: dict[str, int] = {}

    def send(self, to: str, text: str, *, sender: str = "RBENCH") -> str:
        self.submitted += 1
        msg_id = f"sms-{self.submitted:08d}"
        now = self.env.now
        thr_f, delay_f, loss = self.faults.smsc_at(now) if self.faults else (1.0, 1.0, None)
        parts = self._parts(text)
        self.segments += parts
        lost = self.rng.random() < (self.loss_rate if loss is None else loss)
        interval = 0.0 if self.throughput is None else 1.0 / (self.throughput * thr_f)
        due = now
        for _ in range(parts):
            departure = max(now, self._next_departure + interval)
            self._next_departure = departure
            due = max(due, departure + self.delay.draw(self.rng) * delay_f)
        if lost:
            self.lost += 1
            return msg_id
        self.accepted += 1       # it will reach the handset (at ``due``)
        if to in self._waiters:
            self.scheduler.call_later(due - now, lambda: self._arrive(to, text))
        return msg_id

    def _parts(self, text: str) -> int:
        # Texts of one template differ only by amounts and codes: key on length and opening.
        key = f"{len(text)}:{text[:16]}"
        n = self._parts_cache.get(key)
        if n is None:
            n = self._parts_cache[key] = sms_parts(text).count
        return n

    def _arrive(self, to: str, text: str) -> None:
        for handset in list(self._waiters.get(to, ())):
            handset(text, self.env.now)

    def expect(self, phone: str, handset: Handset) -> Callable[[], None]:
        """Deliver what reaches ``phone`` to ``handset`` until the returned function is called."""
        self._waiters.setdefault(phone, []).append(handset)

        def stop() -> None:
            waiting = self._waiters.get(phone)
            if waiting and handset in waiting:
                waiting.remove(handset)
                if not waiting:
                    del self._waiters[phone]
        return stop

    def queue(self) -> int:
        """Parts waiting for their departure slot now."""
        if self.throughput is None:
            return 0
        thr_f = self.faults.smsc_at(self.env.now)[0] if self.faults else 1.0
        ahead = self._next_departure - self.env.now
        return int(round(ahead * self.throughput * thr_f)) if ahead > 0 else 0


class UssdGateway:
    """Dialogue capacity, per-screen latency, the application timeout and radio drops."""

    def __init__(self, env: simpy.Environment, rng: random.Random, cfg: dict,
                 faults: FaultSchedule | None = None) -> None:
        self.env, self.rng, self.faults = env, rng, faults
        self.capacity, self.latency = cfg["dialogues"], LogNormal.of(cfg["answer_s"])
        self.app_timeout, self.drop_rate = cfg["app_timeout_s"], cfg["drop_rate"]
        self.open_dialogues = self.refused = self.timeouts = self.drops = 0

    def _now(self) -> tuple[float, float, float | None]:
        return self.faults.ussd_at(self.env.now) if self.faults else (1.0, 1.0, None)

    def open(self) -> bool:
        """Take a dialogue slot; False when the gateway is full (the user hears "busy")."""
        cap_f = self._now()[0]
        if self.open_dialogues >= max(1, int(self.capacity * cap_f)):
            self.refused += 1
            return False
        self.open_dialogues += 1
        return True

    def close(self) -> None:
        self.open_dialogues -= 1

    def screen(self) -> tuple[float, str]:
        """(seconds until the user sees something, "ok" | "timeout" | "dropped")."""
        _, lat_f, drop = self._now()
        if self.rng.random() < (self.drop_rate if drop is None else drop):
            self.drops += 1
            return self.latency.draw(self.rng) * lat_f, "dropped"
        latency = self.latency.draw(self.rng) * lat_f
        if latency > self.app_timeout:
            self.timeouts += 1
            return self.app_timeout, "timeout"
        return latency, "ok"
