"""The prepaid meter: ``Supply`` (credit, load, relay, clock) plus its keypad and card slot.

``PrepaidMeter`` is the model face of ``MeterPort``: every command first brings the meter to
its current time (``advance`` or SimPy), acts, and answers a ``MeterResult`` with a
``ResultCode``. Its keys come in as parameters (it imports nothing of the core): the STS
decoder key the vending system derives for it (``sts.dkga02(vending_key, pan=..., ...)``)
and the utility's card master keys by key version.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from protocols import sts
from protocols import utility_card as uc
from protocols.iec62056 import DataSet
from protocols.sts.tokens import KEY_CHANGE_TYPES

from . import registers
from .card_slot import CardSlot
from .codes import ResultCode
from .errors import MeterInputError
from .interface import Identity, MeterReading, MeterResult
from .keypad import Keypad
from .load import LoadProfile, MeterTariff
from .supply import CREDIT_MAX, MeterEvent, Supply, _amount, _wall_ms

MANUFACTURER, IDENT, MAX_BAUD = "RBM", "RB-PREPAY-1", 9600
__all__ = ["MeterEvent", "PrepaidMeter"]


class PrepaidMeter(Supply):
    """One prepaid meter (``docs/meter-protocol.md`` has its registers and result codes)."""

    manufacturer, ident, max_baud = MANUFACTURER, IDENT, MAX_BAUD

    def __init__(self, meter_number: str, *, clock: datetime = datetime(2026, 1, 1),
                 unit: Literal["energy", "money"] = "energy", tariff: MeterTariff | None = None,
                 credit: int = 0, low_credit: int = 1000, low_credit_percent: int | None = None,
                 emergency_credit: int = 0, power_limit_w: int = 13_800, trip_retry_s: int = 60,
                 trips_to_lockout: int = 3, load: LoadProfile | None = None,
                 decoder_key: sts.DecoderKey | None = None, key_type: int = 2, key_revision: int = 1,
                 tariff_index: int = 1, key_expiry_number: int = 255, tid_capacity: int = 50,
                 wrong_tokens_to_lockout: int = 3, lockout_s: int = 60, lockout_max_s: int = 86_400,
                 card_master_keys: bytes | Mapping[int, bytes] | None = None, card_serial: str | None = None,
                 purchase_count: int = 0, hoarding_limit: int | None = None, card_validity_days: int | None = None,
                 credit_max: int = CREDIT_MAX, history_months: int = 12, event_capacity: int = 256) -> None:
        try:
            self.meter_number = uc.parse_meter_number(meter_number)
        except uc.CardError as exc:
            raise ValueError(f"invalid meter number: {exc}") from None
        if unit not in ("energy", "money"):
            raise ValueError(f"invalid unit {unit!r}: expected 'energy' (0.01 kWh) or 'money' (with a tariff)")
        if unit == "money" and not isinstance(tariff, MeterTariff):
            raise ValueError("a money meter needs a tariff: MeterTariff(currency, bands, monthly_fee)")
        if unit == "energy" and tariff is not None:
            raise ValueError("an energy meter takes no tariff: the vending system converted money to energy")
        if decoder_key is not None and unit != "energy":
            raise ValueError("a keypad (STS) meter holds energy: STS credit tokens carry kWh; use unit='energy'")
        super().__init__(clock=clock, tariff=tariff, credit=credit, low_credit=low_credit,
                         low_credit_percent=low_credit_percent, emergency_credit=emergency_credit,
                         power_limit_w=power_limit_w, trip_retry_s=trip_retry_s, trips_to_lockout=trips_to_lockout,
                         load=load, credit_max=credit_max, history_months=history_months,
                         event_capacity=event_capacity)
        self.hoarding_limit = self.credit_max if hoarding_limit is None else _amount(hoarding_limit, "hoarding limit")
        self.keypad = None if decoder_key is None else Keypad(
            decoder_key, key_type=key_type, key_revision=key_revision, tariff_index=tariff_index,
            key_expiry_number=key_expiry_number, tid_capacity=tid_capacity,
            wrong_to_lockout=wrong_tokens_to_lockout, lockout_s=lockout_s, lockout_max_s=lockout_max_s)
        self.card_slot = None if card_master_keys is None else CardSlot(
            card_master_keys, card_serial=card_serial, purchase_count=purchase_count,
            validity_days=card_validity_days)
        self.tariff_rate: int | None = None
        self.phase_unbalance_limit_w: int | None = None
        self.last_result: ResultCode | None = None
        self.last_credited = 0

    def keypad_locked_s(self) -> int:
        return 0 if self.keypad is None else -(-self.keypad.locked_ms(self._elapsed) // 1000)

    # ------------------------------------------------------------------ MeterPort
    def identify(self) -> Identity:
        return Identity(self.manufacturer, self.ident, self.max_baud, self.meter_number)

    def read(self) -> MeterReading:
        self._sync()
        return registers.reading(registers.readout(self))

    def read_register(self, address: str) -> DataSet:
        self._sync()
        return registers.read(self, address)[0]

    def _result(self, code: ResultCode, credited: int = 0, detail: str = "", *, entry: bool = True) -> MeterResult:
        if entry:
            self.last_result, self.last_credited = code, credited
        return MeterResult(code, credited, self.balance if entry else None, self.unit_name if entry else "", detail)

    def _credit(self, units: int) -> None:
        self.balance += units
        self.last_charge = units

    def enter_token(self, token: str) -> MeterResult:
        digits = registers.token_digits(token)          # text that is no token never reaches the meter
        self._sync()
        if self.keypad is None:
            return self._result(ResultCode.NO_KEYPAD, entry=False)
        entry = self.keypad.enter(digits, self._elapsed)
        code, tok, detail = entry.code, entry.token, entry.detail
        credited = 0
        if code is ResultCode.ACCEPTED and tok is not None and not isinstance(tok, KEY_CHANGE_TYPES):
            code, credited, detail = self._apply_token(tok)
            if code is ResultCode.ACCEPTED:
                self.keypad.commit(tok)
        self._event("token", f"{code.wire_name} {detail}".strip())
        self._changed()
        return self._result(code, credited, detail)

    def _apply_token(self, token: sts.Token) -> tuple[ResultCode, int, str]:
        if isinstance(token, (sts.TransferWaterCredit, sts.TransferGasCredit, sts.SetWaterMeterFactor)):
            return ResultCode.FORMAT, 0, f"{type(token).__name__}: this is an electricity meter"
        if isinstance(token, sts.TransferElectricityCredit):
            units = token.tenths * 10
            if self.tamper:
                return ResultCode.TAMPER, 0, "credit refused while the tamper flag is set"
            if self.balance + units > self.credit_max:
                return ResultCode.OVERFLOW, 0, f"{units} on top of {self.balance} exceeds {self.credit_max}"
            self._credit(units)
            return ResultCode.ACCEPTED, units, f"{token.units} kWh"
        if isinstance(token, sts.SetMaximumPowerLimit):
            self.power_limit_w = min(token.watts, CREDIT_MAX)
        elif isinstance(token, sts.ClearCredit):
            self.balance, self._debt, self.emergency_active = 0, 0, False
        elif isinstance(token, sts.SetTariffRate):
            self.tariff_rate = token.rate
        elif isinstance(token, sts.ClearTamperCondition):
            self.tamper = self.case_open
        elif isinstance(token, sts.SetMaximumPhasePowerUnbalanceLimit):
            self.phase_unbalance_limit_w = token.watts
        return ResultCode.ACCEPTED, 0, type(token).__name__

    def load_card(self, record: bytes | str) -> MeterResult:
        record = registers.card_bytes(record)
        self._sync()
        if self.card_slot is None:
            return self._result(ResultCode.NO_CARD_SLOT, entry=False)
        if self.tamper:
            result = self._result(ResultCode.TAMPER, 0, "card refused while the tamper flag is set")
        else:
            entry = self.card_slot.insert(
                record, meter_number=self.meter_number, balance=self.balance, unit=self.unit,
                currency=self.tariff.currency if self.tariff else "EGP", hoarding_limit=self.hoarding_limit,
                now_s=self.wall_ms // 1000)
            if entry.credited:
                self._credit(entry.credited)
            result = self._result(entry.code, entry.credited, entry.detail)
        self._event("card", f"{result.code.wire_name} {result.detail}".strip())
        self._changed()
        return result

    def set_relay(self, closed: bool) -> MeterResult:
        self._sync()
        if closed:
            if self.tamper:
                return self._result(ResultCode.TAMPER, entry=False)
            if self.available <= 0:
                return self._result(ResultCode.NO_CREDIT, entry=False)
            self.remote_open, self.trips = False, 0
            self._retry_at = self._trip_reset_at = None
        else:
            self.remote_open = True
        self._changed()
        return self._result(ResultCode.ACCEPTED, entry=False)

    def emergency_credit(self) -> MeterResult:
        self._sync()
        if not self.emergency_limit or self.emergency_active or self.balance > self.low_threshold:
            return self._result(ResultCode.NO_EMERGENCY, entry=False)
        self.emergency_active = True
        self._event("emergency", f"emergency credit {self.emergency_limit}")
        self._changed()
        return self._result(ResultCode.ACCEPTED, entry=False)

    def clear_tamper(self) -> MeterResult:
        self._sync()
        if self.case_open:
            return self._result(ResultCode.TAMPER, entry=False)
        self.tamper = False
        self._changed()
        return self._result(ResultCode.ACCEPTED, entry=False)

    def set_clock(self, when: datetime) -> None:
        wall = _wall_ms(when)
        self._sync()
        self._set_wall(wall)
        self._changed()

    def set_test_load(self, watts: int) -> None:
        if isinstance(watts, bool) or not isinstance(watts, int) or not 0 <= watts <= 1_000_000:
            raise MeterInputError(f"invalid test load {watts!r}: expected whole watts from 0 to 1000000")
        self._sync()
        self.test_load_w = watts
        self._changed()

    def set_case_open(self, is_open: bool) -> None:
        self._sync()
        self.case_open = bool(is_open)
        if self.case_open and not self.tamper:
            self.tamper = True
            self._event("tamper", "case opened")
        self._changed()
