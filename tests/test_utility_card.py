"""Utility-card credit records (flows F5): keys, layout, MAC, text form and the meter's rule."""
from __future__ import annotations

import doctest
import hashlib
import hmac
import re
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols import utility_card as uc
from protocols.utility_card import (
    CardError, CardKeyError, CreditRecord, FormatError, MacError, MeterCardState, TextError,
)
from protocols.utility_card.keys import kdf_counter
from protocols.utility_card.text import ALPHABET

MASTER = bytes(range(32))                       # the fixed test key of docs/utility-card.md
OTHER_MASTER = bytes(range(1, 33))
CARD_A = "04A1B2C3D4E5F607"
CARD_B = "04A1B2C3D4E5F608"
METER = "47500150231"                           # DRN of an STS test vector (IEC 62055-41)
METER_13 = "0001000000008"                      # 13-digit DRN of another STS vector
OTHER_METER = "47500150249"
LIMIT = 500_000                                 # EGP 5,000.00 in piastres

# The example of docs/utility-card.md: EGP 100.00 credited, paid EGP 100.00, 7th purchase.
EXAMPLE = CreditRecord(meter_number=METER, card_serial=CARD_A, utility_id=3, purchase_count=7,
                       credit=10_000, paid=10_000, currency="EGP", issued_at=1_767_261_600,
                       vend_ref="5f1c0a9e3b7d2c4e8a6f0b13")
EXAMPLE_HEX = ("010101000347500150231fff04a1b2c3d4e5f607000000070100002710081800002710695645a0"
               "5f1c0a9e3b7d2c4e8a6f0b13ddfa826e186fae47")
EXAMPLE_TEXT = ("040G-2003-8X80-2M13-3ZZG-98DJ-RFAE-BXG7-0000-01R1-0002-E408-3000-09RG-D5B4-B82Z-"
                "3G59-WEVX-5H78-MVRB-2FEZ-N0KE-31QT-WHR9-7")


def key(card: str = CARD_A, master: bytes = MASTER) -> bytes:
    return uc.credit_key(master, card)


def record(**changes: object) -> CreditRecord:
    return replace(EXAMPLE, **changes)


def resign(body: bytes, card: str = CARD_A) -> bytes:
    """Bytes with a valid MAC: what a buggy (but keyed) issuer could write."""
    return body + hmac.new(key(card), body, hashlib.sha256).digest()[:8]


def meter(**changes: object) -> MeterCardState:
    base = MeterCardState(meter_number=METER, purchase_count=6, balance=2_500, card_serial=CARD_A)
    return replace(base, **changes)


# --- key diversification ----------------------------------------------------------------------

