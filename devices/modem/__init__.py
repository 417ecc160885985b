"""The GSM modem / handset role: read OTP SMS and run USSD dialogues, on any of three faces.

Open one with :func:`open_modem`; whatever the face, you get a
:class:`~devices.modem.interface.ModemPort`::

    from devices.modem import open_modem

    with open_modem("emulator", msisdn="213551234567") as modem:   # model on a pty + pyserial
        modem.model.deliver_sms("EDAHABIA", "Code 123456", when=1767225600)
        sms = modem.wait_sms(r"\\d{6}", timeout=5)      # +CMTI -> AT+CMGR -> typed Sms
        screen = modem.ussd("*1#")                       # AT+CUSD=1,"*1#",15 -> +CUSD: 1,...
        modem.ussd_reply("1")

Faces (ARCHITECTURE.md, "One device, three faces"):

- ``"model"``: :class:`~devices.modem.model.ModemModel` in memory, talked to through the
  same line discipline and session code as the others, minus the pty;
- ``"emulator"``: the model on a pseudo-terminal (:mod:`~devices.modem.emulator`) with the
  pyserial driver on its other end: the very code path of a real modem;
- ``"driver"``: a real modem, ``open_modem("driver", port="/dev/ttyUSB2")``.

The model needs a :class:`~devices.modem.network.Network` for USSD and sending; wire it to
the core with :mod:`hil.modem_network`. Failures are :class:`ModemError` subclasses that say
what to do: :class:`ModemTimeout`, :class:`ModemGone`, :class:`ModemCommandError` (with the
``+CME``/``+CMS`` code and its meaning), :class:`ModemProtocolError`. The AT command set is
in ``docs/modem.md``.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from devices.modem.driver import open_serial
from devices.modem.emulator import ModemEmulator
from devices.modem.interface import (ModemCommandError, ModemError, ModemGone, ModemPort,
                                     ModemProtocolError, ModemTimeout, Sms, UssdScreen)
from devices.modem.model import ModemModel
from devices.modem.network import Network, NetworkRefusal
from devices.modem.session import AtSession
from devices.modem.wire import MemoryLink

__all__ = [
    "AtSession", "ModemCommandError", "ModemEmulator", "ModemError", "ModemGone", "ModemModel",
    "ModemPort", "ModemProtocolError", "ModemTimeout", "Network", "NetworkRefusal", "Sms",
    "UssdScreen", "open_modem", "open_serial",
]

SESSION_OPTIONS = ("timeout", "charset", "sms_mode", "pin")
MODEL_OPTIONS = ("network", "capacity", "smsc", "utc_offset_min", "sim_inserted", "registered",
                 "rssi", "imsi", "imei", "now")
DRIVER_OPTIONS = ("port", "msisdn")
SERIAL_OPTIONS = ("baudrate", "baud", "rtscts")


@contextmanager
def open_modem(face: str, **params) -> Iterator[AtSession]:
    """A ``ModemPort`` on ``face`` ("model", "emulator" or "driver"), closed on exit.

    model/emulator: ``msisdn=`` (or ``model=`` an existing :class:`ModemModel`) and model
    options (``network``, ``capacity``, ``utc_offset_min``, ``pin``...); emulator and driver:
    ``baudrate=`` (or ``baud=``, as bench files say), ``rtscts=``; driver: ``port=``,
    ``msisdn=`` (else ``AT+CNUM`` tells). All faces: ``timeout``, ``charset``, ``sms_mode``,
    ``pin``.
    The port's ``.model`` and ``.emulator`` are set when the face has them.
    """
    session = {k: params.pop(k) for k in SESSION_OPTIONS if k in params}
    serial_options = {k: params.pop(k) for k in SERIAL_OPTIONS if k in params and face != "model"}
    if "baud" in serial_options:               # the bench files' name for it
        serial_options["baudrate"] = serial_options.pop("baud")
    if face == "driver":
        _only(params, DRIVER_OPTIONS + SERIAL_OPTIONS, face)
        if "port" not in params:
            raise ValueError("open_modem('driver') needs port=, like '/dev/ttyUSB2' or 'socket://host:port'")
        port = open_serial(params.pop("port"), **params, **serial_options, **session)
        try:
            yield port
        finally:
            port.close()
        return
    if face not in ("model", "emulator"):
        raise ValueError(f"unknown modem face {face!r}; expected 'model', 'emulator' or 'driver'")
    model = params.pop("model", None)
    if model is None:
        _only(params, MODEL_OPTIONS + ("msisdn",) + (SERIAL_OPTIONS if face == "emulator" else ()), face)
        if "msisdn" not in params:
            raise ValueError(f"open_modem({face!r}) needs msisdn= (E.164 digits) or model=")
        if "pin" in session:
            params["pin"] = session["pin"]
        model = ModemModel(params.pop("msisdn"), **params)
    else:
        _only(params, (), face + " with model=")
    if face == "model":
        port = AtSession(MemoryLink(model), msisdn=model.msisdn, **session)
        port.model = model
        try:
            yield port
        finally:
            port.close()
        return
    with ModemEmulator(model) as emulator:
        port = open_serial(emulator.path, msisdn=model.msisdn, **serial_options, **session)
        port.model, port.emulator = model, emulator
        try:
            yield port
        finally:
            port.close()


def _only(params: dict, allowed: tuple[str, ...], face: str) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise TypeError(f"open_modem({face!r}) got unknown option(s) {', '.join(unknown)}; "
                        f"expected {', '.join(allowed + SESSION_OPTIONS) or 'none'}")
