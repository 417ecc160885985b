"""The credit record a utility writes to a card: fixed binary layout, big-endian, 59 bytes.

=====  ===  ===============  ==================================================================
off    len  field            encoding
=====  ===  ===============  ==================================================================
0      1    version          uint8, 0x01
1      1    kind             uint8: 0x01 credit, 0x02 activation (binds this card to the meter)
2      1    key_version      uint8: which generation of the utility master key signed it
3      2    utility_id       uint16, 1..65535
5      7    meter_number     compressed BCD, left-justified, padded with 0xF: 11 or 13 digits,
                             the last a Luhn check digit (the STS meter number)
12     8    card_serial      8 bytes as the card reports them
20     4    purchase_count   uint32, 1.. (the meter credits exactly its own count + 1)
24     1    unit             uint8: 0x01 money (minor units of ``currency``), 0x02 energy (0.01 kWh)
25     4    credit           uint32 in ``unit``: what the meter adds to its credit
29     2    currency         ISO 4217 numeric as 4 BCD digits ("0818" for EGP)
31     4    paid             uint32, minor units of ``currency``: what the customer paid (audit)
35     4    issued_at        uint32, Unix seconds UTC
39     12   vend_ref         12 bytes: the vending system's idempotent vend id
51     8    mac              HMAC-SHA256(credit key of the card, bytes 0..50), first 8 bytes
=====  ===  ===============  ==================================================================
"""
from __future__ import annotations

import hashlib
import hmac
import re
import struct
import unicodedata
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from protocols.utility_card.errors import (
    CardKeyError, CardMismatch, FormatError, MacError, MeterMismatch,
)
from protocols.utility_card.keys import MIN_MASTER_KEY, card_serial_bytes
from protocols.luhn import check_digit

Kind = Literal["credit", "activation"]
Unit = Literal["money", "energy"]

FORMAT_VERSION = 1
MAC_LENGTH = 8
_BODY = struct.Struct(">BBBH7s8sIBI2sII12s")
RECORD_LENGTH = _BODY.size + MAC_LENGTH        # 59
KINDS: dict[str, int] = {"credit": 1, "activation": 2}
UNITS: dict[str, int] = {"money": 1, "energy": 2}
CURRENCIES: dict[str, str] = {"DZD": "012", "IRR": "364", "EGP": "818"}   # ISO 4217 numeric
METER_NUMBER_LENGTHS = (11, 13)
VEND_REF_LENGTH = 12
UINT32 = 0xFFFF_FFFF
_BY_CODE = {"kind": {v: k for k, v in KINDS.items()}, "unit": {v: k for k, v in UNITS.items()},
            "currency": {v.zfill(4): k for k, v in CURRENCIES.items()}}


def luhn_digit(digits: str) -> int:
    """The Luhn check digit to append to ``digits`` (ISO/IEC 7812-1, as STS meter numbers)."""
    return int(check_digit(digits))


def parse_meter_number(text: str, *, field: str = "meter_number") -> str:
    """The meter number as ASCII digits: spaces and '-' dropped, Arabic/Persian digits folded."""
    if not isinstance(text, str):
        raise FormatError(f"{field}: expected the meter number as text, got "
                          f"{type(text).__name__}", field=field)
    digits = "".join(str(unicodedata.decimal(ch, "x")) for ch in text if ch not in " -")
    if not digits.isdigit() or not digits.isascii():
        raise FormatError(f"{field}: {text!r} is not a meter number; expected "
                          f"{' or '.join(map(str, METER_NUMBER_LENGTHS))} digits", field=field)
    if len(digits) not in METER_NUMBER_LENGTHS:
        raise FormatError(f"{field}: {text!r} has {len(digits)} digits; expected "
                          f"{' or '.join(map(str, METER_NUMBER_LENGTHS))}", field=field)
    check = luhn_digit(digits[:-1])
    if int(digits[-1]) != check:
        raise FormatError(f"{field}: {text!r} fails its check digit: expected last digit "
                          f"{check} (Luhn), got {digits[-1]}", field=field)
    return digits


