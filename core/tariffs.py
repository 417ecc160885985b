"""Energy tariffs: money to energy by consumption band, a monthly service fee, limits.

Kept as data (``core/profiles/tariffs.toml``), validated on load. Energy is counted in tenths
of a kWh, the STS credit resolution; money is integer minor units, so the conversion floors
(the vending system never sells energy it was not paid for) and reports what did not convert.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import InvalidInput
from core.market import ProfileError
from core.money import Money

FILE = Path(__file__).parent / "profiles" / "tariffs.toml"


@dataclass(frozen=True)
class Band:
    up_to_tenths: int | None     # cumulative monthly energy where the band ends (None: no end)
    price: Money                 # per kWh


@dataclass(frozen=True)
class Conversion:
    fee: Money                   # service fee taken from this purchase
    energy_tenths: int           # 0.1 kWh units sold
    unconverted: Money           # money too small for one more tenth (kept by the utility)


@dataclass(frozen=True)
class Tariff:
    id: str
    market: str
    utility: str
    utility_id: int
    currency: str
    service_fee: Money
    min_charge: Money
    max_credit: Money
    card_fees: dict[str, Money]  # card replacement fee by reason (lost, damaged)
    bands: tuple[Band, ...]

    def convert(self, paid: Money, month_tenths: int, fee_due: bool) -> Conversion:
        """Energy for ``paid``, given the tenths already sold to the meter this month."""
        fee = self.service_fee if fee_due else Money.zero(self.currency)
        left = paid.minor - fee.minor
        sold, at = 0, month_tenths
        for band in self.bands:
            if band.up_to_tenths is not None and at >= band.up_to_tenths:
                continue
            room = None if band.up_to_tenths is None else band.up_to_tenths - at
            # price per tenth = price / 10; tenths affordable = floor(left * 10 / price)
            affordable = left * 10 // band.price.minor
            take = affordable if room is None else min(affordable, room)
            left -= -(-take * band.price.minor // 10)       # what those tenths cost, rounded up
            sold += take
            at += take
            if room is None or take < room:
                break
        return Conversion(fee, sold, Money(max(left, 0), self.currency))


def _parse(entry: dict, source: str) -> Tariff:
    where = f"{source}:tariff {entry.get('id', '?')}"
    try:
        cur = entry["currency"]

        def money(key: str) -> Money:     # a fee of "0" is allowed; Money.parse refuses zero
            return Money.zero(cur) if str(entry[key]).strip() == "0" else Money.parse(entry[key], cur, field=key)
        bands, previous = [], 0
        for i, b in enumerate(entry["bands"]):
            up = b.get("up_to_kwh")
            if up is not None and (int(up) * 10 <= previous):
                raise ProfileError(f"{where}: bands[{i}].up_to_kwh must grow")
            if up is None and i != len(entry["bands"]) - 1:
                raise ProfileError(f"{where}: bands[{i}]: only the last band may have no up_to_kwh")
            bands.append(Band(None if up is None else int(up) * 10, Money.parse(b["price"], cur, field="price")))
            previous = bands[-1].up_to_tenths or previous
        if bands[-1].up_to_tenths is not None:
            raise ProfileError(f"{where}: the last band must have no up_to_kwh (no ceiling)")
        fees = {reason: Money.parse(v, cur, field=f"card_fees.{reason}") for reason, v in entry["card_fees"].items()}
        t = Tariff(entry["id"], entry["market"], entry["utility"], int(entry["utility_id"]), cur,
                   money("service_fee"), money("min_charge"), money("max_credit"), fees, tuple(bands))
    except KeyError as e:
        raise ProfileError(f"{where}: missing key {e.args[0]!r}") from None
    except InvalidInput as e:
        raise ProfileError(f"{where}: {e.message}") from None
    if t.min_charge <= t.service_fee or t.min_charge > t.max_credit:
        raise ProfileError(f"{where}: expected service_fee < min_charge <= max_credit")
    return t


@lru_cache(maxsize=None)
def load_tariffs(path: str | None = None) -> dict[str, Tariff]:
    p = Path(path) if path else FILE
    with p.open("rb") as f:
        data = tomllib.load(f)
    tariffs = {}
    for entry in data.get("tariff", []):
        t = _parse(entry, p.name)
        tariffs[t.id] = t
    return tariffs


def tariff(tariff_id: object, *, field: str = "tariff") -> Tariff:
    tariffs = load_tariffs()
    if tariff_id not in tariffs:
        raise InvalidInput(f"{field}: unknown tariff {tariff_id!r}; expected one of {', '.join(sorted(tariffs))}",
                           field=field)
    return tariffs[tariff_id]  # type: ignore[index]
