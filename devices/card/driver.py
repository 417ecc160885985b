"""The driver face: a real PC/SC reader through pyscard (and pcscd), the code a bench trusts.

It uses pyscard's thin ``smartcard.scard`` layer (the PC/SC calls themselves), so every
failure arrives as a PC/SC return code, which ``_raise`` turns into this role's exceptions:
a card pulled mid-transaction is ``CardRemoved``, a reader unplugged (or pcscd stopped) is
``ReaderGone``, no pcscd at all is ``PcscUnavailable``.

    reader = PcscReader("Virtual PCD 00 00")     # or "ACS ACR38U 00 00" on the bench
    reader.wait_for_card(timeout=10)
    atr = reader.connect()
    resp = reader.transmit(bytes.fromhex("00A4040007F052425543000100"))

``disconnect`` resets the card, so an authenticated session never outlives its owner.
"""
from __future__ import annotations

import time

from devices.card.errors import (
    CardReaderError, CardRemoved, CardTimeout, NoCard, PcscUnavailable, ReaderGone, ReaderNotFound,
)
from devices.card.interface import check_command
from protocols.utility_card.apdu import ApduError, Command, Response

try:
    from smartcard import scard
except ImportError as e:  # pragma: no cover - exercised on machines without pyscard
    scard = None
    _IMPORT_ERROR = str(e)

INSTALL_HINT = "`./rb setup` as root installs pcscd, vsmartcard-vpcd and pyscard"
_CARD_GONE = {0x80100069, 0x8010000C, 0x80100068, 0x80100067, 0x80100066, 0x80100016, 0x8010002F}
_READER_GONE = {0x80100017, 0x80100003, 0x8010001E, 0x80100013}
_UNKNOWN_READER = 0x80100009
_NO_SERVICE = 0x8010001D
_TIMEOUT = 0x8010000A
_NO_READERS = 0x8010002E
_SUCCESS = 0


def _code(rc: int) -> int:
    return rc & 0xFFFFFFFF


def _message(rc: int) -> str:
    try:
        return f"{scard.SCardGetErrorMessage(rc).strip()} (0x{_code(rc):08X})"
    except Exception:  # noqa: BLE001 - a message is a nicety
        return f"0x{_code(rc):08X}"


