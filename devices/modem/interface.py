"""What every face of the modem role offers: the typed results and errors, and ``ModemPort``.

A bench script or a scenario step talks to a handset through ``ModemPort`` only, so the same
step runs against the in-memory model, the emulator on a pty, or a real USB modem.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, Union

from protocols.at.results import FinalResult
from protocols.at.tpfields import Concat
from protocols.at.ussd import USSD_M
from protocols.gsm import dcs_for, encoding_for


class ModemError(Exception):
    """Base of every modem failure; the message says what happened and what to do."""


class ModemCommandError(ModemError):
    """The modem answered ``ERROR``, ``+CME ERROR`` or ``+CMS ERROR`` to a command."""

    def __init__(self, command: str, result: FinalResult) -> None:
        self.command, self.result = command, result
        code = f" {result.code}" if result.code is not None else ""
        super().__init__(f"{command!r} failed: {result.kind}{code} ({result.meaning})")


class ModemTimeout(ModemError):
    """No (complete) answer in time: the modem is silent, or the network has not answered."""


class ModemGone(ModemError):
    """The port vanished (USB unplugged, emulator stopped); open the modem again."""


class ModemProtocolError(ModemError):
    """The modem printed something that does not follow 27.005/27.007."""


@dataclass(frozen=True)
class Sms:
    """A received SMS, its parts joined; ``indices`` are its slots in SIM storage (none when
    the modem routed it straight to the line with ``+CMT``)."""

    sender: str                 # '+213551234567', '0551234567', 'EDAHABIA' (to send: the destination)
    text: str
    sent_at: datetime | None    # the service centre's timestamp with its zone (None: stored to send)
    indices: tuple[int, ...] = ()
    status: str = "REC UNREAD"  # as stored before this read
    encoding: str = "gsm7"
    concat: Concat | None = None   # set on a single part read on its own

    @property
    def index(self) -> int | None:
        return self.indices[0] if self.indices else None


Match = Union[None, str, "re.Pattern[str]", Callable[[Sms], bool]]


def matcher(match: Match) -> Callable[[Sms], bool]:
    """None matches any SMS; a string or pattern is searched in the text; else a predicate."""
    if match is None:
        return lambda sms: True
    if isinstance(match, str):
        pattern = re.compile(match)
        return lambda sms: bool(pattern.search(sms.text))
    if isinstance(match, re.Pattern):
        return lambda sms: bool(match.search(sms.text))
    if callable(match):
        return match
    raise TypeError(f"match must be None, a regex string, a compiled pattern or a function of "
                    f"Sms; got {type(match).__name__}")


@dataclass(frozen=True)
class UssdScreen:
    """One ``+CUSD`` answer: ``m`` (0 done, 1 reply expected, 2 ended by the network, 3 another
    local client answered, 4 not supported, 5 network timeout), the text and its DCS."""

    m: int
    text: str | None = None
    dcs: int | None = None

    def __post_init__(self) -> None:
        if self.m not in USSD_M:
            raise ValueError(f"USSD result m={self.m}; expected one of 0-5")

    @classmethod
    def of(cls, m: int, text: str | None = None) -> UssdScreen:
        """A screen with the DCS a network would pick for ``text`` (GSM 7-bit or UCS2)."""
        return cls(m, text, None if text is None else dcs_for(encoding_for(text)))

    @property
    def needs_reply(self) -> bool:
        return self.m == 1

    @property
    def meaning(self) -> str:
        return USSD_M[self.m]


class ModemPort(Protocol):
    """A GSM handset or modem, whichever face. Timeouts are seconds; every call either
    returns its typed answer or raises a :class:`ModemError` subclass."""

    msisdn: str

    def at(self, command: str, timeout: float | None = None) -> list[str]:
        """Run one command line (``'AT+CSQ'``); its information lines, without the final OK."""

    def list_sms(self, status: str = "ALL") -> list[Sms]: ...

    def read_sms(self, index: int) -> Sms: ...

    def delete_sms(self, index: int) -> None: ...

    def wait_sms(self, match: Match = None, timeout: float = 30.0) -> Sms:
        """The next incoming SMS (announced by ``+CMTI`` or ``+CMT``) that ``match`` accepts."""

    def send_sms(self, to: str, text: str, timeout: float = 30.0) -> list[int]:
        """Send a text (several parts if long); the message references the network gave."""

    def ussd(self, code: str, timeout: float = 30.0) -> UssdScreen:
        """Dial a USSD service code like ``'*1#'``; the network's first screen."""

    def ussd_reply(self, text: str, timeout: float = 30.0) -> UssdScreen: ...

    def ussd_cancel(self) -> None: ...

    def close(self) -> None: ...
