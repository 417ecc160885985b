"""STS primitives: CRC, TID, amounts, STA by the letter of sts.md, MISTY1 (RFC 2994), DES, DKGA, keys."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.sts import (
    AMOUNT_MAX, TID_MAX, Algorithm, DecoderKey, DecoderKeyError, FieldError, MeterPan, TidRangeError,
    TokenTextError, TransferElectricityCredit, amount_field, amount_value, credit_tenths, digits_of, dkga02,
    dkga04, issued_at, rollover, tid_of, token_crc,
)
from protocols.sts import misty1, sta
from protocols.sts.des import des_encrypt
from protocols.sts.fields import crc16_modbus
from protocols.sts.tables import STA_P, STA_P_INV, STA_S1, STA_S1_INV, STA_S2, STA_S2_INV

M64 = (1 << 64) - 1
blocks = st.integers(0, M64)
sta_keys = st.integers(0, M64)
misty_keys = st.integers(0, (1 << 128) - 1)


# ----------------------------------------------------------------------------- CRC
def test_crc_of_the_spec_example() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37                     # the CRC-16/MODBUS check value
    assert crc16_modbus((12205947027712).to_bytes(7, "big")) == 0x07C2
    assert token_crc(0, 0x0B19EB230100 << 16) == 0xC207              # bytes swapped: 49671
    assert token_crc(0, 0x0B19EB230100 << 16 | 0x1234) == 0xC207     # the CRC bits are not covered


def test_crc_covers_the_class_bits() -> None:
    assert token_crc(1, 0x0B19EB230100 << 16) != token_crc(0, 0x0B19EB230100 << 16)


# ----------------------------------------------------------------------------- TID
def test_tid_check_values() -> None:
    assert tid_of(datetime(1996, 3, 25, 13, 55, 22), 1993) == 0x19EB23     # 1698595
    assert tid_of(datetime(2014, 1, 1, 8, 0), 2014) == 480
    assert tid_of(datetime(1993, 1, 1), 1993) == 0
    assert tid_of(datetime(2035, 1, 1, 0, 0, 59), 2035) == 0


def test_tid_counts_00_01_as_00_02_like_the_reference() -> None:
    assert tid_of(datetime(2004, 3, 29, 0, 1), 1993) == tid_of(datetime(2004, 3, 29, 0, 2), 1993)
    assert tid_of(datetime(2004, 3, 29, 0, 0), 1993) + 2 == tid_of(datetime(2004, 3, 29, 0, 2), 1993)
    assert tid_of(datetime(2004, 3, 29, 12, 1), 1993) + 1 == tid_of(datetime(2004, 3, 29, 12, 2), 1993)


def test_tid_rollover_of_base_date_1993_on_2024_11_24() -> None:
    assert rollover(1993) == datetime(2024, 11, 24, 20, 16)
    assert tid_of(datetime(2024, 11, 24, 20, 15, 59), 1993) == TID_MAX
    with pytest.raises(TidRangeError, match="rolls over") as caught:
        tid_of(datetime(2024, 11, 24, 20, 16), 1993)
    assert caught.value.field == "issue time" and "2024-11-24T20:15" in str(caught.value)
    after = tid_of(datetime(2024, 11, 24, 20, 16), 2014)       # a meter moved to base date 2014
    assert issued_at(after, 2014) == datetime(2024, 11, 24, 20, 16)
    assert rollover(2014) == datetime(2045, 11, 24, 20, 16)


def test_tid_before_the_base_date_or_with_a_bad_base_is_refused() -> None:
    with pytest.raises(TidRangeError, match="on or after the base date 2014-01-01"):
        tid_of(datetime(2013, 12, 31, 23, 59), 2014)
    with pytest.raises(FieldError, match="base date"):
        tid_of(datetime(2020, 1, 1), "2014")
    with pytest.raises(FieldError, match="a datetime"):
        tid_of("2020-01-01", 2014)


def test_aware_issue_times_count_by_their_wall_clock() -> None:
    nairobi = timezone(timedelta(hours=3))
    assert tid_of(datetime(1996, 3, 25, 13, 55, tzinfo=nairobi), 1993) == 0x19EB23


@given(st.datetimes(min_value=datetime(1993, 1, 1), max_value=datetime(2024, 11, 24, 20, 15)))
def test_issued_at_inverts_tid_of_to_the_minute(moment: datetime) -> None:
    tid = tid_of(moment, 1993)
    expected = moment.replace(second=0, microsecond=0)
    if (moment.hour, moment.minute) == (0, 1):
        expected += timedelta(minutes=1)
    assert issued_at(tid, 1993) == expected


# ----------------------------------------------------------------------------- amounts
@pytest.mark.parametrize(("units", "tenths"), [
    (0.1, 1), (0.4712, 5), (0.01, 1), (0, 0), (1.82, 18), (18981.349, 189813), (25.6, 256), (1, 10),
    (Decimal("0.35"), 4), (Decimal("1820162.4"), 18201624),
])
def test_credit_tenths_rounds_like_the_reference(units: float, tenths: int) -> None:
    assert credit_tenths(units) == tenths


@pytest.mark.parametrize(("value", "field"), [
    (0, 0), (256, 0x0100), (16383, 0x3FFF), (16384, 0x4000), (16385, 0x4001), (18201624, 0xFFFF),
    (180215, 0x8000),          # mantissa 16383.1 rounds up to 16384: the next exponent's 0, same value
])
def test_amount_field_examples(value: int, field: int) -> None:
    assert amount_field(value) == field


def test_amount_value_decodes_the_exponent_and_offsets() -> None:
    assert amount_value(0x0100) == 256
    assert amount_value(0x4001) == 16394
    assert amount_value(0x8000) == 180224 == 16384 * 11
    assert amount_value(0xFFFF) == AMOUNT_MAX == 18201624


@given(st.integers(0, AMOUNT_MAX))
def test_amount_rounds_up_by_less_than_one_step(value: int) -> None:
    field = amount_field(value)
    decoded = amount_value(field)
    assert 0 <= decoded - value < 10 ** (field >> 14)
    assert amount_field(decoded) == field


@pytest.mark.parametrize("bad", [-1, AMOUNT_MAX + 1, 1.5, True, "10"])
def test_amount_field_out_of_range(bad: object) -> None:
    with pytest.raises(FieldError, match=r"expected an integer 0\.\.18201624") as caught:
        amount_field(bad)
    assert caught.value.field == "amount"


@pytest.mark.parametrize(("units", "message"), [
    (-0.1, "units >= 0"), (float("nan"), "finite"), (float("inf"), "finite"), (True, "a finite number"),
    ("5", "a finite number"), (1820162.5, "at most 1820162.4 units"),
])
def test_credit_out_of_range(units: object, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        TransferElectricityCredit.of(units, tid=1)


def test_token_fields_too_wide_are_refused() -> None:
    with pytest.raises(FieldError, match=r"TransferElectricityCredit.rnd 16: expected an integer 0\.\.15"):
        TransferElectricityCredit(amount_field=0, tid=0, rnd=16)
    with pytest.raises(FieldError, match=r"tid 16777216"):
        TransferElectricityCredit(amount_field=0, tid=TID_MAX + 1, rnd=0)


# ----------------------------------------------------------------------------- STA by the letter
def _rol(x: int, n: int) -> int:
    return (x << n | x >> (64 - n)) & M64


def _sta_encrypt_by_the_letter(block: int, dk: int) -> int:
    """sts.md §2.2 step by step: complement, rotate right 12, then 16 rounds with a per-bit permutation."""
    k = _rol(~dk & M64, 64 - 12)
    for _ in range(16):
        substituted = 0
        for n in range(16):
            nibble = block >> 4 * n & 15
            box = STA_S2 if k >> (4 * n + 3) & 1 else STA_S1
            substituted |= box[nibble] << 4 * n
        block = 0
        for i in range(64):
            block |= (substituted >> i & 1) << STA_P[i]
        k = _rol(k, 1)
    return block


def _sta_decrypt_by_the_letter(block: int, dk: int) -> int:
    """sts.md §2.3, the reference's decryption: raw key, Pd, then tables by bit 4n, rotate right 1."""
    decrypt_first, decrypt_second = STA_S2_INV, STA_S1_INV
    k = dk
    for _ in range(16):
        permuted = 0
        for i in range(64):
            permuted |= (block >> i & 1) << STA_P_INV[i]
        block = 0
        for n in range(16):
            box = decrypt_second if k >> 4 * n & 1 else decrypt_first
            block |= box[permuted >> 4 * n & 15] << 4 * n
        k = _rol(k, 63)
    return block


