"""An emulated SMSC: the :class:`core.ports.SmsSender` adapter of the simulator, tests and demo.

As in production, ``send`` returns a message id at once and the message reaches the handset
later, on the scheduler: after a delay drawn from public measurements, behind the messages
queued before it when a throughput licence is set (a flash crowd's backlog), or never (lost).
Every random draw comes from the ``rng`` given, so one seed gives one run.

    smsc = EmulatedSmsc(clock, ManualScheduler(clock), random.Random(7), loss_rate=0.05)
    smsc.on_delivery(lambda sms: print(sms.to, sms.text))
"""
from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist
from typing import Callable

from core.clock import Clock, Scheduler
from core.frozen import evolve
from core.ports import SmsMessage
from protocols.gsm import encoding_for, septets, sms_parts

_Z95 = NormalDist().inv_cdf(0.95)


@dataclass(frozen=True)
class DeliveryDelay:
    """Submit-to-handset delay of one SMS part, lognormal like measured network latencies.

    The default fits one vendor's public measurements (specs/flows.md F1): p50 4 s and p95
    12 s, which puts p99 near 19 s, under the 30 s they report.
    """

    median_s: float = 4.0
    sigma: float = math.log(3.0) / _Z95   # p95 = 3 x median

    def __post_init__(self) -> None:
        if not (self.median_s >= 0 and math.isfinite(self.median_s)):
            raise ValueError(f"delay median must be a finite number of seconds >= 0, "
                             f"got {self.median_s!r}")
        if not (self.sigma >= 0 and math.isfinite(self.sigma)):
            raise ValueError(f"delay sigma must be finite and >= 0, got {self.sigma!r}")

    @classmethod
    def fixed(cls, seconds: float) -> DeliveryDelay:
        return cls(seconds, 0.0)

    @classmethod
    def none(cls) -> DeliveryDelay:
        return cls(0.0, 0.0)

    def quantile(self, q: float) -> float:
        """The delay that a fraction ``q`` of parts beat (0 < q < 1)."""
        if self.median_s == 0 or self.sigma == 0:
            return self.median_s
        return self.median_s * math.exp(self.sigma * NormalDist().inv_cdf(q))

    def sample(self, rng: random.Random) -> float:
        if self.median_s == 0 or self.sigma == 0:
            return self.median_s
        return rng.lognormvariate(math.log(self.median_s), self.sigma)


class SmsStatus(StrEnum):
    EN_ROUTE = "en_route"
    DELIVERED = "delivered"
    LOST = "lost"


@dataclass(frozen=True)
class SentSms:
    """A submitted message as the SMSC knows it (the handset may not have it yet)."""

    message: SmsMessage
    status: SmsStatus
    due_at: float | None      # when the last part arrives; None for a lost message


@dataclass(frozen=True)
class SmscStats:
    submitted: int
    delivered: int
    lost: int
    segments: int             # parts submitted: what an operator bills and a licence limits

    @property
    def en_route(self) -> int:
        return self.submitted - self.delivered - self.lost


Listener = Callable[[SmsMessage], None]


