"""What the handset model needs from a mobile network: a ``Network``.

The model cannot import the core (devices import only protocols), so the network is this
small protocol; :mod:`hil.modem_network` implements it over the core's USSD application
and SMSC. The network answers each USSD step with a :class:`UssdScreen` at once; anything it
does on its own (a timeout, a dropped dialogue) it tells the model through
``ModemModel.network_ussd``, and incoming SMS through ``ModemModel.deliver_sms``.
"""
from __future__ import annotations

from typing import Protocol

from devices.modem.interface import UssdScreen
from protocols.at.pdu import SmsSubmit


class NetworkRefusal(Exception):
    """The network refused a mobile-originated SMS; ``cause`` is a 27.005 ``+CMS ERROR`` code
    (an RP cause 0-127 or TP-FCS 128-255), like 1 'unassigned number' or 42 'congestion'."""

    def __init__(self, cause: int, reason: str) -> None:
        super().__init__(reason)
        self.cause, self.reason = cause, reason


class Network(Protocol):
    def ussd_request(self, msisdn: str, code: str) -> UssdScreen:
        """The handset dialled ``code`` (a new dialogue); the network's first screen."""

    def ussd_answer(self, msisdn: str, text: str) -> UssdScreen:
        """The user's answer in the open dialogue; the network's next screen."""

    def ussd_release(self, msisdn: str) -> None:
        """The handset ended the dialogue (``AT+CUSD=2``)."""

    def sms_submit(self, msisdn: str, sms: SmsSubmit) -> None:
        """Take one SMS-SUBMIT TPDU (a part, when concatenated); raise NetworkRefusal to refuse."""
