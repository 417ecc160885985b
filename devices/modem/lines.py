"""Bytes to lines, the TE's way: what a driver sees of a modem's output.

A modem frames everything as ``<CR><LF>text<CR><LF>``, except the ``> `` prompt of
``AT+CMGS`` (no line end) and an echoed command (``AT<CR>`` before the answer). Lines are
split on CR LF only, so a USSD menu's bare LF stays inside its ``+CUSD`` line.
"""
from __future__ import annotations

from typing import Protocol

PROMPT = "> "


class Link(Protocol):
    """A byte pipe to a modem: a serial port, or a model in memory."""

    name: str

    def write(self, data: bytes) -> None: ...

    def read(self, timeout: float) -> bytes:
        """What arrives within ``timeout`` seconds (at least one byte, or b'' on timeout)."""

    def close(self) -> None: ...


class LineBuffer:
    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        self._buf += data

    def clear(self) -> None:
        self._buf.clear()

    def next_line(self, raw: bool = False) -> str | None:
        """The next non-empty line (latin-1, no CR/LF), the prompt ``'> '``, or None for now.

        ``raw`` returns the very next line even if empty: the body after a ``+CMGR`` header,
        which is the SMS text and may be empty.
        """
        if raw:
            end = self._buf.find(b"\r\n")
            if end < 0:
                return None
            line = bytes(self._buf[:end])
            del self._buf[:end + 2]
            return line.decode("latin-1")
        while True:
            end = self._buf.find(b"\r\n")
            if end < 0:
                rest = bytes(self._buf).lstrip(b"\r\n")
                if rest == PROMPT.encode():
                    self._buf.clear()
                    return PROMPT
                return None
            line = bytes(self._buf[:end]).strip(b"\r")
            del self._buf[:end + 2]
            if line:
                return line.decode("latin-1")
