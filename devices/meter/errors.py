"""Errors of the meter role: bad input at the edge, and a link that fails.

A refused token or card is not an error: it is a ``MeterResult`` with its code. These are
for what cannot become a result: text that is not a token, a port that cannot be opened or
vanishes, a meter that stops answering, a protocol exchange that goes wrong.
"""
from __future__ import annotations


class MeterError(Exception):
    """Base of the meter role's errors."""


class MeterInputError(MeterError, ValueError):
    """The caller's input cannot be sent to a meter: not 20 digits, not a card record, a bad value."""


class MeterLinkError(MeterError):
    """The serial link failed: the port cannot be opened, vanished, or the emulator stopped."""


class MeterTimeout(MeterLinkError):
    """The meter did not answer (or stopped mid-frame) within the timeout."""


class MeterProtocolError(MeterError):
    """The meter answered, but not as IEC 62056-21 and this register map expect.

    ``code`` is the meter's result code when it sent an error message (``E92 address``).
    """

    def __init__(self, message: str, code: object = None) -> None:
        super().__init__(message)
        self.code = code
