"""The messages of IEC 62056-21 mode C, each a frozen dataclass that validates and encodes itself.

=====================  ============================================  ==========================
message                bytes                                         who sends it
=====================  ============================================  ==========================
``SignOn``             ``/ ? [address] ! CR LF``                     master, at 300 baud
``Identification``     ``/ XXX Z [\\W] ident CR LF``                  meter
``OptionSelect``       ``ACK V Z Y CR LF``                           master: V protocol, Z baud,
                                                                     Y mode (0 readout, 1 prog.)
``Ack`` / ``Nak``      ``ACK`` / ``NAK``                             both
``Command``            ``SOH C D STX data-set ETX BCC``              master (the meter's P0 too)
                       ``SOH B 0 ETX BCC`` (break, no data)
``DataMessage``        ``STX data-sets [! CR LF] ETX BCC``           meter: readout (with ``!``)
                                                                     or an answer to R1
``ErrorMessage``       ``STX ( text ) ETX BCC``                      meter
=====================  ============================================  ==========================

BCC is the XOR of everything after the first SOH or STX through the ETX (or EOT, which ends
a partial block) inclusive.
"""
from __future__ import annotations

import string
from dataclasses import dataclass

from .chars import ACK, CRLF, EOT, ETX, NAK, SOH, STX, bcc, MODE_C_BAUD
from .dataset import DataSet, _check
from .errors import Iec62056Error

SIGN_ON_ADDRESS_MAX = 32
IDENT_MAX = 16
ERROR_TEXT_MAX = 32
COMMANDS = {"P": "password", "W": "write", "R": "read", "E": "execute", "B": "break"}
MODES = {"0": "data readout", "1": "programming", "2": "binary (HDLC)"}
_LETTERS = set(string.ascii_letters)


def _block(body: bytes, end: int = ETX) -> bytes:
    """``body`` (what follows SOH or STX) closed with ETX/EOT and its BCC."""
    body += bytes([end])
    return body + bytes([bcc(body)])


@dataclass(frozen=True)
class SignOn:
    """Request message: ``/?!`` for any meter, ``/?47500150231!`` for one on a shared bus."""

    address: str = ""

    def __post_init__(self) -> None:
        _check(self.address, "sign-on address", SIGN_ON_ADDRESS_MAX, set("/?!"))

    def encode(self) -> bytes:
        return f"/?{self.address}!".encode("ascii") + CRLF


@dataclass(frozen=True)
class Identification:
    """The meter's answer to a sign-on: manufacturer (3 letters; a lowercase 3rd letter says the
    meter answers within 20 ms), the highest baud-rate character it offers, and its ident."""

    manufacturer: str
    baud_char: str
    ident: str
    enhanced: str = ""          # the character after a backslash (\\2: mode E capable), if any

    def __post_init__(self) -> None:
        if not (isinstance(self.manufacturer, str) and len(self.manufacturer) == 3
                and set(self.manufacturer) <= _LETTERS):
            raise Iec62056Error(f"invalid manufacturer {self.manufacturer!r}: expected 3 letters such as 'RBM'")
        if not (isinstance(self.baud_char, str) and len(self.baud_char) == 1
                and (self.baud_char.isdigit() or "A" <= self.baud_char <= "I")):
            raise Iec62056Error(f"invalid baud rate character {self.baud_char!r}: expected 0-9 or A-I")
        if self.enhanced and not (len(self.enhanced) == 1 and self.enhanced.isalnum() and self.enhanced.isascii()):
            raise Iec62056Error(f"invalid enhanced identification {self.enhanced!r}: expected one letter or digit")
        _check(self.ident, "identification", IDENT_MAX, set("/!\\"))
        if not self.ident:
            raise Iec62056Error("invalid identification '': expected 1 to 16 characters")

    @property
    def reacts_in_20ms(self) -> bool:
        return self.manufacturer[2].islower()

    @property
    def max_baud(self) -> int:
        """The highest rate offered, for a mode C baud character."""
        if self.baud_char not in MODE_C_BAUD:
            raise Iec62056Error(f"baud rate character {self.baud_char!r} is not a mode C character (0-6)")
        return MODE_C_BAUD[self.baud_char]

    def encode(self) -> bytes:
        enhanced = f"\\{self.enhanced}" if self.enhanced else ""
        return f"/{self.manufacturer}{self.baud_char}{enhanced}{self.ident}".encode("ascii") + CRLF


