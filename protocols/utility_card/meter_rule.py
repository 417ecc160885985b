"""The meter's rule for a verified credit record (flows F5): a pure function of state and record.

In order, a record is refused when it names another meter (``meter``), when it is a credit
for a card other than the one registered in the meter (``card``: a lost card after its
replacement was activated, or any card before the first activation), or when it credits a unit
or currency the meter does not hold (``unit``). Then the purchase count decides:

- ``count <= meter's``: already loaded; nothing changes, no error (a replay, a second insertion);
- ``count >= meter's + 2``: refused (``count``): a purchase in between was never loaded;
- ``count == meter's + 1``: credited, unless the meter's credit would exceed the hoarding
  limit (``hoarding``). An activation record also registers its card, which kills the card
  registered before it. The meter's count becomes the record's.

Every state change needs exactly the next count, so an old activation record cannot bring a
replaced card back. The MAC is checked before this rule, by ``decode``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from protocols.utility_card.errors import (
    CardError, CardMismatch, CountMismatch, FormatError, HoardingLimit, MeterMismatch, UnitMismatch,
)
from protocols.utility_card.keys import card_serial_bytes
from protocols.utility_card.record import (
    CURRENCIES, UINT32, UNITS, CreditRecord, Unit, parse_meter_number,
)

Status = Literal["credited", "already_loaded", "refused"]


@dataclass(frozen=True, kw_only=True)
class MeterCardState:
    """What a card meter remembers about credit: the part of its state this rule reads."""

    meter_number: str
    purchase_count: int = 0            # of the last record credited; 0 before activation
    balance: int = 0                   # remaining credit in ``unit`` (negative: emergency used)
    card_serial: str | None = None     # the registered card; None before activation
    unit: Unit = "money"
    currency: str = "EGP"              # of the credit when ``unit`` is money

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "meter_number", parse_meter_number(self.meter_number))
        if self.card_serial is not None:
            put(self, "card_serial", card_serial_bytes(self.card_serial).hex().upper())
        if type(self.purchase_count) is not int or not 0 <= self.purchase_count <= UINT32:
            raise FormatError(f"purchase_count: expected an integer from 0 to {UINT32}, got "
                              f"{self.purchase_count!r}", field="purchase_count")
        if type(self.balance) is not int:
            raise FormatError(f"balance: expected an integer, got {self.balance!r}",
                              field="balance")
        if not (isinstance(self.unit, str) and self.unit in UNITS
                and isinstance(self.currency, str) and self.currency in CURRENCIES):
            raise FormatError(f"unit, currency: {self.unit!r}, {self.currency!r}; expected one of "
                              f"{list(UNITS)} and one of {list(CURRENCIES)}", field="unit")


@dataclass(frozen=True)
class Outcome:
    """What the meter did with a record, and its state afterwards."""

    status: Status
    state: MeterCardState
    credited: int = 0                  # added to the balance
    registered: bool = False           # the record's card is now the meter's card
    error: CardError | None = None     # why it was refused

    @property
    def code(self) -> str | None:
        return self.error.code if self.error else None


def _refused(state: MeterCardState, error: CardError) -> Outcome:
    return Outcome("refused", state, error=error)


def apply(state: MeterCardState, record: CreditRecord, *, hoarding_limit: int) -> Outcome:
    """Apply a MAC-verified ``record`` to a meter in ``state``; never raises for a refusal."""
    if not isinstance(record, CreditRecord):
        raise FormatError(f"record: expected a decoded CreditRecord, got {type(record).__name__}",
                          field="record")
    if type(hoarding_limit) is not int or hoarding_limit < 0:
        raise FormatError(f"hoarding_limit: expected a non-negative integer in the meter's unit, "
                          f"got {hoarding_limit!r}", field="hoarding_limit")
    if record.meter_number != state.meter_number:
        return _refused(state, MeterMismatch(
            f"meter_number: the record is for meter {record.meter_number}; expected "
            f"{state.meter_number} (this meter)", field="meter_number"))
    if record.kind == "credit" and record.card_serial != state.card_serial:
        expected = state.card_serial or "an activation record first (no card registered yet)"
        return _refused(state, CardMismatch(
            f"card_serial: card {record.card_serial} is not registered in this meter; "
            f"expected {expected}", field="card_serial"))
    if record.unit != state.unit or (state.unit == "money" and record.currency != state.currency):
        held = state.currency if state.unit == "money" else "energy (0.01 kWh)"
        got = record.currency if record.unit == "money" else "energy (0.01 kWh)"
        return _refused(state, UnitMismatch(
            f"unit: the record credits {got}; expected {held} (what this meter holds)",
            field="unit"))
    if record.purchase_count <= state.purchase_count:
        return Outcome("already_loaded", state)
    if record.purchase_count > state.purchase_count + 1:
        return _refused(state, CountMismatch(
            f"purchase_count: {record.purchase_count} skips purchases; expected "
            f"{state.purchase_count + 1} (this meter's count + 1)", field="purchase_count"))
    if state.balance + record.credit > hoarding_limit:
        return _refused(state, HoardingLimit(
            f"credit: {record.credit} on top of {state.balance} exceeds the hoarding limit "
            f"{hoarding_limit}; expected at most {max(hoarding_limit - state.balance, 0)}",
            field="credit"))
    activation = record.kind == "activation"
    new = replace(state, purchase_count=record.purchase_count,
                  balance=state.balance + record.credit,
                  card_serial=record.card_serial if activation else state.card_serial)
    return Outcome("credited", new, credited=record.credit, registered=activation)
