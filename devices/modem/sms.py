"""The 27.005 half of the handset model: SMS settings, storage commands and delivery
(sending and writing are in :mod:`devices.modem.sending`).

Messages are kept as the TPDUs a SIM stores; PDU mode shows them as they are, text mode
renders them (sender, timestamp, text in the TE character set, or hex for UCS2). Incoming
SMS are announced by ``+CMTI`` (stored) or ``+CMT`` (routed) as ``AT+CNMI`` asks, held in
the modem's buffer under ``<mode>`` 0 and flushed when the TE asks for them again.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from devices.modem.results import Delivery, Fail
from devices.modem.storage import BadIndex, StorageFull, Stored
from protocols.at.charset import CharsetError, from_te, quote, to_hex, to_te
from protocols.at.command import AtCommand
from protocols.at.errors import PduError
from protocols.at.pdu import SmsDeliver, decode_tpdu, deliver_parts, encode_at_pdu, encode_deliver, tpdu_dcs
from protocols.at.results import ERROR, cms
from protocols.at.sms import STATUSES, Cmti, PduListing, TextListing, format_cmti, format_listing
from protocols.at.tpfields import Address, scts_text

BUFFER_LIMIT = 16       # indications the modem holds under AT+CNMI <mode> 0


class SmsCommands:
    """Mixed into :class:`devices.modem.model.ModemModel`, whose state it shares."""

    def sms_reset(self) -> None:
        self.prompting: Callable[[str], list[str]] | None = None
        self._mr = 0
        self._concat_ref = 0
        self._held: list[str] = []

    def sms_settings_reset(self) -> None:
        self.cmgf = 0
        self.csdh = 0
        self.cnmi = (2, 1, 0, 0, 0)
        self.smsc = self.default_smsc

    # -- helpers ------------------------------------------------------------------------------
    def _bad(self) -> Fail:
        return Fail(cms(304 if self.cmgf == 0 else 305))

    def _te(self, text: str) -> str:
        """Text in the TE character set; what IRA cannot show becomes '?', as modems do."""
        try:
            return to_te(text, self.charset)
        except CharsetError:
            return "".join(self._te_char(ch) for ch in text)

    def _te_char(self, ch: str) -> str:
        try:
            return to_te(ch, self.charset)
        except CharsetError:
            return "?"

    def _indicate(self, lines: list[str]) -> None:
        if self.cnmi[0] == 0:
            self._held = (self._held + lines)[-BUFFER_LIMIT:]
        else:
            self.emit(lines)

    def _render(self, prefix: str, tpdu: bytes, stat: str | None, index: int | None) -> list[str]:
        """One information response: the header, CR LF, the body (27.005 frames them as one)."""
        return ["\r\n".join(self._listing(prefix, tpdu, stat, index))]

    def _listing(self, prefix: str, tpdu: bytes, stat: str | None, index: int | None) -> list[str]:
        if self.cmgf == 0:
            pdu, length = encode_at_pdu(tpdu, self.smsc)
            return format_listing(prefix, PduListing(pdu, length, stat, index))
        sms = decode_tpdu(tpdu)
        if sms.alphabet == "gsm7":
            data, length = self._te(sms.text), len(sms.text)
        else:
            raw = sms.data if sms.alphabet == "8bit" else sms.text.encode("utf-16-be")
            data, length = to_hex(raw), len(raw)
        smsc = self.smsc or ""
        common = {"data": data, "stat": stat, "index": index, "fo": tpdu[0], "pid": sms.pid,
                  "dcs": tpdu_dcs(tpdu), "sca": self._te(smsc), "tosca": 145 if smsc.startswith("+") else 129,
                  "length": length}
        if isinstance(sms, SmsDeliver):
            item = TextListing(address=self._te(sms.sender.text), scts=scts_text(sms.timestamp),
                               toa=sms.sender.toa, **common)  # type: ignore[arg-type]
        else:
            vp = sms.validity if isinstance(sms.validity, int) else None
            item = TextListing(address=self._te(sms.to.text), toa=sms.to.toa, vp=vp, **common)  # type: ignore[arg-type]
        return format_listing(prefix, item, csdh=bool(self.csdh))

    # -- settings -----------------------------------------------------------------------------
    def at_cmgf(self, cmd: AtCommand) -> list[str]:
        if (shown := self.setting(cmd, "+CMGF", str(self.cmgf), "(0,1)")) is not None:
            return shown
        if cmd.arg(0, 0) not in (0, 1) or len(cmd.args) > 1:
            raise Fail(cms(303))
        self.cmgf = cmd.arg(0, 0)
        return []

    def at_csdh(self, cmd: AtCommand) -> list[str]:
        if (shown := self.setting(cmd, "+CSDH", str(self.csdh), "(0,1)")) is not None:
            return shown
        if cmd.arg(0, 0) not in (0, 1) or len(cmd.args) > 1:
            raise Fail(cms(303))
        self.csdh = cmd.arg(0, 0)
        return []

    def at_cnmi(self, cmd: AtCommand) -> list[str]:
        shown = self.setting(cmd, "+CNMI", ",".join(map(str, self.cnmi)), "(0-3),(0-2),(0),(0),(0,1)")
        if shown is not None:
            return shown
        args = [cmd.arg(i, 0) for i in range(5)]
        allowed = ((0, 1, 2, 3), (0, 1, 2), (0,), (0,), (0, 1))
        if len(cmd.args) > 5 or any(a not in ok for a, ok in zip(args, allowed)):
            raise Fail(cms(303))
        self.cnmi = tuple(args)  # type: ignore[assignment]
        if args[0] != 0:
            held, self._held = self._held, []
            if args[4] == 0 and held:
                self.emit(held)
        return []

    def at_cpms(self, cmd: AtCommand) -> list[str]:
        count = f"{self.storage.used},{self.storage.capacity}"
        shown = self.setting(cmd, "+CPMS", ",".join([f'"SM",{count}'] * 3), '("SM"),("SM"),("SM")')
        if shown is not None:
            return shown
        self.need_sim("CMS")
        if not cmd.args or len(cmd.args) > 3 or any(
                not (a is None or (isinstance(a, str) and a.upper() == "SM")) for a in cmd.args):
            raise Fail(cms(302))
        return ["+CPMS: " + ",".join([count] * 3)]

    def at_csca(self, cmd: AtCommand) -> list[str]:
        smsc = self.smsc or ""
        shown = self.setting(cmd, "+CSCA", f'{quote(self._te(smsc))},{145 if smsc.startswith("+") else 129}', "")
        if shown is not None:
            return shown
        value = cmd.arg(0)
        try:
            number = from_te(value, self.charset) if isinstance(value, str) else ""
        except CharsetError:
            raise self._bad() from None
        addr = Address.parse(number)
        if not number or addr.alphanumeric or len(addr.value) > 20:
            raise self._bad()
        self.smsc = addr.text
        return []

    # -- storage ------------------------------------------------------------------------------
    def at_cmgr(self, cmd: AtCommand) -> list[str]:
        if cmd.op == "test":
            return []
        index = cmd.arg(0)
        if cmd.op != "set" or not isinstance(index, int) or len(cmd.args) > 1:
            raise Fail(ERROR) if cmd.op != "set" else self._bad()
        self.need_sim("CMS")
        try:
            stored = self.storage.get(index)
        except BadIndex:
            raise Fail(cms(321)) from None
        lines = self._render("+CMGR", stored.tpdu, stored.stat, None)
        self.storage.mark_read(index)
        return lines

    def at_cmgl(self, cmd: AtCommand) -> list[str]:
        if cmd.op == "test":
            return ["+CMGL: " + ("(0-4)" if self.cmgf == 0 else
                                 "(" + ",".join(f'"{s}"' for s in STATUSES) + ")")]
        if cmd.op not in ("exec", "set") or len(cmd.args) > 1:
            raise Fail(ERROR) if cmd.op not in ("exec", "set") else self._bad()
        self.need_sim("CMS")
        stat = cmd.arg(0, 0 if self.cmgf == 0 else "REC UNREAD")
        if self.cmgf == 0 and isinstance(stat, int) and 0 <= stat <= 4:
            word = STATUSES[stat]
        elif self.cmgf == 1 and isinstance(stat, str) and stat.upper() in STATUSES:
            word = stat.upper()
        else:
            raise self._bad()
        out: list[str] = []
        for index, stored in self.storage.listing(word):
            out += self._render("+CMGL", stored.tpdu, stored.stat, index)
            self.storage.mark_read(index)
        return out

    def at_cmgd(self, cmd: AtCommand) -> list[str]:
        if cmd.op == "test":
            return [f"+CMGD: (1-{self.storage.capacity}),(0-4)"]
        index, flag = cmd.arg(0), cmd.arg(1, 0)
        if cmd.op != "set" or not isinstance(index, int) or flag not in (0, 1, 2, 3, 4) or len(cmd.args) > 2:
            raise Fail(ERROR) if cmd.op != "set" else self._bad()
        self.need_sim("CMS")
        try:
            self.storage.delete(index, flag)  # type: ignore[arg-type]
        except BadIndex:
            raise Fail(cms(321)) from None
        return []

    # -- the network delivers ------------------------------------------------------------------
    def deliver_sms(self, sender: str, text: str, when: float | datetime | None = None) -> Delivery:
        """An SMS reaches this handset: stored (``+CMTI``) or routed (``+CMT``) per ``AT+CNMI``.

        ``sender`` is '+E164', national digits or an alphanumeric name of up to 11 GSM
        characters; a long text arrives as concatenated parts, each in its own slot.
        """
        with self.lock:   # type: ignore[attr-defined]
            addr = Address.parse(sender)
            self._concat_ref = (self._concat_ref + 1) % 256
            try:
                tpdus = [encode_deliver(p) for p in
                         deliver_parts(addr, text, self.timestamp(when), self._concat_ref)]
            except PduError as e:
                raise ValueError(f"cannot deliver SMS from {sender!r}: {e}") from None
            if not (self.sim_inserted and self.sim_state == "READY" and self.registered):
                return Delivery((), len(tpdus))
            mt = self.cnmi[1]
            if mt == 2:
                lines: list[str] = []
                for tpdu in tpdus:
                    lines += self._render("+CMT", tpdu, None, None)
                self._indicate(lines)
                return Delivery((), 0, routed=True)
            indices, refused = [], 0
            for tpdu in tpdus:
                try:
                    index = self.storage.store(tpdu, "REC UNREAD")
                except StorageFull:
                    refused += 1
                    continue
                indices.append(index)
                if mt == 1:
                    self._indicate([format_cmti(Cmti(self.storage.name, index))])
            return Delivery(tuple(indices), refused)

    def stored(self) -> list[tuple[int, Stored]]:
        """Every stored message (index, TPDU and status), for checks."""
        with self.lock:   # type: ignore[attr-defined]
            return self.storage.listing("ALL")