def _uint(value: object, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise FormatError(f"{name}: expected an integer from {low} to {high}, got {value!r}",
                          field=name)
    return value


def _choice(value: object, name: str, choices: dict[str, object]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise FormatError(f"{name}: {value!r} is unknown; expected one of "
                          f"{', '.join(map(repr, choices))}", field=name)
    return value  # type: ignore[return-value]


def _vend_ref(value: str | bytes) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) == VEND_REF_LENGTH:
        return bytes(value).hex()
    if isinstance(value, str) and re.fullmatch(f"[0-9A-Fa-f]{{{2 * VEND_REF_LENGTH}}}", value):
        return value.lower()
    raise FormatError(f"vend_ref: {value!r} is not a vend reference; expected "
                      f"{2 * VEND_REF_LENGTH} hex digits (see vend_ref_from_id)", field="vend_ref")


def vend_ref_from_id(vend_id: str) -> str:
    """A 12-byte vend reference (24 hex digits) fixed by any vend id string."""
    if not isinstance(vend_id, str) or not vend_id:
        raise FormatError(f"vend_id: expected a non-empty string, got {vend_id!r}", field="vend_id")
    return hashlib.sha256(b"vend-ref\x00" + vend_id.encode()).digest()[:VEND_REF_LENGTH].hex()


@dataclass(frozen=True, kw_only=True)
class CreditRecord:
    """One purchase for one card and one meter. Construction validates and normalises."""

    meter_number: str            # ASCII digits, Luhn-checked
    card_serial: str             # 16 uppercase hex digits
    utility_id: int
    purchase_count: int
    credit: int                  # in ``unit``: minor units of ``currency``, or 0.01 kWh
    paid: int                    # minor units of ``currency``, for audit
    currency: str                # ISO 4217 alpha: "EGP", "DZD", "IRR"
    issued_at: int               # Unix seconds UTC
    vend_ref: str                # 24 lowercase hex digits
    unit: Unit = "money"
    kind: Kind = "credit"
    key_version: int = 1
    version: int = FORMAT_VERSION
    mac: bytes = field(default=b"", compare=False)   # set by decode; encode computes its own

    def __post_init__(self) -> None:
        put = object.__setattr__
        if type(self.version) is not int or self.version != FORMAT_VERSION:
            raise FormatError(f"version: {self.version!r} is not supported; expected "
                              f"{FORMAT_VERSION}", field="version")
        put(self, "meter_number", parse_meter_number(self.meter_number))
        put(self, "card_serial", card_serial_bytes(self.card_serial).hex().upper())
        _choice(self.kind, "kind", KINDS)
        _choice(self.unit, "unit", UNITS)
        _choice(self.currency, "currency", CURRENCIES)
        _uint(self.key_version, "key_version", 0, 0xFF)
        _uint(self.utility_id, "utility_id", 1, 0xFFFF)
        _uint(self.purchase_count, "purchase_count", 1, UINT32)
        _uint(self.credit, "credit", 1 if self.kind == "credit" else 0, UINT32)
        _uint(self.paid, "paid", 0, UINT32)
        _uint(self.issued_at, "issued_at", 0, UINT32)
        put(self, "vend_ref", _vend_ref(self.vend_ref))


def _check_key(key: object) -> bytes:
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_MASTER_KEY:
        got = f"{len(key)} bytes" if isinstance(key, (bytes, bytearray)) else type(key).__name__
        raise CardKeyError(f"key: expected the card's credit key (credit_key(master_key, "
                           f"card_serial)), at least {MIN_MASTER_KEY} bytes; got {got}",
                           field="key")
    return bytes(key)


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:MAC_LENGTH]


def _bcd(digits: str, size: int) -> bytes:
    return bytes.fromhex(digits.ljust(2 * size, "F"))


