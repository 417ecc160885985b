"""TE character sets of ``AT+CSCS`` (3GPP TS 27.007 §5.5) and the V.250 string syntax.

Why it matters: a modem does not send Unicode. In ``"GSM"`` it sends one byte per GSM septet
('@' is byte 0x00, 'é' is 0x05), in ``"IRA"`` plain ASCII, in ``"UCS2"`` hex digits. And per
27.005/27.007, text the network sent in UCS2 (Arabic, Persian) always reaches the TE as hex,
whatever ``AT+CSCS`` says. Getting this wrong turns an OTP into mojibake.

Wire text here is a ``str`` whose characters are the line's bytes (decoded as latin-1), so
the same functions serve the emulator (bytes it writes) and the driver (bytes it reads).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Literal

from protocols.at.errors import AtSyntaxError, CharsetError
from protocols.gsm import DEFAULT_ALPHABET, ESC, EXTENSION, decode_ucs2, encode_ucs2

Charset = Literal["GSM", "IRA", "UCS2"]
CHARSETS: tuple[Charset, ...] = ("GSM", "IRA", "UCS2")

_BASIC = {ch: code for code, ch in enumerate(DEFAULT_ALPHABET) if code != ESC}
_EXT_BY_CODE = {code: ch for ch, code in EXTENSION.items()}
_HEX = re.compile(r"^(?:[0-9A-Fa-f]{2})*$")


def fold_digits(text: str) -> str:
    """Arabic-Indic (٠-٩), Persian (۰-۹) and other decimal digits as ASCII: people type them."""
    return "".join(str(unicodedata.decimal(ch)) if not ch.isascii() and ch.isdecimal() else ch
                   for ch in text)


def check_charset(name: object) -> Charset:
    if isinstance(name, str) and name.upper() in CHARSETS:
        return name.upper()  # type: ignore[return-value]
    raise CharsetError(f"unknown TE character set {name!r}; expected one of {', '.join(CHARSETS)}")


def to_hex(data: bytes) -> str:
    return data.hex().upper()


def from_hex(text: str, what: str = "hex data") -> bytes:
    if not _HEX.match(text):
        bad = next((i for i, ch in enumerate(text) if ch not in "0123456789abcdefABCDEF"), None)
        where = f"{text[bad]!r} at position {bad}" if bad is not None else f"{len(text)} digits"
        raise CharsetError(f"{what}: {where}; expected an even number of hex digits")
    return bytes.fromhex(text)


def gsm_bytes(text: str) -> bytes:
    """Text as the GSM charset puts it on the wire: one byte per septet, ESC before extensions."""
    out = bytearray()
    for i, ch in enumerate(text):
        if ch in _BASIC:
            out.append(_BASIC[ch])
        elif ch in EXTENSION:
            out += bytes((ESC, EXTENSION[ch]))
        else:
            raise CharsetError(f"{ch!r} (U+{ord(ch):04X}) at position {i} has no GSM 7-bit code; "
                               f"expected GSM default-alphabet text (or use UCS2)")
    return bytes(out)


def gsm_text(data: bytes) -> str:
    """Inverse of :func:`gsm_bytes`."""
    chars, i = [], 0
    while i < len(data):
        code = data[i]
        if code > 0x7F:
            raise CharsetError(f"byte 0x{code:02X} at position {i} is not a GSM septet; "
                               f"expected bytes 0x00-0x7F in the GSM character set")
        if code != ESC:
            chars.append(DEFAULT_ALPHABET[code])
            i += 1
            continue
        if i + 1 == len(data) or data[i + 1] > 0x7F:
            raise CharsetError(f"escape (0x1B) at position {i} is not followed by an extension code")
        nxt = data[i + 1]
        chars.append(" " if nxt == ESC else _EXT_BY_CODE.get(nxt, DEFAULT_ALPHABET[nxt]))
        i += 2
    return "".join(chars)


def to_te(text: str, charset: Charset) -> str:
    """Unicode text as the wire characters of ``charset``."""
    if charset == "UCS2":
        return to_hex(encode_ucs2(text))
    if charset == "IRA":
        bad = next(((i, ch) for i, ch in enumerate(text) if ord(ch) > 0x7F), None)
        if bad:
            raise CharsetError(f"{bad[1]!r} at position {bad[0]} is not ASCII; the IRA character "
                               f"set carries ASCII only (use UCS2)")
        return text
    return gsm_bytes(text).decode("latin-1")


def from_te(wire: str, charset: Charset) -> str:
    """Wire characters of ``charset`` as Unicode text."""
    if charset == "UCS2":
        data = from_hex(wire, "UCS2 text")
        if len(data) % 2:
            raise CharsetError(f"UCS2 text has {len(wire)} hex digits; expected a multiple of 4")
        return _ucs2(data)
    raw = _wire_bytes(wire)
    if charset == "IRA":
        bad = next((i for i, b in enumerate(raw) if b > 0x7F), None)
        if bad is not None:
            raise CharsetError(f"byte 0x{raw[bad]:02X} at position {bad} is not ASCII; expected IRA text")
        return raw.decode("ascii")
    return gsm_text(raw)


def _ucs2(data: bytes) -> str:
    try:
        return decode_ucs2(data)
    except UnicodeDecodeError as e:
        raise CharsetError(f"UCS2 text: {e.reason} at octet {e.start}; expected UTF-16BE") from None


def _wire_bytes(wire: str) -> bytes:
    try:
        return wire.encode("latin-1")
    except UnicodeEncodeError as e:
        raise CharsetError(f"wire text holds {wire[e.start]!r} at position {e.start}; expected "
                           f"characters U+0000-U+00FF (one per byte on the line)") from None


# --- V.250 strings ----------------------------------------------------------------------------

def quote(wire: str, *, raw_newlines: bool = False) -> str:
    """A V.250 string constant: '"' and '\\' and control characters become ``\\hh``.

    ``raw_newlines`` keeps LF as is, the way modems print multi-line USSD menus.
    """
    out = []
    for ch in wire:
        if ch in '"\\' or (ord(ch) < 0x20 and not (raw_newlines and ch == "\n")) or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def read_string(text: str, start: int) -> tuple[str, int]:
    """Read the string constant opening at ``text[start]`` (a '"'); returns (value, end index)."""
    assert text[start] == '"'
    out, i = [], start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            hh = text[i + 1:i + 3]
            if len(hh) != 2 or not _HEX.match(hh):
                raise AtSyntaxError(f"bad escape {text[i:i + 3]!r} at column {i + 1}; expected a "
                                    f"backslash and two hex digits, like \\22 for '\"'")
            out.append(chr(int(hh, 16)))
            i += 3
            continue
        out.append(ch)
        i += 1
    raise AtSyntaxError(f"string opened at column {start + 1} is never closed; expected a '\"'")
