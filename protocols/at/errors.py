"""The ways AT text and SMS PDUs can be wrong, each a ``ValueError`` with a message that says
what was found, where, and what was expected."""
from __future__ import annotations


class AtSyntaxError(ValueError):
    """A command line or a response line that does not follow V.250 / 27.007 syntax."""


class CharsetError(ValueError):
    """Text that the selected TE character set (``AT+CSCS``) cannot carry, or bad hex."""


class PduError(ValueError):
    """An SMS TPDU (3GPP TS 23.040) that is truncated, malformed or of an unsupported kind."""
