"""A ``ModemPort`` over any link: the TE side of 27.007/27.005, shared by every face.

The serial driver and the model face differ only in their :class:`~devices.modem.lines.Link`;
everything a bench relies on is here, once: sorting URCs from answers (an SMS arriving in
the middle of ``AT+CMGL`` is queued, not lost), reading bodies after ``+CMGR`` headers (an
SMS whose text is "OK" is not mistaken for the final result), joining concatenated parts,
following the USSD dialogue, and recovering after a timeout (the late answer of a silent
command is drained before the next command goes out).
"""
from __future__ import annotations

import re
import time
from collections import deque
from typing import Self

from devices.modem.dialogue import UssdClient
from devices.modem.inbox import SmsClient
from devices.modem.interface import (ModemCommandError, ModemError, ModemGone, ModemProtocolError,
                                     ModemTimeout, Sms, UssdScreen)
from devices.modem.lines import PROMPT, LineBuffer, Link
from protocols.at.charset import Charset, CharsetError, check_charset, fold_digits
from protocols.at.errors import AtSyntaxError, PduError
from protocols.at.responses import info, is_urc, prefix_of
from protocols.at.results import FinalResult, parse_final
from protocols.at.sms import parse_cmti
from protocols.at.ussd import parse_cusd, ussd_from_wire

_VISIBLE = {c: f"\\x{c:02x}" for c in range(32) if c != 10} | {0x1B: "<ESC>", 0x1A: "<^Z>"}
_COMMAND = re.compile(r"^AT([+^$%][A-Z0-9]+)?", re.IGNORECASE)


class _Silent(Exception):
    pass


