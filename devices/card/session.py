"""A session with one utility card over any reader port: select, authenticate, read, write.

::

    card = UtilityCard(port, rng=random.Random(7))
    card.start()                                  # connect (ATR) + SELECT by AID: card.serial
    card.authenticate(master_key)                 # mutual; then every file access is MACed
    contents = card.read_contents()               # meter, record, purchase count, meter receipt
    card.write_record(record_bytes)               # UPDATE BINARY under secure messaging
    card.close()

Each refusal raises ``CardRefused`` with the card's status word and its meaning; a card whose
cryptogram is wrong (a clone, another utility's card) raises ``AuthenticationFailed``. A failed
secure-messaging exchange ends the session on both sides: authenticate again.
"""
from __future__ import annotations

import hmac
import random
from dataclasses import dataclass

from devices.card.errors import AuthenticationFailed, CardDataError, CardRefused
from devices.card.interface import CardReaderPort
from protocols.utility_card import apdu as A
from protocols.utility_card.apdu import Command, Response
from protocols.utility_card.card_files import (
    AID, ATR, BY_NAME, CHALLENGE_LENGTH, LoadReceipt, decode_meter_file, encode_meter_file,
    parse_fci, record_count,
)
from protocols.utility_card.errors import CardError
from protocols.utility_card.record import RECORD_LENGTH
from protocols.utility_card.secure_messaging import (
    CRYPTOGRAM_LENGTH, CardKeys, SecureMessagingError, SmSession, card_cryptogram, reader_cryptogram,
    session_key,
)

SELECT_APP = Command(0x00, 0xA4, 0x04, 0x00, AID, le=256)
# The cheap APDU for timing: READ BINARY of EF serial (SFI 1), 8 bytes, plain; valid once the
# application is selected, touches no crypto and no EEPROM write. Answer: 8 bytes + 9000.
TIMING_APDU = Command(0x00, 0xB0, 0x80 | BY_NAME["serial"].sfi, 0x00, le=8)


@dataclass(frozen=True)
class CardContents:
    """Everything a vending point or a meter reads from a card in one go."""

    card_serial: str
    meter_number: str | None          # None: card not personalised yet
    utility_id: int | None
    record: bytes | None              # the 59-byte credit record, None when the slot is empty
    receipt: LoadReceipt              # what the meter last did with a record of this card

    @property
    def purchase_count(self) -> int:
        """The purchase count of the record on the card (0 when the slot is empty)."""
        return record_count(self.record) if self.record else 0

    @property
    def pending(self) -> bool:
        """The card holds a record the meter has not taken yet."""
        return self.record is not None and self.purchase_count > self.receipt.meter_count


