"""GSM text as 3GPP TS 23.038 defines it: what a phone can show, what it costs, how it is packed.

Why it matters: a single Arabic or Persian letter (or a curly apostrophe in French) turns a
whole SMS or USSD text into UCS2, which holds less than half as many characters; "€" or "{"
cost two septets. OTP texts and USSD screens must be measured here before a network cuts them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

ESC = 0x1B
CR = "\r"

# §6.2.1 default alphabet, indexed by septet value; 0x1B is the escape to the extension table.
DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# §6.2.1.1 extension table: each character is sent as ESC + code, so it costs two septets.
EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F,
             "[": 0x3C, "~": 0x3D, "]": 0x3E, "|": 0x40, "€": 0x65}

_BASIC = {ch: code for code, ch in enumerate(DEFAULT_ALPHABET) if code != ESC}
_EXT_BY_CODE = {code: ch for ch, code in EXTENSION.items()}
_SEPTETS = {**{ch: 2 for ch in EXTENSION}, **{ch: 1 for ch in _BASIC}}   # septet_cost in one lookup
_ONE_SEPTET = frozenset(_BASIC)
_GSM7 = frozenset(_SEPTETS)
assert len(DEFAULT_ALPHABET) == 128 and len(_BASIC) == 127

SMS_SINGLE = {"gsm7": 160, "ucs2": 70}   # 140 octets of user data
SMS_PART = {"gsm7": 153, "ucs2": 67}     # 140 octets minus the 6-octet concatenation header
SMS_MAX_PARTS = 255                      # the header counts parts in one octet

USSD_MAX_GSM7 = 182   # 160 octets of 7-bit septets
USSD_MAX_UCS2 = 80    # 160 octets of UTF-16 code units

USSD_DCS_GSM7 = 15    # 0x0F: GSM 7-bit default alphabet, language unspecified (AT+CUSD=1,"*1#",15)
USSD_DCS_UCS2 = 72    # 0x48: general data coding, uncompressed, UCS2


def septet_cost(ch: str) -> int | None:
    """Septets one character costs in GSM 7-bit (1 or 2), or None if it has no GSM code."""
    return 1 if ch in _BASIC else 2 if ch in EXTENSION else None


def encoding_for(text: str) -> Encoding:
    """The encoding a phone or SMSC would pick: GSM 7-bit when every character has a code."""
    return "gsm7" if all(septet_cost(ch) for ch in text) else "ucs2"


def first_non_gsm(text: str) -> tuple[int, str] | None:
    """Position and character that force UCS2, to say why a text got so expensive."""
    return next(((i, ch) for i, ch in enumerate(text) if septet_cost(ch) is None), None)


def _not_gsm(text: str) -> ValueError:
    i, ch = first_non_gsm(text)  # type: ignore[misc]
    return ValueError(f"{ch!r} (U+{ord(ch):04X}) at position {i} is not in the GSM 7-bit "
                      f"alphabet; expected characters of the default alphabet or its extension "
                      f"table (use UCS2 for this text)")


def septets(text: str) -> int:
    """GSM 7-bit length: extension characters count 2. Raises if the text is not encodable."""
    total = 0
    for ch in text:
        cost = septet_cost(ch)
        if cost is None:
            raise _not_gsm(text)
        total += cost
    return total


def ucs2_units(text: str) -> int:
    """UTF-16 code units: what UCS2 limits count (emoji outside the BMP cost 2)."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def length_in(text: str, encoding: Encoding) -> int:
    return septets(text) if encoding == "gsm7" else ucs2_units(text)


# --- codecs ---------------------------------------------------------------------------------

def _septet_values(text: str) -> list[int]:
    values: list[int] = []
    for ch in text:
        if ch in _BASIC:
            values.append(_BASIC[ch])
        elif ch in EXTENSION:
            values += (ESC, EXTENSION[ch])
        else:
            raise _not_gsm(text)
    return values


def _pack(values: list[int]) -> bytes:
    out, acc, bits = bytearray(), 0, 0
    for v in values:
        acc |= v << bits
        bits += 7
        while bits >= 8:
            out.append(acc & 0xFF)
            acc, bits = acc >> 8, bits - 8
    if bits:
        out.append(acc & 0xFF)
    return bytes(out)