def encode(record: CreditRecord, key: bytes) -> bytes:
    """The 59 bytes of ``record`` signed with the card's credit key."""
    if not isinstance(record, CreditRecord):
        raise FormatError(f"record: expected a CreditRecord, got {type(record).__name__}",
                          field="record")
    body = _BODY.pack(
        record.version, KINDS[record.kind], record.key_version, record.utility_id,
        _bcd(record.meter_number, 7), bytes.fromhex(record.card_serial), record.purchase_count,
        UNITS[record.unit], record.credit, bytes.fromhex(CURRENCIES[record.currency].zfill(4)),
        record.paid, record.issued_at, bytes.fromhex(record.vend_ref))
    return body + _mac(_check_key(key), body)


def _check_frame(data: object) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FormatError(f"record: expected bytes, got {type(data).__name__}", field="record")
    data = bytes(data)
    if data and data[0] != FORMAT_VERSION:
        raise FormatError(f"version: {data[0]} is not supported; expected {FORMAT_VERSION}",
                          field="version")
    if len(data) != RECORD_LENGTH:
        raise FormatError(f"record: {len(data)} bytes; expected {RECORD_LENGTH} "
                          f"(version {FORMAT_VERSION})", field="record")
    return data


class KeyId(NamedTuple):
    key_version: int
    card_serial: str


def key_id(data: bytes) -> KeyId:
    """Which master key generation and card the record claims, read before the MAC is checked."""
    data = _check_frame(data)
    return KeyId(data[2], data[12:20].hex().upper())


def _from_bcd(raw: bytes, name: str, lengths: tuple[int, ...]) -> str:
    digits = raw.hex().upper().rstrip("F")
    if not digits.isdigit() or len(digits) not in lengths:
        raise FormatError(f"{name}: {raw.hex().upper()} is not BCD of "
                          f"{' or '.join(map(str, lengths))} digits padded with F", field=name)
    return digits


def _from_code(kind: str, code: int | str) -> str:
    try:
        return _BY_CODE[kind][code]  # type: ignore[index]
    except KeyError:
        raise FormatError(f"{kind}: code {code} is unknown; expected one of "
                          f"{sorted(_BY_CODE[kind])}", field=kind) from None


def decode(data: bytes, key: bytes) -> CreditRecord:
    """The record in ``data`` once its MAC verifies under the card's credit key."""
    data = _check_frame(data)
    body, mac = data[:-MAC_LENGTH], data[-MAC_LENGTH:]
    if not hmac.compare_digest(_mac(_check_key(key), body), mac):
        raise MacError("mac: does not verify with this card's credit key; the record was "
                       "altered, copied from another card, or signed with another key",
                       field="mac")
    (version, kind, key_version, utility_id, meter, serial, count, unit, credit, currency,
     paid, issued_at, vend_ref) = _BODY.unpack(body)
    return CreditRecord(
        version=version, kind=_from_code("kind", kind), key_version=key_version,
        utility_id=utility_id, meter_number=_from_bcd(meter, "meter_number", METER_NUMBER_LENGTHS),
        card_serial=serial, purchase_count=count, unit=_from_code("unit", unit), credit=credit,
        currency=_from_code("currency", _from_bcd(currency, "currency", (4,))), paid=paid,
        issued_at=issued_at, vend_ref=vend_ref, mac=mac)


def check_for_meter(record: CreditRecord, meter_number: str) -> None:
    """Raise ``MeterMismatch`` unless ``record`` is for ``meter_number``."""
    expected = parse_meter_number(meter_number)
    if record.meter_number != expected:
        raise MeterMismatch(f"meter_number: the record is for meter {record.meter_number}; "
                            f"expected {expected} (this meter)", field="meter_number")


def check_for_card(record: CreditRecord, card_serial: str | bytes) -> None:
    """Raise ``CardMismatch`` unless ``record`` names the card ``card_serial``."""
    expected = card_serial_bytes(card_serial).hex().upper()
    if record.card_serial != expected:
        raise CardMismatch(f"card_serial: the record is for card {record.card_serial}; "
                           f"expected {expected} (this card)", field="card_serial")