def test_sta_key_preprocessing_check_value() -> None:
    dk = int.from_bytes(bytes([0x89, 0x67, 0x45, 0xF3, 0xDE, 0x12, 0xBC, 0x0A]), "little")   # reference order
    assert dk == 0x0ABC12DEF3456789
    assert (~dk & M64).to_bytes(8, "little") == bytes([0x76, 0x98, 0xBA, 0x0C, 0x21, 0xED, 0x43, 0xF5])
    assert _rol(~dk & M64, 52).to_bytes(8, "little") == bytes([0xA9, 0xCB, 0x10, 0xD2, 0x3E, 0x54, 0x6F, 0x87])


def test_sta_unit_token_block() -> None:
    block = 0x0B19EB230100C207
    encrypted = sta.encrypt(block, 0x0ABC12DEF3456789)
    assert encrypted == _sta_encrypt_by_the_letter(block, 0x0ABC12DEF3456789)
    assert sta.decrypt(encrypted, 0x0ABC12DEF3456789) == block


@given(blocks, sta_keys)
def test_sta_tables_match_the_spec_step_by_step(block: int, key: int) -> None:
    encrypted = sta.encrypt(block, key)
    assert encrypted == _sta_encrypt_by_the_letter(block, key)
    assert _sta_decrypt_by_the_letter(encrypted, key) == block