@pytest.mark.parametrize("ki,fixed,ko", [   # NIST CAVP KBKDF, HMAC_SHA256, BEFORE_FIXED, RLEN=32
    ("dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0",
     ("01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d"
      "0315bb2911d80a0e8aba17f3b413faac"), "10621342bfb0fd40046c0e29f2cfdbf0"),
    ("e204d6d466aad507ffaf6d6dab0a5b26152c9e21e764370464e360c8fbc765c6",
     ("7b03b98d9f94b899e591f3ef264b71b193fba7043c7e953cde23bc5384bc1a6293580115fae3495fd845dadb"
      "d02bd6455cf48d0f62b33e62364a3a80"),
     "770dfab6a6a4a4bee0257ff335213f78d8287b4fd537d5c1fffa956910e7c779"),
    ("c4bedbddb66493e7c7259a3bbbc25f8c7e0ca7fe284d92d431d9cd99a0d214ac",
     ("1c69c54766791e315c2cc5c47ecd3ffab87d0d273dd920e70955814c220eacace6a5946542da3dfe24ff626b"
      "4897898cafb7db83bdff3c14fa46fd4b"),
     "1da47638d6c9c4d04d74d4640bbd42ab814d9e8cc22f4326695239f96b0693f12d0dd1152cf44430"),
])
def test_kdf_matches_nist_sp800_108_counter_mode_vectors(ki: str, fixed: str, ko: str) -> None:
    assert kdf_counter(bytes.fromhex(ki), bytes.fromhex(fixed), len(ko) // 2).hex() == ko


def test_diversify_is_the_kdf_with_purpose_label_and_card_serial_context() -> None:
    fixed = b"credit-mac\x00" + bytes.fromhex(CARD_A) + (256).to_bytes(4, "big")
    assert uc.diversify(MASTER, CARD_A, uc.CREDIT_MAC) == kdf_counter(MASTER, fixed, 32)
    assert key() == uc.diversify(MASTER, CARD_A, "credit-mac")


def test_diversified_keys_differ_per_card_purpose_master_and_length() -> None:
    keys = {uc.diversify(MASTER, CARD_A, "credit-mac"), uc.diversify(MASTER, CARD_B, "credit-mac"),
            uc.diversify(MASTER, CARD_A, "auth"), uc.diversify(OTHER_MASTER, CARD_A, "credit-mac")}
    assert len(keys) == 4
    short = uc.diversify(MASTER, CARD_A, "auth", length=16)
    assert len(short) == 16 and short != uc.diversify(MASTER, CARD_A, "auth")[:16]   # L is bound
    assert len(uc.diversify(MASTER, CARD_A, "auth", length=48)) == 48


def test_card_serial_may_be_bytes_or_hex_in_any_case_with_separators() -> None:
    for serial in (bytes.fromhex(CARD_A), CARD_A.lower(), "04 A1 B2 C3 D4 E5 F6 07",
                   "04:a1:b2:c3:d4:e5:f6:07"):
        assert key(serial) == key()


@pytest.mark.parametrize("master,serial,purpose,code,field", [
    (b"short", CARD_A, "auth", "key", "master_key"),
    ("not bytes", CARD_A, "auth", "key", "master_key"),
    (MASTER, CARD_A, "Credit MAC", "key", "purpose"),
    (MASTER, CARD_A, "", "key", "purpose"),
    (MASTER, "04A1B2C3", "auth", "format", "card_serial"),
    (MASTER, "04A1B2C3D4E5F6ZZ", "auth", "format", "card_serial"),
    (MASTER, 42, "auth", "format", "card_serial"),
])
def test_diversify_refuses_bad_input_naming_the_field(master, serial, purpose, code, field) -> None:
    with pytest.raises(CardError) as err:
        uc.diversify(master, serial, purpose)
    assert err.value.code == code and err.value.field == field
    assert str(err.value).startswith(field) and "expected" in str(err.value)


# --- meter numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("text,digits", [
    (METER, METER), (METER_13, METER_13), ("4750 0150 231", METER), ("4750-0150-231", METER),
    ("٤٧٥٠٠١٥٠٢٣١", METER), ("۴۷۵۰۰۱۵۰۲۳۱", METER),
])
def test_meter_numbers_are_sts_digits_with_a_luhn_check_digit(text: str, digits: str) -> None:
    assert uc.parse_meter_number(text) == digits


@pytest.mark.parametrize("text,expected", [
    ("47500150232", "expected last digit 1 (Luhn), got 2"),
    ("4750015023", "has 10 digits; expected 11 or 13"),
    ("475001502310", "has 12 digits; expected 11 or 13"),
    ("4750015023A", "is not a meter number"),
    ("", "is not a meter number"),
])
def test_bad_meter_numbers_say_what_was_expected(text: str, expected: str) -> None:
    with pytest.raises(FormatError, match=re.escape(expected)) as err:
        uc.parse_meter_number(text)
    assert err.value.field == "meter_number"


# --- the record -------------------------------------------------------------------------------

def test_record_normalises_serial_meter_number_and_vend_ref() -> None:
    r = record(card_serial=CARD_A.lower(), meter_number="4750 0150 231",
               vend_ref=bytes.fromhex("5F1C0A9E3B7D2C4E8A6F0B13"))
    assert (r.card_serial, r.meter_number, r.vend_ref) == (CARD_A, METER, EXAMPLE.vend_ref)
    assert r == EXAMPLE