@dataclass(frozen=True)
class OptionSelect:
    """Acknowledgement/option select: protocol control V, baud character Z, mode Y."""

    baud_char: str
    mode: str = "0"
    protocol: str = "0"

    def __post_init__(self) -> None:
        for name, value in (("protocol control", self.protocol), ("baud rate character", self.baud_char),
                            ("mode", self.mode)):
            if not (isinstance(value, str) and len(value) == 1 and value.isdigit() and value.isascii()):
                raise Iec62056Error(f"invalid {name} {value!r}: expected one digit")

    def encode(self) -> bytes:
        return bytes([ACK]) + f"{self.protocol}{self.baud_char}{self.mode}".encode("ascii") + CRLF


@dataclass(frozen=True)
class Ack:
    def encode(self) -> bytes:
        return bytes([ACK])


@dataclass(frozen=True)
class Nak:
    def encode(self) -> bytes:
        return bytes([NAK])


@dataclass(frozen=True)
class Command:
    """Programming command ``kind`` + ``type`` (P1 password, R1 read, W1 write, B0 break...)."""

    kind: str
    type: str = "1"
    dataset: DataSet | None = None

    def __post_init__(self) -> None:
        if self.kind not in COMMANDS:
            raise Iec62056Error(f"invalid command {self.kind!r}: expected one of "
                                f"{', '.join(f'{k} ({v})' for k, v in COMMANDS.items())}")
        if not (isinstance(self.type, str) and len(self.type) == 1 and self.type.isdigit() and self.type.isascii()):
            raise Iec62056Error(f"invalid command type {self.type!r} for {self.kind}: expected one digit")
        if self.dataset is None and self.kind != "B":
            raise Iec62056Error(f"command {self.kind}{self.type} needs a data set, e.g. 1.8.0()")
        if self.dataset is not None and not isinstance(self.dataset, DataSet):
            raise Iec62056Error(f"invalid data set {self.dataset!r}: expected a DataSet")

    @property
    def name(self) -> str:
        return f"{self.kind}{self.type}"

    def encode(self) -> bytes:
        body = f"{self.kind}{self.type}".encode("ascii")
        if self.dataset is not None:
            body += bytes([STX]) + self.dataset.encode()
        return bytes([SOH]) + _block(body)


@dataclass(frozen=True)
class DataMessage:
    """Data sets from the meter: a data readout (``readout``: ends with ``!``) or an answer.

    ``partial`` marks a block closed by EOT (more blocks follow). An answer that is a single
    ``(text)`` with no address and no unit is an ``ErrorMessage`` on the wire.
    """

    datasets: tuple[DataSet, ...] = ()
    readout: bool = False
    partial: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "datasets", tuple(self.datasets))
        if not all(isinstance(d, DataSet) for d in self.datasets):
            raise Iec62056Error("invalid data message: every item must be a DataSet")
        if self.readout and self.partial:
            raise Iec62056Error("invalid data message: a readout ends with '!' and ETX, it cannot be partial")
        if not self.readout and not self.partial and len(self.datasets) == 1 \
                and not self.datasets[0].address and not self.datasets[0].unit:
            raise Iec62056Error("invalid data message: a single (text) without address or unit is an "
                                "error message on the wire; give the data set its address")

    def body(self) -> bytes:
        if self.readout:
            return b"".join(d.encode() + CRLF for d in self.datasets) + b"!" + CRLF
        return CRLF.join(d.encode() for d in self.datasets)

    def encode(self) -> bytes:
        return bytes([STX]) + _block(self.body(), EOT if self.partial else ETX)

    def get(self, address: str) -> DataSet | None:
        return next((d for d in self.datasets if d.address == address), None)


@dataclass(frozen=True)
class ErrorMessage:
    """``STX (text) ETX BCC``: the meter refuses a command; text of at most 32 characters."""

    text: str

    def __post_init__(self) -> None:
        _check(self.text, "error text", ERROR_TEXT_MAX, set("()*/!"))

    def encode(self) -> bytes:
        return bytes([STX]) + _block(f"({self.text})".encode("ascii"))


Message = SignOn | Identification | OptionSelect | Ack | Nak | Command | DataMessage | ErrorMessage
