"""The mobile network between handsets and an in-process core: USSD to ``core.ussd``, SMS from
the core's SMSC to the handsets, and SMS from handsets back through that SMSC.

So an OTP the core sends for a web top-up arrives on the modem's serial line as ``+CMTI``,
and ``AT+CUSD=1,"*1#",15`` walks the core's ``*1#`` menus::

    net = CoreNetwork(core)
    with core_modem(core, "213551234567", network=net) as modem:     # emulator on a pty
        ...                                                           # core sends an OTP
        otp = modem.wait_sms(r"\\d{6}")
        screen = modem.ussd("*1#")

USSD as an aggregator does it: one session id per dialogue, the answers so far joined by
``*`` on every request; the core's end flag gives ``+CUSD: 0`` (final screen), an unknown
service code ``+CUSD: 4``, a refusal or a dropped dialogue ``+CUSD: 2``, and a user who
answers too late (the market's answer or session timeout, timed on the core's clock and
scheduler) ``+CUSD: 5``, sent unasked when the timer fires, as a network does.

SMS reach handsets on the thread that runs the core's scheduler (``clock.advance`` with a
``ManualScheduler``, the scheduler thread over HTTP); USSD runs on the handset's thread
(the emulator's). Both only take each handset's own lock, so many handsets may share one
network.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

from core.errors import InvalidInput, RechargeError
from core.market import UssdRules, market_for_msisdn
from core.msisdn import normalise
from core.ports import SmsMessage
from core.wiring import Core
from devices.modem import MODEL_OPTIONS, AtSession, ModemModel, open_modem
from devices.modem.interface import UssdScreen
from devices.modem.network import NetworkRefusal
from devices.modem.results import Delivery
from protocols.at.pdu import SmsSubmit

# The zone a handset's SMS timestamps carry, per market (Egypt's summer time is not modelled).
UTC_OFFSET_MIN = {"DZ": 60, "IR": 210, "EG": 120}


@dataclass
class _Dialogue:
    session_id: str
    code: str
    rules: UssdRules
    started: float
    last: float
    answers: list[str] = field(default_factory=list)
    generation: int = 0


@dataclass(frozen=True)
class Received:
    """One SMS the core's SMSC delivered to a handset on this network, and its fate there."""

    message: SmsMessage
    delivery: Delivery