@pytest.mark.parametrize("changes,field", [
    ({"utility_id": 0}, "utility_id"), ({"utility_id": 65_536}, "utility_id"),
    ({"purchase_count": 0}, "purchase_count"), ({"purchase_count": 2**32}, "purchase_count"),
    ({"purchase_count": True}, "purchase_count"), ({"credit": 0}, "credit"),
    ({"credit": 2**32}, "credit"), ({"credit": 10.0}, "credit"), ({"paid": -1}, "paid"),
    ({"issued_at": -1}, "issued_at"), ({"key_version": 256}, "key_version"),
    ({"currency": "USD"}, "currency"), ({"currency": "egp"}, "currency"),
    ({"unit": "kWh"}, "unit"), ({"kind": "refund"}, "kind"), ({"kind": ["credit"]}, "kind"),
    ({"version": 2}, "version"), ({"vend_ref": "5f1c"}, "vend_ref"),
    ({"vend_ref": "5f1c 0a9e 3b7d 2c4e 8a6f"}, "vend_ref"),
    ({"meter_number": 47500150231}, "meter_number"),
    ({"card_serial": "04A1"}, "card_serial"),
])
def test_invalid_fields_are_refused_by_name(changes: dict, field: str) -> None:
    with pytest.raises(FormatError) as err:
        record(**changes)
    assert err.value.field == field and "expected" in str(err.value)


def test_an_activation_may_carry_no_credit_but_a_credit_record_must() -> None:
    assert record(kind="activation", credit=0).credit == 0
    with pytest.raises(FormatError, match="credit: expected an integer from 1"):
        record(credit=0)


def test_vend_ref_from_id_is_fixed_by_the_vend_id() -> None:
    assert uc.vend_ref_from_id("vnd_42") == uc.vend_ref_from_id("vnd_42")
    assert uc.vend_ref_from_id("vnd_42") != uc.vend_ref_from_id("vnd_43")
    assert len(uc.vend_ref_from_id("vnd_42")) == 24
    with pytest.raises(FormatError):
        uc.vend_ref_from_id("")


# --- layout, MAC ------------------------------------------------------------------------------

def test_example_encodes_to_the_documented_bytes_and_text() -> None:
    data = uc.encode(EXAMPLE, key())
    assert data.hex() == EXAMPLE_HEX
    assert uc.to_text(data) == EXAMPLE_TEXT


def test_the_python_session_in_the_guide_runs_as_shown() -> None:
    guide = Path(__file__).resolve().parents[1] / "docs" / "utility-card.md"
    result = doctest.testfile(str(guide), module_relative=False, report=False)
    assert result.attempted >= 10 and result.failed == 0


def test_layout_fields_sit_at_their_documented_offsets() -> None:
    data = uc.encode(record(kind="activation", key_version=2, unit="energy", credit=12_345,
                            meter_number=METER_13, currency="DZD", paid=99_999), key())
    assert len(data) == uc.RECORD_LENGTH == 59
    assert data[0:3] == bytes([1, 2, 2])
    assert data[3:5] == (3).to_bytes(2, "big")
    assert data[5:12].hex().upper() == METER_13 + "F"
    assert data[12:20].hex().upper() == CARD_A
    assert struct.unpack(">I", data[20:24]) == (7,)
    assert data[24] == 2 and struct.unpack(">I", data[25:29]) == (12_345,)
    assert data[29:31].hex() == "0012" and struct.unpack(">I", data[31:35]) == (99_999,)
    assert struct.unpack(">I", data[35:39]) == (1_767_261_600,)
    assert data[39:51].hex() == EXAMPLE.vend_ref
    assert data[51:] == hmac.new(key(), data[:51], hashlib.sha256).digest()[:8]


def test_decode_returns_the_record_and_its_mac() -> None:
    data = uc.encode(EXAMPLE, key())
    decoded = uc.decode(data, key())
    assert decoded == EXAMPLE and decoded.mac == data[-8:]
    assert uc.key_id(data) == uc.KeyId(1, CARD_A)


