"""The utility-card application: a pure state machine from command APDU bytes to response bytes.

This is the card of docs/card-profile.md as a card vendor would implement it, with no I/O: the
in-memory card, the virtual card behind vpcd and the tests all run this very object::

    app = CardApplication.manufacture("04A1B2C3D4E5F607", master_key, rng=random.Random(7))
    app.power_on()
    app.process(bytes.fromhex("00A404000" "7F0524255430001" "00"))   # -> FCI + 9000

``process`` never raises for anything a reader sends: every refusal is a status word of
``apdu.STATUS_WORDS``. The one exception is ``eeprom.PowerLoss``, the simulated physics of a
card pulled in the middle of a write (then the card simply stops answering). What survives a
power cycle is the EEPROM: the files and the authentication try counter; the selected
application, the challenge and the secure messaging session are volatile.

Card rules beyond access control, each answered with its status word:

- credit slot: a record must name this card (bytes 12-19 = the serial, else 6A80) and must not
  take the purchase count back (else 6985), so an old record cannot be replayed onto the card;
- authentication: the try counter is decremented *before* the cryptogram is checked and given
  back on success, so pulling the card on a wrong guess does not save a try; at 0 the card
  answers 6983 for good.
"""
from __future__ import annotations

import hmac
import random

from protocols.utility_card import apdu as A
from protocols.utility_card.apdu import ApduError, Command, Response
from protocols.utility_card.card_files import (
    AID, BY_FID, BY_SFI, CHALLENGE_LENGTH, FILES, MAX_AUTH_TRIES, CardFile, fci, record_count,
)
from protocols.utility_card.eeprom import Eeprom
from protocols.utility_card.record import FORMAT_VERSION
from protocols.utility_card.secure_messaging import (
    CRYPTOGRAM_LENGTH, CardKeys, SecureMessagingError, SmSession, card_cryptogram, reader_cryptogram,
    session_key,
)

SELECT, GET_CHALLENGE, EXTERNAL_AUTHENTICATE = 0xA4, 0x84, 0x82
READ_BINARY, UPDATE_BINARY = 0xB0, 0xD6
TRIES = "tries"


class _Refusal(Exception):
    def __init__(self, sw: int) -> None:
        self.sw = sw


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