class UtilityCard:
    """The reader's side of docs/card-profile.md over a ``CardReaderPort``."""

    def __init__(self, port: CardReaderPort, *, rng: random.Random | None = None) -> None:
        self.port = port
        self.rng = rng if rng is not None else random.SystemRandom()   # pass a seeded one for repeatable runs
        self.atr: bytes | None = None
        self.serial: str | None = None
        self.profile_version: int | None = None
        self._keys: CardKeys | None = None
        self._sm: SmSession | None = None

    # -- plumbing

    def send(self, cmd: Command, what: str) -> Response:
        """Transmit ``cmd`` (wrapped in secure messaging once authenticated, for CLA 0C) and
        raise ``CardRefused`` for any status word other than 9000."""
        resp = self.port.transmit(cmd)
        if resp.sw != A.SW_OK:
            raise CardRefused(what, resp.sw)
        return resp

    def _protected(self, cmd: Command, what: str) -> Response:
        if self._sm is None:
            raise CardRefused(what, A.SW_SECURITY_STATUS, hint="call authenticate(master_key) first")
        sm = self._sm
        resp = self.port.transmit(sm.wrap(cmd))
        if resp.sw in (A.SW_SM_INCORRECT, A.SW_SM_MISSING, A.SW_SECURITY_STATUS):
            self._sm = None
        try:
            plain = sm.unwrap_response(resp)
        except SecureMessagingError as e:
            self._sm = None
            raise AuthenticationFailed(f"{what}: the card's answer failed secure messaging ({e}); "
                                       "authenticate again", sw=e.sw) from None
        if plain.sw != A.SW_OK:
            raise CardRefused(what, plain.sw)
        return plain

    # -- start, select

    def start(self) -> UtilityCard:
        """Power the card up and select the application; sets ``atr`` and ``serial``."""
        self.atr = self.port.connect()
        self.select()
        return self

    def select(self) -> str:
        self._sm = None
        resp = self.port.transmit(SELECT_APP)
        if resp.sw == A.SW_FILE_NOT_FOUND:
            raise CardDataError(f"this card has no utility-card application (AID {AID.hex().upper()}; "
                                f"ATR {self.atr.hex().upper() if self.atr else '?'}, expected "
                                f"{ATR.hex().upper()}): is it a utility card?")
        if resp.sw != A.SW_OK:
            raise CardRefused("SELECT utility-card application", resp.sw)
        try:
            info = parse_fci(resp.data)
        except CardError as e:
            raise CardDataError(f"SELECT: {e}") from None
        self.serial, self.profile_version = info.card_serial, info.profile_version
        return info.card_serial

    def read_serial(self) -> str:
        """The serial from EF serial (plain READ BINARY: ``TIMING_APDU``)."""
        data = self.send(TIMING_APDU, "READ BINARY serial").data
        if len(data) != 8:
            raise CardDataError(f"EF serial: {len(data)} bytes; expected 8")
        return data.hex().upper()

    # -- authentication

    def authenticate(self, master_key: bytes) -> None:
        """Mutual authentication with the card's keys, derived from ``master_key`` and its serial."""
        if self.serial is None:
            self.select()
        keys = CardKeys.derive(master_key, self.serial)
        self._sm = None
        rnd_card = self.send(Command(0x00, 0x84, 0x00, 0x00, le=CHALLENGE_LENGTH), "GET CHALLENGE").data
        if len(rnd_card) != CHALLENGE_LENGTH:
            raise CardDataError(f"GET CHALLENGE: {len(rnd_card)} bytes; expected {CHALLENGE_LENGTH}")
        rnd_reader = self.rng.getrandbits(8 * CHALLENGE_LENGTH).to_bytes(CHALLENGE_LENGTH, "big")
        cmd = Command(0x00, 0x82, 0x00, 0x00, rnd_reader + reader_cryptogram(keys, rnd_card, rnd_reader),
                      le=CRYPTOGRAM_LENGTH)
        resp = self.port.transmit(cmd)
        if resp.sw1 == 0x63 or resp.sw == A.SW_AUTH_BLOCKED:
            raise AuthenticationFailed(
                f"card {self.serial} refused our cryptogram ({resp.sw:04X}: {resp.meaning}): the master "
                "key is not this card's utility's (wrong key version?) or the card is not genuine",
                sw=resp.sw)
        if resp.sw != A.SW_OK:
            raise CardRefused("EXTERNAL AUTHENTICATE", resp.sw)
        if not hmac.compare_digest(resp.data, card_cryptogram(keys, rnd_card, rnd_reader)):
            raise AuthenticationFailed(
                f"card {self.serial} answered with a wrong cryptogram: it does not hold the keys of "
                "its serial (a cloned card, or a card of another utility); refuse it")
        self._keys = keys
        self._sm = SmSession(session_key(keys, rnd_card, rnd_reader))

    @property
    def authenticated(self) -> bool:
        return self._sm is not None

    # -- files

    def read_file(self, name: str) -> bytes:
        ef = BY_NAME[name]
        cmd = Command(0x00, 0xB0, 0x80 | ef.sfi, 0x00, le=ef.size)
        if ef.read == "always" and self._sm is None:
            data = self.send(cmd, f"READ BINARY {name}").data
        else:
            data = self._protected(cmd, f"READ BINARY {name}").data
        if len(data) != ef.size:
            raise CardDataError(f"EF {name}: {len(data)} bytes; expected {ef.size}")
        return data

    def update_file(self, name: str, data: bytes) -> None:
        ef = BY_NAME[name]
        self._protected(Command(0x00, 0xD6, 0x80 | ef.sfi, 0x00, bytes(data)), f"UPDATE BINARY {name}")

    def read_meter(self) -> tuple[str, int] | None:
        try:
            return decode_meter_file(self.read_file("meter"))
        except CardError as e:
            raise CardDataError(f"EF meter: {e}") from None

    def read_record(self) -> bytes | None:
        data = self.read_file("credit")
        return data if any(data) else None

    def read_purchase_count(self) -> int:
        return record_count(self.read_file("credit"))

    def read_receipt(self) -> LoadReceipt:
        try:
            return LoadReceipt.decode(self.read_file("loaded"))
        except CardError as e:
            raise CardDataError(f"EF loaded: {e}") from None

    def read_contents(self) -> CardContents:
        meter = self.read_meter()
        return CardContents(self.serial or "", meter[0] if meter else None, meter[1] if meter else None,
                            self.read_record(), self.read_receipt())

    def write_record(self, record: bytes) -> None:
        """Write a 59-byte credit record into the slot (atomically, on the card's side)."""
        if not isinstance(record, (bytes, bytearray)) or len(record) != RECORD_LENGTH:
            raise CardDataError(f"record: expected {RECORD_LENGTH} bytes, got "
                                f"{len(record) if isinstance(record, (bytes, bytearray)) else type(record).__name__}")
        try:
            self.update_file("credit", bytes(record))
        except CardRefused as e:
            hints = {A.SW_WRONG_DATA: "the record is not for this card (its bytes 12-19 must be the "
                                      "card serial) or not format version 1",
                     A.SW_CONDITIONS: "the card holds a record with a higher purchase count"}
            if e.sw in hints:
                raise CardRefused("UPDATE BINARY credit", e.sw, hint=hints[e.sw]) from None
            raise

    def write_meter(self, meter_number: str, utility_id: int) -> None:
        """Personalise the card for a meter (at the branch, when the card is issued)."""
        self.update_file("meter", encode_meter_file(meter_number, utility_id))

    def write_receipt(self, receipt: LoadReceipt) -> None:
        self.update_file("loaded", receipt.encode())

    def close(self) -> None:
        """End the session: the card is powered down, its session keys are gone."""
        self._sm = None
        self.port.disconnect()