def test_a_retried_vend_with_the_same_fields_gives_the_same_bytes() -> None:
    assert uc.encode(EXAMPLE, key()) == uc.encode(record(), key())


def test_a_record_copied_to_another_card_fails_the_mac() -> None:
    data = uc.encode(EXAMPLE, key())
    with pytest.raises(MacError) as err:
        uc.decode(data, key(CARD_B))            # the meter derives card B's key from card B
    assert err.value.code == "mac" and err.value.field_message == "card data mismatch"
    relabelled = data[:12] + bytes.fromhex(CARD_B) + data[20:]   # serial rewritten too
    with pytest.raises(MacError):
        uc.decode(relabelled, key(CARD_B))


def test_a_record_signed_under_another_master_key_fails_the_mac() -> None:
    with pytest.raises(MacError):
        uc.decode(uc.encode(EXAMPLE, key(master=OTHER_MASTER)), key())


@pytest.mark.parametrize("position", range(59))
def test_tampering_any_byte_fails(position: int) -> None:
    data = bytearray(uc.encode(EXAMPLE, key()))
    data[position] ^= 0x01
    expected = FormatError if position == 0 else MacError
    with pytest.raises(expected):
        uc.decode(bytes(data), key())


def test_raising_the_credit_fails_the_mac() -> None:
    data = bytearray(uc.encode(EXAMPLE, key()))
    data[25:29] = (1_000_000).to_bytes(4, "big")
    with pytest.raises(MacError):
        uc.decode(bytes(data), key())


@pytest.mark.parametrize("length", [0, 1, 20, 51, 58, 60, 118])
def test_truncated_or_padded_data_is_a_format_error(length: int) -> None:
    data = (uc.encode(EXAMPLE, key()) * 2)[:length]
    with pytest.raises(FormatError) as err:
        uc.decode(data, key())
    assert err.value.field == "record" and f"{length} bytes; expected 59" in str(err.value)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_an_unknown_version_is_a_format_error_even_when_signed(version: int) -> None:
    data = resign(bytes([version]) + uc.encode(EXAMPLE, key())[1:51])
    with pytest.raises(FormatError, match=f"version: {version} is not supported; expected 1"):
        uc.decode(data, key())
    with pytest.raises(FormatError):
        uc.key_id(data)


@pytest.mark.parametrize("offset,value,field", [
    (1, b"\x09", "kind"), (24, b"\x07", "unit"), (29, b"\x08\x40", "currency"),
    (29, b"\x18\x18", "currency"), (29, b"\x08\x1f", "currency"),
    (5, bytes.fromhex("47500150232FFF"), "meter_number"),
    (5, bytes.fromhex("4750F150231FFF"), "meter_number"),
    (5, bytes.fromhex("4750015023FFFF"), "meter_number"), (3, b"\x00\x00", "utility_id"),
    (20, b"\x00\x00\x00\x00", "purchase_count"),
])
def test_signed_but_malformed_fields_are_format_errors(offset: int, value: bytes,
                                                       field: str) -> None:
    body = bytearray(uc.encode(EXAMPLE, key())[:51])
    body[offset:offset + len(value)] = value
    with pytest.raises(FormatError) as err:
        uc.decode(resign(bytes(body)), key())
    assert err.value.field == field


@pytest.mark.parametrize("bad_key", [b"", b"0123456789", "a string key", None])
def test_decode_and_encode_refuse_a_missing_or_short_key(bad_key) -> None:
    with pytest.raises(CardKeyError):
        uc.decode(uc.encode(EXAMPLE, key()), bad_key)
    with pytest.raises(CardKeyError):
        uc.encode(EXAMPLE, bad_key)


def test_decode_refuses_what_is_not_bytes() -> None:
    with pytest.raises(FormatError, match="expected bytes"):
        uc.decode(EXAMPLE_HEX, key())


