"""The meter driver: IEC 62056-21 mode C over pyserial, to a real meter or to the emulator.

Any port pyserial opens: a device (``/dev/ttyUSB0``, an optical probe), a pty from the
emulator, or a URL (``socket://host:port``, ``rfc2217://...``). Each session starts at 300
baud 7E1 and switches to ``min(baud, what the meter offers)`` by the option select; the
programming session is kept open between calls and signed on again when it may have timed
out on the meter's side (``session_idle_s``).

Failures are clear and leave the driver clean: no answer is ``MeterTimeout`` (naming the
port, the command and whether the meter stopped mid-frame), a port that cannot be opened or
vanishes is ``MeterLinkError`` (the port is closed; the next call opens it again), a bad
BCC is answered with NAK and the frame read again (``retries``), an answer that makes no
sense is ``MeterProtocolError``. A write that timed out is never repeated on its own: a
token entered twice is answered "used", so the caller re-enters it knowingly.
"""
from __future__ import annotations

import errno
import termios
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import serial

from protocols.iec62056 import (
    INITIAL_BAUD, Ack, Command, DataMessage, DataSet, ErrorMessage, FrameError, FrameParser, Identification, Nak,
    OptionSelect, SignOn, baud_char,
)

from . import registers
from .codes import ResultCode
from .errors import MeterInputError, MeterLinkError, MeterProtocolError, MeterTimeout
from .interface import Identity, MeterReading, MeterResult


