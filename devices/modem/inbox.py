"""The TE side of SMS, for :class:`~devices.modem.session.AtSession`: reading what ``+CMTI``
and ``+CMT`` announce, joining concatenated parts, listing, deleting and sending.

Reading goes by PDU mode unless the session was opened in text mode: only PDU mode shows the
concatenation header, so only there do long SMS come back whole.
"""
from __future__ import annotations

import re
import time

from devices.modem.interface import (Match, ModemCommandError, ModemError, ModemProtocolError,
                                     ModemTimeout, Sms, matcher)
from protocols.at.charset import CharsetError, fold_digits, from_hex, from_te, quote, to_te
from protocols.at.errors import AtSyntaxError, PduError
from protocols.at.pdu import (SmsDeliver, decode_at_pdu, decode_tpdu, encode_at_pdu, encode_submit,
                              submit_parts)
from protocols.at.responses import info, prefix_of
from protocols.at.sms import STATUSES, PduListing, parse_listing, stat_word
from protocols.at.tpfields import Address, parse_scts_text, sms_alphabet
from protocols.gsm import sms_parts

_DESTINATION = re.compile(r"^\+?[0-9]{3,20}$")


class SmsClient:
    """Mixed into AtSession: uses its ``at``, ``exchange``, ``poll`` and queues."""

    def _to_sms(self, header: str, body: str, index: int | None) -> Sms:
        try:
            listing = parse_listing(header, body)
            indices = (index,) if index is not None else ((listing.index,) if listing.index else ())
            if isinstance(listing, PduListing):
                sms = decode_tpdu(decode_at_pdu(listing.pdu, listing.length)[1])
                if isinstance(sms, SmsDeliver):
                    return Sms(sms.sender.text, sms.text or sms.data.hex(), sms.timestamp, indices,
                               listing.stat or "REC UNREAD", sms.alphabet, sms.concat)
                return Sms(sms.to.text, sms.text or sms.data.hex(), None, indices,
                           listing.stat or "STO UNSENT", sms.alphabet, sms.concat)
            alphabet = sms_alphabet(listing.dcs) if listing.dcs is not None else "gsm7"
            text = (from_te(listing.data, self.charset) if alphabet == "gsm7" else
                    from_te(listing.data, "UCS2") if alphabet == "ucs2" else from_hex(listing.data).hex())
            return Sms(from_te(listing.address, self.charset), text,
                       parse_scts_text(listing.scts) if listing.scts else None, indices,
                       listing.stat or "REC UNREAD", alphabet)
        except (AtSyntaxError, PduError, CharsetError) as e:
            raise ModemProtocolError(f"unreadable message from {self.link.name}: {e} "
                                     f"(lines {header!r} / {body!r})") from None

    def _collect(self, part: Sms) -> None:
        complete = self._join(part)
        if complete is not None:
            self._arrived.append(complete)

    def _join(self, part: Sms) -> Sms | None:
        if part.concat is None:
            return part
        key = (part.sender, part.concat.ref, part.concat.total)
        group = self._parts.setdefault(key, {})
        group[part.concat.seq] = part
        if len(group) < part.concat.total:
            return None
        del self._parts[key]
        ordered = [group[i] for i in range(1, part.concat.total + 1)]
        return Sms(part.sender, "".join(p.text for p in ordered), ordered[0].sent_at,
                   tuple(i for p in ordered for i in p.indices), ordered[0].status, part.encoding)

    def read_sms(self, index: int) -> Sms:
        """One stored message (a single part of a long one); reading marks it REC READ."""
        _check_index(index)
        lines = self.at(f"AT+CMGR={index}")
        if len(lines) != 2:
            raise ModemProtocolError(f"AT+CMGR={index} answered {lines!r}; expected a header and a body")
        return self._to_sms(lines[0], lines[1], index)

    def list_sms(self, status: str = "ALL") -> list[Sms]:
        """Stored messages of ``status`` (REC UNREAD, REC READ, STO UNSENT, STO SENT, ALL),
        long ones joined when all their parts are stored."""
        word = stat_word(status if not isinstance(status, str) else status.strip())
        arg = STATUSES.index(word) if self.sms_mode == "pdu" else f'"{word}"'
        lines = self.at(f"AT+CMGL={arg}")
        if len(lines) % 2:
            raise ModemProtocolError(f"AT+CMGL answered an odd number of lines: {lines!r}")
        out: list[Sms] = []
        held: dict[tuple, list[Sms]] = {}
        for header, body in zip(lines[::2], lines[1::2]):
            sms = self._to_sms(header, body, None)
            if sms.concat is None:
                out.append(sms)
            else:
                held.setdefault((sms.sender, sms.concat.ref, sms.concat.total), []).append(sms)
        for parts in held.values():
            whole = None
            for part in parts:
                whole = self._join(part)
            out += [whole] if whole is not None else parts
        self._parts = {k: v for k, v in self._parts.items() if k not in held}
        return sorted(out, key=lambda s: s.indices)

    def delete_sms(self, index: int) -> None:
        _check_index(index)
        self.at(f"AT+CMGD={index}")

    def wait_sms(self, match: Match = None, timeout: float = 30.0) -> Sms:
        accept = matcher(match)
        deadline = time.monotonic() + timeout
        while True:
            for sms in self._arrived:
                if accept(sms):
                    self._arrived.remove(sms)
                    return sms
            if self._new:
                index = self._new.popleft()
                self._collect(self.read_sms(index))
                continue
            if time.monotonic() >= deadline:
                others = "; ".join(repr(s.text[:40]) for s in self._arrived)
                waiting = f" ({len(self._parts)} long SMS incomplete)" if self._parts else ""
                raise ModemTimeout(f"no SMS{' matching ' + repr(match) if match else ''} reached "
                                   f"{self.link.name} within {timeout:g} s{waiting}"
                                   + (f"; others that did: {others}" if others else ""))
            self.poll(min(deadline - time.monotonic(), 0.5))

    def send_sms(self, to: str, text: str, timeout: float = 30.0) -> list[int]:
        number = fold_digits(to).replace(" ", "") if isinstance(to, str) else ""
        if not _DESTINATION.match(number):
            raise ValueError(f"invalid destination {to!r}: expected digits, with '+' and the country "
                             f"code for an international number, like '+213551234567'")
        if self.sms_mode == "text":
            parts = sms_parts(text)
            if parts.count > 1 or (parts.encoding == "ucs2" and self.charset != "UCS2"):
                raise ModemError("text mode sends one GSM 7-bit part (or UCS2 with charset='UCS2'); "
                                 "open the modem with sms_mode='pdu' for this text")
            return [self._cmgs(f"AT+CMGS={quote(to_te(number, self.charset))}",
                               to_te(text, self.charset), timeout)]
        self._ref = (self._ref + 1) % 256
        return [self._cmgs(f"AT+CMGS={length}", pdu, timeout) for pdu, length in
                (encode_at_pdu(encode_submit(p)) for p in submit_parts(Address.parse(number), text, self._ref))]

    def _cmgs(self, line: str, body: str, timeout: float) -> int:
        lines, final = self.exchange(line, body=body, timeout=timeout)
        if not final.ok:
            raise ModemCommandError(line, final)
        found = [ln for ln in lines if prefix_of(ln) == "+CMGS"]
        if not found:
            raise ModemProtocolError(f"{line!r} succeeded without a +CMGS: <mr> line: {lines!r}")
        return int(info(found[0], "+CMGS")[0])  # type: ignore[arg-type]


def _check_index(index: object) -> None:
    if not isinstance(index, int) or isinstance(index, bool) or index < 1:
        raise ValueError(f"SMS index {index!r}: expected a storage slot number >= 1")
