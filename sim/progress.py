"""A progress bar for a simulator run: simulated time, wall time and ETA, on stderr.

`sim.run.run(config, progress=bar)` calls ``bar(sim_s_done, sim_s_total)`` about once per
simulated minute. On a terminal the bar redraws one line in place (at most ~10 times a
second, so drawing never costs the run anything); in a log or a CI job (not a TTY) it prints
one plain line every ~10% of the run, so a log of a long run stays readable:

    bar = Progress("dz-peak-hour")
    result = run(config, progress=bar)
    bar.close()

The wall clock is injectable (``clock=``) so tests can drive the bar deterministically.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 24                  # characters of the bar itself
TTY_REDRAW_S = 0.1          # at most this often on a terminal
LOG_STEP = 0.10             # a plain line every 10% when not a terminal


def hms(seconds: float) -> str:
    """``3725`` -> ``1:02:05``; ``65`` -> ``0:01:05`` (simulated or wall durations)."""
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}"


class Progress:
    """Callable as ``progress(sim_s_done, sim_s_total)``; see the module docstring."""

    def __init__(self, label: str = "sim", *, stream: TextIO | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.started = clock()
        self._last_draw = float("-inf")
        self._next_step = LOG_STEP
        self._drawn = False
        self._done = 0.0
        self._total = 0.0

    def __call__(self, sim_s_done: float, sim_s_total: float) -> None:
        self._done, self._total = sim_s_done, sim_s_total
        now = self.clock()
        fraction = self.fraction
        if self.tty:
            if now - self._last_draw >= TTY_REDRAW_S or fraction >= 1.0:
                self._last_draw = now
                self.stream.write("\r" + self.line(now) + "\x1b[K")
                self.stream.flush()
                self._drawn = True
        elif fraction + 1e-9 >= self._next_step:
            while self._next_step <= fraction + 1e-9:
                self._next_step += LOG_STEP
            self.stream.write(self.line(now) + "\n")
            self.stream.flush()

    @property
    def fraction(self) -> float:
        if self._total <= 0:
            return 0.0
        return min(1.0, max(0.0, self._done / self._total))

    def line(self, now: float | None = None) -> str:
        """``dz-peak-hour [######------]  50%  sim 0:30:00/1:00:00  wall 0:00:12  ETA 0:00:12``."""
        now = self.clock() if now is None else now
        wall = now - self.started
        fraction = self.fraction
        filled = int(fraction * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        eta = hms(wall * (1 - fraction) / fraction) if fraction > 0 else "?"
        speed = f"  x{self._done / wall:,.0f}" if wall > 0 and self._done > 0 else ""
        return (f"{self.label} [{bar}] {fraction * 100:3.0f}%  sim {hms(self._done)}/{hms(self._total)}"
                f"  wall {hms(wall)}  ETA {eta}{speed}")

    def close(self) -> None:
        """End the bar's line on a terminal (so what follows starts on a fresh line)."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
