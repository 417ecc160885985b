"""The emulator face: a :class:`ModemModel` served on a pseudo-terminal from a thread, so
pyserial (the real driver) talks to it through the operating system, as to a USB modem.

    with ModemEmulator(ModemModel("213551234567")) as emu:
        modem = open_serial(emu.path)          # /dev/pts/N

Bench hooks for bad days: :meth:`mute` (the modem stops answering), :meth:`inject` (line
noise from the modem's side), :meth:`stop` (the port vanishes: the driver gets EIO).
A pty ignores baud rates: bytes arrive at memory speed, which suits a 115200-baud modem.
"""
from __future__ import annotations

import errno
import logging
import os
import select
import threading
import tty
from typing import Self

from devices.modem.model import ModemModel
from devices.modem.wire import ModemWire

log = logging.getLogger("rbench.modem")


class ModemEmulator:
    def __init__(self, model: ModemModel) -> None:
        self.model = model
        self.wire = ModemWire(model)
        self.path = ""
        self._master = self._slave = -1
        self._wake_r = self._wake_w = -1
        self._out = bytearray()
        self._lock = threading.Lock()
        self._stopping = False
        self._muted = False
        self._thread: threading.Thread | None = None
        self._remove = lambda: None
        self.error: BaseException | None = None      # what ended the thread, if not stop()

    def start(self) -> ModemEmulator:
        if self._thread is not None:
            raise RuntimeError("this emulator is already started; make a new one to restart")
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)      # held open so the master never reads EIO between clients
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._remove = self.model.add_urc_listener(self._wake)
        self._thread = threading.Thread(target=self._serve, name=f"modem-emulator {self.path}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the pty: for the driver, the port is gone."""
        if self._thread is None or self._stopping:
            return
        self._stopping = True
        self._remove()
        self._wake()
        self._thread.join(5)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- bench hooks --------------------------------------------------------------------------
    def mute(self, muted: bool = True) -> None:
        """A hung modem: input is swallowed and nothing is answered until unmuted."""
        with self._lock:
            self._muted = muted
        self._wake()

    def inject(self, data: bytes) -> None:
        """Bytes from the modem's side that no command asked for (noise, a rebooting banner)."""
        with self._lock:
            self._out += data
        self._wake()

    # -- the serving thread -------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except (BlockingIOError, OSError):
            pass      # a wake-up is already pending, or we are stopping

    def _serve(self) -> None:
        try:
            while not self._stopping:
                with self._lock:
                    pending = bool(self._out)
                ready, writable, _ = select.select([self._master, self._wake_r],
                                                   [self._master] if pending else [], [], 1.0)
                if self._wake_r in ready:
                    os.read(self._wake_r, 4096)
                if self._master in ready:
                    self._take_input()
                with self._lock:
                    if not self._muted:
                        self._out += self.wire.urcs()
                if writable or self._out:
                    self._flush()
        except BaseException as e:    # keep what killed us; the driver will see a silent modem
            if not self._stopping:
                self.error = e
                log.exception("modem emulator on %s stopped", self.path)

    def _take_input(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno == errno.EIO:   # no reader on the slave side right now
                return
            raise
        with self._lock:
            if self._muted:
                return
            self._out += self.wire.feed(data)

    def _flush(self) -> None:
        with self._lock:
            if not self._out:
                return
            try:
                sent = os.write(self._master, bytes(self._out))
            except BlockingIOError:
                return
            del self._out[:sent]
