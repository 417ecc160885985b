"""The prepaid meter role: ``MeterPort``, what the model, the driver and the emulator-backed
driver all do, and the typed values they return.

Amounts are integers in the meter's register unit: hundredths of a kWh for an energy meter
(``unit == "kWh"``), minor units of the currency for a money meter (``unit == "EGP"``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from protocols.iec62056 import DataSet

from .codes import ResultCode


@dataclass(frozen=True)
class Identity:
    manufacturer: str          # 3 letters of the identification message
    ident: str                 # the meter's identification (model/firmware)
    max_baud: int              # the fastest rate it offers
    meter_number: str          # register 0.0.0


@dataclass(frozen=True)
class MeterResult:
    """What the meter did with a token, a card, a relay or emergency-credit request."""

    code: ResultCode
    credited: int = 0                  # added to the credit register, in register units
    credit: int | None = None          # the credit register afterwards (None: not reported)
    unit: str = ""
    detail: str = field(default="", compare=False)   # the model's explanation (not on the wire)

    @property
    def ok(self) -> bool:
        return self.code.ok

    @property
    def message(self) -> str:
        return self.code.message


@dataclass(frozen=True)
class MeterReading:
    """The data readout, typed (docs/meter-protocol.md lists the register of each field)."""

    meter_number: str
    clock: datetime                    # the meter's clock (UTC, to the second)
    energy_wh: int                     # 1.8.0: active energy imported, total
    power_w: int                       # 1.7.0: what the household draws now (0 when cut)
    unit: str                          # "kWh" or a currency code
    credit: int                        # C.50.0: negative while emergency credit is used
    low_credit_threshold: int
    low_credit: bool
    emergency_limit: int
    emergency_active: bool
    last_charge: int
    relay_closed: bool
    relay_reason: str                  # "" when closed; credit, overcurrent, lockout, tamper, remote
    trips: int                         # over-current trips in a row
    power_limit_w: int
    disconnected_s: int                # total time with the relay open
    tamper: bool
    case_open: bool
    last_result: ResultCode | None     # of the last token or card entry
    last_credited: int
    keypad_wrong: int                  # wrong tokens in a row
    keypad_locked_s: int               # seconds until the keypad takes tokens again
    purchase_count: int | None         # card meters only
    card_serial: str | None
    key_revision: int | None           # keypad (STS) meters only
    key_type: int | None
    tariff_index: int | None
    key_expiry_number: int | None
    monthly_wh: tuple[int, ...]        # this month first, then the months before
    monthly_fee: int
    test_load_w: int


@runtime_checkable
class MeterPort(Protocol):
    """A prepaid meter, whatever is behind it: the model, a real meter, or the emulator."""

    def identify(self) -> Identity: ...

    def read(self) -> MeterReading: ...

    def read_register(self, address: str) -> DataSet: ...

    def enter_token(self, token: str) -> MeterResult: ...

    def load_card(self, record: bytes) -> MeterResult: ...

    def set_relay(self, closed: bool) -> MeterResult: ...

    def emergency_credit(self) -> MeterResult: ...

    def clear_tamper(self) -> MeterResult: ...

    def set_clock(self, when: datetime) -> None: ...

    # bench only: a controllable test load and the case switch, so a suite can drain credit,
    # trip the over-current protection or raise the tamper flag on an emulator or a rigged meter
    def set_test_load(self, watts: int) -> None: ...

    def set_case_open(self, is_open: bool) -> None: ...