class CardApplication:
    """One card: its keys, its EEPROM, its volatile session state, and ``process``."""

    def __init__(self, keys: CardKeys, memory: Eeprom, *, rng: random.Random) -> None:
        self.keys, self.memory, self.rng = keys, memory, rng
        self.power_on()

    @classmethod
    def manufacture(cls, card_serial: str | bytes, master_key: bytes, *, rng: random.Random) -> CardApplication:
        """A blank card as the vendor delivers it: serial set, keys loaded, files empty."""
        keys = CardKeys.derive(master_key, card_serial)
        sizes = {f.name: f.size for f in FILES} | {TRIES: 1}
        memory = Eeprom(sizes, {"serial": keys.card_serial, TRIES: bytes((MAX_AUTH_TRIES,))})
        return cls(keys, memory, rng=rng)

    @property
    def card_serial(self) -> str:
        return self.keys.card_serial.hex().upper()

    # -- power: everything volatile goes

    def power_on(self) -> None:
        self.selected = False
        self.current: CardFile | None = None
        self.challenge: bytes | None = None
        self.session: SmSession | None = None

    reset = power_on

    def tries_left(self) -> int:
        return self.memory.read(TRIES)[0]

    # -- the dispatcher

    def process(self, raw: bytes) -> bytes:
        """The response APDU for ``raw``; never raises except ``PowerLoss``."""
        try:
            cmd = Command.decode(raw)
        except ApduError as e:
            return _sw(e.sw)
        try:
            if cmd.cla not in (0x00, 0x0C):
                logical = cmd.cla & 0x80 == 0 and cmd.cla & 0x03
                return _sw(A.SW_LOGICAL_CHANNEL if logical else A.SW_CLA_NOT_SUPPORTED)
            if cmd.ins == SELECT:
                return self._select(cmd)
            if cmd.ins not in (GET_CHALLENGE, EXTERNAL_AUTHENTICATE, READ_BINARY, UPDATE_BINARY):
                return _sw(A.SW_INS_NOT_SUPPORTED)
            if not self.selected:
                return _sw(A.SW_CONDITIONS)
            if cmd.ins in (GET_CHALLENGE, EXTERNAL_AUTHENTICATE):
                if cmd.secure:
                    return _sw(A.SW_SM_NOT_SUPPORTED)
                return self._challenge(cmd) if cmd.ins == GET_CHALLENGE else self._authenticate(cmd)
            if cmd.secure:
                return self._secure(cmd)
            return self._binary(cmd, protected=False).encode()
        except _Refusal as r:
            return _sw(r.sw)
        except (ApduError, ValueError):
            return _sw(A.SW_UNKNOWN)

    # -- SELECT

    def _select(self, cmd: Command) -> bytes:
        if cmd.secure:
            return _sw(A.SW_SM_NOT_SUPPORTED)
        if cmd.p1 == 0x04:                               # by DF name
            if cmd.p2 not in (0x00, 0x0C):
                return _sw(A.SW_WRONG_P1P2)
            if cmd.data != AID:
                self.power_on()                          # selecting elsewhere leaves the application
                return _sw(A.SW_FILE_NOT_FOUND)
            self.power_on()
            self.selected = True
            if cmd.p2 == 0x00 and cmd.le is not None:
                return fci(self.keys.card_serial)[:cmd.le] + _sw(A.SW_OK)
            return _sw(A.SW_OK)
        if cmd.p1 == 0x02:                               # EF under the current DF, by FID
            if not self.selected:
                return _sw(A.SW_CONDITIONS)
            if cmd.p2 != 0x0C:
                return _sw(A.SW_WRONG_P1P2)
            if len(cmd.data) != 2:
                return _sw(A.SW_WRONG_LENGTH)
            ef = BY_FID.get(int.from_bytes(cmd.data, "big"))
            if ef is None:
                return _sw(A.SW_FILE_NOT_FOUND)
            self.current = ef
            return _sw(A.SW_OK)
        return _sw(A.SW_WRONG_P1P2)

    # -- authentication

    def _challenge(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0):
            return _sw(A.SW_WRONG_P1P2)
        if cmd.data or cmd.le is None:
            return _sw(A.SW_WRONG_LENGTH)
        if cmd.le != CHALLENGE_LENGTH:
            return _sw(0x6C00 | CHALLENGE_LENGTH)
        self.session = None
        self.challenge = self.rng.getrandbits(8 * CHALLENGE_LENGTH).to_bytes(CHALLENGE_LENGTH, "big")
        return self.challenge + _sw(A.SW_OK)

    def _authenticate(self, cmd: Command) -> bytes:
        if (cmd.p1, cmd.p2) != (0, 0):
            return _sw(A.SW_WRONG_P1P2)
        if len(cmd.data) != CHALLENGE_LENGTH + CRYPTOGRAM_LENGTH or cmd.le is None:
            return _sw(A.SW_WRONG_LENGTH)
        tries = self.tries_left()
        if tries == 0:
            return _sw(A.SW_AUTH_BLOCKED)
        rnd_card, self.challenge, self.session = self.challenge, None, None
        if rnd_card is None:
            return _sw(A.SW_CONDITIONS)                  # GET CHALLENGE first; a challenge is used once
        self.memory.write(TRIES, 0, bytes((tries - 1,)))
        rnd_reader, cryptogram = cmd.data[:CHALLENGE_LENGTH], cmd.data[CHALLENGE_LENGTH:]
        if not hmac.compare_digest(cryptogram, reader_cryptogram(self.keys, rnd_card, rnd_reader)):
            return _sw(0x63C0 | (tries - 1))
        self.memory.write(TRIES, 0, bytes((MAX_AUTH_TRIES,)))
        self.session = SmSession(session_key(self.keys, rnd_card, rnd_reader))
        return card_cryptogram(self.keys, rnd_card, rnd_reader) + _sw(A.SW_OK)

    # -- READ / UPDATE BINARY

    def _secure(self, cmd: Command) -> bytes:
        if self.session is None:
            return _sw(A.SW_SECURITY_STATUS)
        session = self.session
        try:
            plain = session.unwrap(cmd)
        except SecureMessagingError as e:
            self.session = None                          # any SM error ends the session
            return _sw(e.sw)
        resp = self._binary(plain, protected=True)
        if resp.sw in (A.SW_OK, A.SW_END_OF_FILE):
            return session.wrap_response(resp).encode()
        return resp.encode()

    def _file(self, cmd: Command) -> tuple[CardFile, int]:
        if cmd.p1 & 0x80:
            if cmd.p1 & 0x60:
                raise _Refusal(A.SW_WRONG_P1P2)
            ef = BY_SFI.get(cmd.p1 & 0x1F)
            if ef is None:
                raise _Refusal(A.SW_FILE_NOT_FOUND)
            self.current = ef
            return ef, cmd.p2
        if self.current is None:
            raise _Refusal(A.SW_NO_CURRENT_EF)
        return self.current, (cmd.p1 << 8) | cmd.p2

    def _binary(self, cmd: Command, *, protected: bool) -> Response:
        ef, offset = self._file(cmd)
        rule = ef.read if cmd.ins == READ_BINARY else ef.update
        if rule == "never" or (rule == "sm" and not protected):
            return Response(sw=A.SW_SECURITY_STATUS)
        if cmd.ins == READ_BINARY:
            if cmd.data or cmd.le is None:
                return Response(sw=A.SW_WRONG_LENGTH)
            if offset > ef.size:
                return Response(sw=A.SW_OFFSET)
            content = self.memory.read(ef.name)[offset:]
            if cmd.le == 256 or cmd.le <= len(content):
                return Response(content[:cmd.le])
            return Response(content, A.SW_END_OF_FILE)
        if not cmd.data:
            return Response(sw=A.SW_WRONG_LENGTH)
        if offset + len(cmd.data) > ef.size:
            return Response(sw=A.SW_NO_SPACE)
        if ef.name == "credit":
            old = self.memory.read("credit")
            new = old[:offset] + cmd.data + old[offset + len(cmd.data):]
            self._check_record(old, new)
        self.memory.write(ef.name, offset, cmd.data)
        return Response()

    def _check_record(self, old: bytes, new: bytes) -> None:
        if not any(new):
            raise _Refusal(A.SW_CONDITIONS)              # a slot is never emptied: that loses credit
        if new[0] != FORMAT_VERSION or new[12:20] != self.keys.card_serial:
            raise _Refusal(A.SW_WRONG_DATA)
        if record_count(new) < record_count(old):
            raise _Refusal(A.SW_CONDITIONS)
