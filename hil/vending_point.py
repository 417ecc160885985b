"""The vending point (kiosk, branch) and a meter's card slot, over any card reader face (F5).

Vending point, against a core in process::

    card = UtilityCard(reader, rng=rng)
    issue_card(core, card, "04040404040")              # branch: register the serial, personalise
    vend = vend_to_card(core, card, "100", method_account="aman-3")
    # read card -> the core issues the credit record -> write it -> read it back: vend.record

Meter side (``meter`` is anything with ``load_card(record_bytes) -> Outcome``)::

    outcome = meter_loads_card(card, meter, master_key)  # reads, loads, writes the receipt back

No step loses credit. Money is taken (by the core) before the card is written; if the card
is pulled then, ``VendNotWritten`` names the paid order and ``write_vend(core, card, order_id)``
writes the very same record later (the core returns it again, and the card's anti-tearing kept
the old or the new record). A card holding a record its meter has not loaded yet is refused
*before* any money moves (``CardNotLoaded``): writing over it would lose that purchase. If the
card is pulled before the meter's receipt is written, the meter has the credit already and
answers "already loaded" at the next insertion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.errors import Conflict, NotFound
from core.meters import Meter
from core.orders import State
from core.tariffs import tariff as tariff_of
from core.wiring import Core
from devices.card import CardReaderError, UtilityCard
from protocols import utility_card as uc
from protocols.utility_card.card_files import LoadReceipt, record_count

__all__ = ["CardNotIssued", "CardNotLoaded", "CardSlotMeter", "CardVend", "VendNotPaid", "VendNotWritten",
           "MeterLoad", "VendingPointError", "WrongCard", "card_master_key", "issue_card", "meter_loads_card",
           "personalise", "vend_to_card", "write_vend"]


class CardSlotMeter(Protocol):
    """The one thing the meter-side flow needs of a meter. The answer may be a
    ``protocols.utility_card.Outcome`` (``status``, ``code``) or a ``devices.meter.MeterResult``
    (``code`` a ``ResultCode``: ACCEPTED, ALREADY_LOADED, or a refusal named as FIELD_ERRORS)."""

    def load_card(self, record: bytes) -> Any: ...


class VendingPointError(Exception):
    """A vend at the vending point stopped; the message says why and what to do next."""


class CardNotIssued(VendingPointError):
    """The card is blank: it was never personalised for a meter."""


class WrongCard(VendingPointError):
    """The card is not the meter's active card (lost, replaced, or another meter's)."""


class CardNotLoaded(VendingPointError):
    """The card holds a purchase its meter has not loaded yet: a new record would overwrite it."""


class VendNotPaid(VendingPointError):
    """The order waits for its payment: there is no record to write yet."""


class VendNotWritten(VendingPointError):
    """The vend is paid and its record kept by the core, but the card was not written."""

    def __init__(self, message: str, order_id: str) -> None:
        super().__init__(message)
        self.order_id = order_id


@dataclass(frozen=True)
class CardVend:
    order_id: str
    meter_number: str
    card_serial: str
    purchase_count: int
    record: bytes                 # the 59 bytes now on the card (read back)
    written: bool                 # False: the card already held exactly this record


def card_master_key(core: Core, meter: Meter) -> bytes:
    return core.keys.card_master_key(tariff_of(meter.tariff).utility)


def _open(core: Core, card: UtilityCard) -> Meter:
    """Start the session, find the card's meter and check this is its active card; authenticate."""
    card.start()
    info = card.read_meter()
    if info is None:
        raise CardNotIssued(f"card {card.serial} is blank: issue it to a meter first (issue_card)")
    meter = core.meters.get(info[0])
    if meter.card_serial != card.serial:
        try:
            state = core.meters.card_state(card.serial)
        except NotFound:
            state = "never issued"
        raise WrongCard(f"card {card.serial} ({state}) is not the active card of meter {meter.number} "
                        f"(active: {meter.card_serial or 'none'}); use the active card")
    card.authenticate(card_master_key(core, meter))
    return meter


def personalise(core: Core, card: UtilityCard, meter_number: str) -> Meter:
    """Write the meter number and utility on the card that the core has as the meter's active card."""
    meter = core.meters.get(meter_number)
    card.start()
    if meter.card_serial != card.serial:
        raise WrongCard(f"card {card.serial} is not the active card of meter {meter.number} "
                        f"(active: {meter.card_serial or 'none'}): issue or replace the card in the core first")
    card.authenticate(card_master_key(core, meter))
    card.write_meter(meter.number, tariff_of(meter.tariff).utility_id)
    if card.read_meter() != (meter.number, tariff_of(meter.tariff).utility_id):
        raise VendingPointError(f"card {card.serial}: the meter file did not read back as written")
    return meter


def issue_card(core: Core, card: UtilityCard, meter_number: str) -> Meter:
    """A meter's first card, at the branch: register its serial in the core, then personalise it."""
    card.start()
    core.meters.issue_card(meter_number, card.serial)
    return personalise(core, card, meter_number)


def _record_of(core: Core, order_id: str) -> tuple[bytes, dict]:
    try:
        result = core.vending.result(order_id)
    except Conflict:
        raise VendNotPaid(f"order {order_id} is {core.payments.get(order_id).state}: write its record "
                          f"with write_vend(core, card, {order_id!r}) once it is paid") from None
    if result["kind"] != "card":
        raise VendingPointError(f"order {order_id} is a keypad (STS) vend: its token is typed on the "
                                "meter, not written to a card")
    return uc.from_text(result["record"]), result