class PcscReader:
    """One PC/SC reader by name, implementing ``CardReaderPort``."""

    def __init__(self, name: str, *, poll_s: float = 0.02) -> None:
        if scard is None:
            raise PcscUnavailable(f"pyscard is not importable ({_IMPORT_ERROR}): {INSTALL_HINT}")
        self.name, self.poll_s = name, poll_s
        self._ctx = None
        self._card = None
        self._protocol = None
        self.apdus = 0

    # -- context and errors

    def _context(self):  # type: ignore[no-untyped-def]
        if self._ctx is None:
            rc, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if _code(rc) != _SUCCESS:
                raise PcscUnavailable(f"no PC/SC service ({_message(rc)}): is pcscd running? Start it with "
                                      f"`python -m hil.pcsc start`; {INSTALL_HINT}")
            self._ctx = ctx
        return self._ctx

    def _raise(self, rc: int, action: str) -> None:
        code = _code(rc)
        if code == _NO_SERVICE:
            self._drop()
            raise ReaderGone(f"{action} on '{self.name}': the PC/SC service went away ({_message(rc)}); "
                             "restart pcscd (`python -m hil.pcsc start`) and start a new session")
        if code == _UNKNOWN_READER:
            names = self._list(quiet=True)
            raise ReaderNotFound(f"{action}: reader '{self.name}' is not connected; readers now: "
                                 f"{names or 'none'}")
        if code in _READER_GONE or (code in _CARD_GONE and self.name not in self._list(quiet=True)):
            self._drop()
            raise ReaderGone(f"{action} on '{self.name}': the reader is gone ({_message(rc)}); "
                             "plug it back in and start a new session")
        if code in _CARD_GONE:
            self._card = None
            raise CardRemoved(f"{action} on '{self.name}': the card was removed or lost power "
                              f"({_message(rc)}); reinsert it, start a new session and read it back")
        if code == _TIMEOUT:
            raise CardTimeout(f"{action} on '{self.name}': timed out")
        raise CardReaderError(f"{action} on '{self.name}' failed: {_message(rc)}")

    def _drop(self) -> None:
        self._card = None
        if self._ctx is not None:
            scard.SCardReleaseContext(self._ctx)
            self._ctx = None

    def _list(self, *, quiet: bool = False) -> list[str]:
        rc, names = scard.SCardListReaders(self._context(), [])
        if _code(rc) == _NO_READERS:
            return []
        if _code(rc) != _SUCCESS:
            if quiet:
                return []
            self._raise(rc, "list readers")
        return list(names)

    # -- CardReaderPort

    def readers(self) -> list[str]:
        return self._list()

    def _state(self, timeout_ms: int, current: int) -> int:
        rc, states = scard.SCardGetStatusChange(self._context(), timeout_ms, [(self.name, current)])
        if _code(rc) == _TIMEOUT:
            return current
        if _code(rc) != _SUCCESS:
            self._raise(rc, "read reader state")
        _, state, _atr = states[0]
        if state & scard.SCARD_STATE_UNKNOWN:
            names = self._list(quiet=True)
            raise ReaderNotFound(f"reader '{self.name}' is not connected; readers now: {names or 'none'}")
        if state & scard.SCARD_STATE_UNAVAILABLE:
            raise ReaderGone(f"reader '{self.name}' is unavailable")
        return state & ~scard.SCARD_STATE_CHANGED

    def card_present(self) -> bool:
        return bool(self._state(0, scard.SCARD_STATE_UNAWARE) & scard.SCARD_STATE_PRESENT)

    def _wait(self, present: bool, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = self._state(0, scard.SCARD_STATE_UNAWARE)
        while bool(state & scard.SCARD_STATE_PRESENT) != present:
            left = deadline - time.monotonic()
            if left <= 0:
                what = "a card" if present else "the card to be removed"
                raise CardTimeout(f"'{self.name}': waited {timeout:g} s for {what}")
            state = self._state(max(1, int(min(left, 1.0) * 1000)), state)

    def wait_for_card(self, timeout: float) -> None:
        self._wait(True, timeout)

    def wait_for_removal(self, timeout: float) -> None:
        self._wait(False, timeout)

    def connect(self, timeout: float = 2.0) -> bytes:
        """Power the card up (T=1 or T=0) and return its ATR; retried briefly while a card that
        has just arrived is still being powered by the reader."""
        if self._card is not None:
            self.disconnect()
        deadline = time.monotonic() + timeout
        while True:
            rc, card, protocol = scard.SCardConnect(self._context(), self.name, scard.SCARD_SHARE_SHARED,
                                                   scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1)
            if _code(rc) == _SUCCESS:
                break
            if _code(rc) in _CARD_GONE and time.monotonic() < deadline and self.card_present():
                time.sleep(self.poll_s)
                continue
            if _code(rc) in (0x8010000C, 0x80100069):
                raise NoCard(f"'{self.name}': no card in the reader ({_message(rc)}); insert one")
            self._raise(rc, "connect")
        self._card, self._protocol = card, protocol
        rc, _reader, _state, _proto, atr = scard.SCardStatus(card)
        if _code(rc) != _SUCCESS:
            self._raise(rc, "read the ATR")
        return bytes(atr)

    def transmit(self, command: bytes | Command) -> Response:
        raw = check_command(command)
        if self._card is None:
            raise CardRemoved(f"'{self.name}': no connected card for {raw[:4].hex().upper()}; connect first")
        rc, answer = scard.SCardTransmit(self._card, self._protocol, list(raw))
        if _code(rc) != _SUCCESS:
            self._raise(rc, f"transmit {raw[:4].hex().upper()}")
        self.apdus += 1
        if len(answer) < 2:        # vpcd (and some readers) report a card gone mid-APDU this way
            self._card = None
            raise CardRemoved(f"transmit {raw[:4].hex().upper()} on '{self.name}': no answer from the "
                              "card (removed or lost power mid-command); reinsert it, start a new "
                              "session and read it back")
        try:
            return Response.decode(bytes(answer))
        except ApduError as e:
            raise CardReaderError(f"'{self.name}': the card's answer to {raw[:4].hex().upper()} is not a "
                                  f"response APDU: {e}") from None

    def disconnect(self) -> None:
        card, self._card = self._card, None
        if card is not None:
            scard.SCardDisconnect(card, scard.SCARD_RESET_CARD)

    def close(self) -> None:
        self.disconnect()
        self._drop()
