"""Shared material of the meter tests: a meter number, keys, tokens and card records that a
vending system would make, and meters with the usual settings."""
from __future__ import annotations

from datetime import datetime, timedelta

from devices.meter import LoadProfile, MeterTariff, PrepaidMeter
from protocols import sts
from protocols import utility_card as uc

METER = "47500150231"                       # Luhn-checked, as the core registers meters
OTHER_METER = "04040404040"
KEY = sts.DecoderKey.from_hex("e653341f9d5bf36f")
OTHER_KEY = sts.DecoderKey.from_hex("0abc12def3456789")
MASTER = bytes(range(32))                   # the utility's card master key, key version 1
SERIAL, NEW_SERIAL = "04A1B2C3D4E5F607", "04FFEEDDCCBBAA99"
START = datetime(2026, 11, 21, 8, 0)
EGP_TARIFF = MeterTariff("EGP", ((50, 68), (100, 78), (None, 223)), monthly_fee=1000)


def tid(minute: int) -> int:
    """The TID of a token issued ``minute`` minutes after START (base date 2014, as the core vends)."""
    return sts.tid_of(START + timedelta(minutes=minute), base_date=2014)


def credit_token(kwh: float, minute: int = 0, key: sts.DecoderKey = KEY) -> str:
    return sts.encode(sts.TransferElectricityCredit.of(kwh, tid=tid(minute), rnd=minute % 16), key)


def record(count: int, credit: int = 10_000, *, kind: str = "credit", meter: str = METER, serial: str = SERIAL,
           master: bytes = MASTER, unit: str = "money", issued_at: int | None = None, key_version: int = 1) -> bytes:
    """A credit record as the core signs it for a card."""
    rec = uc.CreditRecord(meter_number=meter, card_serial=serial, utility_id=818, purchase_count=count,
                          credit=credit, paid=credit, currency="EGP", unit=unit, kind=kind,
                          issued_at=issued_at if issued_at is not None else int((START - datetime(1970, 1, 1))
                                                                                 .total_seconds()),
                          vend_ref=uc.vend_ref_from_id(f"vend-{count}-{serial}"), key_version=key_version)
    return uc.encode(rec, uc.credit_key(master, serial))


def keypad_meter(**kw) -> PrepaidMeter:
    """An STS keypad meter holding energy (0.01 kWh)."""
    params = dict(decoder_key=KEY, clock=START, load=LoadProfile.constant(0))
    params.update(kw)
    return PrepaidMeter(METER, **params)


def card_meter(**kw) -> PrepaidMeter:
    """An Egyptian card meter holding money (piastres) with the residential tariff's shape."""
    params = dict(unit="money", tariff=EGP_TARIFF, card_master_keys=MASTER, clock=START,
                  load=LoadProfile.constant(0))
    params.update(kw)
    return PrepaidMeter(METER, **params)