class AtSession(SmsClient, UssdClient):
    """A modem seen from the TE. ``setup`` puts it in the state this class expects: no echo,
    numeric errors, the given TE character set and SMS mode, ``+CMTI`` indications and
    ``+CUSD`` results on."""

    model = None       # the ModemModel behind the model and emulator faces
    emulator = None    # the ModemEmulator behind the emulator face

    def __init__(self, link: Link, *, msisdn: str | None = None, timeout: float = 5.0,
                 charset: str = "GSM", sms_mode: str = "pdu", pin: str | None = None,
                 setup: bool = True) -> None:
        if sms_mode not in ("pdu", "text"):
            raise ValueError(f"sms_mode {sms_mode!r}; expected 'pdu' or 'text'")
        if not timeout > 0:
            raise ValueError(f"timeout {timeout!r}; expected seconds > 0")
        self.link, self.timeout, self.sms_mode = link, timeout, sms_mode
        self.charset: Charset = check_charset(charset)
        self._msisdn = fold_digits(msisdn).lstrip("+") if msisdn else None
        self._lines = LineBuffer()
        self.transcript: deque[str] = deque(maxlen=400)   # '-> AT' and '<- OK', newest last
        self._new: deque[int] = deque()                   # indices from +CMTI, not read yet
        self._parts: dict[tuple, dict[int, Sms]] = {}
        self._arrived: list[Sms] = []
        self._screens: deque[UssdScreen] = deque()
        self._dialogue = False
        self._ended: UssdScreen | None = None
        self._ref = 0
        self._dirty = self._closed = False
        if setup:
            self.setup(pin)

    # -- plumbing -----------------------------------------------------------------------------
    def setup(self, pin: str | None = None) -> None:
        self.sync()
        self.at("ATE0")
        self.at("AT+CMEE=1")
        state = info(self.at("AT+CPIN?")[0], "+CPIN")[0]
        if state == "SIM PIN":
            if pin is None:
                raise ModemError(f"the SIM in {self.link.name} asks for its PIN: open it with pin='...'")
            self.at(f'AT+CPIN="{fold_digits(pin)}"')
        self.at(f'AT+CSCS="{self.charset}"')
        self.at(f"AT+CMGF={0 if self.sms_mode == 'pdu' else 1}")
        if self.sms_mode == "text":
            self.at("AT+CSDH=1")
        self.at("AT+CNMI=2,1,0,0,0")
        self.at("AT+CUSD=1")

    def sync(self, attempts: int = 3, wait: float | None = None) -> None:
        """Make sure the modem answers ``AT``: ESC leaves a '> ' prompt left open, late
        answers and noise are drained before and after, URCs among them are kept."""
        wait = min(1.0, self.timeout) if wait is None else wait
        self._send("\x1b")
        self._drain_quiet()
        for _ in range(attempts):
            self._send("AT\r")
            deadline = time.monotonic() + wait
            try:
                while (line := self._next_line(deadline)) != "OK":
                    if is_urc(line):
                        self._urc(line, deadline)
                self._drain_quiet()
                self._dirty = False
                return
            except _Silent:
                continue
        self._dirty = True
        raise ModemTimeout(f"the modem on {self.link.name} does not answer AT ({attempts} tries of "
                           f"{wait:g} s): is it powered, on this port, at this speed?")

    def _drain_quiet(self, quiet: float = 0.05, limit: float = 1.0) -> None:
        end = time.monotonic() + limit
        while time.monotonic() < end:
            data = self._read(quiet)
            if not data:
                break
            self._lines.feed(data)
        while (line := self._lines.next_line()) is not None:
            self._log("<-", line)
            if is_urc(line):
                self._urc(line, time.monotonic() + quiet)

    def _log(self, direction: str, text: str) -> None:
        """Keep a line for the transcript; control characters show as <ESC>, <^Z>, \\x05..."""
        shown = text.translate(_VISIBLE) if any(ch < " " and ch != "\n" for ch in text) else text
        self.transcript.append(f"{direction} {shown}")

    def _send(self, text: str) -> None:
        if self._closed:
            raise ModemGone(f"the modem on {self.link.name} is closed; open it again")
        self._log("->", text.rstrip("\r"))
        try:
            self.link.write(text.encode("latin-1"))
        except (OSError, ValueError) as e:
            self._gone(e)

    def _read(self, timeout: float) -> bytes:
        try:
            return self.link.read(timeout)
        except (OSError, ValueError) as e:
            self._gone(e)

    def _gone(self, error: Exception):
        self.close()
        raise ModemGone(f"the modem port {self.link.name} is gone ({error}); check the cable or "
                        f"the emulator and open the modem again") from None

    def _next_line(self, deadline: float, raw: bool = False) -> str:
        while (line := self._lines.next_line(raw)) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _Silent
            self._lines.feed(self._read(remaining))
        self._log("<-", line)
        return line

    def exchange(self, line: str, body: str | None = None, timeout: float | None = None
                 ) -> tuple[list[str], FinalResult]:
        """Send a command line (and the body after its '> ' prompt); its lines and final result."""
        if self._dirty:
            self.sync()
        match = _COMMAND.match(line)
        running = match.group(1).upper() if match and match.group(1) else None
        self._send(line + "\r")
        deadline = time.monotonic() + (timeout or self.timeout)
        lines: list[str] = []
        try:
            while True:
                got = self._next_line(deadline)
                if got == PROMPT and body is not None:
                    self._send(body + "\x1a")
                    continue
                if got in (line, body):
                    continue                                  # echo
                final = parse_final(got)
                if final is not None:
                    return lines, final
                if is_urc(got, running):
                    self._urc(got, deadline)
                    continue
                lines.append(got)
                if prefix_of(got) in ("+CMGR", "+CMGL"):     # the body is data, even if it reads "OK"
                    lines.append(self._next_line(deadline, raw=True))
        except _Silent:
            self._dirty = True
            heard = "; ".join(lines) or "nothing"
            raise ModemTimeout(f"no final result to {line!r} from {self.link.name} within "
                               f"{timeout or self.timeout:g} s (heard: {heard})") from None

    def at(self, command: str, timeout: float | None = None) -> list[str]:
        if not isinstance(command, str) or not command[:2].upper() == "AT":
            raise ValueError(f"AT command {command!r}: expected a line starting with 'AT', like 'AT+CSQ'")
        if any(ch in command for ch in "\r\n\x1a\x1b"):
            raise ValueError(f"AT command {command!r}: expected one line without CR, LF, Ctrl-Z or ESC")
        lines, final = self.exchange(command, timeout=timeout)
        if not final.ok:
            raise ModemCommandError(command, final)
        return lines

    def poll(self, timeout: float = 0.0) -> None:
        """Wait up to ``timeout`` for the modem to say something unasked; take in all it said
        (URCs are queued, stray lines such as a late OK are dropped)."""
        deadline = time.monotonic() + timeout
        handled = False
        while True:
            line = self._lines.next_line()
            if line is None:
                if handled:
                    return
                data = self._read(max(0.0, deadline - time.monotonic()))
                if not data:
                    return
                self._lines.feed(data)
                continue
            handled = True
            self._log("<-", line)
            if is_urc(line):
                self._urc(line, deadline + self.timeout)

    # -- unsolicited result codes -------------------------------------------------------------
    def _urc(self, line: str, deadline: float) -> None:
        head = prefix_of(line)
        try:
            if head == "+CMTI":
                self._new.append(parse_cmti(line).index)
            elif head == "+CMT":
                try:
                    body = self._next_line(deadline, raw=True)
                except _Silent:
                    raise ModemProtocolError(f"+CMT from {self.link.name} without the message line "
                                             f"after it: {line!r}") from None
                self._collect(self._to_sms(line, body, None))
            elif head == "+CUSD":
                result = parse_cusd(line)
                text = None if result.wire is None else ussd_from_wire(result.wire, result.dcs or 0, self.charset)
                screen = UssdScreen(result.m, text, result.dcs)
                self._dialogue = screen.m == 1
                self._screens.append(screen)
        except (AtSyntaxError, PduError, CharsetError) as e:
            raise ModemProtocolError(f"unreadable {head} from {self.link.name}: {e}") from None

    # -- identity and life --------------------------------------------------------------------
    @property
    def msisdn(self) -> str:
        """E.164 digits of this SIM: as given when opened, else what ``AT+CNUM`` says."""
        if self._msisdn is None:
            numbers = [info(ln, "+CNUM") for ln in self.at("AT+CNUM") if prefix_of(ln) == "+CNUM"]
            if not numbers or not isinstance(numbers[0][1], str) or not numbers[0][1]:
                raise ModemError(f"the SIM in {self.link.name} does not tell its number (AT+CNUM "
                                 f"is empty): open the modem with msisdn='...'")
            self._msisdn = numbers[0][1].lstrip("+")
        return self._msisdn

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.link.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
