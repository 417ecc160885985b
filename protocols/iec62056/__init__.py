"""IEC 62056-21 mode C: the optical-port / serial protocol of electricity meters, as bytes.

A session, as the master (the bench, a hand-held unit) runs it::

    master → meter   /?!⏎                     SignOn()                at 300 baud, 7E1
    meter  → master  /RBM5RB-PREPAY-1⏎        Identification('RBM', '5', 'RB-PREPAY-1')
    master → meter   ⟨ACK⟩051⏎                OptionSelect('5', mode='1')   then both go to 9600
    meter  → master  ⟨SOH⟩P0⟨STX⟩(…)⟨ETX⟩b     Command('P', '0', DataSet('', '…'))   password operand
    master → meter   ⟨SOH⟩P1⟨STX⟩(secret)⟨ETX⟩b  then R1/W1 commands, B0 to end

Mode '0' instead of '1' asks for the data readout: ``STX lines ! CR LF ETX BCC``. Build and
encode messages, parse bytes back::

    from protocols.iec62056 import Command, DataSet, FrameParser, FrameError, parse

    frame = Command("R", "1", DataSet("1.8.0")).encode()   # b'\\x01R1\\x021.8.0()\\x03' + BCC
    assert parse(frame, role="meter") == Command("R", "1", DataSet("1.8.0"))
    parser = FrameParser(role="master")                   # streaming: garbage, truncated, BCC
    items = parser.feed(chunk)                            # messages and FrameError values

Modules: ``chars`` (control characters, BCC, baud characters), ``dataset`` (``address(value*unit)``
and exact decimal values), ``messages`` (one dataclass per message), ``parser`` (the streaming
parser and ``parse``), ``errors``. No I/O here: the meter's driver and emulator do that.
"""
from __future__ import annotations

from .chars import (
    ACK, BITS_PER_CHAR, CR, CRLF, EOT, ETX, INITIAL_BAUD, LF, MODE_C_BAUD, NAK, SOH, STX, baud_char, baud_rate,
    bcc, transmit_seconds,
)
from .dataset import ADDRESS_MAX, UNIT_MAX, VALUE_MAX, DataSet, parse_datasets, scaled, unscaled
from .errors import FrameError, Iec62056Error
from .messages import (
    COMMANDS, ERROR_TEXT_MAX, IDENT_MAX, MODES, Ack, Command, DataMessage, ErrorMessage, Identification, Message,
    Nak, OptionSelect, SignOn,
)
from .parser import FrameParser, parse

__all__ = [
    "ACK", "ADDRESS_MAX", "BITS_PER_CHAR", "COMMANDS", "CR", "CRLF", "EOT", "ERROR_TEXT_MAX", "ETX", "IDENT_MAX",
    "INITIAL_BAUD", "LF", "MODES", "MODE_C_BAUD", "NAK", "SOH", "STX", "UNIT_MAX", "VALUE_MAX",
    "Ack", "Command", "DataMessage", "DataSet", "ErrorMessage", "FrameError", "FrameParser", "Iec62056Error",
    "Identification", "Message", "Nak", "OptionSelect", "SignOn", "baud_char", "baud_rate", "bcc",
    "parse", "parse_datasets", "scaled", "transmit_seconds", "unscaled",
]