def _unpack(data: bytes, count: int) -> list[int]:
    if count < 0:
        raise ValueError(f"septet count must be >= 0, got {count}")
    need = (count * 7 + 7) // 8
    if len(data) < need:
        raise ValueError(f"{count} septets need {need} octets, got {len(data)}")
    values: list[int] = []
    acc = bits = 0
    for byte in data[:need]:
        acc |= byte << bits
        bits += 8
        while bits >= 7 and len(values) < count:
            values.append(acc & 0x7F)
            acc, bits = acc >> 7, bits - 7
    return values


def _decode(values: list[int]) -> str:
    chars, i = [], 0
    while i < len(values):
        if values[i] != ESC:
            chars.append(DEFAULT_ALPHABET[values[i]])
            i += 1
            continue
        if i + 1 == len(values):
            raise ValueError(f"escape (0x1B) at septet {i} is the last septet; expected an "
                             f"extension-table code after it (was the text split inside a pair?)")
        code = values[i + 1]
        # §6.2.1.1: ESC ESC shows a space; an unknown code shows its default-table character.
        chars.append(" " if code == ESC else _EXT_BY_CODE.get(code, DEFAULT_ALPHABET[code]))
        i += 2
    return "".join(chars)


def pack_septets(text: str) -> bytes:
    """GSM 7-bit packing (§6.1.2.1): septets laid LSB-first, 8 characters in 7 octets."""
    return _pack(_septet_values(text))


def unpack_septets(data: bytes, count: int) -> str:
    """Inverse of :func:`pack_septets`; ``count`` septets, since padding bits look like '@'."""
    return _decode(_unpack(data, count))


def pack_ussd(text: str) -> bytes:
    """7-bit packing for USSD (§6.1.2.3.1), whose length is in octets: pad 7 spare bits with CR.

    Some modems want the ``AT+CUSD`` string as this packed form in hex.
    """
    values = _septet_values(text)
    if len(values) % 8 == 7 or (values and len(values) % 8 == 0 and values[-1] == _BASIC[CR]):
        values.append(_BASIC[CR])   # a wanted final CR on an octet boundary gets a second one
    return _pack(values)


def unpack_ussd(data: bytes) -> str:
    """Inverse of :func:`pack_ussd`: drops the padding CR when the text ends on an octet boundary."""
    count = len(data) * 8 // 7
    text = _decode(_unpack(data, count))
    return text[:-1] if count * 7 == len(data) * 8 and text.endswith(CR) else text


def encode_ucs2(text: str) -> bytes:
    """UCS2 as networks carry it today: UTF-16BE, so non-BMP characters are surrogate pairs."""
    return text.encode("utf-16-be")


def decode_ucs2(data: bytes) -> str:
    if len(data) % 2:
        raise ValueError(f"UCS2 data has {len(data)} octets; expected an even number")
    return data.decode("utf-16-be")


# --- SMS ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SmsParts:
    """How a text travels as SMS: one part, or a concatenated SMS of several."""

    encoding: Encoding
    parts: tuple[str, ...]
    lengths: tuple[int, ...]   # per part, in septets (gsm7) or UTF-16 units (ucs2)

    @property
    def count(self) -> int:
        return len(self.parts)


def sms_parts(text: str) -> SmsParts:
    """Split like a phone does; an escape pair or a surrogate pair is never cut in two."""
    chars = set(text)
    if chars <= _ONE_SEPTET:       # every character one unit: fixed slices (most texts are)
        return _even_parts(text, "gsm7")
    if not chars <= _GSM7 and max(chars) <= "\uffff":
        return _even_parts(text, "ucs2")
    costs = [_SEPTETS.get(ch) for ch in text]
    encoding: Encoding = "gsm7" if None not in costs else "ucs2"
    if encoding == "ucs2":
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    if sum(costs) <= SMS_SINGLE[encoding]:
        return SmsParts(encoding, (text,), (sum(costs),))
    limit = SMS_PART[encoding]
    parts: list[str] = []
    lengths: list[int] = []
    start = used = 0
    for i, c in enumerate(costs):
        if used + c > limit:
            parts.append(text[start:i])
            lengths.append(used)
            start, used = i, 0
        used += c
    parts.append(text[start:])
    lengths.append(used)
    if len(parts) > SMS_MAX_PARTS:
        raise ValueError(f"text needs {len(parts)} SMS parts in {encoding}; a concatenated SMS "
                         f"has at most {SMS_MAX_PARTS}")
    return SmsParts(encoding, tuple(parts), tuple(lengths))