class EmulatedSmsc:
    """Accepts messages from any thread; delivers them on ``scheduler`` time."""

    def __init__(self, clock: Clock, scheduler: Scheduler, rng: random.Random, *,
                 delay: DeliveryDelay = DeliveryDelay(), loss_rate: float = 0.0,
                 throughput_per_s: float | None = None, id_prefix: str = "sms") -> None:
        if not 0.0 <= loss_rate <= 1.0:
            raise ValueError(f"loss_rate must be between 0 and 1, got {loss_rate!r}")
        if throughput_per_s is not None and not throughput_per_s > 0:
            raise ValueError(f"throughput_per_s must be > 0 parts per second or None (unlimited), "
                             f"got {throughput_per_s!r}")
        self._clock, self._scheduler, self._rng = clock, scheduler, rng
        self._delay, self._loss_rate, self._id_prefix = delay, loss_rate, id_prefix
        self._interval = 0.0 if throughput_per_s is None else 1.0 / throughput_per_s
        self._lock = threading.Lock()
        self._count = 0
        self._next_departure = -math.inf
        self._sent: dict[str, SentSms] = {}
        self._inbox: dict[str, list[SmsMessage]] = {}
        self._listeners: list[Listener] = []
        self._delivered = self._lost = self._segments = 0

    def send(self, to: str, text: str, *, sender: str = "RBENCH") -> str:
        """Accept a message and return its id; a long text travels as one concatenated SMS."""
        _check_destination(to)
        _check_sender(sender)
        parts = sms_parts(text)
        with self._lock:
            self._count += 1
            message_id = f"{self._id_prefix}-{self._count:08d}"
            now = self._clock.now()
            lost = self._rng.random() < self._loss_rate
            due = now
            for _ in range(parts.count):   # every part takes a slot and travels on its own
                due = max(due, self._depart(now) + self._delay.sample(self._rng))
            message = SmsMessage(message_id=message_id, to=to, sender=sender, text=text,
                                 segments=parts.count, encoding=parts.encoding, submitted_at=now)
            status = SmsStatus.LOST if lost else SmsStatus.EN_ROUTE
            self._sent[message_id] = SentSms(message, status, None if lost else due)
            self._segments += parts.count
            self._lost += lost
        if not lost:   # outside the lock: an ImmediateScheduler delivers right here
            self._scheduler.call_later(due - now, lambda: self._deliver(message_id))
        return message_id

    def _depart(self, now: float) -> float:
        """When the next part leaves the SMSC: parts queue one licence interval apart."""
        departure = max(now, self._next_departure + self._interval)
        self._next_departure = departure
        return departure

    def _deliver(self, message_id: str) -> None:
        with self._lock:
            sent = self._sent[message_id]
            assert sent.due_at is not None
            # A FakeClock may jump past the due time; the handset got it at the due time.
            message = evolve(sent.message, delivered_at=min(self._clock.now(), sent.due_at))
            self._sent[message_id] = evolve(sent, message=message, status=SmsStatus.DELIVERED)
            self._inbox.setdefault(message.to, []).append(message)
            self._delivered += 1
            listeners = list(self._listeners)
        for listener in listeners:
            listener(message)

    def on_delivery(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with each message as it arrives; returns a function to stop."""
        with self._lock:
            self._listeners.append(listener)

        def stop() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return stop

    def inbox(self, msisdn: str) -> list[SmsMessage]:
        """What the handset has received, in arrival order."""
        with self._lock:
            return list(self._inbox.get(msisdn, ()))

    def last(self, msisdn: str) -> SmsMessage | None:
        with self._lock:
            received = self._inbox.get(msisdn)
            return received[-1] if received else None

    def sent(self, msisdn: str | None = None) -> list[SentSms]:
        """Every message submitted (to ``msisdn`` if given), in submission order."""
        with self._lock:
            return [s for s in self._sent.values() if msisdn is None or s.message.to == msisdn]

    def status(self, message_id: str) -> SentSms:
        with self._lock:
            try:
                return self._sent[message_id]
            except KeyError:
                raise KeyError(f"unknown message id {message_id!r}; expected an id that "
                               f"send() returned, like '{self._id_prefix}-00000001'") from None

    def stats(self) -> SmscStats:
        with self._lock:
            return SmscStats(submitted=self._count, delivered=self._delivered, lost=self._lost,
                             segments=self._segments)


def _check_destination(to: str) -> None:
    if not (isinstance(to, str) and to.isascii() and to.isdigit() and 1 <= len(to) <= 15):
        raise ValueError(f"invalid destination {to!r}: expected E.164 digits without '+' "
                         f"(at most 15, like '213551234567')")


def _check_sender(sender: str) -> None:
    """3GPP TS 23.040 originator: up to 15 digits, or up to 11 GSM 7-bit alphanumerics."""
    if isinstance(sender, str) and sender.isascii() and sender.isdigit():
        if len(sender) <= 15:
            return
    elif isinstance(sender, str) and sender and encoding_for(sender) == "gsm7" \
            and septets(sender) <= 11:
        return
    raise ValueError(f"invalid sender {sender!r}: expected up to 11 GSM 7-bit characters "
                     f"(an alphanumeric sender ID like 'RBENCH') or up to 15 digits")
