"""A small scripted network for the modem tests that do not need the core."""
from __future__ import annotations

import time

from datetime import datetime, timedelta, timezone

from devices.modem import ModemModel, NetworkRefusal, UssdScreen
from devices.modem.wire import ModemWire
from protocols.at.pdu import SmsSubmit

ME = "213551234567"
T0 = 1767225600                      # 2026-01-01T00:00:00Z
ALGIERS = timezone(timedelta(hours=1))
NOON = datetime(2026, 1, 1, 12, tzinfo=ALGIERS)


class Menu:
    """*100# balance (ends), *1# a French menu, *2# a Persian one, *9# unknown, *7# broken."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.sent: list[SmsSubmit] = []

    def ussd_request(self, msisdn: str, code: str) -> UssdScreen:
        self.calls.append(("request", msisdn, code))
        if code == "*100#":
            return UssdScreen.of(0, "Solde: 100,00 DA")
        if code == "*1#":
            return UssdScreen.of(1, "Recharge:\n1 Normale\n2 Bonus")
        if code == "*2#":
            return UssdScreen.of(1, "خرید شارژ:\n1 معمولی\n2 شگفت‌انگیز")
        if code == "*7#":
            raise RuntimeError("the USSD gateway crashed")
        return UssdScreen(4)

    def ussd_answer(self, msisdn: str, text: str) -> UssdScreen:
        self.calls.append(("answer", msisdn, text))
        if text == "again":
            return UssdScreen.of(1, "Encore?")
        return UssdScreen.of(0, f"Choix {text} pris")

    def ussd_release(self, msisdn: str) -> None:
        self.calls.append(("release", msisdn))

    def sms_submit(self, msisdn: str, sms: SmsSubmit) -> None:
        if sms.to.value.endswith("000"):
            raise NetworkRefusal(1, "unassigned number")
        self.sent.append(sms)


def model(**kw) -> ModemModel:
    kw.setdefault("utc_offset_min", 60)
    kw.setdefault("now", lambda: float(T0))
    return ModemModel(ME, kw.pop("network", Menu()), **kw)


def run(m: ModemModel, line: str) -> list[str]:
    """Lines the model answers to a command line; a prompt shows as a final '> '."""
    lines, prompt = m.handle_line(line)
    return lines + ["> "] if prompt else lines


def wire_lines(wire: ModemWire, data: bytes) -> list[str]:
    return [ln.strip("\r") for ln in wire.feed(data).decode("latin-1").split("\r\n") if ln.strip("\r")]


class ScriptedLink:
    """A link to a pretend modem that answers from a script: command line -> bytes. It plays
    what real modems do and the model does not (echo, URCs inside answers, late answers)."""

    name = "scripted modem"

    def __init__(self, script: dict[str, bytes]) -> None:
        self.script = dict(script)
        self.script.setdefault("AT", b"\r\nOK\r\n")
        self.written: list[str] = []
        self._pending = bytearray()
        self._typed = bytearray()

    def push(self, data: bytes) -> None:
        self._pending += data

    def write(self, data: bytes) -> None:
        for byte in data:
            if byte == 0x1B:
                self._typed.clear()
            elif byte in (0x0D, 0x1A):
                line = self._typed.decode("latin-1")
                self._typed.clear()
                self.written.append(line)
                self._pending += self.script.get(line, b"")
            else:
                self._typed.append(byte)

    def read(self, timeout: float) -> bytes:
        if not self._pending:
            time.sleep(min(timeout, 0.01))
        data, self._pending = bytes(self._pending), bytearray()
        return data

    def close(self) -> None:
        pass
