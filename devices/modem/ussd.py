"""The USSD half of the handset model: ``AT+CUSD`` and the one dialogue a handset holds.

A dialogue opens when a service code like ``*1#`` is sent while none is open; while the
network's last answer was ``m=1`` (it wants a reply), the next string sent is the user's
answer. ``AT+CUSD=2`` ends it. The network's answers arrive as ``+CUSD`` URCs after the
command's OK, never inside its answer, as 27.007 modems do.
"""
from __future__ import annotations

import logging
import re

from devices.modem.interface import UssdScreen
from devices.modem.results import Fail
from protocols.at.charset import CharsetError, fold_digits
from protocols.at.command import AtCommand
from protocols.at.results import ERROR, cme
from protocols.at.ussd import Cusd, format_cusd, ussd_from_wire, ussd_to_wire
from protocols.gsm import check_ussd, encoding_of_dcs

log = logging.getLogger("rbench.modem")
SERVICE_CODE = re.compile(r"^[*#][0-9*#]*#$")


class UssdCommands:
    """Mixed into :class:`devices.modem.model.ModemModel`, whose state it shares."""

    def ussd_reset(self) -> None:
        self.dialogue_open = False

    def ussd_settings_reset(self) -> None:
        self.cusd_n = 0

    def at_cusd(self, cmd: AtCommand) -> list[str]:
        if cmd.op == "read":
            return [f"+CUSD: {self.cusd_n}"]
        if cmd.op == "test":
            return ["+CUSD: (0-2)"]
        if cmd.op != "set":
            raise Fail(ERROR)
        n, wire, dcs = cmd.arg(0, 0), cmd.arg(1), cmd.arg(2, 0)
        if n not in (0, 1, 2) or len(cmd.args) > 3 or (wire is not None and not isinstance(wire, str)) \
                or not isinstance(dcs, int) or dcs > 255:
            raise Fail(cme(50))
        if n == 2:
            self._release()
            return []
        self.cusd_n = n
        if wire is None:
            return []
        if encoding_of_dcs(dcs) == "8bit":
            raise Fail(cme(4))
        self.need_sim("CME")
        if self.network is None or not self.registered:
            raise Fail(cme(30))
        try:
            text = ussd_from_wire(wire, dcs, self.charset)
        except CharsetError:
            raise Fail(cme(25)) from None
        try:
            check_ussd(text)
        except ValueError:
            raise Fail(cme(24)) from None
        if self.dialogue_open:
            self._present(self._ask(lambda: self.network.ussd_answer(self.msisdn, text)))
            return []
        code = fold_digits(text)
        if not SERVICE_CODE.match(code):
            raise Fail(cme(27))
        self._present(self._ask(lambda: self.network.ussd_request(self.msisdn, code)))
        return []

    def _ask(self, call) -> UssdScreen:
        try:
            return call()
        except Exception:   # the network broke down: the dialogue is over, the line goes on
            log.exception("the network failed on a USSD request from %s", self.msisdn)
            return UssdScreen(2)

    def _release(self) -> None:
        if self.dialogue_open:
            self.dialogue_open = False
            try:
                self.network.ussd_release(self.msisdn)
            except Exception:
                log.exception("the network failed to release the USSD dialogue of %s", self.msisdn)

    def _present(self, screen: UssdScreen) -> None:
        self.dialogue_open = screen.m == 1
        if self.cusd_n != 1:
            return
        if screen.text is None:
            self.emit([format_cusd(Cusd(screen.m))])
            return
        dcs = screen.dcs if screen.dcs is not None else 15
        try:
            wire = ussd_to_wire(screen.text, dcs, self.charset)
        except CharsetError:   # a GSM text the TE set cannot show: '?' as modems do
            wire = "".join(self._ussd_char(ch, dcs) for ch in screen.text)
        self.emit([format_cusd(Cusd(screen.m, wire, dcs))])

    def _ussd_char(self, ch: str, dcs: int) -> str:
        try:
            return ussd_to_wire(ch, dcs, self.charset)
        except CharsetError:
            return "?"

    # -- the network and the handset's own keypad ----------------------------------------------
    def network_ussd(self, screen: UssdScreen) -> None:
        """Something the network does on its own: a timeout (m=5), a dropped dialogue (m=2),
        a network-initiated request (m=1) or notification (m=0)."""
        with self.lock:
            self._present(screen)

    def keypad_answer(self, text: str) -> None:
        """The handset's own menu answers the open dialogue: the TE sees ``+CUSD: 3`` (another
        local client has responded), then the network's next screen."""
        with self.lock:
            if not self.dialogue_open:
                raise ValueError("no USSD dialogue is waiting for an answer on this handset")
            if self.cusd_n == 1:
                self.emit([format_cusd(Cusd(3))])
            self._present(self._ask(lambda: self.network.ussd_answer(self.msisdn, text)))