def test_check_for_meter_and_for_card() -> None:
    uc.check_for_meter(EXAMPLE, "4750 0150 231")
    with pytest.raises(uc.MeterMismatch, match=f"for meter {METER}; expected {OTHER_METER}") as err:
        uc.check_for_meter(EXAMPLE, OTHER_METER)
    assert err.value.field_message == "card not for this meter"
    uc.check_for_card(EXAMPLE, CARD_A.lower())
    with pytest.raises(uc.CardMismatch, match=f"expected {CARD_B}"):
        uc.check_for_card(EXAMPLE, CARD_B)


# --- text form --------------------------------------------------------------------------------

def test_text_form_tolerates_case_spacing_and_look_alike_letters() -> None:
    data = uc.encode(EXAMPLE, key())
    loose = EXAMPLE_TEXT.lower().replace("-", " ")
    assert uc.from_text(loose) == data
    assert uc.from_text(EXAMPLE_TEXT.replace("-", "")) == data
    assert uc.from_text(EXAMPLE_TEXT.replace("0", "O").replace("1", "I")) == data
    assert uc.from_text(EXAMPLE_TEXT.replace("1", "l")) == data
    assert uc.from_text(EXAMPLE_TEXT.replace("2", "٢").replace("4", "۴")) == data


def test_every_single_character_typo_in_the_example_is_caught() -> None:
    text = EXAMPLE_TEXT.replace("-", "")
    for i, ch in enumerate(text):
        for other in ALPHABET:
            if other != ch:
                with pytest.raises(TextError):
                    uc.from_text(text[:i] + other + text[i + 1:])


def test_every_swap_of_neighbouring_characters_in_the_example_is_caught() -> None:
    text = EXAMPLE_TEXT.replace("-", "")
    for i in range(len(text) - 1):
        if text[i] != text[i + 1]:
            with pytest.raises(TextError):
                uc.from_text(text[:i] + text[i + 1] + text[i] + text[i + 2:])


def test_a_missing_or_extra_character_never_yields_a_record() -> None:
    text = EXAMPLE_TEXT.replace("-", "")
    for i in range(len(text)):
        for variant in (text[:i] + text[i + 1:], text[:i] + "7" + text[i:]):
            with pytest.raises(CardError):
                uc.decode(uc.from_text(variant), key())


@pytest.mark.parametrize("text,expected", [
    ("040G-U001", "'U' at position 5 is not a code character"),
    ("04", "2 characters; expected the whole code"),
    (b"040G", "expected a string"),
])
def test_text_errors_say_where(text, expected: str) -> None:
    with pytest.raises(TextError, match=expected) as err:
        uc.from_text(text)
    assert err.value.code == "text"


# --- the meter's rule -------------------------------------------------------------------------

def test_the_next_purchase_is_credited() -> None:
    out = uc.apply(meter(), EXAMPLE, hoarding_limit=LIMIT)
    assert (out.status, out.credited, out.registered) == ("credited", 10_000, False)
    assert out.error is None
    assert out.state == meter(purchase_count=7, balance=12_500)


@pytest.mark.parametrize("meter_count", [7, 8, 100])
def test_a_replayed_or_older_record_is_already_loaded(meter_count: int) -> None:
    state = meter(purchase_count=meter_count)
    out = uc.apply(state, EXAMPLE, hoarding_limit=LIMIT)
    assert (out.status, out.state, out.credited, out.code) == ("already_loaded", state, 0, None)


def test_loading_the_same_record_twice_credits_once() -> None:
    first = uc.apply(meter(), EXAMPLE, hoarding_limit=LIMIT)
    again = uc.apply(first.state, uc.decode(uc.encode(EXAMPLE, key()), key()), hoarding_limit=LIMIT)
    assert again.status == "already_loaded" and again.state.balance == 12_500


@pytest.mark.parametrize("meter_count", [5, 0])
def test_a_skipped_purchase_is_a_recharge_count_mismatch(meter_count: int) -> None:
    state = meter(purchase_count=meter_count)
    out = uc.apply(state, EXAMPLE, hoarding_limit=LIMIT)
    assert (out.status, out.state, out.code) == ("refused", state, "count")
    assert out.error.field_message == "recharge-count mismatch"
    assert f"expected {meter_count + 1} (this meter's count + 1)" in str(out.error)


