"""The emulator face: our card served to the ``vpcd`` reader driver, so pcscd sees a real card.

vpcd (Debian ``vsmartcard-vpcd``) is a PC/SC reader driver inside pcscd that listens on TCP;
the card is the client. Inserting the card is connecting, pulling it is closing the socket.
Every message either way is a 2-byte big-endian length then the payload. From vpcd, a 1-byte
payload is a control (0 power off, 1 power on, 2 reset, 4 send the ATR); anything longer is a
command APDU, answered with the response APDU.

    card = MemoryCard.manufacture(serial, master_key, rng=random.Random(1))
    with port_lock(35963):                       # one virtual card per vpcd port on the machine
        vc = VirtualCard(card, port=35963)
        vc.insert()                              # pyscard now sees a card in 'Virtual PCD 00 00'
        ...
        vc.remove()

Trap (platform.md): Nagle on vpcd's side against delayed ACKs on ours costs 40 ms per APDU
unless ``TCP_QUICKACK`` is set before *every* recv (Linux clears it again). It is.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import threading
import time
from collections.abc import Iterator

from devices.card.errors import CardReaderError, CardTimeout, PcscUnavailable
from devices.card.model import MemoryCard
from protocols.utility_card.eeprom import PowerLoss

HOST = "127.0.0.1"
POWER_OFF, POWER_ON, RESET, GET_ATR = 0, 1, 2, 4
LOCK_DIR = "/tmp"
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


def lock_path(port: int) -> str:
    return os.path.join(os.environ.get("RBENCH_PCSC_DIR", LOCK_DIR), f"rbench-vpcd-{port}.lock")


_held: dict[int, int] = {}          # port -> depth, for this process (flock is per open file)
_held_guard = threading.Lock()


@contextlib.contextmanager
def port_lock(port: int, timeout: float = 300.0) -> Iterator[None]:
    """Hold the vpcd reader on ``port`` for this process alone (across processes: ``flock``).
    Re-entrant within one process, so a bench may hold it around ``open_card_reader``."""
    with _held_guard:
        if _held.get(port):
            _held[port] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[port] -= 1
        return
    fd = os.open(lock_path(port), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise CardTimeout(f"vpcd port {port} stayed in use by another process for "
                                      f"{timeout:g} s (lock {lock_path(port)})") from None
                time.sleep(0.05)
        with _held_guard:
            _held[port] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(port, None)
    finally:
        os.close(fd)


class VirtualCard:
    """A ``MemoryCard`` connected to vpcd on 127.0.0.1:``port``, served by a background thread."""

    def __init__(self, card: MemoryCard, *, port: int = 35963, host: str = HOST) -> None:
        self.card, self.port, self.host = card, port, host
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.apdus = 0
        self.error: BaseException | None = None

    @property
    def inserted(self) -> bool:
        """Connected to vpcd. Cleared by the serving thread *before* it closes the socket on a
        pull, so whoever sees the card gone (vpcd, then the driver) sees ``inserted`` False."""
        return self._sock is not None and self._thread is not None and self._thread.is_alive()

    def insert(self, timeout: float = 5.0) -> None:
        """Connect to vpcd (the card enters the reader) and serve it until ``remove``."""
        if self.inserted:
            return
        self.remove()
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=timeout)
                break
            except OSError as e:
                if time.monotonic() > deadline:
                    raise PcscUnavailable(
                        f"cannot reach vpcd on {self.host}:{self.port} ({e}): is pcscd running with the "
                        "vpcd driver? Start it with `python -m hil.pcsc start`") from None
                time.sleep(0.05)
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self.error = sock, None
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                        name=f"virtual-card-{self.card.serial}-{self.port}")
        self._thread.start()

    def remove(self) -> None:
        """Close the connection: for pcscd the card has left the reader."""
        sock, thread = self._sock, self._thread
        self._sock = self._thread = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.card.power_off()

    def pull_during_write(self, after_bytes: int = 0) -> None:
        """The next EEPROM write loses power after ``after_bytes`` byte writes; the card leaves."""
        self.card.memory.arm_power_cut(after_bytes)

    close = remove

    # -- the wire

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            if _QUICKACK is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            chunk = sock.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf

    def _answer(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            control = payload[0]
            if control == POWER_OFF:
                self.card.power_off()
            elif control in (POWER_ON, RESET):
                self.card.power_on()
            elif control == GET_ATR:
                return self.card.atr
            return None                      # controls other than GET ATR get no answer
        self.apdus += 1
        return self.card.process(payload)

    def _serve(self, sock: socket.socket) -> None:
        try:
            while True:
                head = self._recv_exact(sock, 2)
                if head is None:
                    return
                payload = self._recv_exact(sock, int.from_bytes(head, "big"))
                if payload is None:
                    return
                try:
                    answer = self._answer(payload)
                except PowerLoss:
                    if self._sock is sock:
                        self._sock = None    # gone before vpcd can notice (the close below)
                    return                   # pulled mid-write: no answer
                if answer is not None:
                    sock.sendall(len(answer).to_bytes(2, "big") + answer)
        except OSError as e:
            if self._sock is sock:           # not a remove() of ours
                self.error = e
        except Exception as e:  # noqa: BLE001 - kept for the test that reads .error
            self.error = CardReaderError(f"virtual card {self.card.serial} crashed: {e!r}")
        finally:
            with contextlib.suppress(OSError):
                sock.close()
            if self._sock is sock:
                self._sock = None