class CoreNetwork:
    """A :class:`devices.modem.network.Network` over ``core``; serves any number of handsets."""

    def __init__(self, core: Core) -> None:
        on_delivery = getattr(core.sms, "on_delivery", None)
        if on_delivery is None:
            raise TypeError(f"the core's SMS sender {type(core.sms).__name__} cannot tell when an "
                            f"SMS reaches a handset; build the core with an EmulatedSmsc")
        self.core = core
        self._lock = threading.RLock()
        self._handsets: dict[str, ModemModel] = {}
        self._dialogues: dict[str, _Dialogue] = {}
        self._parts: dict[tuple, dict[int, str]] = {}
        self._seq = 0
        self.received: list[Received] = []
        self._stop = on_delivery(self._on_sms)

    def attach(self, model: ModemModel) -> Callable[[], None]:
        """Put a handset on this network (its USSD and SMS go here); returns a detach function."""
        with self._lock:
            self._handsets[model.msisdn] = model
            model.network = self

        def detach() -> None:
            with self._lock:
                if self._handsets.get(model.msisdn) is model:
                    del self._handsets[model.msisdn]
        return detach

    def close(self) -> None:
        """Stop listening to the core's SMSC."""
        self._stop()

    # -- SMS to handsets ------------------------------------------------------------------------
    def _on_sms(self, message: SmsMessage) -> None:
        with self._lock:
            model = self._handsets.get(message.to)
        if model is None:
            return
        sender = message.sender
        if sender.isdigit() and len(sender) >= 8:
            sender = "+" + sender                       # an E.164 number, as handsets show it
        delivery = model.deliver_sms(sender, message.text, when=message.submitted_at)
        with self._lock:
            self.received.append(Received(message, delivery))

    # -- SMS from handsets ----------------------------------------------------------------------
    def sms_submit(self, msisdn: str, sms: SmsSubmit) -> None:
        if sms.alphabet == "8bit":
            raise NetworkRefusal(144, "8-bit messages are not carried to handsets by this SMSC")
        to = self._destination(msisdn, sms)
        text = sms.text
        if sms.concat is not None:
            key = (msisdn, to, sms.concat.ref, sms.concat.total)
            with self._lock:
                parts = self._parts.setdefault(key, {})
                parts[sms.concat.seq] = sms.text
                if len(parts) < sms.concat.total:
                    return
                del self._parts[key]
            text = "".join(parts[i] for i in range(1, sms.concat.total + 1))
        try:
            self.core.sms.send(to, text, sender=msisdn)
        except ValueError as e:
            raise NetworkRefusal(38, f"the SMSC refused the message: {e}") from None

    def _destination(self, msisdn: str, sms: SmsSubmit) -> str:
        if sms.to.international:
            return sms.to.value
        try:
            return normalise(sms.to.value, market_for_msisdn("+" + msisdn).numbering).e164
        except RechargeError as e:
            raise NetworkRefusal(1, f"unassigned number {sms.to.value!r}: {e.message}") from None

    # -- USSD ---------------------------------------------------------------------------------
    def ussd_request(self, msisdn: str, code: str) -> UssdScreen:
        now = self.core.clock.now()
        try:
            rules = market_for_msisdn("+" + msisdn).ussd
        except RechargeError:
            return UssdScreen(4)                           # not a subscriber of a served market
        with self._lock:
            self._seq += 1
            old = self._dialogues.pop(msisdn, None)
            dialogue = _Dialogue(f"m{msisdn}-{int(now * 1000)}-{self._seq}", code, rules, now, now)
            self._dialogues[msisdn] = dialogue
        if old is not None:
            self._close_in_core(old, "cancelled")
        return self._step(msisdn, dialogue)

    def ussd_answer(self, msisdn: str, text: str) -> UssdScreen:
        with self._lock:
            dialogue = self._dialogues.get(msisdn)
            if dialogue is None:
                return UssdScreen(2)                       # nothing open on the network's side
            expired = self._expired(dialogue)
            if expired:
                del self._dialogues[msisdn]
            else:
                dialogue.answers.append(text)
                dialogue.last = self.core.clock.now()
        if expired:
            self._close_in_core(dialogue, "timeout")
            return UssdScreen(5)
        return self._step(msisdn, dialogue)

    def ussd_release(self, msisdn: str) -> None:
        with self._lock:
            dialogue = self._dialogues.pop(msisdn, None)
        if dialogue is not None:
            self._close_in_core(dialogue, "cancelled")

    def _step(self, msisdn: str, dialogue: _Dialogue) -> UssdScreen:
        try:
            reply = self.core.ussd.handle(dialogue.session_id, "+" + msisdn, dialogue.code,
                                          "*".join(dialogue.answers))
        except InvalidInput as e:
            self._forget(msisdn, dialogue)
            return UssdScreen(4 if e.field == "service_code" else 2)
        except RechargeError:
            self._forget(msisdn, dialogue)
            return UssdScreen(2)
        if reply.end:
            self._forget(msisdn, dialogue)
            return UssdScreen.of(0, reply.text)
        with self._lock:
            dialogue.generation += 1
            generation = dialogue.generation
        due = min(dialogue.last + dialogue.rules.answer_timeout_s,
                  dialogue.started + dialogue.rules.session_timeout_s)
        self.core.scheduler.call_later(due - self.core.clock.now() + 0.001,
                                       lambda: self._timer(msisdn, dialogue, generation))
        return UssdScreen.of(1, reply.text)

    def _expired(self, dialogue: _Dialogue) -> bool:
        now = self.core.clock.now()
        return (now - dialogue.last > dialogue.rules.answer_timeout_s
                or now - dialogue.started > dialogue.rules.session_timeout_s)

    def _timer(self, msisdn: str, dialogue: _Dialogue, generation: int) -> None:
        """The answer timer: a scheduler may run it early (ImmediateScheduler), so re-check."""
        with self._lock:
            if (self._dialogues.get(msisdn) is not dialogue or dialogue.generation != generation
                    or not self._expired(dialogue)):
                return
            del self._dialogues[msisdn]
            model = self._handsets.get(msisdn)
        self._close_in_core(dialogue, "timeout")
        if model is not None:
            model.network_ussd(UssdScreen(5))

    def drop_dialogue(self, msisdn: str) -> bool:
        """The USSD gateway drops the dialogue (a fault): the handset gets ``+CUSD: 2``."""
        with self._lock:
            dialogue = self._dialogues.pop(msisdn, None)
            model = self._handsets.get(msisdn)
        if dialogue is None:
            return False
        self._close_in_core(dialogue, "dropped")
        if model is not None:
            model.network_ussd(UssdScreen(2))
        return True

    def open_dialogues(self) -> list[str]:
        with self._lock:
            return sorted(self._dialogues)

    def _forget(self, msisdn: str, dialogue: _Dialogue) -> None:
        with self._lock:
            if self._dialogues.get(msisdn) is dialogue:
                del self._dialogues[msisdn]

    def _close_in_core(self, dialogue: _Dialogue, reason: str) -> None:
        """End the core's session so the subscriber may dial again at once."""
        self.core.ussd.release(dialogue.session_id, reason)


@contextmanager
def core_modem(core: Core, msisdn: str, *, face: str = "emulator", network: CoreNetwork | None = None,
               **options) -> Iterator[AtSession]:
    """A handset with ``msisdn`` on ``core``'s network, opened on ``face`` ('model' or
    'emulator'). ``options`` are :class:`ModemModel`'s (``capacity``, ``pin``...) and
    :func:`devices.modem.open_modem`'s (``timeout``, ``charset``, ``sms_mode``, ``baud``)."""
    net = network or CoreNetwork(core)
    model_options = {k: options.pop(k) for k in MODEL_OPTIONS if k in options}
    if "pin" in options:
        model_options["pin"] = options["pin"]
    digits = msisdn.lstrip("+")
    model_options.setdefault("utc_offset_min", UTC_OFFSET_MIN.get(_market_code(digits), 0))
    model_options.setdefault("now", core.clock.now)
    model = ModemModel(digits, net, **model_options)
    detach = net.attach(model)
    try:
        with open_modem(face, model=model, **options) as modem:
            yield modem
    finally:
        detach()
        if network is None:
            net.close()


def _market_code(msisdn: str) -> str:
    try:
        return market_for_msisdn("+" + msisdn).code
    except RechargeError:
        return ""
