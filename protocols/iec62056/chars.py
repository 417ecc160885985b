"""The control characters, the block check character and the baud-rate characters of IEC 62056-21.

Mode C starts every session at 300 baud, 7 data bits, even parity, 1 stop bit (7E1), and the
two ends agree on a faster rate by one character: the meter offers its highest rate in the
identification message, the master picks one (at most that) in its acknowledgement.
"""
from __future__ import annotations

from .errors import Iec62056Error

SOH = 0x01
STX = 0x02
ETX = 0x03
EOT = 0x04
ACK = 0x06
NAK = 0x15
CR = 0x0D
LF = 0x0A
CRLF = b"\r\n"
START_BYTES = frozenset(b"/") | {SOH, STX, ACK, NAK}     # where a frame may begin

INITIAL_BAUD = 300
BITS_PER_CHAR = 10          # 7E1: start bit, 7 data bits, parity bit, stop bit
MODE_C_BAUD: dict[str, int] = {"0": 300, "1": 600, "2": 1200, "3": 2400, "4": 4800, "5": 9600, "6": 19200}
_CHAR_OF_BAUD = {rate: char for char, rate in MODE_C_BAUD.items()}


def bcc(data: bytes) -> int:
    """Block check character: XOR of ``data``, which runs from after the first SOH or STX
    through the ETX (or EOT) inclusive."""
    check = 0
    for byte in data:
        check ^= byte
    return check


def baud_rate(char: str) -> int:
    """The rate a mode C baud-rate character stands for ('5' -> 9600)."""
    try:
        return MODE_C_BAUD[char]
    except (KeyError, TypeError):
        raise Iec62056Error(f"invalid baud rate character {char!r}: expected one of "
                            f"{', '.join(f'{c} ({r})' for c, r in MODE_C_BAUD.items())}") from None


def baud_char(rate: int) -> str:
    """The mode C character for ``rate`` (9600 -> '5')."""
    try:
        return _CHAR_OF_BAUD[rate]
    except (KeyError, TypeError):
        raise Iec62056Error(f"invalid baud rate {rate!r}: mode C knows "
                            f"{', '.join(map(str, _CHAR_OF_BAUD))}") from None


def transmit_seconds(size: int, rate: int) -> float:
    """How long ``size`` characters take on a 7E1 line at ``rate`` baud."""
    return size * BITS_PER_CHAR / rate