@given(blocks, sta_keys)
def test_sta_decrypt_inverts_encrypt(block: int, key: int) -> None:
    assert sta.decrypt(sta.encrypt(block, key), key) == block
    assert sta.encrypt(sta.decrypt(block, key), key) == block


def test_sta_tables_are_inverse_pairs() -> None:
    assert all(STA_S1_INV[STA_S1[x]] == x and STA_S2_INV[STA_S2[x]] == x for x in range(16))
    assert all(STA_P_INV[STA_P[i]] == i for i in range(64))


# ----------------------------------------------------------------------------- MISTY1 (RFC 2994)
def test_misty1_rfc_2994_vectors() -> None:
    key = 0x00112233445566778899AABBCCDDEEFF
    assert misty1.encrypt(0x0123456789ABCDEF, key) == 0x8B1DA5F56AB3D07C
    assert misty1.encrypt(0xFEDCBA9876543210, key) == 0x04B68240B13BE95D
    assert misty1.decrypt(0x8B1DA5F56AB3D07C, key) == 0x0123456789ABCDEF


@given(blocks, misty_keys)
def test_misty1_decrypt_inverts_encrypt(block: int, key: int) -> None:
    assert misty1.decrypt(misty1.encrypt(block, key), key) == block


# ----------------------------------------------------------------------------- DES and DKGA
def test_des_known_answers() -> None:
    assert des_encrypt(bytes.fromhex("133457799BBCDFF1"), bytes.fromhex("0123456789ABCDEF")).hex() == "85e813540f0ab405"
    assert des_encrypt(bytes.fromhex("0E329232EA6D0D73"), bytes.fromhex("8787878787878787")) == bytes(8)


def test_dkga02_check_value() -> None:
    key = dkga02("abababababababab", pan="600727000000000009", key_type=2, supply_group_code="123456",
                 tariff_index="01", key_revision=1)
    assert key.hex() == "e653341f9d5bf36f"
    assert key.reference_hex() == "6ff35b9d1f3453e6"         # as the reference prints it
    assert dkga02(bytes.fromhex("abababababababab"), pan=MeterPan.parse("600727000000000009"), key_type=2,
                  supply_group_code=123456, tariff_index=1, key_revision=1) == key