def test_a_record_for_another_meter_is_refused() -> None:
    out = uc.apply(meter(meter_number=OTHER_METER), EXAMPLE, hoarding_limit=LIMIT)
    assert (out.status, out.code, out.error.field) == ("refused", "meter", "meter_number")


def test_a_credit_for_an_unregistered_card_is_refused() -> None:
    out = uc.apply(meter(card_serial=CARD_B), EXAMPLE, hoarding_limit=LIMIT)
    assert (out.status, out.code) == ("refused", "card")
    out = uc.apply(meter(card_serial=None, purchase_count=0), record(purchase_count=1),
                   hoarding_limit=LIMIT)
    assert out.code == "card" and "activation record first" in str(out.error)


def test_activation_registers_the_card_with_the_companys_first_charge() -> None:
    fresh = MeterCardState(meter_number=METER)
    first = record(kind="activation", purchase_count=1, credit=1_800)
    out = uc.apply(fresh, first, hoarding_limit=LIMIT)
    assert (out.status, out.registered, out.credited) == ("credited", True, 1_800)
    assert out.state == MeterCardState(meter_number=METER, purchase_count=1, balance=1_800,
                                       card_serial=CARD_A)


def test_a_replacement_card_kills_the_lost_card() -> None:
    state = meter()                                                     # card A at count 6
    lost_card_record = record(purchase_count=8)                         # would follow count 7
    replacement = record(kind="activation", card_serial=CARD_B, purchase_count=7, credit=0)
    out = uc.apply(state, replacement, hoarding_limit=LIMIT)
    assert out.registered and out.state.card_serial == CARD_B and out.state.purchase_count == 7
    assert uc.apply(out.state, lost_card_record, hoarding_limit=LIMIT).code == "card"
    # an old activation of card A, replayed, cannot bring it back: its count is used up
    old_activation = record(kind="activation", purchase_count=1)
    assert uc.apply(out.state, old_activation, hoarding_limit=LIMIT).status == "already_loaded"


@pytest.mark.parametrize("balance,credit,status", [
    (490_000, 10_000, "credited"), (490_001, 10_000, "refused"), (0, LIMIT + 1, "refused"),
    (-500, LIMIT + 500, "credited"),
])
def test_credit_above_the_hoarding_limit_is_refused(balance: int, credit: int, status: str) -> None:
    state = meter(balance=balance)
    out = uc.apply(state, record(credit=credit), hoarding_limit=LIMIT)
    assert out.status == status
    if status == "refused":
        assert out.code == "hoarding" and out.state == state and "hoarding limit" in str(out.error)


@pytest.mark.parametrize("changes,expected", [
    ({"unit": "energy"}, "credits energy (0.01 kWh); expected EGP"),
    ({"currency": "DZD"}, "credits DZD; expected EGP"),
])
def test_credit_in_another_unit_or_currency_is_refused(changes: dict, expected: str) -> None:
    out = uc.apply(meter(), record(**changes), hoarding_limit=LIMIT)
    assert out.code == "unit" and expected in str(out.error)
    energy_meter = meter(unit="energy")
    assert uc.apply(energy_meter, record(unit="energy"), hoarding_limit=LIMIT).status == "credited"


def test_apply_refuses_a_bad_hoarding_limit_and_bad_state() -> None:
    with pytest.raises(FormatError, match="hoarding_limit"):
        uc.apply(meter(), EXAMPLE, hoarding_limit=-1)
    with pytest.raises(FormatError, match="purchase_count"):
        meter(purchase_count=-1)
    with pytest.raises(FormatError, match="meter_number"):
        meter(meter_number="12345")


