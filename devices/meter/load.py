"""What the household draws and what energy costs: the load profile and the meter's tariff.

Consumption is integrated exactly in integers: power in watts times milliseconds gives
millijoules; the credit register counts 0.01 kWh (36,000,000 mJ) or minor units of money at
a price per kWh (3,600,000,000 mJ per kWh), carrying what is not yet a whole unit to the next
step. A profile is 24 hourly power levels of the meter's (UTC) day, so a simulated day has 24
steps at most, whatever its length.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

MJ_PER_WH = 3_600_000                     # millijoules in a watt-hour
MJ_PER_KWH = 1000 * MJ_PER_WH
MJ_PER_CENTI_KWH = 10 * MJ_PER_WH          # the energy register's unit: 0.01 kWh
HOUR_MS = 3_600_000
CURRENCY_DECIMALS = {"EGP": 2, "DZD": 2, "IRR": 0}   # the currencies utility cards carry
_SHAPE = (0.45, 0.4, 0.35, 0.35, 0.35, 0.45, 0.8, 1.2, 1.1, 0.9, 0.85, 0.9,
          1.0, 1.0, 0.9, 0.85, 0.9, 1.1, 1.6, 1.9, 1.8, 1.5, 1.0, 0.6)   # evening peak, night trough


def _watts(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1_000_000:
        raise ValueError(f"invalid {what} {value!r}: expected whole watts from 0 to 1000000")
    return value


@dataclass(frozen=True)
class LoadProfile:
    """Watts drawn in each hour of the day, hour 0 first (24 values)."""

    hourly_w: tuple[int, ...]

    def __post_init__(self) -> None:
        hourly = tuple(self.hourly_w) if isinstance(self.hourly_w, (list, tuple)) else None
        if hourly is None or len(hourly) != 24:
            raise ValueError(f"invalid load profile {self.hourly_w!r}: expected 24 hourly power levels in watts")
        for hour, watts in enumerate(hourly):
            _watts(watts, f"load at hour {hour}")
        object.__setattr__(self, "hourly_w", hourly)

    @classmethod
    def constant(cls, watts: int) -> LoadProfile:
        return cls((_watts(watts, "load"),) * 24)

    @classmethod
    def household(cls, rng: random.Random, mean_w: int = 400, *, spread: float = 0.25) -> LoadProfile:
        """A day with a morning bump and an evening peak around ``mean_w``, each hour varied by
        up to ``spread`` with the caller's seeded ``rng`` (same seed, same household)."""
        _watts(mean_w, "mean load")
        if not 0 <= spread < 1:
            raise ValueError(f"invalid spread {spread!r}: expected 0 <= spread < 1")
        scale = mean_w / (sum(_SHAPE) / 24)
        return cls(tuple(round(scale * s * (1 + rng.uniform(-spread, spread))) for s in _SHAPE))

    @cached_property
    def is_constant(self) -> bool:
        return len(set(self.hourly_w)) == 1

    def watts_at(self, wall_ms: int) -> int:
        return self.hourly_w[wall_ms // HOUR_MS % 24]


@dataclass(frozen=True)
class MeterTariff:
    """A money meter's tariff: price per kWh by band of the month's consumption, a monthly fee.

    ``bands`` are ``(up_to_kwh, price)`` with ``up_to_kwh`` the month's cumulative kWh where the
    band ends (``None`` for the last, open band) and ``price`` in minor units per kWh, as in
    ``core/profiles/tariffs.toml`` (EGP 0.68/kWh is 68). The fee is deducted at each new month.
    """

    currency: str
    bands: tuple[tuple[int | None, int], ...]
    monthly_fee: int = 0

    def __post_init__(self) -> None:
        if self.currency not in CURRENCY_DECIMALS:
            raise ValueError(f"invalid tariff currency {self.currency!r}: expected one of "
                             f"{', '.join(CURRENCY_DECIMALS)}")
        bands = tuple(tuple(b) for b in self.bands) if isinstance(self.bands, (list, tuple)) else ()
        if not bands:
            raise ValueError("invalid tariff bands: expected at least one (up_to_kwh, price) band")
        previous = 0
        for i, band in enumerate(bands):
            if len(band) != 2:
                raise ValueError(f"invalid tariff band {i} {band!r}: expected (up_to_kwh, price per kWh)")
            up_to, price = band
            if isinstance(price, bool) or not isinstance(price, int) or price <= 0:
                raise ValueError(f"invalid price {price!r} in tariff band {i}: expected minor units per kWh > 0")
            last = i == len(bands) - 1
            if last != (up_to is None):
                raise ValueError(f"invalid tariff band {i}: only the last band is open (up_to_kwh None)")
            if up_to is not None and (isinstance(up_to, bool) or not isinstance(up_to, int) or up_to <= previous):
                raise ValueError(f"invalid up_to_kwh {up_to!r} in tariff band {i}: "
                                 f"expected an integer above {previous}")
            previous = up_to or previous
        if isinstance(self.monthly_fee, bool) or not isinstance(self.monthly_fee, int) or self.monthly_fee < 0:
            raise ValueError(f"invalid monthly fee {self.monthly_fee!r}: expected minor units >= 0")
        object.__setattr__(self, "bands", bands)

    @property
    def decimals(self) -> int:
        return CURRENCY_DECIMALS[self.currency]

    def band_at(self, month_mj: int) -> tuple[int, int | None]:
        """(price per kWh, where the band ends in mJ of the month or None) at ``month_mj``."""
        for up_to, price in self.bands:
            if up_to is None or month_mj < up_to * MJ_PER_KWH:
                return price, None if up_to is None else up_to * MJ_PER_KWH
        raise AssertionError("the last band is open")