def test_pan_blocks() -> None:
    assert MeterPan.parse("600727000000000009").block(2) == 0x0072700000000000
    assert MeterPan.parse("000001000000000082").block(2) == 0x0000100000000008
    assert MeterPan.parse("600727475001502312").block(3) == 0x0072700000000000    # DCTK: IAIN zeroed


@pytest.mark.parametrize(("pan", "message"), [
    ("60072700000000000", "18 digits"), ("600727000000000008", r"check digit 9 \(Luhn\), not 8"),
    ("123456000000000009", "IIN of 600727 or 0000"), ("60072700000000000x", "18 digits"),
])
def test_bad_pans(pan: str, message: str) -> None:
    with pytest.raises(FieldError, match=message):
        MeterPan.parse(pan)


@pytest.mark.parametrize(("change", "message"), [
    ({"vending_key": "abab"}, "4 hex digits, expected 16"), ({"vending_key": b"\x01" * 7}, "7 bytes, expected 8"),
    ({"key_revision": 0}, "key revision number 0"), ({"key_type": 4}, "key type 4"),
    ({"supply_group_code": "12345"}, "6 decimal digits"), ({"tariff_index": "1"}, "2 decimal digits"),
])
def test_dkga02_bad_inputs(change: dict, message: str) -> None:
    args = {"vending_key": "abababababababab", "pan": "600727000000000009", "key_type": 2,
            "supply_group_code": "123456", "tariff_index": "01", "key_revision": 1} | change
    with pytest.raises((FieldError, DecoderKeyError), match=message):
        dkga02(args.pop("vending_key"), **args)


def test_dkga04_keys_and_bad_inputs() -> None:
    args = {"pan": "600727000000000009", "key_type": 2, "supply_group_code": "123457", "tariff_index": "01",
            "key_revision": 1}
    vk = "abababababababab949494949494949401234567"
    sta_key = dkga04(vk, **args, base_date=1993, algorithm=Algorithm.STA)
    misty_key = dkga04(vk, **args, base_date=1993)
    assert sta_key.algorithm is Algorithm.STA and misty_key.algorithm is Algorithm.MISTY1
    assert dkga04(vk, **args, base_date=2014) != misty_key
    with pytest.raises(FieldError, match="DKGA04 base date 2000"):
        dkga04(vk, **args, base_date=2000)
    with pytest.raises(DecoderKeyError, match="16 hex digits, expected 40"):
        dkga04("abababababababab", **args, base_date=1993)


# ----------------------------------------------------------------------------- keys and token text
def test_decoder_keys_from_hex() -> None:
    assert DecoderKey.from_hex("0x0ABC 12DE F345 6789").value == 0x0ABC12DEF3456789
    assert DecoderKey.from_hex("00112233445566778899aabbccddeeff", Algorithm.MISTY1).algorithm is Algorithm.MISTY1
    with pytest.raises(DecoderKeyError, match="16 hex digits, expected 32$"):
        DecoderKey.from_hex("0abc12def3456789", Algorithm.MISTY1)
    with pytest.raises(DecoderKeyError, match="'z' at position 1 is not a hex digit"):
        DecoderKey.from_hex("zabc12def3456789")
    with pytest.raises(DecoderKeyError, match="64-bit number"):
        DecoderKey(Algorithm.STA, 1 << 64)
    assert [Algorithm.parse(t) for t in ("sta", "EA07", "07", "MISTY1", "ea11")] == \
        [Algorithm.STA] * 3 + [Algorithm.MISTY1] * 2


def test_digits_of_folds_what_people_type() -> None:
    assert digits_of("٠١٢٣٤٥٦٧٨٩ ۰۱۲۳۴۵۶۷۸۹") == "01234567890123456789"
    assert digits_of(" 0123-4567\u20138901\u22122345 6789\n") == "01234567890123456789"
    with pytest.raises(TokenTextError, match="expected a string"):
        digits_of(12345678901234567890)
    with pytest.raises(TokenTextError, match="'.' at position 5"):
        digits_of("0123.4567890123456789")
