"""GSM text (3GPP TS 23.038): alphabet, costs, codecs, SMS segmentation, USSD limits."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols import gsm
from protocols.gsm import (
    DEFAULT_ALPHABET, EXTENSION, check_ussd, dcs_for, decode_ucs2, encode_ucs2, encoding_for,
    encoding_of_dcs, pack_septets, pack_ussd, septets, sms_parts, sms_segments, truncate_ussd,
    ucs2_units, unpack_septets, unpack_ussd, ussd_fits, ussd_length,
)

GSM_CHARS = [ch for ch in DEFAULT_ALPHABET if ch != "\x1b"] + list(EXTENSION)
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS))
# Arabic and Persian letters, emoji outside the BMP, and GSM characters mixed.
mixed_text = st.text(alphabet=st.one_of(
    st.sampled_from(GSM_CHARS),
    st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),
    st.sampled_from(["😀", "𝔸", "€", "’", "ی", "ک"]),
    st.characters(codec="utf-8"),   # anything but lone surrogates
))
PERSIAN = "شارژ"     # 4 letters, none in the GSM alphabet
ARABIC = "رصيد"


# --- alphabet ---------------------------------------------------------------------------------

@pytest.mark.parametrize("ch,code", [
    ("@", 0x00), ("£", 0x01), ("$", 0x02), ("è", 0x04), ("Ç", 0x09), ("\n", 0x0A), ("\r", 0x0D),
    ("Δ", 0x10), ("_", 0x11), ("Ξ", 0x1A), ("É", 0x1F), (" ", 0x20), ("¤", 0x24), ("0", 0x30),
    ("?", 0x3F), ("¡", 0x40), ("A", 0x41), ("Z", 0x5A), ("Ä", 0x5B), ("§", 0x5F), ("¿", 0x60),
    ("a", 0x61), ("ü", 0x7E), ("à", 0x7F),
])
def test_default_alphabet_positions_follow_the_standard(ch: str, code: int) -> None:
    assert DEFAULT_ALPHABET.index(ch) == code


def test_alphabet_has_127_characters_and_ten_extensions() -> None:
    assert len(set(DEFAULT_ALPHABET) - {"\x1b"}) == 127
    assert set(EXTENSION) == set("\f^{}\\[~]|€")


@pytest.mark.parametrize("text,encoding", [
    ("Votre code est 123456", "gsm7"), ("{[€]}", "gsm7"), ("", "gsm7"),
    (PERSIAN, "ucs2"), ("l’offre", "ucs2"), ("ok 😀", "ucs2"), ("ç", "ucs2"),  # only Ç is GSM
])
def test_encoding_for(text: str, encoding: str) -> None:
    assert encoding_for(text) == encoding


def test_euro_and_brackets_cost_two_septets() -> None:
    assert septets("€") == 2
    assert septets("{}[]~\\^|€\f") == 20
    assert septets("Prix: 5€") == 9


def test_septets_error_names_the_character_and_its_position() -> None:
    with pytest.raises(ValueError, match=r"'ش' \(U\+0634\) at position 5 is not in the GSM"):
        septets("code " + PERSIAN)


def test_ucs2_units_count_non_bmp_characters_twice() -> None:
    assert ucs2_units(PERSIAN) == 4
    assert ucs2_units("😀") == 2
    assert ucs2_units("a😀b") == 4


# --- codecs -----------------------------------------------------------------------------------

def test_pack_septets_known_vectors() -> None:
    assert pack_septets("hellohello").hex() == "e8329bfd4697d9ec37"
    assert pack_septets("€").hex() == "9b32"       # ESC 0x1B then 0x65
    assert pack_ussd("*100#").hex() == "aa180c3602"  # what Huawei modems take in AT+CUSD


def test_unpack_extension_edge_cases() -> None:
    assert unpack_septets(bytes.fromhex("9b20"), 2) == "A"  # ESC + unknown code: default char
    assert unpack_septets(bytes([0x9B, 0x0D]), 2) == " "  # ESC ESC shows a space
    with pytest.raises(ValueError, match="escape .* is the last septet"):
        unpack_septets(pack_septets("a€")[:2], 2)


def test_unpack_refuses_too_few_octets() -> None:
    with pytest.raises(ValueError, match="9 septets need 8 octets, got 7"):
        unpack_septets(pack_septets("hellohel"), 9)


def test_ucs2_is_utf16_big_endian() -> None:
    assert encode_ucs2("سلام").hex() == "0633064406270645"
    assert encode_ucs2("😀").hex() == "d83dde00"
    with pytest.raises(ValueError, match="3 octets; expected an even number"):
        decode_ucs2(b"\x06\x33\x06")


@given(gsm_text)
def test_septet_roundtrip(text: str) -> None:
    assert unpack_septets(pack_septets(text), septets(text)) == text


@given(gsm_text)
def test_packed_length_is_seven_eighths(text: str) -> None:
    assert len(pack_septets(text)) == math.ceil(septets(text) * 7 / 8)


@given(gsm_text)
def test_ussd_packing_roundtrip_up_to_the_double_cr(text: str) -> None:
    packed = pack_ussd(text)
    if septets(text) % 8 == 7:   # seven spare bits: CR, never zeros that read as '@'
        assert unpack_septets(packed, len(packed) * 8 // 7) == text + "\r"
    doubled = text.endswith("\r") and septets(text) % 8 == 0
    assert unpack_ussd(packed) == (text + "\r" if doubled else text)


@given(mixed_text)
def test_ucs2_roundtrip_and_size(text: str) -> None:
    assert decode_ucs2(encode_ucs2(text)) == text
    assert len(encode_ucs2(text)) == 2 * ucs2_units(text)


@given(mixed_text)
def test_gsm7_exactly_when_septets_succeeds(text: str) -> None:
    try:
        septets(text)
        encodable = True
    except ValueError:
        encodable = False
    assert encodable == (encoding_for(text) == "gsm7")


# --- SMS segmentation -------------------------------------------------------------------------

def test_single_sms_limits() -> None:
    assert sms_segments("a" * 160) == ["a" * 160]
    assert sms_parts("ش" * 70).count == 1
    assert sms_parts("€" * 80).lengths == (160,)


def test_161_gsm_characters_make_153_plus_8() -> None:
    parts = sms_parts("a" * 161)
    assert (parts.encoding, parts.lengths) == ("gsm7", (153, 8))
    assert [len(p) for p in sms_segments("a" * 161)] == [153, 8]


def test_71_persian_characters_make_two_parts() -> None:
    parts = sms_parts("ش" * 71)
    assert (parts.encoding, parts.count, parts.lengths) == ("ucs2", 2, (67, 4))


def test_escape_pair_is_never_split() -> None:
    parts = sms_parts("a" * 152 + "€" + "b" * 10)
    assert parts.parts[0] == "a" * 152 and parts.parts[1].startswith("€")
    assert parts.lengths == (152, 12)


def test_surrogate_pair_is_never_split() -> None:
    parts = sms_parts("ش" * 66 + "😀" + "ش" * 10)
    assert parts.parts[0] == "ش" * 66 and parts.parts[1].startswith("😀")
    assert parts.lengths == (66, 12)


def test_more_than_255_parts_is_refused() -> None:
    assert sms_parts("a" * 153 * 255).count == 255
    with pytest.raises(ValueError, match="needs 256 SMS parts in gsm7; .* at most 255"):
        sms_parts("a" * (153 * 255 + 1))


@given(mixed_text)
def test_segments_rebuild_the_text_and_each_is_full(text: str) -> None:
    parts = sms_parts(text)
    assert "".join(parts.parts) == text
    assert parts.encoding == encoding_for(text)
    assert parts.lengths == tuple(gsm.length_in(p, parts.encoding) for p in parts.parts)
    single, limit = gsm.SMS_SINGLE[parts.encoding], gsm.SMS_PART[parts.encoding]
    if sum(parts.lengths) <= single:
        assert parts.count == 1
        return
    assert all(n <= limit for n in parts.lengths)
    for n, following in zip(parts.lengths, parts.parts[1:]):   # the next character did not fit
        assert n + gsm.length_in(following[0], parts.encoding) > limit


@given(st.one_of(
    st.text(alphabet=st.sampled_from([ch for ch in GSM_CHARS if ch not in EXTENSION]), max_size=800),
    st.text(alphabet=st.characters(min_codepoint=0x0600, max_codepoint=0x06FF), max_size=300),
    st.text(alphabet=st.sampled_from(GSM_CHARS + ["ش", "😀"]), max_size=500),
    mixed_text))
def test_the_even_text_shortcut_splits_as_the_general_rule(text: str) -> None:
    """Texts whose characters all cost one unit take a shortcut: the same parts as costing
    every character (the general rule, kept here as the reference)."""
    parts = sms_parts(text)
    enc = parts.encoding
    costs = [gsm.length_in(ch, enc) for ch in text]
    reference, start, used = [], 0, 0
    for i, c in enumerate(costs):
        if sum(costs) > gsm.SMS_SINGLE[enc] and used + c > gsm.SMS_PART[enc]:
            reference.append(text[start:i])
            start, used = i, 0
        used += c
    reference.append(text[start:])
    assert parts.parts == tuple(reference)


# --- USSD -------------------------------------------------------------------------------------

def test_arabic_80_characters_fit_a_ussd_screen_81_do_not() -> None:
    assert ussd_fits("ع" * 80)
    assert not ussd_fits("ع" * 81)
    assert ussd_length("ع" * 81) == ("ucs2", 81, 80)


def test_gsm_ussd_limit_is_182_septets() -> None:
    assert ussd_fits("a" * 182) and not ussd_fits("a" * 183)
    assert ussd_fits("€" * 91) and not ussd_fits("€" * 91 + "a")
    assert ussd_fits("a" * 100, max_gsm7=100) and not ussd_fits("a" * 101, max_gsm7=100)


def test_check_ussd_says_encoding_length_and_limit() -> None:
    assert check_ussd("1. Recharge\n2. Solde") == "gsm7"
    assert check_ussd(ARABIC) == "ucs2"
    with pytest.raises(ValueError, match="81 UCS2 characters, the limit is 80"):
        check_ussd("ع" * 81)
    with pytest.raises(ValueError, match="183 GSM 7-bit septets, the limit is 182"):
        check_ussd("a" * 183)
    with pytest.raises(ValueError, match=r"because of '’' at position 1"):
        check_ussd("l’offre du jour " * 6)


def test_truncate_ussd_cuts_at_a_line_boundary() -> None:
    menu = "\n".join(f"{i}. {'خرید شارژ'}" for i in range(1, 10))   # 9 lines of 12 characters
    cut = truncate_ussd(menu)
    assert cut == "\n".join(menu.split("\n")[:6])    # 6 lines + 5 newlines = 77 characters
    assert ussd_fits(cut)


def test_truncate_ussd_keeps_a_line_ending_right_after_the_limit_and_drops_cr() -> None:
    two_lines = "a" * 50 + "\n" + "b" * 131
    assert truncate_ussd(two_lines + "\nc") == two_lines
    text = "x" * 100 + "\r\n" + "y" * 100
    assert truncate_ussd(text) == "x" * 100


def test_truncate_ussd_without_line_breaks_cuts_hard_and_keeps_pairs() -> None:
    assert truncate_ussd("ع" * 100) == "ع" * 80
    assert truncate_ussd("a" * 181 + "€") == "a" * 181
    assert truncate_ussd("ع" * 79 + "😀") == "ع" * 79
    assert truncate_ussd("short") == "short"


@given(mixed_text)
def test_truncate_ussd_gives_a_fitting_prefix(text: str) -> None:
    cut = truncate_ussd(text)
    assert text.startswith(cut) and ussd_fits(cut)
    if ussd_fits(text):
        assert cut == text


def test_dcs_values() -> None:
    assert (dcs_for("gsm7"), dcs_for("ucs2")) == (15, 72)
    assert dcs_for(check_ussd(PERSIAN)) == 72
    with pytest.raises(ValueError, match="unknown encoding 'latin1'; expected 'gsm7' or 'ucs2'"):
        dcs_for("latin1")


@pytest.mark.parametrize("dcs,encoding", [
    (15, "gsm7"), (0, "gsm7"), (72, "ucs2"), (68, "8bit"), (0x11, "ucs2"), (0x10, "gsm7"),
    (0xF4, "8bit"), (0xF0, "gsm7"), (0x4C, "gsm7"), (0x98, "ucs2"),
])
def test_encoding_of_dcs(dcs: int, encoding: str) -> None:
    assert encoding_of_dcs(dcs) == encoding
    with pytest.raises(ValueError, match="DCS 256 out of range"):
        encoding_of_dcs(256)