def _even_parts(text: str, encoding: Encoding) -> SmsParts:
    n = len(text)
    if n <= SMS_SINGLE[encoding]:
        return SmsParts(encoding, (text,), (n,))
    limit = SMS_PART[encoding]
    if n > limit * SMS_MAX_PARTS:
        raise ValueError(f"text needs {-(-n // limit)} SMS parts in {encoding}; a concatenated SMS "
                         f"has at most {SMS_MAX_PARTS}")
    parts = tuple(text[i:i + limit] for i in range(0, n, limit))
    return SmsParts(encoding, parts, tuple(len(p) for p in parts))


def sms_segments(text: str) -> list[str]:
    return list(sms_parts(text).parts)


# --- USSD -----------------------------------------------------------------------------------

def ussd_length(text: str, max_gsm7: int = USSD_MAX_GSM7,
                max_ucs2: int = USSD_MAX_UCS2) -> tuple[Encoding, int, int]:
    """(encoding, length in that encoding's units, the limit that applies)."""
    encoding = encoding_for(text)
    limit = max_gsm7 if encoding == "gsm7" else max_ucs2
    return encoding, length_in(text, encoding), limit


def ussd_fits(text: str, max_gsm7: int = USSD_MAX_GSM7, max_ucs2: int = USSD_MAX_UCS2) -> bool:
    _, length, limit = ussd_length(text, max_gsm7, max_ucs2)
    return length <= limit


def check_ussd(text: str, max_gsm7: int = USSD_MAX_GSM7,
               max_ucs2: int = USSD_MAX_UCS2) -> Encoding:
    """Refuse a USSD text that one message cannot carry; returns its encoding (see dcs_for)."""
    encoding, length, limit = ussd_length(text, max_gsm7, max_ucs2)
    if length <= limit:
        return encoding
    if encoding == "gsm7":
        raise ValueError(f"USSD text too long: {length} GSM 7-bit septets, the limit is {limit}")
    i, ch = first_non_gsm(text)  # type: ignore[misc]
    raise ValueError(f"USSD text too long: {length} UCS2 characters, the limit is {limit} "
                     f"(UCS2 because of {ch!r} at position {i})")


def truncate_ussd(text: str, max_gsm7: int = USSD_MAX_GSM7,
                  max_ucs2: int = USSD_MAX_UCS2) -> str:
    """The longest prefix that fits, cut at the last line break in it when there is one.

    Menus are lines; a screen that ends on a whole line reads better than a cut word.
    """
    best, gsm, sept, units = 0, True, 0, 0
    for i, ch in enumerate(text, 1):
        cost = septet_cost(ch)
        gsm, sept = gsm and cost is not None, sept + (cost or 0)
        units += 2 if ord(ch) > 0xFFFF else 1
        if (sept <= max_gsm7) if gsm else (units <= max_ucs2):
            best = i
    if best == len(text):
        return text
    cut = text.rfind("\n", 0, best + 1)   # a newline right after the prefix is a line end too
    return text[:cut].rstrip(CR) if cut > 0 else text[:best]


def dcs_for(encoding: str) -> int:
    """The USSD data coding scheme a modem is given for text in this encoding."""
    if encoding == "gsm7":
        return USSD_DCS_GSM7
    if encoding == "ucs2":
        return USSD_DCS_UCS2
    raise ValueError(f"unknown encoding {encoding!r}; expected 'gsm7' or 'ucs2'")


def encoding_of_dcs(dcs: int) -> Literal["gsm7", "8bit", "ucs2"]:
    """Read the alphabet of a ``+CUSD`` answer's DCS (§5, CBS coding groups).

    Reserved values mean GSM 7-bit, as the standard tells receivers to assume.
    """
    if not 0 <= dcs <= 255:
        raise ValueError(f"DCS {dcs} out of range; expected 0-255")
    group = dcs >> 4
    if dcs == 0x11:
        return "ucs2"                      # UCS2 preceded by a language indication
    if group in (0x4, 0x5, 0x6, 0x7, 0x9):  # general data coding / message with UDH
        return {1: "8bit", 2: "ucs2"}.get((dcs >> 2) & 0x3, "gsm7")  # type: ignore[return-value]
    if group == 0xF:
        return "8bit" if dcs & 0x04 else "gsm7"
    return "gsm7"
