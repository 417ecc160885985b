"""Mutual authentication and secure messaging between a utility card and a reader (both ends).

Keys: each card holds two keys of its own, diversified from the utility master key by its serial
(keys.py): ``K_auth`` (purpose ``auth``) and ``K_sm`` (purpose ``sm-mac``). A reader that knows
the master key derives them from the serial the card announced.

Mutual authentication (GET CHALLENGE, then EXTERNAL AUTHENTICATE used as a mutual authenticate,
as ICAO 9303 BAC does), with HMAC-SHA256 throughout and nothing but the standard library::

    card   -> reader  RND.C (8 bytes)                         GET CHALLENGE
    reader -> card    RND.R || CR, CR = HMAC(K_auth, 01 || RND.C || RND.R || serial)[:16]
    card   -> reader  CC,         CC = HMAC(K_auth, 02 || RND.C || RND.R || serial)[:16]
    both              S_mac = HMAC(K_sm, "rbuc-sm" 00 || RND.C || RND.R)

The card checks CR (the reader knows K_auth and answers this challenge), the reader checks CC
(the card knows K_auth: a copy of a card's files onto another card fails here). The leading 01 /
02 keep one side's cryptogram from being reflected as the other's. Each side's nonce makes the
session key fresh, so nothing recorded from an earlier session verifies in a new one.

Secure messaging (ISO 7816-4 §10, CLA ``0C``): data objects ``81`` plain data, ``97`` Le,
``99`` status word, ``8E`` MAC. A send sequence counter (SSC, 8 bytes, from 0) is incremented
before each protected command and each protected response, so a replayed, dropped or
reordered APDU fails its MAC::

    command MAC  = HMAC(S_mac, SSC || CLA INS P1 P2 || DOs before 8E)[:8]
    response MAC = HMAC(S_mac, SSC || DOs before 8E)[:8]

Records are not secret (a credit record is MAC-protected end to end by the vending system's
key), so secure messaging gives integrity and authenticity, not confidentiality.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from protocols.utility_card.apdu import (
    SW_SM_INCORRECT, SW_SM_MISSING, ApduError, Command, Response, parse_tlv, tlv,
)
from protocols.utility_card.card_files import CHALLENGE_LENGTH
from protocols.utility_card.errors import CardError
from protocols.utility_card.keys import AUTH, SECURE_MESSAGING, card_serial_bytes, diversify

CRYPTOGRAM_LENGTH = 16
SM_MAC_LENGTH = 8
SM_CLA = 0x0C
TAG_PLAIN, TAG_LE, TAG_SW, TAG_MAC = 0x81, 0x97, 0x99, 0x8E


class SecureMessagingError(CardError):
    """A protected APDU is missing its data objects or its MAC does not verify (``sw`` says which)."""

    code = "key"

    def __init__(self, message: str, *, sw: int) -> None:
        super().__init__(message, field="secure_messaging")
        self.sw = sw


@dataclass(frozen=True)
class CardKeys:
    """The two keys one card holds (a card never holds the master key)."""

    card_serial: bytes
    auth: bytes
    sm: bytes

    @classmethod
    def derive(cls, master_key: bytes, card_serial: str | bytes) -> CardKeys:
        serial = card_serial_bytes(card_serial)
        return cls(serial, diversify(master_key, serial, AUTH), diversify(master_key, serial, SECURE_MESSAGING))


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def reader_cryptogram(keys: CardKeys, rnd_card: bytes, rnd_reader: bytes) -> bytes:
    return _mac(keys.auth, b"\x01", rnd_card, rnd_reader, keys.card_serial)[:CRYPTOGRAM_LENGTH]


def card_cryptogram(keys: CardKeys, rnd_card: bytes, rnd_reader: bytes) -> bytes:
    return _mac(keys.auth, b"\x02", rnd_card, rnd_reader, keys.card_serial)[:CRYPTOGRAM_LENGTH]


def session_key(keys: CardKeys, rnd_card: bytes, rnd_reader: bytes) -> bytes:
    return _mac(keys.sm, b"rbuc-sm\x00", rnd_card, rnd_reader)


def check_nonce(value: bytes, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != CHALLENGE_LENGTH:
        raise CardError(f"{name}: expected {CHALLENGE_LENGTH} bytes", field=name)
    return bytes(value)


class SmSession:
    """One authenticated session's MAC key and send sequence counter; used by card and reader."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.ssc = 0

    def _next(self) -> bytes:
        self.ssc += 1
        return self.ssc.to_bytes(8, "big")

    def _tag(self, ssc: bytes, *parts: bytes) -> bytes:
        return _mac(self.key, ssc, *parts)[:SM_MAC_LENGTH]

    # -- reader side

    def wrap(self, cmd: Command) -> Command:
        """The protected form of a plain command (CLA 0C): data in 81, Le in 97, then 8E."""
        dos = (tlv(TAG_PLAIN, cmd.data) if cmd.data else b"")
        dos += tlv(TAG_LE, bytes((cmd.le & 0xFF,))) if cmd.le is not None else b""
        header = bytes((SM_CLA, cmd.ins, cmd.p1, cmd.p2))
        mac = self._tag(self._next(), header, dos)
        return Command(SM_CLA, cmd.ins, cmd.p1, cmd.p2, dos + tlv(TAG_MAC, mac), le=256)

    def unwrap_response(self, resp: Response) -> Response:
        """The plain response inside a protected one; a bare error SW passes through unprotected."""
        if not resp.data:
            if resp.sw in (0x9000, 0x6282):
                raise SecureMessagingError(f"response {resp.sw:04X} came without secure messaging "
                                           "data objects; expected 99 and 8E", sw=SW_SM_MISSING)
            return resp
        try:
            objects = parse_tlv(resp.data, where="response")
        except ApduError as e:
            raise SecureMessagingError(str(e), sw=SW_SM_INCORRECT) from None
        if not objects or objects[-1][0] != TAG_MAC or len(objects[-1][1]) != SM_MAC_LENGTH:
            raise SecureMessagingError("response: no 8-byte MAC (8E) at the end", sw=SW_SM_MISSING)
        covered = resp.data[:len(resp.data) - 2 - SM_MAC_LENGTH]
        if not hmac.compare_digest(self._tag(self._next(), covered), objects[-1][1]):
            raise SecureMessagingError("response MAC does not verify: the answer was altered, "
                                       "replayed, or comes from another session", sw=SW_SM_INCORRECT)
        found = dict(objects[:-1])
        sw = found.get(TAG_SW)
        if sw is None or len(sw) != 2:
            raise SecureMessagingError("response: no status word object (99 02 SW1 SW2)", sw=SW_SM_MISSING)
        return Response(found.get(TAG_PLAIN, b""), int.from_bytes(sw, "big"))

    # -- card side

    def unwrap(self, cmd: Command) -> Command:
        """The plain command inside a protected one, once its MAC verifies."""
        try:
            objects = parse_tlv(cmd.data, where="command")
        except ApduError as e:
            raise SecureMessagingError(str(e), sw=SW_SM_INCORRECT) from None
        if not objects or objects[-1][0] != TAG_MAC or len(objects[-1][1]) != SM_MAC_LENGTH:
            raise SecureMessagingError("command: no 8-byte MAC (8E) at the end", sw=SW_SM_MISSING)
        covered = cmd.data[:len(cmd.data) - 2 - SM_MAC_LENGTH]
        if not hmac.compare_digest(self._tag(self._next(), cmd.header, covered), objects[-1][1]):
            raise SecureMessagingError("command MAC does not verify", sw=SW_SM_INCORRECT)
        found = dict(objects[:-1])
        if set(found) - {TAG_PLAIN, TAG_LE} or len(found) != len(objects) - 1:
            raise SecureMessagingError("command: unexpected or repeated data objects; expected "
                                       "81 and 97 only", sw=SW_SM_INCORRECT)
        le = found.get(TAG_LE)
        if le is not None and len(le) != 1:
            raise SecureMessagingError("command: Le object 97 must hold one byte", sw=SW_SM_INCORRECT)
        return Command(0x00, cmd.ins, cmd.p1, cmd.p2, found.get(TAG_PLAIN, b""),
                       le=None if le is None else (le[0] or 256))

    def wrap_response(self, resp: Response) -> Response:
        dos = (tlv(TAG_PLAIN, resp.data) if resp.data else b"") + tlv(TAG_SW, resp.sw.to_bytes(2, "big"))
        return Response(dos + tlv(TAG_MAC, self._tag(self._next(), dos)), resp.sw)
