"""The real-I/O face: a GSM modem or handset on a serial port, through pyserial.

Any port pyserial opens will do: ``/dev/ttyUSB2``, the emulator's pty, or a URL such as
``socket://127.0.0.1:7000`` or ``rfc2217://...``. Reads wait in short slices so a deadline
is kept without reprogramming the port for every call; a port that disappears (USB pulled,
emulator stopped) ends in :class:`~devices.modem.interface.ModemGone`, not a stack trace.

    modem = open_serial("/dev/ttyUSB2", msisdn="213551234567")
    otp = modem.wait_sms(r"\\d{6}", timeout=60)
"""
from __future__ import annotations

import time

import serial

from devices.modem.interface import ModemGone
from devices.modem.session import AtSession

SLICE_S = 0.05      # how long one blocking read may wait before the deadline is checked


class SerialLink:
    def __init__(self, port: str, baudrate: int = 115200, *, rtscts: bool = False) -> None:
        if not isinstance(port, str) or not port:
            raise ValueError(f"serial port {port!r}: expected a device path like '/dev/ttyUSB0' "
                             f"or a pyserial URL like 'socket://host:port'")
        self.name = port
        try:
            self.port = serial.serial_for_url(port, baudrate=baudrate, timeout=SLICE_S,
                                              write_timeout=5.0, rtscts=rtscts)
        except (serial.SerialException, OSError, ValueError) as e:
            raise ModemGone(f"cannot open modem port {port!r}: {e}; check the device path "
                            f"(ls /dev/ttyUSB* /dev/ttyACM*) and that no other program holds it") from None

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except serial.SerialException as e:
            raise OSError(str(e)) from None

    def read(self, timeout: float) -> bytes:
        end = time.monotonic() + timeout
        try:
            while True:
                waiting = self.port.in_waiting
                if waiting or timeout <= 0:
                    return self.port.read(waiting) if waiting else b""
                data = self.port.read(1)
                if data:
                    more = self.port.in_waiting
                    return data + self.port.read(more) if more else data
                if time.monotonic() >= end:
                    return b""
        except serial.SerialException as e:
            raise OSError(str(e)) from None

    def close(self) -> None:
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass


def open_serial(port: str, *, baudrate: int = 115200, rtscts: bool = False, **session) -> AtSession:
    """Open the modem on ``port`` and put it in the state the session expects.

    ``session`` takes :class:`~devices.modem.session.AtSession`'s options: ``msisdn``,
    ``timeout``, ``charset`` ('GSM', 'IRA', 'UCS2'), ``sms_mode`` ('pdu', 'text'), ``pin``.
    """
    link = SerialLink(port, baudrate, rtscts=rtscts)
    try:
        return AtSession(link, **session)
    except BaseException:
        link.close()
        raise
