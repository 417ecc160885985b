"""From a token to its 20 digits and back (sts.md §3, §4), with the meter's verdict on the way back.

Encoding: block = fields | subclass, CRC over class + block, encrypt (not class 1), then the
class goes into bits 27-28 of the ciphertext, whose own bits 27-28 move to bits 64-65, and
the 66-bit number is written as 20 decimal digits. Decoding undoes each step and answers with
a ``Decoded``: the ``TokenResult`` and, when the block made sense, the token.

People type tokens with spaces and dashes, and in Arabic-Indic or Persian digits: ``digits_of``
folds all of those to 20 ASCII digits (protocols import nothing of ours, so this is local).
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .dkga import KeyType
from .errors import DecoderKeyError, FieldError, KeyExpiredError, TokenTextError
from .fields import token_crc
from .keys import Algorithm, DecoderKey
from .results import TokenResult
from .tokens import KEY_CHANGE_TYPES, MISTY1_ONLY, TOKEN_TYPES, Token, TokenClass

TOKEN_DIGITS = 20
TOKEN_MAX = (1 << 66) - 1          # 73786976294838206463: every 66-bit number fits in 20 digits
_TOKEN_MAX_TEXT = f"{TOKEN_MAX:020d}"
_CLASS_BITS = 3 << 27
_SEPARATORS = {"\u2212"}           # minus sign; other dashes are category Pd, spaces isspace()


def digits_of(text: str) -> str:
    """``text`` as 20 ASCII digits: any decimal digits (Arabic-Indic, Persian...), spaces and dashes dropped."""
    if not isinstance(text, str):
        raise TokenTextError(f"invalid token {text!r}: expected a string of {TOKEN_DIGITS} digits")
    if len(text) == TOKEN_DIGITS and text.isascii() and text.isdigit() and text <= _TOKEN_MAX_TEXT:
        return text                # the common case, as a meter keypad or a vending system sends it
    out = []
    for position, ch in enumerate(text, 1):
        if "0" <= ch <= "9":
            out.append(ch)
        elif ch.isdecimal():
            out.append(str(unicodedata.decimal(ch)))
        elif not (ch.isspace() or ch in _SEPARATORS or unicodedata.category(ch) == "Pd"):
            raise TokenTextError(f"invalid token {text!r}: {ch!r} at position {position} is not a digit; "
                                 f"expected {TOKEN_DIGITS} digits (spaces and dashes allowed)")
    if len(out) != TOKEN_DIGITS:
        raise TokenTextError(f"invalid token {text!r}: {len(out)} digits, expected {TOKEN_DIGITS}")
    digits = "".join(out)
    if int(digits) > TOKEN_MAX:
        raise TokenTextError(f"invalid token {text!r}: {digits} is beyond the 66-bit range of a token "
                             f"(at most {TOKEN_MAX})")
    return digits


def key_expired(tid: int, key_expiry_number: int) -> bool:
    """The reference's rule: a TID above KEN x 65535 minutes is past the key's expiry (sts.md §5.1)."""
    return tid > key_expiry_number * 65535


def _key_for(token_class: int, key: DecoderKey | None) -> DecoderKey:
    if key is None:
        raise DecoderKeyError(f"class {token_class} tokens are encrypted: a decoder key is needed")
    if not isinstance(key, DecoderKey):
        raise DecoderKeyError(f"invalid decoder key {key!r}: expected a DecoderKey")
    return key


def encode(token: Token, key: DecoderKey | None = None, *, key_expiry_number: int | None = None) -> str:
    """The 20 digits of ``token``, encrypted with ``key`` unless it is class 1.

    With ``key_expiry_number`` a token whose TID is past the key's expiry is refused, as the
    reference's vending side does.
    """
    if not isinstance(token, Token):
        raise TypeError(f"expected a token, got {token!r}")
    token_class = token.token_class
    tid = getattr(token, "tid", None)
    if key_expiry_number is not None and tid is not None and key_expired(tid, key_expiry_number):
        raise KeyExpiredError(f"TID {tid} is past the expiry of key expiry number {key_expiry_number} "
                              f"(at most {key_expiry_number * 65535} minutes after the base date)")
    if token_class != TokenClass.NON_METER_SPECIFIC:
        key = _key_for(token_class, key)
        if key.algorithm is Algorithm.STA and isinstance(token, MISTY1_ONLY):
            raise DecoderKeyError(f"{type(token).__name__} exists for MISTY1 keys only, not {key.algorithm.label}")
    return encode_block(token_class, token.block(), key)


def encode_block(token_class: int, block: int, key: DecoderKey | None) -> str:
    """The 20 digits for a data block (bits 16-63; the CRC is added here).

    ``encode`` uses it; a bench can use it directly to make blocks no token type describes
    (an unknown subclass, say) and see the meter answer "format".
    """
    if token_class not in (0, 1, 2, 3):
        raise FieldError("token class", token_class, "0..3")
    if isinstance(block, bool) or not isinstance(block, int) or not 0 <= block < 1 << 64:
        raise FieldError("data block", block, "a 64-bit number")
    block = block & ~0xFFFF | token_crc(token_class, block)
    if token_class != TokenClass.NON_METER_SPECIFIC:
        block = _key_for(token_class, key).encrypt(block)
    number = ((block >> 28 & 1) << 65 | (block >> 27 & 1) << 64
              | (block & ~_CLASS_BITS) | (token_class >> 1) << 28 | (token_class & 1) << 27)
    return f"{number:020d}"


@dataclass(frozen=True)
class Decoded:
    """A meter's reading of a token: the verdict, and the token when its block made sense."""

    result: TokenResult
    token_class: int
    token: Token | None = None
    crc: int | None = None     # the CRC field the block carried (None when it did not decrypt)
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.result is TokenResult.ACCEPTED

    @property
    def tid(self) -> int | None:
        return getattr(self.token, "tid", None)