def test_every_code_has_a_field_message() -> None:
    for cls in (FormatError, TextError, MacError, CardKeyError, uc.MeterMismatch, uc.CardMismatch,
                uc.UnitMismatch, uc.CountMismatch, uc.HoardingLimit):
        assert cls.code in uc.FIELD_ERRORS and issubclass(cls, ValueError)


# --- properties -------------------------------------------------------------------------------

def _with_check_digit(body: str) -> str:
    return body + str(uc.luhn_digit(body))


meter_numbers = st.one_of(st.text("0123456789", min_size=10, max_size=10),
                          st.text("0123456789", min_size=12, max_size=12)).map(_with_check_digit)
uint32 = st.integers(0, 2**32 - 1)
records = st.builds(
    lambda kind, credit, **kw: CreditRecord(kind=kind, credit=max(credit, int(kind == "credit")),
                                            **kw),
    kind=st.sampled_from(["credit", "activation"]), credit=uint32,
    meter_number=meter_numbers, card_serial=st.binary(min_size=8, max_size=8),
    utility_id=st.integers(1, 0xFFFF), purchase_count=st.integers(1, 2**32 - 1), paid=uint32,
    currency=st.sampled_from(["EGP", "DZD", "IRR"]), issued_at=uint32,
    vend_ref=st.binary(min_size=12, max_size=12), unit=st.sampled_from(["money", "energy"]),
    key_version=st.integers(0, 255))
masters = st.binary(min_size=16, max_size=64)


@given(records, masters)
def test_property_encode_decode_roundtrip(r: CreditRecord, master: bytes) -> None:
    k = uc.credit_key(master, r.card_serial)
    data = uc.encode(r, k)
    assert len(data) == uc.RECORD_LENGTH and uc.decode(data, k) == r
    assert uc.key_id(data) == (r.key_version, r.card_serial)


@given(records, st.integers(0, 59 * 8 - 1))
def test_property_any_single_bit_flip_is_detected(r: CreditRecord, bit: int) -> None:
    k = uc.credit_key(MASTER, r.card_serial)
    data = bytearray(uc.encode(r, k))
    data[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(CardError):
        uc.decode(bytes(data), k)


@given(st.one_of(st.binary(max_size=120), st.binary(min_size=58, max_size=58).map(b"\x01".__add__)))
def test_property_decoding_random_bytes_raises_only_card_errors(data: bytes) -> None:
    with pytest.raises(CardError):
        uc.decode(data, key())


@given(st.binary(min_size=1, max_size=100))
def test_property_text_roundtrip(data: bytes) -> None:
    text = uc.to_text(data)
    assert uc.from_text(text) == data and set(text) <= set(ALPHABET + "-")


@given(st.binary(min_size=1, max_size=80), st.data())
def test_property_any_single_character_typo_is_detected(data: bytes, draw: st.DataObject) -> None:
    text = uc.to_text(data).replace("-", "")
    i = draw.draw(st.integers(0, len(text) - 1))
    other = draw.draw(st.sampled_from([c for c in ALPHABET if c != text[i]]))
    with pytest.raises(TextError):
        uc.from_text(text[:i] + other + text[i + 1:])


@given(st.text(max_size=120))
def test_property_from_text_of_any_text_raises_only_card_errors(text: str) -> None:
    try:
        uc.from_text(text)
    except CardError:
        pass


@settings(max_examples=200)
@given(st.integers(0, 2**32 - 2), st.integers(1, 2**32 - 1), st.integers(-10_000, LIMIT),
       st.integers(1, LIMIT))
def test_property_the_count_rule(meter_count: int, count: int, balance: int, credit: int) -> None:
    state = meter(purchase_count=meter_count, balance=balance)
    out = uc.apply(state, record(purchase_count=count, credit=credit), hoarding_limit=LIMIT)
    assert out.state.balance == balance + out.credited
    if count <= meter_count:
        assert out.status == "already_loaded" and out.state == state
    elif count >= meter_count + 2:
        assert out.code == "count" and out.state == state
    elif balance + credit > LIMIT:
        assert out.code == "hoarding" and out.state == state
    else:
        assert out.status == "credited" and out.state.purchase_count == count