class MeterDriver:
    def __init__(self, port: str, *, baud: int = 9600, password: str = "00000000", address: str = "",
                 timeout: float = 2.0, retries: int = 2, session_idle_s: float = 60.0,
                 register_map: Mapping[str, str] | None = None) -> None:
        baud_char(baud)                              # refuses a rate mode C does not know
        self.port_name, self.baud, self.password, self.address = port, baud, password, address
        # a real meter's addresses for ours (docs/meter-protocol.md, "Mapping a real meter")
        self.register_map = dict(register_map or {})
        for ours, theirs in self.register_map.items():
            DataSet(ours), DataSet(theirs)
        self._ours = {theirs: ours for ours, theirs in self.register_map.items()}
        self.timeout, self.retries, self.session_idle_s = timeout, retries, session_idle_s
        self.parser = FrameParser(role="master")
        self.identification: Identification | None = None
        self.frame_errors: list[FrameError] = []
        self._port: Any = None
        self._programming = False
        self._last_io = 0.0
        self._meter_number: str | None = None

    # ------------------------------------------------------------------ the port
    def open(self) -> MeterDriver:
        if self._port is None:
            try:
                try:
                    self._port = self._serial(INITIAL_BAUD)
                except termios.error as exc:
                    # A pty keeps the last client's settings and Linux refuses (EINVAL) to apply the
                    # same speed again with CS7: open at another speed, then go to 300 baud.
                    if exc.args[0] != errno.EINVAL:
                        raise
                    self._port = self._serial(2 * INITIAL_BAUD)
                    self._port.baudrate = INITIAL_BAUD
            except (serial.SerialException, OSError, ValueError, termios.error) as exc:
                raise MeterLinkError(f"cannot open meter port {self.port_name!r}: {exc}") from None
            self._programming = False
        return self

    def _serial(self, baud: int) -> Any:
        return serial.serial_for_url(self.port_name, baudrate=baud, bytesize=serial.SEVENBITS,
                                     parity=serial.PARITY_EVEN, stopbits=serial.STOPBITS_ONE,
                                     timeout=self.timeout, write_timeout=self.timeout)

    def close(self) -> None:
        if self._port is not None:
            if self._programming:
                try:
                    self._port.write(Command("B", "0").encode())
                    self._port.flush()
                except (serial.SerialException, OSError):
                    pass
        self._drop_port()

    def _drop_port(self) -> None:
        """Close the port whatever state it is in, and forget the session."""
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
        self._port, self._programming = None, False
        self.parser.reset()

    def __enter__(self) -> MeterDriver:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _lost(self, exc: BaseException, doing: str) -> MeterLinkError:
        self._drop_port()
        return MeterLinkError(f"meter port {self.port_name!r} failed while {doing}: {exc} "
                              "(unplugged, or the emulator stopped); the port is closed")

    def _write(self, data: bytes, doing: str) -> None:
        port = self.open()._port
        try:
            port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc, doing) from None
        self._last_io = time.monotonic()

    def _receive(self, doing: str) -> Any:
        """The next message; NAKs a bad BCC up to ``retries`` times; ignores noise between frames."""
        port, naks = self._port, 0
        while True:
            try:
                first = port.read(1)
                data = first + (port.read(port.in_waiting) if first and port.in_waiting else b"")
            except (serial.SerialException, OSError) as exc:
                raise self._lost(exc, doing) from None
            items = self.parser.feed(data) if data else self.parser.flush()
            if not data and not items:
                self._programming = False
                raise MeterTimeout(f"no answer from the meter on {self.port_name!r} within {self.timeout} s "
                                   f"while {doing}")
            for item in items:
                if not isinstance(item, FrameError):
                    self._last_io = time.monotonic()
                    return item
                self.frame_errors.append(item)
                if item.kind == "truncated" and not data:
                    self._programming = False
                    raise MeterTimeout(f"the meter on {self.port_name!r} stopped mid-frame while {doing}: "
                                       f"{item}") from None
                if item.kind == "bcc" and self._programming:
                    if naks >= self.retries:
                        raise MeterProtocolError(f"{naks + 1} answers with a bad BCC while {doing}: {item}")
                    naks += 1
                    self._write(Nak().encode(), doing)

    def _set_baud(self, rate: int) -> None:
        # Only on a change: a pty forces CS8, so pyserial sees 7E1 as "changed" every time, and
        # Linux refuses (EINVAL) to re-apply the same speed with CS7 on a pty.
        if self._port.baudrate == rate:
            return
        try:
            self._port.flush()
            self._port.baudrate = rate
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            raise self._lost(exc, f"switching to {rate} baud") from None

    # ------------------------------------------------------------------ sessions
    def sign_on(self, mode: str) -> Identification:
        """Sign on at 300 baud and select ``mode`` ('0' readout, '1' programming) at the agreed rate."""
        self.open()
        self._programming = False
        self._set_baud(INITIAL_BAUD)
        try:
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc, "signing on") from None
        self.parser.reset()
        self._write(SignOn(self.address).encode(), "signing on")
        ident = self._receive("waiting for the identification (/XXXZ...)")
        if not isinstance(ident, Identification):
            raise MeterProtocolError(f"expected the identification after /?{self.address}!, got {ident!r}")
        rate = min(self.baud, ident.max_baud)
        self._write(OptionSelect(baud_char(rate), mode).encode(), "selecting the mode")
        self._set_baud(rate)
        self.identification = ident
        return ident

    def _ensure_programming(self) -> None:
        if self._programming and self._port is not None \
                and time.monotonic() - self._last_io < self.session_idle_s:
            return
        if self._programming:
            self.end_session()
        self.sign_on("1")
        operand = self._receive("waiting for the password operand (P0)")
        if not (isinstance(operand, Command) and operand.name == "P0"):
            raise MeterProtocolError(f"expected the password operand P0 in programming mode, got {operand!r}")
        self._meter_number = operand.dataset.value if operand.dataset else None
        self._programming = True
        answer = self._exchange(Command("P", "1", DataSet("", self.password)), "sending the password")
        if not isinstance(answer, Ack):
            self.end_session()
            raise MeterProtocolError(f"password refused by the meter on {self.port_name!r}: {answer!r}",
                                     _code_of(answer))

    def end_session(self) -> None:
        """B0: the meter goes back to idle; the port back to 300 baud."""
        if self._programming and self._port is not None:
            self._write(Command("B", "0").encode(), "ending the session")
        self._programming = False
        if self._port is not None:
            self._set_baud(INITIAL_BAUD)

    def _exchange(self, cmd: Command, doing: str) -> Any:
        for _ in range(self.retries + 1):
            self._write(cmd.encode(), doing)
            answer = self._receive(doing)
            if not isinstance(answer, Nak):
                return answer
        raise MeterProtocolError(f"the meter answered NAK {self.retries + 1} times while {doing}")

    def command(self, cmd: Command) -> Any:
        """One programming-mode command and the meter's answer (Ack, DataMessage, ErrorMessage)."""
        self._ensure_programming()
        doing = f"{cmd.name} {cmd.dataset or ''}".strip()
        if cmd.kind != "R":
            return self._exchange(cmd, doing)
        try:
            return self._exchange(cmd, doing)
        except MeterTimeout:                         # a read is safe to repeat on a fresh session
            self._ensure_programming()
            return self._exchange(cmd, doing)

    def _theirs(self, address: str) -> str:
        return self.register_map.get(address, address)

    def _named(self, datasets: tuple[DataSet, ...] | list[DataSet]) -> list[DataSet]:
        """Data sets from the meter under our addresses."""
        return [DataSet(self._ours.get(d.address, d.address), d.value, d.unit) for d in datasets]

    def _read(self, address: str) -> list[DataSet]:
        answer = self.command(Command("R", "1", DataSet(self._theirs(address))))
        if isinstance(answer, DataMessage) and answer.datasets:
            return self._named(answer.datasets)
        raise MeterProtocolError(f"R1 {address}: {_describe(answer)}", _code_of(answer))

    def _write_register(self, address: str, value: str) -> ResultCode:
        answer = self.command(Command("W", "1", DataSet(self._theirs(address), value)))
        if isinstance(answer, Ack):
            return ResultCode.ACCEPTED
        code = _code_of(answer)
        if code is None or code.number >= 90:
            raise MeterProtocolError(f"W1 {address}: {_describe(answer)}", code)
        return code

    # ------------------------------------------------------------------ MeterPort
    def identify(self) -> Identity:
        self._ensure_programming()
        number = self._read("0.0.0")[0].value
        ident = self.identification
        return Identity(ident.manufacturer, ident.ident, ident.max_baud, number)

    def read(self) -> MeterReading:
        if self._programming:
            self.end_session()
        self.sign_on("0")
        answer = self._receive("reading the data readout")
        self._set_baud(INITIAL_BAUD)
        if not (isinstance(answer, DataMessage) and answer.readout):
            raise MeterProtocolError(f"expected the data readout, got {_describe(answer)}")
        return registers.reading(self._named(answer.datasets))

    def read_register(self, address: str) -> DataSet:
        if not isinstance(address, str):
            raise MeterInputError(f"invalid register address {address!r}: expected text such as '1.8.0'")
        DataSet(address)
        return self._read(address)[0]

    def _entry(self, address: str, value: str) -> MeterResult:
        code = self._write_register(address, value)
        if code is not ResultCode.ACCEPTED:
            return MeterResult(code)
        code, credited, credit, unit = registers.entry_result(self._read(registers.RESULT))
        return MeterResult(code, credited, credit, unit)

    def enter_token(self, token: str) -> MeterResult:
        return self._entry(registers.TOKEN, registers.token_digits(token))

    def load_card(self, record: bytes | str) -> MeterResult:
        return self._entry(registers.CARD, registers.card_bytes(record).hex().upper())

    def set_relay(self, closed: bool) -> MeterResult:
        return MeterResult(self._write_register("C.51.0", "1" if closed else "0"))

    def emergency_credit(self) -> MeterResult:
        return MeterResult(self._write_register("C.50.4", "1"))

    def clear_tamper(self) -> MeterResult:
        return MeterResult(self._write_register("C.52.0", "0"))

    def set_clock(self, when: datetime) -> None:
        when = registers.utc(when)
        date = f"{when:%y-%m-%d}"
        for _ in range(2):                           # a midnight between the two writes: write again
            self._write_register("0.9.2", date)
            self._write_register("0.9.1", f"{when:%H:%M:%S}")
            if self._read("0.9.2")[0].value == date:
                return
        raise MeterProtocolError(f"the meter's date stays {self._read('0.9.2')[0].value}, not {date}")

    def set_test_load(self, watts: int) -> None:
        if isinstance(watts, bool) or not isinstance(watts, int) or not 0 <= watts <= 1_000_000:
            raise MeterInputError(f"invalid test load {watts!r}: expected whole watts from 0 to 1000000")
        self._write_register("C.99.0", str(watts))

    def set_case_open(self, is_open: bool) -> None:
        self._write_register("C.99.1", "1" if is_open else "0")


def _code_of(answer: object) -> ResultCode | None:
    return ResultCode.from_error_text(answer.text) if isinstance(answer, ErrorMessage) else None


def _describe(answer: object) -> str:
    code = _code_of(answer)
    return f"the meter refused: {answer.text} ({code.message})" if code else f"unexpected answer {answer!r}"