def decode(text: str, key: DecoderKey | None = None, *, key_expiry_number: int | None = None,
           key_type: int | None = None) -> Decoded:
    """Read a typed token as a meter with ``key`` would, up to what needs the meter's history.

    ``key_expiry_number`` and ``key_type`` describe the meter's current key: with them, a TID
    past the expiry is KEY_EXPIRED, and a meter still on its initialisation key (DITK) takes
    key-change tokens only (KEY_TYPE). Old and used are ``TidMemory``'s to tell.
    Raises ``TokenTextError`` for text that is not a token and ``DecoderKeyError`` when an
    encrypted token comes without a key; every other outcome is a ``TokenResult``.
    """
    number = int(digits_of(text))
    token_class = number >> 27 & 3
    block = (number & ~_CLASS_BITS & ((1 << 64) - 1)) | (number >> 65 & 1) << 28 | (number >> 64 & 1) << 27
    if token_class == 3:
        return Decoded(TokenResult.FORMAT, token_class, reason="token class 3 is reserved")
    if token_class != TokenClass.NON_METER_SPECIFIC:
        key = _key_for(token_class, key)
        block = key.decrypt(block)
    crc = block & 0xFFFF
    if token_crc(token_class, block) != crc:
        if token_class == TokenClass.NON_METER_SPECIFIC:
            return Decoded(TokenResult.CRC_ERROR, token_class, reason="the CRC does not match")
        return Decoded(TokenResult.AUTHENTICATION, token_class,
                       reason=f"the token does not decrypt to a valid block under this {key.algorithm.label} key: "
                              "mistyped, or made for another meter or key")
    subclass = block >> 60
    kind = TOKEN_TYPES.get((token_class, subclass))
    if kind is None or (kind in MISTY1_ONLY and key is not None and key.algorithm is Algorithm.STA):
        return Decoded(TokenResult.FORMAT, token_class, crc=crc,
                       reason=f"no token type with class {token_class} subclass {subclass}"
                              + (f" under {key.algorithm.label}" if kind else ""))
    token = kind.from_block(block)
    problem = token.range_problem()
    if problem:
        return Decoded(TokenResult.RANGE, token_class, token, crc, problem)
    if key_type == KeyType.DITK and token_class != TokenClass.NON_METER_SPECIFIC \
            and not isinstance(token, KEY_CHANGE_TYPES):
        return Decoded(TokenResult.KEY_TYPE, token_class, token, crc,
                       "a meter on its initialisation key (DITK) takes key-change tokens only")
    tid = getattr(token, "tid", None)
    if key_expiry_number is not None and tid is not None and key_expired(tid, key_expiry_number):
        return Decoded(TokenResult.KEY_EXPIRED, token_class, token, crc,
                       f"TID {tid} is past key expiry number {key_expiry_number} "
                       f"(at most {key_expiry_number * 65535})")
    return Decoded(TokenResult.ACCEPTED, token_class, token, crc)
