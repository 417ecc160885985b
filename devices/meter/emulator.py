"""The meter model served on a pseudo-terminal, so pyserial talks to it as to a meter on a cable.

``start()`` opens a pty pair (both ends raw), keeps the slave open so clients may come and
go, and serves the master end from a background thread; it returns the slave's path for the
driver (``/dev/pts/N``). A pty ignores the baud rate, so with ``pace=True`` the emulator
waits as long as the bytes would take on a 7E1 line at the session's rate, both ways, plus
its reaction time. With ``speed`` the model's time follows the wall clock (1.0: real time;
3600.0: an hour per second; 0: frozen, moved only by ``advance``). Touch the model from
another thread only under ``lock``.

Bench faults for tests of the driver: ``vanish_after(n)`` writes ``n`` more bytes and closes
the port (a cable pulled mid-frame); ``stall_after(n)`` writes ``n`` more bytes and then holds
the rest of that reply back (a meter that hangs mid-frame); ``corrupt_next()`` flips the BCC of
the next reply; ``garbage_next(data)`` sends noise before it. ``register_map`` (ours -> theirs)
makes it answer under another meter's addresses, to rehearse a driver's map before the hardware.
"""
from __future__ import annotations

import os
import select
import threading
import time
import tty
from typing import Any

from protocols.iec62056 import transmit_seconds

from .errors import MeterLinkError
from .session import MeterSession

_QUIET_S = 0.5             # a silent line for this long ends a partial frame


class MeterEmulator:
    def __init__(self, meter: Any, *, password: str = "00000000", pace: bool = False, speed: float = 0.0,
                 reaction_s: float = 0.0, record: bool = False, **session: Any) -> None:
        if not isinstance(speed, (int, float)) or speed < 0:
            raise ValueError(f"invalid speed {speed!r}: expected model seconds per wall second >= 0")
        self.meter = meter
        self.session = MeterSession(meter, password=password, **session)
        self.pace, self.speed, self.reaction_s = pace, float(speed), float(reaction_s)
        self.lock = threading.RLock()
        self.transcript: list[tuple[str, bytes]] | None = [] if record else None
        self.port: str | None = None
        self._master = self._slave = -1
        self._stop_r = self._stop_w = -1
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._base_s = 0.0
        self._vanish_after: int | None = None
        self._stall_after: int | None = None
        self._corrupt = False
        self._garbage = b""
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> str:
        if self._thread is not None:
            raise MeterLinkError("the emulator is already running")
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop_r, self._stop_w = os.pipe()
        self._t0, self._base_s = time.monotonic(), self.meter.elapsed_s
        self._thread = threading.Thread(target=self._serve, name=f"meter-emulator {self.port}", daemon=True)
        self._thread.start()
        return self.port

    def stop(self) -> None:
        if self._thread is None:
            return
        try:
            os.write(self._stop_w, b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        self._thread = None
        self._close()

    def __enter__(self) -> MeterEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _close(self, names: tuple[str, ...] = ("_master", "_slave", "_stop_r", "_stop_w")) -> None:
        for name in names:
            fd = getattr(self, name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)

    # ------------------------------------------------------------------ bench controls
    def advance(self, seconds: float) -> None:
        with self.lock:
            self._base_s += seconds
            self._sync_time()

    def vanish_after(self, size: int) -> None:
        self._vanish_after = size

    def stall_after(self, size: int) -> None:
        self._stall_after = size

    def corrupt_next(self) -> None:
        self._corrupt = True

    def garbage_next(self, data: bytes) -> None:
        self._garbage = bytes(data)

    # ------------------------------------------------------------------ the loop
    def _sync_time(self) -> None:
        target = self._base_s + (time.monotonic() - self._t0) * self.speed
        if target > self.meter.elapsed_s:
            self.meter.advance(target - self.meter.elapsed_s)

    def _serve(self) -> None:
        try:
            self._loop()
        except BaseException as exc:          # the thread must not die silently: keep it for the test
            self.error = exc
        finally:
            self._close(("_master", "_slave"))       # the port vanishes with the thread

    def _loop(self) -> None:
        while True:
            readable, _, _ = select.select([self._master, self._stop_r], [], [], _QUIET_S)
            if self._stop_r in readable:
                return
            if self._master not in readable:    # a quiet line: drop a partial frame, end idle sessions
                with self.lock:
                    now = time.monotonic()
                    self.session.flush(now)
                    self.session.tick(now)
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if self.transcript is not None:
                self.transcript.append(("master", data))
            if self.pace:
                time.sleep(transmit_seconds(len(data), self.session.baud))
            with self.lock:
                self._sync_time()
                replies = self.session.receive(data, time.monotonic())
            for reply in replies:
                if not self._write(reply.data, reply.baud):
                    return

    def _write(self, data: bytes, baud: int) -> bool:
        if self._garbage:
            data, self._garbage = self._garbage + data, b""
        if self._corrupt:
            data, self._corrupt = data[:-1] + bytes([data[-1] ^ 0x01]), False
        if self.reaction_s:
            time.sleep(self.reaction_s)
        vanish = self._vanish_after is not None and len(data) >= self._vanish_after
        if self._vanish_after is not None:
            data, self._vanish_after = data[:self._vanish_after], self._vanish_after - len(data)
        if self._stall_after is not None:
            stall = self._stall_after
            self._stall_after = None if len(data) >= stall else stall - len(data)
            data = data[:stall]
        if self.transcript is not None:
            self.transcript.append(("meter", data))
        step = 64 if self.pace else len(data)
        for start in range(0, len(data), max(step, 1)):
            chunk = data[start:start + step]
            if self.pace:
                time.sleep(transmit_seconds(len(chunk), baud))
            view = memoryview(chunk)
            while view:
                stop, writable, _ = select.select([self._stop_r], [self._master], [], 0.5)
                if stop:
                    return False
                if writable:
                    view = view[os.write(self._master, view):]
        if vanish:
            self._vanish_after = None
            return False                        # the cable is pulled: close the port
        return True
