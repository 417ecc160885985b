"""Sending and writing SMS in the handset model: ``AT+CMGS`` and ``AT+CMGW``, whose body comes
after the ``> `` prompt (a PDU in hex, or text), up to Ctrl-Z. Sent messages go to the
:class:`~devices.modem.network.Network`, which may refuse them with an RP cause.
Mixed into :class:`~devices.modem.model.ModemModel`, after :class:`SmsCommands`."""
from __future__ import annotations

import logging
from dataclasses import replace

from devices.modem.network import NetworkRefusal
from devices.modem.results import Fail
from devices.modem.storage import StorageFull
from protocols.at.charset import CharsetError, from_te
from protocols.at.command import AtCommand
from protocols.at.errors import PduError
from protocols.at.pdu import SmsDeliver, SmsSubmit, decode_at_pdu, decode_tpdu, encode_submit
from protocols.at.results import ERROR, cms
from protocols.at.sms import STATUSES
from protocols.at.tpfields import Address
from protocols.gsm import encoding_for

log = logging.getLogger("rbench.modem")
MAX_TPDU = 164          # SMS-SUBMIT with a 20-digit address, absolute validity, 140 octets


class SendingCommands:
    """Mixed into :class:`devices.modem.model.ModemModel`, whose state it shares."""

    def at_cmgs(self, cmd: AtCommand) -> list[str]:
        if cmd.op == "test":
            return []
        if cmd.op != "set":
            raise Fail(ERROR)
        self.need_sim("CMS")
        if self.cmgf == 0:
            length = cmd.arg(0)
            if not isinstance(length, int) or not 1 <= length <= MAX_TPDU or len(cmd.args) > 1:
                raise self._bad()
            self.prompting = lambda body: self._send(self._pdu_body(body, length, SmsSubmit))
        else:
            to = self._text_address(cmd, max_args=2)
            self.prompting = lambda body: self._send(self._text_submit(to, body))
        return []

    def at_cmgw(self, cmd: AtCommand) -> list[str]:
        if cmd.op == "test":
            return []
        if cmd.op not in ("exec", "set"):
            raise Fail(ERROR)
        self.need_sim("CMS")
        if self.cmgf == 0:
            length, stat = cmd.arg(0), cmd.arg(1, 2)
            if not isinstance(length, int) or not 1 <= length <= MAX_TPDU or stat not in (0, 1, 2, 3):
                raise self._bad()
            word = STATUSES[stat]  # type: ignore[index]
            kind = SmsDeliver if word.startswith("REC") else SmsSubmit
            self.prompting = lambda body: self._write(self._pdu_body(body, length, kind), word)
        else:
            stat = cmd.arg(2, "STO UNSENT")
            if not isinstance(stat, str) or stat.upper() not in ("STO UNSENT", "STO SENT"):
                raise self._bad()
            to = self._text_address(cmd, max_args=3) if cmd.args else Address("")
            self.prompting = lambda body: self._write(encode_submit(self._text_submit(to, body)),
                                                      stat.upper())
        return []

    def _text_address(self, cmd: AtCommand, max_args: int) -> Address:
        value, toa = cmd.arg(0), cmd.arg(1)
        if not isinstance(value, str) or len(cmd.args) > max_args or (toa is not None and not isinstance(toa, int)):
            raise self._bad()
        try:
            addr = Address.parse(from_te(value, self.charset))
        except CharsetError:
            raise self._bad() from None
        if addr.alphanumeric or not addr.value or len(addr.value) > 20:
            raise self._bad()
        return addr

    def _pdu_body(self, body: str, length: int, kind: type) -> bytes:
        try:
            _, tpdu = decode_at_pdu(body, length)
            sms = decode_tpdu(tpdu)
        except PduError:
            raise self._bad() from None
        if not isinstance(sms, kind):
            raise self._bad()
        return tpdu

    def _text_submit(self, to: Address, body: str) -> SmsSubmit:
        try:
            text = from_te(body, self.charset)
            sms = SmsSubmit(to, text, encoding_for(text))
            encode_submit(sms)
        except (CharsetError, PduError):
            raise self._bad() from None
        return sms

    def _send(self, tpdu: bytes | SmsSubmit) -> list[str]:
        sms = tpdu if isinstance(tpdu, SmsSubmit) else decode_tpdu(tpdu)
        if self.network is None or not self.registered:
            raise Fail(cms(331))
        self._mr = (self._mr + 1) % 256
        try:
            self.network.sms_submit(self.msisdn, replace(sms, reference=self._mr))  # type: ignore[arg-type]
        except NetworkRefusal as refusal:
            raise Fail(cms(refusal.cause)) from None
        except Exception:
            log.exception("the network failed on an SMS from %s", self.msisdn)
            raise Fail(cms(500)) from None
        return [f"+CMGS: {self._mr}"]

    def _write(self, tpdu: bytes, stat: str) -> list[str]:
        try:
            index = self.storage.store(tpdu, stat)
        except StorageFull:
            raise Fail(cms(322)) from None
        return [f"+CMGW: {index}"]
