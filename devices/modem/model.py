"""The handset as a state machine: it reads AT command lines and answers as a 27.007/27.005
modem would, stores SMS the network delivers on its SIM and holds one USSD dialogue.

Everything is in memory and driven from outside: the emulator or an in-process link feeds
it command lines; a network (:mod:`devices.modem.network`) answers its USSD requests and
calls :meth:`ModemModel.deliver_sms`. Unsolicited result codes (``+CMTI``, ``+CUSD``) queue
up until the line is free, as on a real modem, and listeners hear that some are waiting.

    model = ModemModel("213551234567")
    model.handle_line("AT+CMGF=1")            # (['OK'], False)
    model.deliver_sms("EDAHABIA", "Code 123456", when=1767225600)
    model.take_urcs()                         # ['+CMTI: "SM",1']

It is safe to call from several threads (one lock); time comes from ``when`` arguments and
the ``now`` function given, so a simulation can run it on virtual time. The commands live in
mixins, one per standard: :mod:`~devices.modem.equipment` (27.007 basics),
:mod:`~devices.modem.sms` and :mod:`~devices.modem.sending` (27.005),
:mod:`~devices.modem.ussd` (``+CUSD``); this module holds the state and the dispatch.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from devices.modem.equipment import EquipmentCommands
from devices.modem.network import Network
from devices.modem.results import Fail
from devices.modem.sending import SendingCommands
from devices.modem.sms import SmsCommands
from devices.modem.storage import SimStorage
from devices.modem.ussd import UssdCommands
from protocols.at.charset import Charset, fold_digits
from protocols.at.command import AtCommand, parse_line
from protocols.at.errors import AtSyntaxError
from protocols.at.results import ERROR, OK, cme, cms, format_final
from protocols.luhn import check_digit

log = logging.getLogger("rbench.modem")


def check_msisdn(msisdn: object) -> str:
    text = fold_digits(msisdn).strip() if isinstance(msisdn, str) else ""
    digits = text.removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15):
        raise ValueError(f"invalid MSISDN {msisdn!r}: expected E.164 digits with the country "
                         f"code, like '213551234567' or '+213551234567'")
    return digits




class ModemModel(EquipmentCommands, SmsCommands, SendingCommands, UssdCommands):
    manufacturer, model_name, revision = "rechargebench", "RB-GSM1", "1.0"

    def __init__(self, msisdn: str, network: Network | None = None, *, capacity: int = 30,
                 smsc: str | None = None, utc_offset_min: int = 0, pin: str | None = None,
                 sim_inserted: bool = True, registered: bool = True, rssi: int = 20,
                 imsi: str | None = None, imei: str | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.msisdn = check_msisdn(msisdn)
        if utc_offset_min % 15 or not -720 <= utc_offset_min <= 840:
            raise ValueError(f"utc_offset_min {utc_offset_min}; expected a multiple of 15 "
                             f"between -720 and 840 (Algeria 60, Egypt 120, Iran 210)")
        if not 0 <= rssi <= 31:
            raise ValueError(f"rssi {rssi}; expected 0-31 as AT+CSQ reports it")
        if pin is not None and not (pin.isdigit() and 4 <= len(pin) <= 8):
            raise ValueError(f"SIM PIN {pin!r}; expected 4 to 8 digits or None")
        self.network = network
        self.storage = SimStorage(capacity)
        self.zone = timezone(timedelta(minutes=utc_offset_min))
        self.now = now
        self.sim_inserted, self.registered, self.rssi = sim_inserted, registered, rssi
        self.imsi = imsi or ("00101" + self.msisdn[-10:]).ljust(15, "0")
        body = ("35" + self.msisdn[-12:]).rjust(14, "0")
        self.imei = imei or body + check_digit(body)
        self._pin, self._pin_tries = pin, 3
        self.sim_state = "READY" if pin is None else "SIM PIN"
        self.lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._urcs: list[str] = []
        self.default_smsc = smsc
        self.sms_reset()
        self.ussd_reset()
        self.reset()

    # -- settings -----------------------------------------------------------------------------
    def reset(self) -> None:
        """ATZ / AT&F: factory settings (stored SMS and the dialogue are kept)."""
        self.echo = True
        self.cmee = 0
        self.charset: Charset = "GSM"
        self.creg_n = 0
        self.sms_settings_reset()
        self.ussd_settings_reset()

    # -- the line -----------------------------------------------------------------------------
    def handle_line(self, line: str) -> tuple[list[str], bool]:
        """Run one command line (wire text, no CR): response lines, and whether the last
        command now waits for a body after a '> ' prompt (AT+CMGS, AT+CMGW)."""
        with self.lock:
            try:
                commands = parse_line(line)
            except AtSyntaxError:
                return [format_final(ERROR)], False
            out: list[str] = []
            for i, cmd in enumerate(commands):
                handler = self._handler(cmd.name)
                if handler is None:
                    return out + [format_final(ERROR)], False
                try:
                    out += handler(cmd)
                except Fail as f:
                    return out + [format_final(f.result, self.cmee)], False
                except Exception:       # a fault in the model: the command fails, the line lives
                    log.exception("modem model failed on %r", line)
                    self.prompting = None
                    return out + [format_final(ERROR)], False
                if self.prompting:
                    if i + 1 < len(commands):        # nothing may follow a prompting command
                        self.prompting = None
                        return out + [format_final(ERROR)], False
                    return out, True
            return out + [format_final(OK)], False

    def handle_body(self, body: str, cancel: bool = False) -> list[str]:
        """The text typed after the '> ' prompt, ended by Ctrl-Z (or ESC: ``cancel``)."""
        with self.lock:
            pending, self.prompting = self.prompting, None
            if pending is None:
                return [format_final(ERROR)]
            if cancel:
                return [format_final(OK)]
            try:
                return pending(body) + [format_final(OK)]
            except Fail as f:
                return [format_final(f.result, self.cmee)]
            except Exception:
                log.exception("modem model failed on a message body")
                return [format_final(ERROR)]

    def _handler(self, name: str) -> Callable[[AtCommand], list[str]] | None:
        method = _COMMANDS.get(name)
        return getattr(self, method) if method else None

    # -- unsolicited result codes --------------------------------------------------------------
    def add_urc_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        """``listener()`` runs (under the model's lock) whenever URCs are ready to take."""
        with self.lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self.lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return remove

    def emit(self, lines: list[str]) -> None:
        with self.lock:
            self._urcs += lines
            for listener in list(self._listeners):
                listener()

    def take_urcs(self) -> list[str]:
        with self.lock:
            urcs, self._urcs = self._urcs, []
            return urcs

    def setting(self, cmd: AtCommand, name: str, value: str, ranges: str) -> list[str] | None:
        """The answer to the read or test form of a setting; None for a set, to handle."""
        if cmd.op == "read":
            return [f"{name}: {value}"]
        if cmd.op == "test":
            return [f"{name}: {ranges}"] if ranges else []
        if cmd.op != "set":
            raise Fail(ERROR)
        return None

    # -- the world around the handset ----------------------------------------------------------
    def timestamp(self, when: float | datetime | None) -> datetime:
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise ValueError(f"timestamp {when.isoformat()} has no time zone; expected an aware datetime")
            return when.astimezone(self.zone).replace(microsecond=0)
        seconds = self.now() if when is None else float(when)
        return datetime.fromtimestamp(int(seconds), self.zone)

    def set_registered(self, registered: bool) -> None:
        """Coverage comes or goes; ``+CREG: <stat>`` is reported after ``AT+CREG=1``."""
        with self.lock:
            if registered != self.registered:
                self.registered = registered
                if self.creg_n:
                    self.emit([f"+CREG: {1 if registered else 0}"])

    def need_sim(self, kind: str) -> None:
        """Refuse with 'SIM not inserted' / 'SIM PIN required' as a CME or CMS error."""
        codes = {"CME": {"absent": 10, "SIM PIN": 11, "SIM PUK": 12},
                 "CMS": {"absent": 310, "SIM PIN": 311, "SIM PUK": 316}}[kind]
        state = "absent" if not self.sim_inserted else self.sim_state
        if state != "READY":
            raise Fail((cme if kind == "CME" else cms)(codes[state]))


_COMMANDS = {
    "E": "at_e", "V": "at_v", "Q": "at_q", "Z": "at_z", "&F": "at_z", "H": "at_h", "I": "at_i",
    "+CGMI": "at_cgmi", "+GMI": "at_cgmi", "+CGMM": "at_cgmm", "+GMM": "at_cgmm",
    "+CGMR": "at_cgmr", "+GMR": "at_cgmr", "+CGSN": "at_cgsn", "+GSN": "at_cgsn",
    "+CIMI": "at_cimi", "+CMEE": "at_cmee", "+CSCS": "at_cscs", "+CPIN": "at_cpin",
    "+CSQ": "at_csq", "+CREG": "at_creg", "+CNUM": "at_cnum", "+CUSD": "at_cusd",
    "+CMGF": "at_cmgf", "+CSDH": "at_csdh", "+CNMI": "at_cnmi", "+CPMS": "at_cpms",
    "+CSCA": "at_csca", "+CMGR": "at_cmgr", "+CMGL": "at_cmgl", "+CMGD": "at_cmgd",
    "+CMGS": "at_cmgs", "+CMGW": "at_cmgw",
}
