"""The TE side of USSD, for :class:`~devices.modem.session.AtSession`: one dialogue at a
time, followed through the ``+CUSD`` results, including those the network sends unasked
(a timeout, a dropped dialogue) which end it before the user answers.
"""
from __future__ import annotations

import re
import time

from devices.modem.interface import ModemCommandError, ModemError, ModemTimeout, UssdScreen
from protocols.at.charset import CharsetError, fold_digits, quote
from protocols.at.ussd import ussd_to_wire
from protocols.gsm import check_ussd, encoding_for

SERVICE_CODE = re.compile(r"^[*#][0-9*#]*#$")


class UssdClient:
    """Mixed into AtSession: uses its ``at``, ``poll`` and its ``+CUSD`` screens queue."""

    def ussd(self, code: str, timeout: float = 30.0) -> UssdScreen:
        folded = fold_digits(code).strip() if isinstance(code, str) else ""
        if not SERVICE_CODE.match(folded):
            raise ValueError(f"invalid USSD code {code!r}: expected '*' or '#', then digits, '*' "
                             f"and '#', ending with '#', like '*1#'")
        self._settle_screens()
        if self._dialogue:
            raise ModemError("a USSD dialogue is already open: answer it with ussd_reply() or "
                             "end it with ussd_cancel()")
        return self._request(f"AT+CUSD=1,{quote(ussd_to_wire(folded, 15, self.charset))},15",
                             folded, timeout)

    def ussd_reply(self, text: str, timeout: float = 30.0) -> UssdScreen:
        if not isinstance(text, str):
            raise TypeError(f"USSD answer must be text, got {type(text).__name__}")
        check_ussd(text)
        self._settle_screens()
        if not self._dialogue:
            why = (f": the network ended it (+CUSD: {self._ended.m}, {self._ended.meaning})"
                   if self._ended else "")
            raise ModemError(f"no USSD dialogue is open{why}; start one with ussd('*1#')")
        dcs = 15
        try:
            wire = ussd_to_wire(text, dcs, self.charset) if encoding_for(text) == "gsm7" else None
        except CharsetError:
            wire = None
        if wire is None:
            dcs, wire = 72, ussd_to_wire(text, 72, self.charset)
        try:
            return self._request(f"AT+CUSD=1,{quote(wire)},{dcs}", text, timeout)
        except ModemCommandError:
            # The network may have ended the dialogue just before the answer went out: the
            # handset then took the answer for a new request and refused it. Say what happened.
            self.poll(0.2)
            self._settle_screens()
            if self._ended is not None and self._ended.m != 1:
                raise ModemError(f"no USSD dialogue is open: the network ended it (+CUSD: "
                                 f"{self._ended.m}, {self._ended.meaning}) before the answer "
                                 f"{text!r} went out; start again with ussd()") from None
            raise

    def ussd_cancel(self) -> None:
        self.at("AT+CUSD=2")
        self._dialogue, self._ended = False, None
        self._screens.clear()

    def _settle_screens(self) -> None:
        self.poll(0)
        while self._screens:
            self._ended = self._screens.popleft()

    def _request(self, line: str, what: str, timeout: float) -> UssdScreen:
        self._ended = None
        self.at(line)
        deadline = time.monotonic() + timeout
        while not self._screens:
            if time.monotonic() >= deadline:
                try:
                    self.ussd_cancel()
                finally:
                    self._dialogue = False
                raise ModemTimeout(f"no +CUSD answer to {what!r} within {timeout:g} s on "
                                   f"{self.link.name}; the dialogue was cancelled (AT+CUSD=2)")
            self.poll(min(deadline - time.monotonic(), 0.5))
        return self._screens.popleft()
