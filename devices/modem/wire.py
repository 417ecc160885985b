"""The modem's end of the serial line: bytes in, bytes out, around a :class:`ModemModel`.

What a UART-facing firmware does before any AT logic: echo characters (``ATE1``), collect a
command line up to CR (backspace edits it, LF is ignored, characters before ``AT`` are line
noise and ignored, an over-long line is refused), frame every response as
``<CR><LF>text<CR><LF>``, show the ``> `` prompt of ``AT+CMGS`` and collect its body up to
Ctrl-Z (ESC cancels), and print unsolicited result codes only between commands.

The emulator runs one on a pty; the model face runs one in memory. Not thread-safe: one
thread feeds it (the model underneath has its own lock).
"""
from __future__ import annotations

import threading

from devices.modem.model import ModemModel
from protocols.at.command import MAX_LINE

CR, LF, BS, CTRL_Z, ESC = 0x0D, 0x0A, 0x08, 0x1A, 0x1B
PROMPT = b"\r\n> "


def frame(lines: list[str]) -> bytes:
    return b"".join(b"\r\n" + line.encode("latin-1") + b"\r\n" for line in lines)


class ModemWire:
    def __init__(self, model: ModemModel) -> None:
        self.model = model
        self._line = bytearray()
        self._body: bytearray | None = None     # not None while the '> ' prompt is open
        self._overflow = False

    @property
    def prompting(self) -> bool:
        return self._body is not None

    def feed(self, data: bytes) -> bytes:
        """Take bytes from the TE; return what the modem sends back (echo and answers)."""
        out = bytearray()
        for byte in data:
            if self._body is not None:
                out += self._body_byte(byte)
            else:
                out += self._line_byte(byte)
        return bytes(out)

    def _line_byte(self, byte: int) -> bytes:
        echo = bytes((byte,)) if self.model.echo else b""
        if byte == CR:
            line, overflow = bytes(self._line), self._overflow
            self._line.clear()
            self._overflow = False
            return echo + self._run(line, overflow)
        if byte == LF:
            return b""
        if byte == BS:
            if self._line:
                self._line.pop()
            return echo
        if len(self._line) >= MAX_LINE:
            self._overflow = True
            return b""
        self._line.append(byte)
        return echo

    def _run(self, raw: bytes, overflow: bool) -> bytes:
        start = raw.upper().find(b"AT")
        if start < 0:
            return b""                       # line noise: a modem waits for 'AT'
        if overflow:
            return frame(["ERROR"])
        lines, prompt = self.model.handle_line(raw[start:].decode("latin-1"))
        if prompt:
            self._body = bytearray()
            return frame(lines) + PROMPT
        return frame(lines) + self.urcs()

    def _body_byte(self, byte: int) -> bytes:
        assert self._body is not None
        if byte in (CTRL_Z, ESC):
            body, self._body = self._body.decode("latin-1"), None
            lines = self.model.handle_body(body, cancel=byte == ESC)
            return frame(lines) + self.urcs()
        if len(self._body) >= 2 * MAX_LINE:  # a runaway body: give up on it, as modems do
            self._body = None
            self.model.handle_body("", cancel=True)
            return frame(["ERROR"]) + self.urcs()
        self._body.append(byte)
        return bytes((byte,)) if self.model.echo else b""

    def urcs(self) -> bytes:
        """Unsolicited result codes waiting in the model, framed; none while prompting."""
        if self._body is not None:
            return b""
        return frame(self.model.take_urcs())


class MemoryLink:
    """The model face's link: the same wire as the emulator's, without a pty in between."""

    def __init__(self, model: ModemModel) -> None:
        self.name = f"model of {model.msisdn}"
        self.wire = ModemWire(model)
        self._out = bytearray()
        self._ready = threading.Event()
        self._remove = model.add_urc_listener(self._ready.set)

    def write(self, data: bytes) -> None:
        self._out += self.wire.feed(data)

    def read(self, timeout: float) -> bytes:
        if not self._out:
            self._ready.clear()
            self._out += self.wire.urcs()
            if not self._out and timeout > 0 and self._ready.wait(timeout):
                self._out += self.wire.urcs()
        data, self._out = bytes(self._out), bytearray()
        return data

    def close(self) -> None:
        self._remove()
