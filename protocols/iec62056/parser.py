"""A streaming frame parser: bytes from a serial line in, messages and frame errors out.

Feed it whatever the line delivered, in any chunks; it returns each complete message as soon
as its last byte arrives, and keeps the rest for the next call. It never raises on line
bytes: garbage between frames comes back as a ``FrameError('garbage')`` and is skipped; a
frame cut short by the start of another frame is ``truncated`` and parsing resumes at the
new start; a block whose BCC does not match is ``bcc``; a block with the right BCC but
content that is not valid is ``malformed``; a frame longer than ``max_frame`` is
``too_long``. When the line goes quiet (a read timeout), ``flush`` turns what is pending
into a ``truncated`` error, so the next frame starts clean::

    parser = FrameParser(role="master")
    for item in parser.feed(port.read(256)):
        if isinstance(item, FrameError): ...      # log it, ask for a repeat (NAK)...
        else: ...                                  # a message

``role`` is the side that reads. A meter reads option selects, which begin with ACK, so its
parser waits for the 5 bytes after an ACK; a master reads a lone ACK as an acknowledgement.
"""
from __future__ import annotations

import re
from typing import Literal

from .chars import ACK, CRLF, EOT, ETX, NAK, SOH, START_BYTES, STX, bcc
from .dataset import parse_datasets
from .errors import FrameError, Iec62056Error
from .messages import (
    COMMANDS, Ack, Command, DataMessage, ErrorMessage, Identification, Message, Nak, OptionSelect, SignOn,
)

Role = Literal["meter", "master"]
Item = Message | FrameError
LINE_MAX = 64                                  # a sign-on or identification line, CR LF included
_OPTION = re.compile(rb"\x06[0-9][0-9][0-9]\r\n")
_OPTION_PREFIXES = (rb"\x06", rb"\x06[0-9]", rb"\x06[0-9][0-9]", rb"\x06[0-9][0-9][0-9]",
                    rb"\x06[0-9][0-9][0-9]\r")
_IDENT = re.compile(rb"/([A-Za-z]{3})([0-9A-I])(?:\\([A-Za-z0-9]))?([^/!\\]{1,16})\r\n")
_SIGN_ON = re.compile(rb"/\?([^/?!]{0,32})!\r\n")


