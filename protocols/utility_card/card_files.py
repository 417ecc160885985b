"""What a utility card holds and how it introduces itself: ATR, AID, FCI, files and their codecs.

The card (docs/card-profile.md) has one application, selected by ``AID``, with four transparent
elementary files. Each has a short file identifier (SFI, for READ/UPDATE BINARY P1) and a file
identifier (FID, for SELECT); what it takes to read or update it is its access rule:

=========  ===  ======  ====  ========  ==========  ===============================================
file       SFI  FID     size  read      update      content
=========  ===  ======  ====  ========  ==========  ===============================================
serial     1    0101    8     always    never       the card serial (set when the card is made)
meter      2    0102    9     always    SM          meter number (7 BCD) + utility id (uint16)
credit     3    0103    59    SM        SM          the credit record slot (record.py); zeros: empty
loaded     4    0104    8     SM        SM          the meter's receipt: count, outcome, reason
=========  ===  ======  ====  ========  ==========  ===============================================

"SM" means after mutual authentication, through secure messaging with a MAC (CLA ``0C``).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from protocols.utility_card.apdu import ApduError, parse_tlv, tlv
from protocols.utility_card.errors import FIELD_ERRORS, FormatError
from protocols.utility_card.keys import card_serial_bytes
from protocols.utility_card.record import _bcd, _from_bcd, METER_NUMBER_LENGTHS, parse_meter_number

AID = bytes.fromhex("F0524255430001")           # 'F0' proprietary (ISO 7816-5) "RBUC" 0001
PROFILE_VERSION = 1
# Historical bytes: category 80 (COMPACT-TLV follows), tag 5 "card issuer's data", 5 bytes.
HISTORICAL_BYTES = bytes.fromhex("80") + bytes((0x55,)) + b"RBUC" + bytes((PROFILE_VERSION,))
CHALLENGE_LENGTH = 8
MAX_AUTH_TRIES = 15                             # reported in SW 63Cx, so at most 15


def build_atr(historical: bytes = HISTORICAL_BYTES) -> bytes:
    """An ATR offering T=1 only: TS 3B, T0, TD1 80, TD2 01, historical bytes, then TCK."""
    if len(historical) > 15:
        raise FormatError(f"historical bytes: {len(historical)}; expected at most 15",
                          field="historical")
    body = bytes((0x80 | len(historical), 0x80, 0x01)) + historical
    tck = 0
    for b in body:
        tck ^= b
    return b"\x3B" + body + bytes((tck,))


ATR = build_atr()

Access = Literal["always", "sm", "never"]


@dataclass(frozen=True)
class CardFile:
    name: str
    sfi: int
    fid: int
    size: int
    read: Access
    update: Access


FILES: tuple[CardFile, ...] = (
    CardFile("serial", 1, 0x0101, 8, "always", "never"),
    CardFile("meter", 2, 0x0102, 9, "always", "sm"),
    CardFile("credit", 3, 0x0103, 59, "sm", "sm"),
    CardFile("loaded", 4, 0x0104, 8, "sm", "sm"),
)
BY_NAME = {f.name: f for f in FILES}
BY_SFI = {f.sfi: f for f in FILES}
BY_FID = {f.fid: f for f in FILES}


# --- the FCI that SELECT by AID returns ----------------------------------------------------------

def fci(card_serial: bytes) -> bytes:
    """``6F { 84 AID, A5 { C0 serial, C1 profile version } }``: the serial saves a READ BINARY."""
    return tlv(0x6F, tlv(0x84, AID) + tlv(0xA5, tlv(0xC0, card_serial)
                                             + tlv(0xC1, bytes((PROFILE_VERSION,)))))


@dataclass(frozen=True)
class Fci:
    aid: bytes
    card_serial: str
    profile_version: int


def parse_fci(data: bytes) -> Fci:
    """The application, serial and profile version a card announced when selected."""
    try:
        outer = dict(parse_tlv(data, where="fci"))
        inner = dict(parse_tlv(outer[0x6F], where="fci"))
        prop = dict(parse_tlv(inner[0xA5], where="fci proprietary template"))
        aid, serial, version = inner[0x84], prop[0xC0], prop[0xC1]
    except (ApduError, KeyError) as e:
        raise FormatError(f"fci: {data.hex().upper()[:60]} is not this profile's FCI ({e}); "
                          "expected 6F{84 AID, A5{C0 serial, C1 version}}", field="fci") from None
    if len(version) != 1:
        raise FormatError(f"fci: profile version {version.hex()}; expected one byte", field="fci")
    return Fci(aid, card_serial_bytes(serial, field="fci serial").hex().upper(), version[0])


# --- EF meter: meter number and utility ---------------------------------------------------------

_METER = struct.Struct(">7sH")


def encode_meter_file(meter_number: str, utility_id: int) -> bytes:
    meter = parse_meter_number(meter_number)
    if type(utility_id) is not int or not 1 <= utility_id <= 0xFFFF:
        raise FormatError(f"utility_id: expected an integer from 1 to 65535, got {utility_id!r}",
                          field="utility_id")
    return _METER.pack(_bcd(meter, 7), utility_id)


def decode_meter_file(data: bytes) -> tuple[str, int] | None:
    """(meter number, utility id), or None for a card not yet personalised (all zeros)."""
    if len(data) != _METER.size:
        raise FormatError(f"meter file: {len(data)} bytes; expected {_METER.size}", field="meter")
    if not any(data):
        return None
    bcd, utility = _METER.unpack(data)
    meter = parse_meter_number(_from_bcd(bcd, "meter_number", METER_NUMBER_LENGTHS))
    if utility == 0:
        raise FormatError("meter file: utility id 0; expected 1 to 65535", field="utility_id")
    return meter, utility


# --- EF loaded: what the meter did with the record ----------------------------------------------

Outcome = Literal["none", "credited", "already_loaded", "refused"]
OUTCOMES: tuple[Outcome, ...] = ("none", "credited", "already_loaded", "refused")
REASONS: tuple[str, ...] = ("",) + tuple(FIELD_ERRORS)     # 0: no reason; then the error codes
_LOADED = struct.Struct(">IBB2x")


@dataclass(frozen=True)
class LoadReceipt:
    """The meter's answer, written back on the card so the vending point sees it.

    ``meter_count`` is the meter's purchase count after the insertion: a record on the card with
    a higher count has not been loaded yet.
    """

    meter_count: int = 0
    outcome: Outcome = "none"
    reason: str = ""                 # a code of FIELD_ERRORS when refused

    def __post_init__(self) -> None:
        if type(self.meter_count) is not int or not 0 <= self.meter_count <= 0xFFFF_FFFF:
            raise FormatError(f"meter_count: expected 0 to {0xFFFF_FFFF}, got {self.meter_count!r}",
                              field="meter_count")
        if self.outcome not in OUTCOMES:
            raise FormatError(f"outcome: {self.outcome!r}; expected one of {OUTCOMES}", field="outcome")
        if self.reason not in REASONS:
            raise FormatError(f"reason: {self.reason!r}; expected '' or one of {REASONS[1:]}",
                              field="reason")

    def encode(self) -> bytes:
        return _LOADED.pack(self.meter_count, OUTCOMES.index(self.outcome), REASONS.index(self.reason))

    @classmethod
    def decode(cls, data: bytes) -> LoadReceipt:
        if len(data) != _LOADED.size:
            raise FormatError(f"loaded file: {len(data)} bytes; expected {_LOADED.size}",
                              field="loaded")
        count, outcome, reason = _LOADED.unpack(data)
        if outcome >= len(OUTCOMES) or reason >= len(REASONS):
            raise FormatError(f"loaded file: outcome {outcome} / reason {reason} unknown; expected "
                              f"outcome < {len(OUTCOMES)} and reason < {len(REASONS)}", field="loaded")
        return cls(count, OUTCOMES[outcome], REASONS[reason])


def record_count(data: bytes) -> int:
    """The purchase count in a record slot (bytes 20-23), 0 for an empty slot."""
    return int.from_bytes(data[20:24], "big") if any(data) else 0
