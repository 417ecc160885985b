"""The meter's registers: OBIS-style addresses, their values on the wire, and ``MeterReading``.

One table serves the three faces: the model reads itself through it (so its ``read()`` is the
readout a driver parses), the emulator answers R1/W1 from it, and the driver parses readouts
and answers with it. Amounts go out in the register's unit with a fixed count of decimals
(credit ``125.60*kWh`` or ``57.25*EGP``; energy ``1.8.0`` in kWh with 3 decimals, i.e. Wh).
Prepayment registers use the manufacturer-specific range ``C.50``-``C.99`` (OBIS 96.50-96.99).
``docs/meter-protocol.md`` is the table for people.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from protocols import sts
from protocols import utility_card as uc
from protocols.iec62056 import DataSet, Iec62056Error, scaled, unscaled

from .codes import ResultCode
from .errors import MeterInputError, MeterProtocolError
from .interface import MeterReading
from .load import CURRENCY_DECIMALS

if TYPE_CHECKING:
    from .model import PrepaidMeter

TOKEN, CARD, RESULT = "C.53.0", "C.54.0", "C.53.0"     # write a token / a card record; read the entry record
_HEX = re.compile(r"[0-9A-Fa-f]+")


def _amount(m: PrepaidMeter, value: int) -> tuple[str, str]:
    return scaled(value, m.decimals), m.unit_name


def _flag(value: bool) -> tuple[str, str]:
    return ("1" if value else "0"), ""


@dataclass(frozen=True)
class Register:
    address: str
    read: Callable[[PrepaidMeter], tuple[str, str]] | None
    present: Callable[[PrepaidMeter], bool] = lambda m: True


def _history(month: int) -> Register:
    return Register(f"C.56.{month}", lambda m: (scaled(m.monthly_wh[month], 3), "kWh")
                    if month < len(m.monthly_wh) else ("0.000", "kWh"),
                    lambda m: month <= m.history_months)


def _keypad(m: PrepaidMeter) -> bool:
    return m.keypad is not None


def _card(m: PrepaidMeter) -> bool:
    return m.card_slot is not None


REGISTERS: tuple[Register, ...] = (
    Register("0.0.0", lambda m: (m.meter_number, "")),
    Register("0.9.1", lambda m: (f"{m.clock:%H:%M:%S}", "")),
    Register("0.9.2", lambda m: (f"{m.clock:%y-%m-%d}", "")),
    Register("1.8.0", lambda m: (scaled(m.energy_mj // 3_600_000, 3), "kWh")),
    Register("1.7.0", lambda m: (scaled(m.power_w, 3), "kW")),
    Register("C.50.0", lambda m: _amount(m, m.balance)),
    Register("C.50.1", lambda m: _amount(m, m.low_threshold)),
    Register("C.50.2", lambda m: _flag(m.low_alert)),
    Register("C.50.3", lambda m: _amount(m, m.emergency_limit)),
    Register("C.50.4", lambda m: _flag(m.emergency_active)),
    Register("C.50.5", lambda m: _amount(m, m.last_charge)),
    Register("C.51.0", lambda m: _flag(m.relay_closed)),
    Register("C.51.1", lambda m: (m.relay_reason, "")),
    Register("C.51.2", lambda m: (str(m.trips), "")),
    Register("C.51.3", lambda m: (str(m.power_limit_w), "W")),
    Register("C.51.4", lambda m: (str(m.disconnected_ms // 1000), "s")),
    Register("C.52.0", lambda m: _flag(m.tamper)),
    Register("C.52.1", lambda m: _flag(m.case_open)),
    Register("C.53.0", lambda m: ("" if m.last_result is None else f"{m.last_result.number:02d}", "")),
    Register("C.53.1", lambda m: _amount(m, m.last_credited)),
    Register("C.53.2", lambda m: (str(m.keypad.wrong), ""), _keypad),
    Register("C.53.3", lambda m: (str(m.keypad_locked_s()), "s"), _keypad),
    Register("C.54.0", lambda m: (str(m.card_slot.purchase_count), ""), _card),
    Register("C.54.1", lambda m: (m.card_slot.card_serial or "", ""), _card),
    Register("C.55.0", lambda m: (str(m.keypad.key_revision), ""), _keypad),
    Register("C.55.1", lambda m: (str(m.keypad.key_type), ""), _keypad),
    Register("C.55.2", lambda m: (f"{m.keypad.tariff_index:02d}", ""), _keypad),
    Register("C.55.3", lambda m: (str(m.keypad.key_expiry_number), ""), _keypad),
    *(_history(month) for month in range(13)),
    Register("C.57.0", lambda m: _amount(m, m.tariff.monthly_fee if m.tariff else 0)),
    Register("C.99.0", lambda m: (str(m.test_load_w), "W")),
    Register("C.99.1", lambda m: _flag(m.case_open)),
)
_BY_ADDRESS = {r.address: r for r in REGISTERS}


def _dataset(m: PrepaidMeter, register: Register) -> DataSet:
    value, unit = register.read(m)
    return DataSet(register.address, value, unit)


def readout(m: PrepaidMeter) -> tuple[DataSet, ...]:
    """Every register the meter has, in readout order."""
    return tuple(_dataset(m, r) for r in REGISTERS if r.present(m))


def read(m: PrepaidMeter, address: str) -> list[DataSet]:
    """The answer to R1 ``address``: one data set, or the entry record for ``C.53.0``."""
    register = _BY_ADDRESS.get(address)
    if register is None or not register.present(m):
        raise MeterProtocolError(f"register {address!r}: not on this meter; see docs/meter-protocol.md",
                                 ResultCode.ADDRESS)
    if address == RESULT:
        return [_dataset(m, register), _dataset(m, _BY_ADDRESS["C.53.1"]), _dataset(m, _BY_ADDRESS["C.50.0"])]
    return [_dataset(m, register)]


# ---------------------------------------------------------------------- writes (W1)
def _bit(value: str) -> bool:
    if value not in ("0", "1"):
        raise MeterInputError(f"invalid value {value!r}: expected 0 or 1")
    return value == "1"


def _clock(m: PrepaidMeter, value: str, date: bool) -> ResultCode:
    try:
        if date:
            day = datetime.strptime(value, "%y-%m-%d")
            m.set_clock(m.clock.replace(year=day.year, month=day.month, day=day.day))
        else:
            hms = datetime.strptime(value, "%H:%M:%S")
            m.set_clock(m.clock.replace(hour=hms.hour, minute=hms.minute, second=hms.second, microsecond=0))
    except ValueError:
        raise MeterInputError(f"invalid {'date' if date else 'time'} {value!r}: expected "
                              f"{'YY-MM-DD' if date else 'hh:mm:ss'}") from None
    return ResultCode.ACCEPTED


def _watts(value: str) -> int:
    if not value.isdigit() or not value.isascii():
        raise MeterInputError(f"invalid test load {value!r}: expected whole watts")
    return int(value)


def _token(m: PrepaidMeter, value: str) -> ResultCode:
    if len(value) != 20 or not value.isdigit() or not value.isascii():
        raise MeterInputError(f"invalid token {value!r}: expected 20 digits")
    return m.enter_token(value).code


def _card_record(m: PrepaidMeter, value: str) -> ResultCode:
    if len(value) % 2 or not _HEX.fullmatch(value):
        raise MeterInputError(f"invalid card record {value[:16]!r}...: expected the record's bytes in hex")
    return m.load_card(bytes.fromhex(value)).code


WRITES: dict[str, Callable[[PrepaidMeter, str], ResultCode]] = {
    "0.9.1": lambda m, v: _clock(m, v, date=False),
    "0.9.2": lambda m, v: _clock(m, v, date=True),
    "C.50.4": lambda m, v: m.emergency_credit().code if _bit(v) else _refuse(v, "1 (request)"),
    "C.51.0": lambda m, v: m.set_relay(_bit(v)).code,
    "C.52.0": lambda m, v: m.clear_tamper().code if not _bit(v) else _refuse(v, "0 (clear)"),
    TOKEN: _token,
    CARD: _card_record,
    "C.99.0": lambda m, v: (m.set_test_load(_watts(v)), ResultCode.ACCEPTED)[1],
    "C.99.1": lambda m, v: (m.set_case_open(_bit(v)), ResultCode.ACCEPTED)[1],
}
ENTRIES = frozenset({TOKEN, CARD})          # writes whose verdict is read back from C.53.0


def _refuse(value: str, expected: str) -> ResultCode:
    raise MeterInputError(f"invalid value {value!r}: expected {expected}")


def write(m: PrepaidMeter, address: str, value: str) -> ResultCode:
    """Carry out W1 ``address(value)``; refusals of the meter come back as their code."""
    if address not in WRITES:
        code = ResultCode.READ_ONLY if address in _BY_ADDRESS else ResultCode.ADDRESS
        raise MeterProtocolError(f"register {address!r}: {code.message}", code)
    try:
        return WRITES[address](m, value)
    except MeterInputError as exc:
        raise MeterProtocolError(str(exc), ResultCode.VALUE) from None


# ---------------------------------------------------------------------- readout -> MeterReading
def _decimals(unit: str) -> int:
    return 2 if unit == "kWh" else CURRENCY_DECIMALS.get(unit, 2)


def reading(datasets: tuple[DataSet, ...] | list[DataSet]) -> MeterReading:
    """The typed reading of a data readout; raises MeterProtocolError naming what is missing or wrong."""
    by = {d.address: d for d in datasets}

    def get(address: str, optional: bool = False) -> DataSet | None:
        if address not in by and not optional:
            raise MeterProtocolError(f"readout: register {address} is missing")
        return by.get(address)

    def num(address: str, decimals: int = 0, optional: bool = False) -> Any:
        d = get(address, optional)
        if d is None:
            return None
        try:
            return unscaled(d.value, decimals, what=f"register {address}")
        except Iec62056Error as exc:
            raise MeterProtocolError(f"readout: {exc}") from None

    unit = get("C.50.0").unit
    money = _decimals(unit)
    try:
        clock = datetime.strptime(f"{get('0.9.2').value} {get('0.9.1').value}", "%y-%m-%d %H:%M:%S")
    except ValueError:
        raise MeterProtocolError(f"readout: clock {by['0.9.2'].value} {by['0.9.1'].value} is not "
                                 "YY-MM-DD hh:mm:ss") from None
    last = get("C.53.0").value
    try:
        last_result = ResultCode.of_number(int(last)) if last else None
    except ValueError as exc:
        raise MeterProtocolError(f"readout: C.53.0: {exc}") from None
    months = []
    while f"C.56.{len(months)}" in by:
        months.append(num(f"C.56.{len(months)}", 3))
    return MeterReading(
        meter_number=get("0.0.0").value, clock=clock, energy_wh=num("1.8.0", 3), power_w=num("1.7.0", 3),
        unit=unit, credit=num("C.50.0", money), low_credit_threshold=num("C.50.1", money),
        low_credit=num("C.50.2") == 1, emergency_limit=num("C.50.3", money), emergency_active=num("C.50.4") == 1,
        last_charge=num("C.50.5", money), relay_closed=num("C.51.0") == 1, relay_reason=get("C.51.1").value,
        trips=num("C.51.2"), power_limit_w=num("C.51.3"), disconnected_s=num("C.51.4"),
        tamper=num("C.52.0") == 1, case_open=num("C.52.1") == 1, last_result=last_result,
        last_credited=num("C.53.1", money), keypad_wrong=num("C.53.2", optional=True) or 0,
        keypad_locked_s=num("C.53.3", optional=True) or 0, purchase_count=num("C.54.0", optional=True),
        card_serial=(get("C.54.1", True).value or None) if "C.54.1" in by else None,
        key_revision=num("C.55.0", optional=True), key_type=num("C.55.1", optional=True),
        tariff_index=num("C.55.2", optional=True), key_expiry_number=num("C.55.3", optional=True),
        monthly_wh=tuple(months), monthly_fee=num("C.57.0", money), test_load_w=num("C.99.0"))


def entry_result(datasets: list[DataSet]) -> tuple[ResultCode, int, int, str]:
    """(code, credited, credit after, unit) from the entry record that R1 C.53.0 answers."""
    by = {d.address: d for d in datasets}
    try:
        code = ResultCode.of_number(int(by[RESULT].value))
        unit = by["C.50.0"].unit
        return (code, unscaled(by["C.53.1"].value, _decimals(unit)),
                unscaled(by["C.50.0"].value, _decimals(unit)), unit)
    except (KeyError, ValueError) as exc:
        raise MeterProtocolError(f"entry record {datasets!r}: expected C.53.0 (code), C.53.1 and C.50.0; {exc}") \
            from None


def token_digits(token: str) -> str:
    """The 20 ASCII digits of a typed token (spaces, dashes, Arabic-Indic and Persian digits allowed)."""
    if not isinstance(token, str):
        raise MeterInputError(f"invalid token {token!r}: expected the 20 digits as text")
    try:
        return sts.digits_of(token)
    except sts.TokenTextError as exc:
        raise MeterInputError(str(exc)) from None


def card_bytes(record: bytes | str) -> bytes:
    """A card record as bytes: given as bytes, or in the text form bank apps and e-wallets show."""
    if isinstance(record, str):
        try:
            return uc.from_text(record)
        except uc.CardError as exc:
            raise MeterInputError(f"invalid card record text: {exc}") from None
    if not isinstance(record, (bytes, bytearray, memoryview)):
        raise MeterInputError(f"invalid card record {type(record).__name__}: expected the card's bytes "
                              f"({uc.RECORD_LENGTH}) or their text form")
    if len(record) > 64:
        raise MeterInputError(f"invalid card record: {len(record)} bytes; a card holds {uc.RECORD_LENGTH}")
    return bytes(record)


def utc(when: datetime) -> datetime:
    """``when`` as the meter's clock holds it: naive UTC (an aware datetime is converted)."""
    if not isinstance(when, datetime):
        raise MeterInputError(f"invalid clock {when!r}: expected a datetime (UTC)")
    return when if when.tzinfo is None else when.astimezone(timezone.utc).replace(tzinfo=None)
