"""SMS TPDUs for PDU mode (3GPP TS 23.040 §9.2.2): SMS-DELIVER (network to phone) and
SMS-SUBMIT (phone to network), as ``AT+CMGR``/``AT+CMGL`` show them and ``AT+CMGS`` sends.

In PDU mode a modem prints the SMSC address, then the TPDU, in hex; the ``<length>`` of the
header counts the TPDU's octets only. A long text travels as several TPDUs whose user-data
header carries (reference, total, part); GSM 7-bit text after a header starts on a septet
boundary, so fill bits sit between the two.

    tpdu = encode_deliver(SmsDeliver(Address.parse("EDAHABIA"), "Code 123456", when))
    decode_tpdu(tpdu).text                     # 'Code 123456'
    hex_line, length = encode_at_pdu(tpdu)     # what AT+CMGR prints in PDU mode
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from protocols.at.charset import from_hex, to_hex
from protocols.at.errors import CharsetError, PduError
from protocols.at.tpfields import (TOA_INTERNATIONAL, Address, Alphabet, Concat, concat_of,
                                   dcs_for_alphabet, decode_address, decode_bcd, decode_scts,
                                   encode_address, encode_bcd, encode_scts, parse_udh, sms_alphabet)
from protocols.gsm import decode_ucs2, encode_ucs2, pack_septets, septets, sms_parts, unpack_septets

MTI_DELIVER, MTI_SUBMIT = 0, 1
MAX_SEPTETS, MAX_OCTETS = 160, 140
Validity = None | int | datetime | bytes   # none, relative octet, absolute, enhanced (7 octets)


@dataclass(frozen=True)
class SmsDeliver:
    sender: Address
    text: str
    timestamp: datetime
    alphabet: Alphabet = "gsm7"
    concat: Concat | None = None
    pid: int = 0
    data: bytes = b""                 # the payload of an 8-bit message (text is then "")
    more_messages: bool = False       # TP-MMS: the SMSC holds more for this phone
    status_report: bool = False       # TP-SRI
    reply_path: bool = False          # TP-RP
    other_elements: tuple[tuple[int, bytes], ...] = field(default=())


@dataclass(frozen=True)
class SmsSubmit:
    to: Address
    text: str
    alphabet: Alphabet = "gsm7"
    concat: Concat | None = None
    reference: int = 0                # TP-MR
    pid: int = 0
    validity: Validity = None
    data: bytes = b""
    reject_duplicates: bool = False   # TP-RD
    status_report: bool = False       # TP-SRR
    reply_path: bool = False
    other_elements: tuple[tuple[int, bytes], ...] = field(default=())


Tpdu = SmsDeliver | SmsSubmit


# --- user data --------------------------------------------------------------------------------

def _header(concat: Concat | None, others: tuple[tuple[int, bytes], ...]) -> bytes:
    body = b"".join(bytes((iei, len(d))) + d for iei, d in others)
    if concat is not None:
        body = concat.element() + body
    return bytes((len(body),)) + body if body else b""


def _encode_ud(text: str, data: bytes, alphabet: Alphabet, header: bytes) -> tuple[int, bytes]:
    if alphabet == "gsm7":
        try:
            count = septets(text)
            packed = pack_septets(text)
        except ValueError as e:
            raise PduError(f"text for a GSM 7-bit SMS: {e}") from None
        hs = (len(header) * 8 + 6) // 7                 # header plus fill bits, in septets
        if hs + count > MAX_SEPTETS:
            raise PduError(f"text of {count} septets does not fit one SMS ({MAX_SEPTETS - hs} with "
                           f"this header); split it with protocols.gsm.sms_parts")
        bits = int.from_bytes(packed, "little") << (7 * hs) | int.from_bytes(header, "little")
        return hs + count, bits.to_bytes(((hs + count) * 7 + 7) // 8, "little")
    payload = encode_ucs2(text) if alphabet == "ucs2" else data
    if len(header) + len(payload) > MAX_OCTETS:
        raise PduError(f"{alphabet} user data of {len(payload)} octets does not fit one SMS "
                       f"({MAX_OCTETS - len(header)} with this header)")
    return len(header) + len(payload), header + payload


def _decode_ud(tpdu: bytes, pos: int, alphabet: Alphabet, udhi: bool
               ) -> tuple[str, bytes, Concat | None, tuple[tuple[int, bytes], ...]]:
    if pos >= len(tpdu):
        raise PduError(f"truncated at octet {pos}; expected TP-UDL")
    udl = tpdu[pos]
    octets = (udl * 7 + 7) // 8 if alphabet == "gsm7" else udl
    limit = MAX_SEPTETS if alphabet == "gsm7" else MAX_OCTETS
    if udl > limit:
        raise PduError(f"TP-UDL {udl} at octet {pos}; a {alphabet} SMS holds at most {limit}")
    ud = tpdu[pos + 1:]
    if len(ud) != octets:
        raise PduError(f"TP-UDL {udl} needs {octets} octets of user data, got {len(ud)}")
    elements: tuple[tuple[int, bytes], ...] = ()
    hlen = 0
    if udhi:
        elements, hlen = parse_udh(ud)
    concat = concat_of(elements)
    others = tuple(e for e in elements if concat is None or e[0] not in (0x00, 0x08))
    if alphabet == "gsm7":
        hs = (hlen * 8 + 6) // 7
        if hs > udl:
            raise PduError(f"user-data header of {hlen} octets is longer than TP-UDL {udl} septets")
        count = udl - hs
        bits = (int.from_bytes(ud, "little") >> (7 * hs)) & ((1 << (7 * count)) - 1)
        try:
            text = unpack_septets(bits.to_bytes((count * 7 + 7) // 8, "little"), count)
        except ValueError as e:
            raise PduError(f"GSM 7-bit user data: {e}") from None
        return text, b"", concat, others
    payload = bytes(ud[hlen:])
    if alphabet == "8bit":
        return "", payload, concat, others
    try:
        return decode_ucs2(payload), b"", concat, others
    except (ValueError, UnicodeDecodeError) as e:
        raise PduError(f"UCS2 user data: {e}") from None


# --- TPDUs ------------------------------------------------------------------------------------

def encode_deliver(sms: SmsDeliver) -> bytes:
    header = _header(sms.concat, sms.other_elements)
    fo = (MTI_DELIVER | (0 if sms.more_messages else 0x04) | (0x20 if sms.status_report else 0)
          | (0x40 if header else 0) | (0x80 if sms.reply_path else 0))
    udl, ud = _encode_ud(sms.text, sms.data, sms.alphabet, header)
    return (bytes((fo,)) + encode_address(sms.sender) + bytes((_octet(sms.pid, "TP-PID"),
            dcs_for_alphabet(sms.alphabet))) + encode_scts(sms.timestamp) + bytes((udl,)) + ud)


def encode_submit(sms: SmsSubmit) -> bytes:
    header = _header(sms.concat, sms.other_elements)
    vp, vpf = _encode_validity(sms.validity)
    fo = (MTI_SUBMIT | (0x04 if sms.reject_duplicates else 0) | vpf << 3
          | (0x20 if sms.status_report else 0) | (0x40 if header else 0)
          | (0x80 if sms.reply_path else 0))
    udl, ud = _encode_ud(sms.text, sms.data, sms.alphabet, header)
    return (bytes((fo, _octet(sms.reference, "TP-MR"))) + encode_address(sms.to)
            + bytes((_octet(sms.pid, "TP-PID"), dcs_for_alphabet(sms.alphabet))) + vp
            + bytes((udl,)) + ud)


def decode_tpdu(tpdu: bytes) -> Tpdu:
    """An SMS-DELIVER or SMS-SUBMIT, as a SIM stores them; anything else is a :class:`PduError`."""
    if not tpdu:
        raise PduError("empty TPDU; expected at least a first octet")
    fo = tpdu[0]
    mti = fo & 0x03
    if mti == MTI_DELIVER:
        sender, pos = decode_address(tpdu, 1, "TP-OA")
        pid, dcs = _two(tpdu, pos)
        alphabet = sms_alphabet(dcs)
        when, pos = decode_scts(tpdu, pos + 2)
        text, data, concat, others = _decode_ud(tpdu, pos, alphabet, bool(fo & 0x40))
        return SmsDeliver(sender, text, when, alphabet, concat, pid, data, not fo & 0x04,
                          bool(fo & 0x20), bool(fo & 0x80), others)
    if mti == MTI_SUBMIT:
        if len(tpdu) < 2:
            raise PduError("SMS-SUBMIT truncated after its first octet; expected TP-MR")
        to, pos = decode_address(tpdu, 2, "TP-DA")
        pid, dcs = _two(tpdu, pos)
        alphabet = sms_alphabet(dcs)
        validity, pos = _decode_validity(tpdu, pos + 2, (fo >> 3) & 0x3)
        text, data, concat, others = _decode_ud(tpdu, pos, alphabet, bool(fo & 0x40))
        return SmsSubmit(to, text, alphabet, concat, tpdu[1], pid, validity, data, bool(fo & 0x04),
                         bool(fo & 0x20), bool(fo & 0x80), others)
    kind = {2: "SMS-STATUS-REPORT or SMS-COMMAND", 3: "reserved"}[mti]
    raise PduError(f"TP-MTI {mti} ({kind}); expected 0 (SMS-DELIVER) or 1 (SMS-SUBMIT)")


def tpdu_dcs(tpdu: bytes) -> int:
    """The raw TP-DCS octet of a valid SMS-DELIVER or SMS-SUBMIT (text mode prints it)."""
    start = 1 if tpdu[0] & 0x03 == MTI_DELIVER else 2
    _, pos = decode_address(tpdu, start, "address")
    return _two(tpdu, pos)[1]


def _two(tpdu: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 > len(tpdu):
        raise PduError(f"truncated at octet {pos}; expected TP-PID and TP-DCS")
    return tpdu[pos], tpdu[pos + 1]


def _octet(value: int, what: str) -> int:
    if not 0 <= value <= 255:
        raise PduError(f"{what} {value}; expected 0-255")
    return value


def _encode_validity(vp: Validity) -> tuple[bytes, int]:
    if vp is None:
        return b"", 0
    if isinstance(vp, datetime):
        return encode_scts(vp), 3
    if isinstance(vp, bytes):
        if len(vp) != 7:
            raise PduError(f"enhanced validity period of {len(vp)} octets; expected 7")
        return vp, 1
    return bytes((_octet(vp, "relative TP-VP"),)), 2


def _decode_validity(tpdu: bytes, pos: int, vpf: int) -> tuple[Validity, int]:
    if vpf == 0:
        return None, pos
    if vpf == 2:
        if pos >= len(tpdu):
            raise PduError(f"truncated at octet {pos}; expected a relative TP-VP")
        return tpdu[pos], pos + 1
    if vpf == 3:
        return decode_scts(tpdu, pos, "absolute TP-VP")
    raw = tpdu[pos:pos + 7]
    if len(raw) < 7:
        raise PduError(f"truncated at octet {pos}; expected a 7-octet enhanced TP-VP")
    return bytes(raw), pos + 7


def relative_validity_s(octet: int) -> int:
    """Seconds a relative TP-VP octet stands for (§9.2.3.12.1)."""
    if octet <= 143:
        return (octet + 1) * 300
    if octet <= 167:
        return 12 * 3600 + (octet - 143) * 1800
    if octet <= 196:
        return (octet - 166) * 86400
    return (octet - 192) * 7 * 86400


# --- long texts -------------------------------------------------------------------------------

def deliver_parts(sender: Address, text: str, timestamp: datetime, ref: int) -> list[SmsDeliver]:
    """The SMS-DELIVER TPDUs a network sends for ``text``: one, or parts with a shared ``ref``."""
    parts = sms_parts(text)
    if parts.count == 1:
        return [SmsDeliver(sender, text, timestamp, parts.encoding)]
    return [SmsDeliver(sender, part, timestamp, parts.encoding, Concat(ref % 256, parts.count, i + 1))
            for i, part in enumerate(parts.parts)]


def submit_parts(to: Address, text: str, ref: int, first_mr: int = 0) -> list[SmsSubmit]:
    parts = sms_parts(text)
    if parts.count == 1:
        return [SmsSubmit(to, text, parts.encoding, reference=first_mr % 256)]
    return [SmsSubmit(to, part, parts.encoding, Concat(ref % 256, parts.count, i + 1),
                      reference=(first_mr + i) % 256) for i, part in enumerate(parts.parts)]




# --- the AT line: SMSC address, then the TPDU ---------------------------------------------------

def encode_at_pdu(tpdu: bytes, smsc: str | None = None) -> tuple[str, int]:
    """Hex for the PDU line and the ``<length>`` that goes with it (TPDU octets only)."""
    if smsc is None:
        sca = b"\x00"
    else:
        addr = Address.parse(smsc)
        if addr.alphanumeric:
            raise PduError(f"SMSC address {smsc!r}; expected digits, like '+213770000000'")
        body = bytes((addr.toa,)) + encode_bcd(addr.value)
        sca = bytes((len(body),)) + body
    return to_hex(sca + tpdu), len(tpdu)


def decode_at_pdu(hex_text: str, length: int | None = None) -> tuple[str | None, bytes]:
    """(SMSC address or None, TPDU) of a PDU line; checks ``length`` when given."""
    try:
        raw = from_hex(hex_text.strip(), "PDU")
    except CharsetError as e:
        raise PduError(str(e)) from None
    if not raw:
        raise PduError("empty PDU; expected the SMSC address length octet first")
    n = raw[0]
    if 1 + n > len(raw):
        raise PduError(f"SMSC address of {n} octets, but the PDU has {len(raw) - 1} after it")
    smsc = None
    if n:
        toa = raw[1]
        digits = decode_bcd(raw[2:1 + n], _digit_count(raw[2:1 + n]), "SMSC address")
        smsc = ("+" if toa == TOA_INTERNATIONAL else "") + digits
    tpdu = raw[1 + n:]
    if length is not None and length != len(tpdu):
        raise PduError(f"<length> {length} but the TPDU after the SMSC address has {len(tpdu)} octets")
    return smsc, tpdu


def _digit_count(body: bytes) -> int:
    return len(body) * 2 - (1 if body and body[-1] >> 4 == 0xF else 0)
