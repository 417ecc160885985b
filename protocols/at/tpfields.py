"""The fields inside an SMS TPDU (3GPP TS 23.040 §9.1.2, §9.2.3): addresses, service-centre
timestamps, data coding schemes and user-data headers.

Why they are fiddly: numbers are BCD with nibbles swapped and an 'F' filler; an alphanumeric
sender ('EDAHABIA') is GSM 7-bit packed and its length counts semi-octets; the time zone
counts quarters of an hour with the sign hidden in bit 3; the same DCS octet means different
alphabets in different coding groups.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

from protocols.at.charset import gsm_bytes
from protocols.at.errors import CharsetError, PduError
from protocols.gsm import pack_septets, unpack_septets

Alphabet = Literal["gsm7", "8bit", "ucs2"]
TOA_INTERNATIONAL, TOA_UNKNOWN, TOA_NATIONAL, TOA_ALPHANUMERIC = 0x91, 0x81, 0xA1, 0xD0
_BCD = "0123456789*#abc"   # 23.040 §9.1.2.3; 0xF is the filler


@dataclass(frozen=True)
class Address:
    """An originating or destination address: digits with their type, or an alphanumeric name."""

    value: str          # digits (and * # a b c), or the alphanumeric text
    toa: int = TOA_UNKNOWN

    @property
    def alphanumeric(self) -> bool:
        return (self.toa >> 4) & 0x7 == 0x5

    @property
    def international(self) -> bool:
        return (self.toa >> 4) & 0x7 == 0x1

    @property
    def text(self) -> str:
        """How a phone shows it: '+213551234567', '0551234567' or 'EDAHABIA'."""
        return "+" + self.value if self.international else self.value

    @classmethod
    def parse(cls, text: str) -> Address:
        """'+digits' is international, digits (or * #) unknown, anything else alphanumeric."""
        if text.startswith("+") and len(text) > 1 and all(c in _BCD[:12] for c in text[1:]):
            return cls(text[1:], TOA_INTERNATIONAL)
        if text and all(c in _BCD[:12] for c in text):
            return cls(text, TOA_UNKNOWN)
        return cls(text, TOA_ALPHANUMERIC)


def encode_address(addr: Address) -> bytes:
    """Address-Length (semi-octets), Type-of-Address, value (§9.1.2.5)."""
    if not 0x80 <= addr.toa <= 0xFF:
        raise PduError(f"type of address 0x{addr.toa:02X}; expected 0x80-0xFF (bit 7 set)")
    if addr.alphanumeric:
        try:
            septets = len(gsm_bytes(addr.value))
        except CharsetError as e:
            raise PduError(f"alphanumeric address {addr.value!r}: {e}") from None
        if not 1 <= septets <= 11:
            raise PduError(f"alphanumeric address {addr.value!r} is {septets} septets; expected 1-11")
        packed = pack_septets(addr.value)
        return bytes((min(20, (septets * 7 + 3) // 4), addr.toa)) + packed
    if not 0 <= len(addr.value) <= 20:
        raise PduError(f"address {addr.value!r} has {len(addr.value)} digits; expected at most 20")
    return bytes((len(addr.value), addr.toa)) + encode_bcd(addr.value)


def decode_address(data: bytes, pos: int, what: str) -> tuple[Address, int]:
    """Read an address at ``pos``; returns it and the position after it."""
    if pos + 2 > len(data):
        raise PduError(f"{what}: truncated at octet {pos}; expected a length and a type of address")
    semi, toa = data[pos], data[pos + 1]
    if semi > 20:
        raise PduError(f"{what}: length {semi} semi-octets at octet {pos}; expected at most 20")
    if not toa & 0x80:
        raise PduError(f"{what}: type of address 0x{toa:02X} at octet {pos + 1}; bit 7 must be set")
    n = (semi + 1) // 2
    body = data[pos + 2:pos + 2 + n]
    if len(body) < n:
        raise PduError(f"{what}: needs {n} octets after octet {pos + 1}, got {len(body)}")
    if (toa >> 4) & 0x7 == 0x5:
        try:
            value = unpack_septets(body, semi * 4 // 7)
        except ValueError as e:
            raise PduError(f"{what}: alphanumeric address: {e}") from None
    else:
        value = decode_bcd(body, semi, what)
    return Address(value, toa), pos + 2 + n


def encode_bcd(digits: str) -> bytes:
    out = bytearray()
    for i in range(0, len(digits), 2):
        pair = digits[i:i + 2]
        lo = _BCD.index(pair[0].lower())
        hi = _BCD.index(pair[1].lower()) if len(pair) == 2 else 0xF
        out.append(hi << 4 | lo)
    return bytes(out)


def decode_bcd(body: bytes, count: int, what: str) -> str:
    digits = []
    for i in range(count):
        nibble = (body[i // 2] >> (4 * (i % 2))) & 0xF
        if nibble == 0xF:
            raise PduError(f"{what}: filler nibble F at digit {i + 1} of {count}")
        digits.append(_BCD[nibble])
    return "".join(digits)


# --- timestamps -------------------------------------------------------------------------------

def encode_scts(when: datetime) -> bytes:
    """TP-SCTS (§9.2.3.11): year to second, then the zone in quarters of an hour."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise PduError(f"timestamp {when.isoformat()} has no time zone; expected an aware datetime")
    minutes = int(when.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
    if minutes % 15 or not -79 * 15 <= minutes <= 79 * 15:
        raise PduError(f"time zone {minutes:+d} min; expected a multiple of 15 minutes within ±19:45")
    if not 2000 <= when.year <= 2099:
        raise PduError(f"year {when.year}; TP-SCTS holds 2000-2099")
    quarters = abs(minutes) // 15
    fields = (when.year % 100, when.month, when.day, when.hour, when.minute, when.second, quarters)
    out = bytearray(((v % 10) << 4) | (v // 10) for v in fields)
    if minutes < 0:
        out[6] |= 0x08
    return bytes(out)


def decode_scts(data: bytes, pos: int, what: str = "TP-SCTS") -> tuple[datetime, int]:
    raw = data[pos:pos + 7]
    if len(raw) < 7:
        raise PduError(f"{what}: truncated at octet {pos}; expected 7 octets")
    values = []
    for i, octet in enumerate(raw):
        lo, hi = octet & 0xF, octet >> 4
        if i == 6:
            lo &= 0x7
        if lo > 9 or hi > 9:
            raise PduError(f"{what}: octet {pos + i} is 0x{octet:02X}; expected swapped BCD digits")
        values.append(lo * 10 + hi)
    sign = -1 if raw[6] & 0x08 else 1
    try:
        zone = timezone(timedelta(minutes=sign * 15 * values[6]))
        return datetime(2000 + values[0], *values[1:6], tzinfo=zone), pos + 7
    except ValueError as e:
        raise PduError(f"{what}: {e} ({raw.hex().upper()})") from None


def scts_text(when: datetime) -> str:
    """The text-mode form, as ``+CMGR`` shows it: ``yy/MM/dd,hh:mm:ss±zz`` (zz in quarters)."""
    quarters = int(when.utcoffset().total_seconds()) // 900  # type: ignore[union-attr]
    return f"{when:%y/%m/%d,%H:%M:%S}{'-' if quarters < 0 else '+'}{abs(quarters):02d}"


def parse_scts_text(text: str) -> datetime:
    try:
        base, sign, zone = text[:17], text[17], text[18:]
        if sign not in "+-" or not zone.isdigit() or len(text) != 20:
            raise ValueError
        quarters = int(zone) * (-1 if sign == "-" else 1)
        return datetime.strptime(base, "%y/%m/%d,%H:%M:%S").replace(
            tzinfo=timezone(timedelta(minutes=15 * quarters)))
    except (ValueError, IndexError):
        raise PduError(f"timestamp {text!r}; expected yy/MM/dd,hh:mm:ss±zz "
                       f"(zone in quarters of an hour), like '26/01/01,10:00:00+04'") from None


# --- data coding scheme -----------------------------------------------------------------------

DCS_GSM7, DCS_8BIT, DCS_UCS2 = 0x00, 0x04, 0x08


def sms_alphabet(dcs: int) -> Alphabet:
    """The alphabet of an SMS TP-DCS (23.038 §4). Compressed and reserved schemes are refused."""
    if not 0 <= dcs <= 0xFF:
        raise PduError(f"TP-DCS {dcs}; expected 0-255")
    group = dcs >> 4
    if group <= 0x7:                     # general data coding, with or without auto-deletion
        if dcs & 0x20:
            raise PduError(f"TP-DCS 0x{dcs:02X} says compressed text; compression is not supported")
        alphabet = (dcs >> 2) & 0x3
        if alphabet == 3:
            raise PduError(f"TP-DCS 0x{dcs:02X} names the reserved alphabet 11")
        return ("gsm7", "8bit", "ucs2")[alphabet]  # type: ignore[return-value]
    if group in (0xC, 0xD):
        return "gsm7"
    if group == 0xE:
        return "ucs2"
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    raise PduError(f"TP-DCS 0x{dcs:02X} is in the reserved coding groups 1000-1011")


def dcs_for_alphabet(alphabet: str) -> int:
    try:
        return {"gsm7": DCS_GSM7, "8bit": DCS_8BIT, "ucs2": DCS_UCS2}[alphabet]
    except KeyError:
        raise PduError(f"alphabet {alphabet!r}; expected 'gsm7', '8bit' or 'ucs2'") from None


# --- user-data header -------------------------------------------------------------------------

@dataclass(frozen=True)
class Concat:
    """Concatenated-SMS information element (IEI 0x00 with an 8-bit reference, 0x08 with 16)."""

    ref: int
    total: int
    seq: int
    ref_bits: int = 8

    def __post_init__(self) -> None:
        if self.ref_bits not in (8, 16) or not 0 <= self.ref < (1 << self.ref_bits):
            raise PduError(f"concatenation reference {self.ref} does not fit {self.ref_bits} bits")
        if not (1 <= self.total <= 255 and 1 <= self.seq <= self.total):
            raise PduError(f"concatenated part {self.seq} of {self.total}; expected 1 <= part <= "
                           f"total <= 255")

    def element(self) -> bytes:
        if self.ref_bits == 8:
            return bytes((0x00, 3, self.ref, self.total, self.seq))
        return bytes((0x08, 4, self.ref >> 8, self.ref & 0xFF, self.total, self.seq))


def parse_udh(ud: bytes) -> tuple[tuple[tuple[int, bytes], ...], int]:
    """Information elements of the header opening ``ud``, and the header's length in octets."""
    if not ud:
        raise PduError("TP-UDHI is set but the user data is empty; expected a header length")
    udhl = ud[0]
    if 1 + udhl > len(ud):
        raise PduError(f"user-data header of {udhl} octets, but only {len(ud) - 1} follow")
    elements, i = [], 1
    while i < 1 + udhl:
        if i + 2 > 1 + udhl:
            raise PduError(f"information element at header octet {i} is cut after its identifier")
        iei, length = ud[i], ud[i + 1]
        if i + 2 + length > 1 + udhl:
            raise PduError(f"information element 0x{iei:02X} of {length} octets overruns the header")
        elements.append((iei, bytes(ud[i + 2:i + 2 + length])))
        i += 2 + length
    return tuple(elements), 1 + udhl


def concat_of(elements: tuple[tuple[int, bytes], ...]) -> Concat | None:
    """The concatenation element, if any. A part number of 0 or above the total makes the
    receiver ignore the element (23.040 §9.2.3.24.1), so such a part reads as a whole SMS."""
    for iei, data in elements:
        if iei == 0x00 and len(data) == 3:
            return Concat(data[0], data[1], data[2], 8) if 1 <= data[2] <= data[1] else None
        if iei == 0x08 and len(data) == 4:
            return Concat(data[0] << 8 | data[1], data[2], data[3], 16) if 1 <= data[3] <= data[2] else None
    return None
