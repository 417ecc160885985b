"""Credit records for prepaid card meters (flows F5): format, keys, text form, meter rule.

A utility sells credit; the vending system writes a signed record that a smart card carries
to the meter. The card meters of the field stop replay and cloning with three things, all
here: a purchase count (the meter credits exactly its own count + 1), a MAC under a key
diversified by the card serial (a record copied to another card does not verify), and the
meter number inside the record::

    from protocols import utility_card as uc

    key = uc.credit_key(master_key, "04A1B2C3D4E5F607")       # per card, per purpose
    record = uc.CreditRecord(meter_number="47500150231", card_serial="04A1B2C3D4E5F607",
                             utility_id=1, purchase_count=7, credit=10_000, paid=10_000,
                             currency="EGP", issued_at=1_767_225_600,
                             vend_ref=uc.vend_ref_from_id("vnd_42"))
    data = uc.encode(record, key)          # 59 bytes for the card's binary file
    text = uc.to_text(data)                # for a bank app or an e-wallet
    same = uc.decode(uc.from_text(text), key)
    outcome = uc.apply(uc.MeterCardState(meter_number="47500150231", purchase_count=6,
                                         card_serial="04A1B2C3D4E5F607"),
                       same, hoarding_limit=500_000)   # credited; count 7 again: already loaded

Errors are ``CardError`` with a ``code`` from ``FIELD_ERRORS`` (``format``, ``mac``,
``meter``...). The layout, the key derivation and worked examples are in docs/utility-card.md.

The card that carries the record (docs/card-profile.md) is here too, as pure code: ``apdu``
(ISO 7816-4 command/response APDUs, status words, BER-TLV), ``card_files`` (ATR, AID, FCI, the
four EFs and their codecs), ``secure_messaging`` (mutual authentication and SM MACs, both
ends), ``eeprom`` (anti-tearing memory) and ``application`` (the card as a state machine)::

    app = uc.CardApplication.manufacture("04A1B2C3D4E5F607", master_key, rng=random.Random(7))
    uc.Response.decode(app.process(uc.Command(0x00, 0xA4, 0x04, 0x00, uc.AID, le=256).encode()))
"""
from protocols.utility_card.apdu import STATUS_WORDS, Command, Response, sw_meaning
from protocols.utility_card.application import CardApplication
from protocols.utility_card.card_files import AID, ATR, FILES, LoadReceipt
from protocols.utility_card.eeprom import Eeprom, PowerLoss
from protocols.utility_card.errors import (
    FIELD_ERRORS, ApduError, CardError, CardKeyError, CardMismatch, CountMismatch, FormatError,
    HoardingLimit, MacError, MeterMismatch, TextError, UnitMismatch,
)
from protocols.utility_card.keys import (
    AUTH, CREDIT_MAC, SECURE_MESSAGING, card_serial_bytes, credit_key, diversify,
)
from protocols.utility_card.meter_rule import MeterCardState, Outcome, apply
from protocols.utility_card.record import (
    FORMAT_VERSION, MAC_LENGTH, RECORD_LENGTH, CreditRecord, KeyId, check_for_card,
    check_for_meter, decode, encode, key_id, luhn_digit, parse_meter_number, vend_ref_from_id,
)
from protocols.utility_card.text import from_text, to_text

__all__ = [
    "AID", "ATR", "ApduError", "CardApplication", "Command", "Eeprom", "FILES", "LoadReceipt",
    "PowerLoss", "Response", "STATUS_WORDS", "sw_meaning",
    "AUTH", "CREDIT_MAC", "FIELD_ERRORS", "FORMAT_VERSION", "MAC_LENGTH", "RECORD_LENGTH",
    "SECURE_MESSAGING", "CardError", "CardKeyError", "CardMismatch", "CountMismatch",
    "CreditRecord", "FormatError", "HoardingLimit", "KeyId", "MacError", "MeterCardState",
    "MeterMismatch", "Outcome", "TextError", "UnitMismatch", "apply", "card_serial_bytes",
    "check_for_card", "check_for_meter", "credit_key", "decode", "diversify", "encode",
    "from_text", "key_id", "luhn_digit", "parse_meter_number", "to_text", "vend_ref_from_id",
]
