"""The meter's end of an IEC 62056-21 mode C session, as a pure state machine.

Bytes from the line go in with the time they arrived; the replies come out with the baud
rate to send them at. No I/O and no threads, so the emulator is only a pty loop around it,
and the protocol rules are tested without a port:

- idle, 300 baud: only a sign-on (``/?!`` or ``/?<meter number>!``) is answered, with the
  identification; anything else is ignored, as a meter ignores noise on its optical port;
- after the identification: an option select switches the rate; mode 0 sends the data
  readout and ends the session, mode 1 sends the password operand (``P0``) and enters
  programming mode; no option select within ``option_timeout_s``: back to idle;
- programming mode: ``P1`` password, ``R1``/``R5`` read (no password needed), ``W1``/``W5``
  write (password needed), ``B0`` ends; a frame with a bad BCC is answered with NAK, a NAK
  repeats the last reply; ``inactivity_s`` without a frame ends the session; 3 wrong
  passwords end it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from protocols.iec62056 import (
    INITIAL_BAUD, MODE_C_BAUD, Ack, Command, DataMessage, DataSet, ErrorMessage, FrameError, FrameParser,
    Identification, Nak, OptionSelect, SignOn, baud_char,
)

from . import registers
from .codes import ResultCode
from .errors import MeterProtocolError

if TYPE_CHECKING:
    from .model import PrepaidMeter


@dataclass(frozen=True)
class Reply:
    data: bytes
    baud: int


class MeterSession:
    def __init__(self, meter: PrepaidMeter, *, password: str = "00000000", option_timeout_s: float = 5.0,
                 inactivity_s: float = 120.0, password_tries: int = 3,
                 register_map: dict[str, str] | None = None) -> None:
        self.meter = meter
        # to impersonate a meter that keeps our registers at other addresses (ours -> theirs)
        self.register_map = dict(register_map or {})
        self._ours = {theirs: ours for ours, theirs in self.register_map.items()}
        self.password = password
        self.option_timeout_s = option_timeout_s
        self.inactivity_s = inactivity_s
        self.password_tries = password_tries
        self.identification = Identification(meter.manufacturer, baud_char(meter.max_baud), meter.ident)
        self.parser = FrameParser(role="meter")
        self.state = "idle"               # idle, identified, programming
        self.baud = INITIAL_BAUD
        self.authorized = False
        self.wrong_passwords = 0
        self.last_frame_at = 0.0
        self.frame_errors: list[FrameError] = []
        self._last: Reply | None = None

    def _idle(self) -> None:
        self.state, self.baud, self.authorized, self.wrong_passwords = "idle", INITIAL_BAUD, False, 0
        self._last = None

    def tick(self, now: float) -> None:
        """Time passes: a session left alone too long ends, as on a real meter."""
        if self.state == "identified" and now - self.last_frame_at > self.option_timeout_s:
            self._idle()
        elif self.state == "programming" and now - self.last_frame_at > self.inactivity_s:
            self._idle()

    def receive(self, data: bytes, now: float) -> list[Reply]:
        self.tick(now)
        replies: list[Reply] = []
        for item in self.parser.feed(data):
            if isinstance(item, FrameError):
                self.frame_errors.append(item)
                if item.kind == "bcc" and self.state == "programming":
                    replies.append(self._send(Nak().encode()))
                continue
            self.last_frame_at = now
            replies += self._handle(item)
        return replies

    def flush(self, now: float) -> None:
        """The line went quiet: drop a partial frame so the next one starts clean."""
        self.frame_errors += [i for i in self.parser.flush() if isinstance(i, FrameError)]

    def _send(self, data: bytes, *, remember: bool = True) -> Reply:
        reply = Reply(data, self.baud)
        if remember:
            self._last = reply
        return reply

    def _handle(self, item: object) -> list[Reply]:
        if isinstance(item, SignOn):
            if item.address not in ("", self.meter.meter_number):
                return []
            self._idle()
            self.state = "identified"
            return [self._send(self.identification.encode())]
        if self.state == "identified":
            return self._option(item)
        if self.state != "programming":
            return []
        if isinstance(item, Nak):
            return [self._last] if self._last else []
        if isinstance(item, Command):
            return self._command(item)
        return []

    def _option(self, item: object) -> list[Reply]:
        if not isinstance(item, OptionSelect) or item.baud_char not in MODE_C_BAUD \
                or MODE_C_BAUD[item.baud_char] > self.meter.max_baud or item.mode not in ("0", "1"):
            self._idle()
            return []
        self.baud = MODE_C_BAUD[item.baud_char]
        if item.mode == "0":
            readout = self._theirs(registers.readout(self.meter))
            with_readout = self._send(DataMessage(readout, readout=True).encode())
            self._idle()
            return [with_readout]
        self.state = "programming"
        operand = Command("P", "0", DataSet("", self.meter.meter_number))
        return [self._send(operand.encode())]

    def _our_address(self, address: str) -> str:
        if address in self._ours:
            return self._ours[address]
        return "" if address in self.register_map else address      # moved away: unknown here

    def _theirs(self, datasets: tuple[DataSet, ...] | list[DataSet]) -> tuple[DataSet, ...]:
        return tuple(DataSet(self.register_map.get(d.address, d.address), d.value, d.unit) for d in datasets)

    def _error(self, code: ResultCode) -> Reply:
        return self._send(ErrorMessage(code.error_text).encode())

    def _command(self, cmd: Command) -> list[Reply]:
        if cmd.kind == "B":
            self._idle()
            return []
        if cmd.kind == "P" and cmd.type == "1":
            if cmd.dataset.value == self.password and not cmd.dataset.address:
                self.authorized, self.wrong_passwords = True, 0
                return [self._send(Ack().encode())]
            self.wrong_passwords += 1
            reply = self._error(ResultCode.PASSWORD)
            if self.wrong_passwords >= self.password_tries:
                self._idle()
            return [reply]
        if cmd.kind == "R" and cmd.type in ("1", "5"):
            try:
                answer = registers.read(self.meter, self._our_address(cmd.dataset.address))
                return [self._send(DataMessage(self._theirs(answer)).encode())]
            except MeterProtocolError as exc:
                return [self._error(exc.code)]
        if cmd.kind == "W" and cmd.type in ("1", "5"):
            if not self.authorized:
                return [self._error(ResultCode.ACCESS)]
            address = self._our_address(cmd.dataset.address)
            try:
                code = registers.write(self.meter, address, cmd.dataset.value)
            except MeterProtocolError as exc:
                return [self._error(exc.code)]
            if code.ok or (address in registers.ENTRIES
                           and code not in (ResultCode.NO_KEYPAD, ResultCode.NO_CARD_SLOT)):
                return [self._send(Ack().encode())]
            return [self._error(code)]
        return [self._error(ResultCode.COMMAND)]
