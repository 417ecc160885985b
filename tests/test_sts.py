"""STS tokens: every vector of shared/specs/sts-vectors.json, the meter's results, TidMemory, the CLI.

The vector file lives beside the repository (``shared/specs``), as in CI's fresh clone.
Primitives are in test_sts_primitives.py, hypothesis properties in test_sts_properties.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from protocols.sts import (
    Algorithm, ClearCredit, DecoderKey, DecoderKeyError, InitiateMeterTestOrDisplay1,
    InitiateMeterTestOrDisplay2, KeyExpiredError, KeyType, Set1stSectionDecoderKey, Set2ndSectionDecoderKey,
    Set3rdSectionDecoderKey, SetMaximumPowerLimit, TidMemory, TokenResult, TokenTextError,
    TransferElectricityCredit, TransferWaterCredit, decode, dkga02, encode, encode_block, key_change_tokens,
    new_key_from, tid_of,
)
from protocols.sts.__main__ import main
from protocols.sts.verify import check, load_vectors

REPO = Path(__file__).parents[1]
VECTORS = Path(__file__).parents[2] / "shared" / "specs" / "sts-vectors.json"
MISSING = (f"STS vector file not found at {VECTORS}: the tests expect the shared/ folder beside the "
           f"repository ({REPO.parent}/shared/specs/sts-vectors.json), as in CI's checkout")

# The compliance tests' meter (sts.md §6) and the reference's unit-test key (sts.md §2.1).
CTS_KEY = dkga02("abababababababab", pan="600727000000000009", key_type=2, supply_group_code="123456",
                 tariff_index="01", key_revision=1)
UNIT_KEY = DecoderKey.from_hex("0abc12def3456789")
UNIT_TOKEN = "29054347139309851356"      # 25.6 kWh, TID 0x19EB23, RND 11 under UNIT_KEY


def _vectors() -> list:
    if not VECTORS.is_file():
        return [pytest.param(None, id="vector-file-missing")]
    return [pytest.param(v, id=f"{v['id']}-{v['direction']}-{v.get('token_type', '')}")
            for v in load_vectors(VECTORS)]


@pytest.mark.parametrize("vector", _vectors())
def test_vector(vector: dict | None) -> None:
    if vector is None:
        pytest.fail(MISSING, pytrace=False)
    outcome = check(vector)
    assert outcome.passed, f"vector {outcome.id}: {outcome.reason}"


def test_vector_file_holds_the_257_vectors_of_sts_md() -> None:
    if not VECTORS.is_file():
        pytest.fail(MISSING, pytrace=False)
    vectors = load_vectors(VECTORS)
    assert len(vectors) == 257
    assert {v["direction"] for v in vectors} == {"decoder_key", "encode", "decode", "expected_error"}


def test_verify_command_prints_the_summary_line_alone() -> None:
    if not VECTORS.is_file():
        pytest.fail(MISSING, pytrace=False)
    run = subprocess.run([sys.executable, "-m", "protocols.sts", "verify", str(VECTORS)], cwd=REPO,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == ["257 passed, 0 failed"]


def test_verify_lists_each_failure_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = {"id": 1, "source": "t", "direction": "encode", "algorithm": "none", "token_class": 1,
            "token_subclass": 0, "token_type": "InitiateMeterTestOrDisplay1",
            "manufacturer_code": {"value": 0, "bits": 8}, "control": {"value": 68719476735, "bits": 36},
            "expected_token": "56493153725450313471"}
    wrong = dict(good, id=2, expected_token="56493153725450313470")
    odd = dict(good, id=3, direction="sideways")
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps([good, wrong, odd]))
    assert main(["verify", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("FAIL 2: encoded 56493153725450313471, expected 56493153725450313470")
    assert lines[1] == "FAIL 3: unknown direction 'sideways'"
    assert lines[-1] == "1 passed, 2 failed"


def test_verify_refuses_a_file_that_is_not_vectors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"id": 1}')
    assert main(["verify", str(path)]) == 2
    assert "expected a JSON list of objects" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "absent.json")]) == 2
    assert "cannot read vector file" in capsys.readouterr().err


# ----------------------------------------------------------------------------- results of decode
def test_decode_reads_the_reference_unit_token() -> None:
    decoded = decode(UNIT_TOKEN, UNIT_KEY)
    assert decoded.result is TokenResult.ACCEPTED and decoded.accepted
    assert decoded.token == TransferElectricityCredit(amount_field=0x0100, tid=0x19EB23, rnd=11)
    assert decoded.token.units == 25.6 and decoded.crc == 0xC207 and decoded.tid == 0x19EB23
    assert decoded.token.issued() == datetime(1996, 3, 25, 13, 55)


def test_typed_tokens_are_folded() -> None:
    for typed in ("2905 4347 1393 0985 1356", "2905-4347-1393-0985-1356", "2905\u20134347 1393\u00a00985 1356",
                  "٢٩٠٥٤٣٤٧١٣٩٣٠٩٨٥١٣٥٦", "۲۹۰۵ ۴۳۴۷ ۱۳۹۳ ۰۹۸۵ ۱۳۵۶"):
        assert decode(typed, UNIT_KEY).token == decode(UNIT_TOKEN, UNIT_KEY).token, typed


def test_wrong_key_or_typing_error_fails_authentication() -> None:
    assert decode(UNIT_TOKEN, CTS_KEY).result is TokenResult.AUTHENTICATION
    mistyped = decode("29054347139309851357", UNIT_KEY)
    assert mistyped.result is TokenResult.AUTHENTICATION and mistyped.token is None
    assert "mistyped, or made for another meter or key" in mistyped.reason


def test_unencrypted_token_with_a_bad_crc_is_a_crc_error() -> None:
    digits = encode(InitiateMeterTestOrDisplay2(manufacturer_code=0, control=1))
    assert digits == "01152921509036054672"
    number = int(digits) ^ 1 << 40          # a bit far from the class bits: still class 1
    result = decode(f"{number:020d}")
    assert result.result is TokenResult.CRC_ERROR and result.token_class == 1


def test_class_3_and_unknown_subclasses_are_format_errors() -> None:
    assert decode(encode_block(3, 0, UNIT_KEY), UNIT_KEY).result is TokenResult.FORMAT
    unknown = decode(encode_block(2, 12 << 60, UNIT_KEY), UNIT_KEY)
    assert unknown.result is TokenResult.FORMAT and "class 2 subclass 12" in unknown.reason
    assert decode(encode_block(1, 5 << 60, None)).result is TokenResult.FORMAT
    third = Set3rdSectionDecoderKey(nkmo2=1, sgc_low=2)
    sta_third = decode(encode_block(2, third.block(), UNIT_KEY), UNIT_KEY)
    assert sta_third.result is TokenResult.FORMAT and "STA" in sta_third.reason


def test_fields_out_of_range_are_range_results() -> None:
    krn_zero = Set1stSectionDecoderKey(nkho=1, key_type=2, res=0, rollover=0, key_revision=0, kenho=15)
    result = decode(encode(krn_zero, UNIT_KEY), UNIT_KEY)
    assert result.result is TokenResult.RANGE and "key revision number 0" in result.reason
    ti_120 = Set2ndSectionDecoderKey(nklo=1, tariff_index=120, kenlo=15)
    assert decode(encode(ti_120, UNIT_KEY), UNIT_KEY).result is TokenResult.RANGE


def test_key_expiry_is_checked_on_both_sides() -> None:
    token = TransferElectricityCredit.of(1, tid=85 * 65535 + 1)
    with pytest.raises(KeyExpiredError, match="key expiry number 85"):
        encode(token, UNIT_KEY, key_expiry_number=85)
    digits = encode(token, UNIT_KEY, key_expiry_number=86)
    assert decode(digits, UNIT_KEY, key_expiry_number=85).result is TokenResult.KEY_EXPIRED
    assert decode(digits, UNIT_KEY, key_expiry_number=86).result is TokenResult.ACCEPTED
    assert decode(digits, UNIT_KEY).result is TokenResult.ACCEPTED


def test_a_meter_on_its_initialisation_key_takes_key_changes_only() -> None:
    credit = encode(TransferElectricityCredit.of(5, tid=1000), UNIT_KEY)
    assert decode(credit, UNIT_KEY, key_type=KeyType.DITK).result is TokenResult.KEY_TYPE
    assert decode(credit, UNIT_KEY, key_type=KeyType.DUTK).result is TokenResult.ACCEPTED
    for section in key_change_tokens(CTS_KEY, key_type=2, key_revision=1, tariff_index=1, key_expiry_number=255):
        assert decode(encode(section, UNIT_KEY), UNIT_KEY, key_type=KeyType.DITK).accepted


def test_encrypted_tokens_need_a_key() -> None:
    with pytest.raises(DecoderKeyError, match="a decoder key is needed"):
        encode(ClearCredit(register=0, tid=1, rnd=0))
    with pytest.raises(DecoderKeyError, match="a decoder key is needed"):
        decode(UNIT_TOKEN)
    with pytest.raises(DecoderKeyError, match="MISTY1 keys only"):
        encode(Set3rdSectionDecoderKey(nkmo2=1, sgc_low=1), UNIT_KEY)


def test_bad_token_text_names_what_was_expected() -> None:
    for text, message in (("1234", "4 digits, expected 20"), ("2905434713930985135X", "'X' at position 20"),
                          ("99999999999999999999", "beyond the 66-bit range"),
                          ("2905434713930985135612", "22 digits")):
        with pytest.raises(TokenTextError, match=message):
            decode(text, UNIT_KEY)
    assert decode("73786976294838206463", UNIT_KEY).result in set(TokenResult)   # 2**66 - 1 is a token


# ----------------------------------------------------------------------------- key change
def test_key_change_carries_the_new_key_for_both_algorithms() -> None:
    sta_sections = key_change_tokens(CTS_KEY, key_type=2, key_revision=1, tariff_index=2, key_expiry_number=0xA5)
    assert [type(s) for s in sta_sections] == [Set1stSectionDecoderKey, Set2ndSectionDecoderKey]
    assert (sta_sections[0].kenho, sta_sections[1].kenlo) == (0xA, 0x5)
    assert new_key_from(sta_sections, Algorithm.STA) == CTS_KEY
    misty = DecoderKey(Algorithm.MISTY1, 0x00112233445566778899AABBCCDDEEFF)
    sections = key_change_tokens(misty, key_type=2, key_revision=3, tariff_index=1, key_expiry_number=255,
                                 rollover=True, supply_group_code=123457)
    assert len(sections) == 4 and sections[0].rollover == 1
    assert new_key_from(sections[::-1], Algorithm.MISTY1) == misty
    decoded = [decode(encode(s, misty), misty).token for s in sections]
    assert new_key_from(decoded, Algorithm.MISTY1) == misty
    assert (sections[3].sgc_high << 12 | sections[2].sgc_low) == 123457
    with pytest.raises(ValueError, match="Set3rdSectionDecoderKey"):
        new_key_from(sections[:2], Algorithm.MISTY1)
    with pytest.raises(ValueError, match="supply group code"):
        key_change_tokens(misty, key_type=2, key_revision=1, tariff_index=1, key_expiry_number=255)


# ----------------------------------------------------------------------------- TidMemory
def test_tid_memory_tells_used_and_old() -> None:
    memory = TidMemory(capacity=3)
    assert [memory.accept(t) for t in (10, 20, 30)] == [TokenResult.ACCEPTED] * 3
    assert memory.accept(20) is TokenResult.USED
    assert memory.accept(5) is TokenResult.OLD           # full, and below all it remembers
    assert memory.accept(25) is TokenResult.ACCEPTED     # forgets 10
    assert memory.tids() == [20, 25, 30] and 10 not in memory and len(memory) == 3
    assert memory.accept(10) is TokenResult.OLD
    assert memory.check(40) is TokenResult.ACCEPTED and 40 not in memory
    memory.clear()
    assert memory.accept(5) is TokenResult.ACCEPTED


def test_tid_memory_before_it_is_full_accepts_older_tokens() -> None:
    memory = TidMemory(capacity=50)
    memory.accept(100)
    assert memory.accept(50) is TokenResult.ACCEPTED     # nothing forgotten yet: it cannot be a reuse


def test_tid_memory_drives_a_meter_model() -> None:
    memory = TidMemory()
    tid = tid_of(datetime(2026, 11, 21, 8, 30), 2014)
    digits = encode(TransferWaterCredit.of(3.5, tid=tid, rnd=7), UNIT_KEY)
    first, again = decode(digits, UNIT_KEY), decode(digits, UNIT_KEY)
    assert memory.accept(first.tid) is TokenResult.ACCEPTED
    assert memory.accept(again.tid) is TokenResult.USED
    with pytest.raises(ValueError, match="capacity"):
        TidMemory(0)


# ----------------------------------------------------------------------------- CLI
def test_cli_encode_and_decode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", "electricity", "--units", "25.6", "--key", "0abc12def3456789",
                 "--issued", "1996-03-25T13:55:22", "--base-date", "1993", "--rnd", "11"]) == 0
    assert capsys.readouterr().out == UNIT_TOKEN + "\n"
    assert main(["decode", "2905 4347 1393 0985 1356", "--key", "0abc12def3456789", "--base-date", "1993"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "result: accepted"
    assert "units: 25.6" in out and "issued: 1996-03-25T13:55 (base date 1993)" in out and "crc: 0xc207" in out
    assert main(["decode", "29054347139309851357", "--key", "0abc12def3456789"]) == 1
    assert capsys.readouterr().out.startswith("result: authentication")


def test_cli_other_token_types(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", "test1", "--control", "68719476735"]) == 0
    assert capsys.readouterr().out == "56493153725450313471\n"
    assert main(["encode", "max-power", "--watts", "1000", "--key", "0abc12def3456789",
                 "--issued", "2026-11-21T08:30", "--grouped"]) == 0
    grouped = capsys.readouterr().out.strip()
    assert len(grouped.split()) == 5
    decoded = decode(grouped, UNIT_KEY)
    assert isinstance(decoded.token, SetMaximumPowerLimit) and decoded.token.watts == 1000
    assert main(["encode", "key-change", "--key", "0abc12def3456789", "--new-key", CTS_KEY.hex(),
                 "--key-type", "2", "--krn", "1", "--ti", "1", "--ken", "255"]) == 0
    first, second = capsys.readouterr().out.split()
    assert new_key_from([decode(first, UNIT_KEY).token, decode(second, UNIT_KEY).token], Algorithm.STA) == CTS_KEY
    assert main(["key", "dkga02", "--vending-key", "abababababababab", "--pan", "600727000000000009",
                 "--key-type", "2", "--sgc", "123456", "--ti", "01", "--krn", "1"]) == 0
    assert capsys.readouterr().out.startswith("e653341f9d5bf36f")
    assert main(["encode", "test2", "--control", "1"]) == 0
    assert decode(capsys.readouterr().out.strip()).token == InitiateMeterTestOrDisplay2(0, 1)
    assert InitiateMeterTestOrDisplay1(0, 1) != InitiateMeterTestOrDisplay2(0, 1)


@pytest.mark.parametrize(("argv", "message"), [
    (["decode", "1234", "--key", "0abc12def3456789"], "4 digits, expected 20"),
    (["decode", UNIT_TOKEN, "--key", "0abc"], "4 hex digits, expected 16"),
    (["decode", UNIT_TOKEN, "--key", "0abc12def345678g"], "'g' at position 16 is not a hex digit"),
    (["decode", UNIT_TOKEN], "give the meter's decoder key with --key"),
    (["encode", "gas", "--key", "0abc12def3456789"], "encode gas needs --units"),
    (["encode", "gas", "--units", "-1", "--key", "0abc12def3456789", "--issued", "2026-01-01T00:00"], "units >= 0"),
    (["encode", "gas", "--units", "1820162.5", "--key", "0abc12def3456789", "--issued", "2026-01-01T00:00"],
     "at most 1820162.4 units"),
    (["encode", "gas", "--units", "1", "--key", "0abc12def3456789", "--issued", "2026-01-01T00:00",
      "--base-date", "1993"], "rolls over"),
    (["encode", "gas", "--units", "1", "--key", "0abc12def3456789", "--issued", "soon"], "ISO date-time"),
    (["decode", UNIT_TOKEN, "--key", "0abc12def3456789", "--algorithm", "aes"], "expected sta (EA07) or misty1"),
])
def test_cli_bad_input_says_what_was_expected(argv: list[str], message: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
