"""The transcript of a story: every exchange with its time, printed when a step fails.

Each entry has the scenario clock (``T+12.000s``, the core's virtual time since the story
began), the wall time since the start (what the devices' real I/O took), a channel and a line:

    T+0.000s    w0.012s  step    step 3 (line 21) subscriber.card
    T+0.000s    w0.015s  http    POST /v1/topups/ord_.../card {"pan": "628058******1234", ...} -> 200 {...}
    T+4.000s    w0.020s  sms     SATIM -> 213661234567: 123456 is your code...
    T+4.000s    w0.031s  at      <- +CMTI: "SM",1
    T+4.000s    w0.090s  apdu    -> 00A4040007A0000005720101 <- 9000
    T+4.000s    w0.120s  serial  -> /?!\\r\\n <- /RBM5RB-PREPAY-1\\r\\n

Channels: step, http, ussd, sms, at (modem AT lines), apdu (card reader), serial (meter
frames), meter, card, gateway, clock, note. Card numbers are masked before they are written.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

_PAN = re.compile(r"(?<![0-9A-Fa-f])(\d{6})\d{6,9}(\d{4})(?![0-9A-Fa-f])")


def mask(text: str) -> str:
    """Card numbers as the receipts show them: first 6, last 4."""
    return _PAN.sub(lambda m: m.group(1) + "*" * 6 + m.group(2), text)


@dataclass(frozen=True)
class Entry:
    clock_s: float          # scenario time since the story began
    wall_s: float           # wall time since the story began
    channel: str
    text: str

    def render(self) -> str:
        return f"T+{self.clock_s:<10.3f}s w{self.wall_s:<8.3f}s {self.channel:<7} {self.text}"


class Transcript:
    def __init__(self, clock: Callable[[], float] | None = None, limit: int = 5000) -> None:
        self._clock = clock or (lambda: 0.0)
        self._t0_clock = self._clock()
        self._t0_wall = time.monotonic()
        self._lock = threading.Lock()
        self.entries: list[Entry] = []
        self.limit = limit
        self.dropped = 0

    def bind_clock(self, clock: Callable[[], float]) -> None:
        self._clock, self._t0_clock = clock, clock()

    def add(self, channel: str, text: str) -> None:
        entry = Entry(self._clock() - self._t0_clock, time.monotonic() - self._t0_wall, channel,
                      mask(text.replace("\r", "\\r").replace("\n", "\\n")))
        with self._lock:
            if len(self.entries) >= self.limit:
                self.entries.pop(0)
                self.dropped += 1
            self.entries.append(entry)

    def render(self, last: int | None = None) -> str:
        with self._lock:
            entries = list(self.entries if last is None else self.entries[-last:])
            skipped = self.dropped + (len(self.entries) - len(entries))
        head = [f"... {skipped} earlier entries not shown"] if skipped else []
        return "\n".join(head + [e.render() for e in entries])

    def as_rows(self) -> list[tuple[float, float, str, str]]:
        with self._lock:
            return [(e.clock_s, e.wall_s, e.channel, e.text) for e in self.entries]