def _refuse_pending(card: UtilityCard, meter: Meter, contents) -> None:  # type: ignore[no-untyped-def]
    if contents.pending:
        r = contents.receipt
        said = f"; the meter last said {r.outcome}" + (f" ({uc.FIELD_ERRORS[r.reason]})" if r.reason else "")
        raise CardNotLoaded(f"card {card.serial} holds purchase {contents.purchase_count}, which meter "
                            f"{meter.number} has not loaded (its count on the card: {r.meter_count}"
                            f"{said if r.outcome != 'none' else ''}); insert the card in the meter first")


def write_vend(core: Core, card: UtilityCard, order_id: str) -> CardVend:
    """Write the record of a paid vend to the card and read it back; safe to repeat."""
    record, result = _record_of(core, order_id)
    meter = _open(core, card)
    if result["meter"] != meter.number:
        raise WrongCard(f"order {order_id} is for meter {result['meter']}; card {card.serial} is meter "
                        f"{meter.number}'s")
    contents = card.read_contents()
    if contents.record == record:
        return CardVend(order_id, meter.number, card.serial, record_count(record), record, written=False)
    count = record_count(record)
    if contents.purchase_count > count:
        raise VendingPointError(f"card {card.serial} already holds purchase {contents.purchase_count}, "
                                f"after this vend's {count} ({order_id}); load the card in the meter, and "
                                f"if the meter then asks for purchase {count}, give it as a code (to_text)")
    _refuse_pending(card, meter, contents)
    try:
        card.write_record(record)
        back = card.read_record()
    except CardReaderError as e:
        raise VendNotWritten(f"order {order_id} is paid but card {card.serial} was not written ({e}); "
                             f"reinsert the card and call write_vend(core, card, {order_id!r})",
                             order_id) from e
    if back != record:
        raise VendNotWritten(f"card {card.serial}: the record read back differs from the one written "
                             f"for order {order_id}; write it again (write_vend)", order_id)
    return CardVend(order_id, meter.number, card.serial, count, back, written=True)


def vend_to_card(core: Core, card: UtilityCard, amount: str, *, method: str = "kiosk",
                 method_account: str | None = None, channel: str = "kiosk",
                 order_id: str | None = None) -> CardVend:
    """Read the card, have the core sell ``amount`` to its meter, write the record, read it back.

    Repeating a call with the same ``order_id`` never sells twice: the core returns the same order
    and record, and a card that already holds it is left as it is.
    """
    meter = _open(core, card)
    contents = card.read_contents()
    if order_id is not None:
        try:
            record, _ = _record_of(core, order_id)
        except (NotFound, VendNotPaid):
            record = None
        if record is not None and contents.record == record:
            return CardVend(order_id, meter.number, card.serial, record_count(record), record, written=False)
    _refuse_pending(card, meter, contents)
    order = core.vending.vend(meter.number, amount, method=method, method_account=method_account,
                              channel=channel, order_id=order_id)
    if order.state is not State.CREDITED:
        raise VendNotPaid(f"order {order.id} is {order.state}: complete its payment, then "
                          f"write_vend(core, card, {order.id!r})")
    try:
        return write_vend(core, card, order.id)
    except CardReaderError as e:
        raise VendNotWritten(f"order {order.id} is paid but card {card.serial} was not written ({e}); "
                             f"reinsert the card and call write_vend(core, card, {order.id!r})",
                             order.id) from e


@dataclass(frozen=True)
class MeterLoad:
    """What happened in the meter's slot: ``status`` (credited, already_loaded, refused, or empty
    for a card without a record), the refusal's ``reason`` (a FIELD_ERRORS code), the meter's own
    answer, and the receipt written back on the card."""

    status: str
    reason: str = ""
    answer: Any = None
    receipt: LoadReceipt | None = None


def _verdict(answer: Any) -> tuple[str, str]:
    """(status, reason) from a meter's answer, whichever of the two shapes it has."""
    status = getattr(answer, "status", None)
    if status in ("credited", "already_loaded", "refused"):
        return status, getattr(answer, "code", None) or ""
    name = getattr(getattr(answer, "code", None), "name", "")
    if name == "ACCEPTED":
        return "credited", ""
    if name == "ALREADY_LOADED":
        return "already_loaded", ""
    reason = "format" if name == "UNREADABLE" else name.lower()
    return "refused", reason if reason in uc.FIELD_ERRORS else ""


def meter_loads_card(card: UtilityCard, meter: CardSlotMeter, master_key: bytes) -> MeterLoad:
    """The meter's card slot: authenticate the card, hand its record to the meter, write the
    meter's receipt back on the card. A clone fails authentication (``AuthenticationFailed``).

    The receipt's count is the record's when the meter took it (credited or already loaded), so
    the vending point sees the slot free; a refusal keeps the count it had, so the record stays
    pending and is never overwritten. A card pulled before the receipt is written shows the
    record pending once more; the meter then answers "already loaded" and the receipt follows.
    """
    card.start()
    card.authenticate(master_key)
    record = card.read_record()
    if record is None:
        return MeterLoad("empty")
    before = card.read_receipt()
    try:
        named = uc.key_id(record).card_serial
        if named != card.serial:
            raise uc.CardMismatch(f"card_serial: the record names card {named}; expected {card.serial} "
                                  "(the card in the slot)", field="card_serial")
        answer = meter.load_card(record)
        status, reason = _verdict(answer)
    except uc.CardError as e:
        answer, status, reason = e, "refused", e.code
    count = record_count(record) if status != "refused" else before.meter_count
    receipt = LoadReceipt(max(count, before.meter_count), status, reason)
    card.write_receipt(receipt)
    return MeterLoad(status, reason, answer, receipt)