class FrameParser:
    """Incremental IEC 62056-21 parser for one direction of a line (see the module docstring)."""

    def __init__(self, role: Role = "master", *, max_frame: int = 16384) -> None:
        if role not in ("meter", "master"):
            raise Iec62056Error(f"invalid parser role {role!r}: expected 'meter' or 'master'")
        if not isinstance(max_frame, int) or max_frame < LINE_MAX:
            raise Iec62056Error(f"invalid max_frame {max_frame!r}: expected an integer >= {LINE_MAX}")
        self.role = role
        self.max_frame = max_frame
        self._buf = bytearray()

    @property
    def pending(self) -> bytes:
        """Bytes received that do not make a whole frame yet."""
        return bytes(self._buf)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Item]:
        self._buf += data
        out: list[Item] = []
        while self._buf:
            item, used = self._next()
            if used == 0:
                break
            del self._buf[:used]
            out.append(item)
        return out

    def flush(self) -> list[Item]:
        """The line went quiet: what is pending is a frame cut short (or a lone ACK)."""
        if not self._buf:
            return []
        raw = bytes(self._buf)
        self._buf.clear()
        if raw == bytes([ACK]):
            return [Ack()]
        if raw[0] in START_BYTES:
            return [FrameError("truncated", f"frame cut short after {len(raw)} bytes: {raw[:32]!r}", raw)]
        return [FrameError("garbage", f"{len(raw)} bytes that start no frame: {raw[:32]!r}", raw)]

    # -------------------------------------------------------------------- one frame
    def _next(self) -> tuple[Item | None, int]:
        buf = self._buf
        first = buf[0]
        if first == NAK:
            return Nak(), 1
        if first == ACK:
            return self._ack()
        if first == ord("/"):
            return self._line()
        if first in (SOH, STX):
            return self._block()
        end = next((i for i, b in enumerate(buf) if b in START_BYTES), len(buf))
        raw = bytes(buf[:end])
        return FrameError("garbage", f"{len(raw)} bytes that start no frame: {raw[:32]!r}", raw), end

    def _truncated(self, end: int, why: str) -> tuple[FrameError, int]:
        raw = bytes(self._buf[:end])
        return FrameError("truncated", f"frame cut short after {len(raw)} bytes ({why}): {raw[:32]!r}", raw), end

    def _ack(self) -> tuple[Item | None, int]:
        if self.role == "master":
            return Ack(), 1
        head = bytes(self._buf[:6])
        if _OPTION.fullmatch(head):
            text = head[1:4].decode("ascii")
            return OptionSelect(protocol=text[0], baud_char=text[1], mode=text[2]), 6
        if len(head) < 6 and re.fullmatch(_OPTION_PREFIXES[len(head) - 1], head):
            return None, 0                       # an option select still arriving
        return Ack(), 1

    def _line(self) -> tuple[Item | None, int]:
        buf = self._buf
        for i in range(1, min(len(buf), LINE_MAX)):
            b = buf[i]
            if b == ord("\n") and buf[i - 1] == ord("\r"):
                return self._parse_line(bytes(buf[:i + 1])), i + 1
            if b in START_BYTES:
                return self._truncated(i, "a new frame started before CR LF")
        if len(buf) >= LINE_MAX:
            raw = bytes(buf[:LINE_MAX])
            return FrameError("too_long", f"no CR LF within {LINE_MAX} bytes of '/': {raw[:32]!r}", raw), LINE_MAX
        return None, 0

    @staticmethod
    def _parse_line(raw: bytes) -> Item:
        match = _SIGN_ON.fullmatch(raw)
        if match:
            return SignOn(match.group(1).decode("ascii"))
        match = _IDENT.fullmatch(raw)
        if match:
            manufacturer, baud, enhanced, ident = (g.decode("ascii") if g else "" for g in match.groups())
            try:
                return Identification(manufacturer, baud, ident, enhanced)
            except Iec62056Error as exc:
                return FrameError("malformed", f"identification {raw!r}: {exc}", raw)
        return FrameError("malformed", f"line {raw!r} is neither a sign-on (/?...!) nor an identification "
                                       "(/XXXZident)", raw)

    def _block(self) -> tuple[Item | None, int]:
        buf = self._buf
        command = buf[0] == SOH
        limit = min(len(buf), self.max_frame)
        for i in range(1, limit):
            b = buf[i]
            if b in (ETX, EOT):
                if i + 1 >= len(buf):
                    return None, 0               # waiting for the BCC
                raw = bytes(buf[:i + 2])
                expected, got = bcc(raw[1:-1]), raw[-1]
                if expected != got:
                    return FrameError("bcc", f"BCC 0x{got:02X} does not match 0x{expected:02X} over "
                                             f"{len(raw) - 2} bytes: {raw[:32]!r}", raw), i + 2
                return self._parse_block(raw, command), i + 2
            if b == STX and command and i == 3:
                continue                         # SOH C D STX: the command's data set follows
            if b in START_BYTES:
                return self._truncated(i, "a new frame started before ETX")
        if len(buf) >= self.max_frame:
            raw = bytes(buf[:self.max_frame])
            return FrameError("too_long", f"no ETX within {self.max_frame} bytes: {raw[:32]!r}", raw), self.max_frame
        return None, 0

    @staticmethod
    def _parse_block(raw: bytes, command: bool) -> Item:
        partial = raw[-2] == EOT
        try:
            if command:
                return _command(raw, partial)
            return _data(raw[1:-2], partial)
        except Iec62056Error as exc:
            return FrameError("malformed", f"{'command' if command else 'data'} block {raw[:32]!r}: {exc}", raw)


def _command(raw: bytes, partial: bool) -> Command:
    if partial:
        raise Iec62056Error("commands in partial blocks (EOT) are not supported")
    header = raw[1:3].decode("ascii", "replace")
    if len(header) < 2 or header[0] not in COMMANDS:
        raise Iec62056Error(f"unknown command {header!r}")
    if len(raw) == 5:                            # SOH C D ETX BCC
        return Command(header[0], header[1])
    if raw[3] != STX:
        raise Iec62056Error("expected STX after the command identifier")
    datasets = parse_datasets(raw[4:-2])
    if len(datasets) != 1:
        raise Iec62056Error(f"a command carries one data set, got {len(datasets)}")
    return Command(header[0], header[1], datasets[0])


def _data(content: bytes, partial: bool) -> DataMessage | ErrorMessage:
    readout = content.endswith(b"!" + CRLF)
    if readout:
        content = content[:-3]
    if not readout and not partial and content.startswith(b"(") and content.endswith(b")") \
            and b"*" not in content and content.count(b"(") == 1:
        return ErrorMessage(content[1:-1].decode("ascii"))
    return DataMessage(parse_datasets(content), readout=readout, partial=partial)


def parse(data: bytes, role: Role = "master") -> Message:
    """The one message ``data`` holds, exactly; raises ``FrameError`` for anything else."""
    parser = FrameParser(role, max_frame=max(len(data), LINE_MAX))
    items = parser.feed(bytes(data)) + parser.flush()
    if len(items) == 1 and not isinstance(items[0], FrameError):
        return items[0]
    errors = [i for i in items if isinstance(i, FrameError)]
    if errors:
        raise errors[0]
    raise FrameError("malformed", f"expected one message, got {len(items)}: {items!r}", bytes(data))
