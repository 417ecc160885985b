"""The diurnal load profile, as data: hourly weights per kind of traffic, plus calendar modifiers.

PURE on purpose (no SimPy, no core): the simulator's arrivals and the Locust load shape in
``loadtests/`` read the very same ``sim/shapes/*.yaml`` through this module, so "the evening
peak" means one thing everywhere.

    shape = load_shape("default")
    shape.weight("topup", 20.5)                       # ~1.9: the evening peak, local time
    shape.weight("gift", 21.5)                        # gifts peak an hour later
    shape.weight("topup", 4.0, ("ramadan",))          # the pre-dawn rise of Ramadan
    shape.stages("topup", start_hour=18, hours=4, peak_users=500)   # for a Locust shape

Weights are rescaled so each kind has a mean of 1 over the day: ``per_day / 24 * weight``
is an hourly rate. Between hour centres the weight is interpolated linearly (no step at the
top of each hour); modifiers multiply it and are not rescaled (a salary day is busier).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

SHAPE_DIR = Path(__file__).parent / "shapes"


class ShapeError(ValueError):
    """A shape file is malformed: names the file, the key and what was expected."""


@dataclass(frozen=True)
class Modifier:
    """A calendar event (Ramadan, salary day): per-hour multipliers and a day factor, per kind."""

    name: str
    kinds: tuple[str, ...]
    factor: float = 1.0
    hours: tuple[float, ...] = (1.0,) * 24
    description: str = ""


@dataclass(frozen=True)
class LoadShape:
    name: str
    kinds: dict[str, tuple[float, ...]]          # 24 weights per kind, mean 1
    modifiers: dict[str, Modifier] = field(default_factory=dict)
    description: str = ""

    def hourly(self, kind: str, calendar: tuple[str, ...] = ()) -> tuple[float, ...]:
        """The 24 hourly weights of ``kind`` with the calendar's modifiers applied."""
        try:
            base = self.kinds[kind]
        except KeyError:
            raise ShapeError(f"shape {self.name}: unknown kind {kind!r}; expected one of "
                             f"{', '.join(sorted(self.kinds))}") from None
        out = list(base)
        for name in calendar:
            mod = self.modifier(name)
            if kind in mod.kinds:
                out = [w * mod.factor * m for w, m in zip(out, mod.hours)]
        return tuple(out)

    def modifier(self, name: str) -> Modifier:
        try:
            return self.modifiers[name]
        except KeyError:
            raise ShapeError(f"shape {self.name}: unknown calendar event {name!r}; expected one of "
                             f"{', '.join(sorted(self.modifiers)) or 'none'}") from None

    def weight(self, kind: str, hour: float, calendar: tuple[str, ...] = ()) -> float:
        """The weight at local ``hour`` (any float; taken modulo 24), interpolated linearly
        between hour centres (h + 0.5)."""
        return interpolate(self.hourly(kind, calendar), hour)

    def peak(self, kind: str, start_hour: float, hours: float, calendar: tuple[str, ...] = ()) -> float:
        """The largest weight over [start_hour, start_hour + hours]: a bound for thinning."""
        return window_peak(self.hourly(kind, calendar), start_hour, hours)

    def stages(self, kind: str, *, start_hour: float, hours: float, peak_users: int,
               step_s: int = 60, calendar: tuple[str, ...] = ()) -> list[tuple[int, int]]:
        """(end of stage in seconds, users) steps for a Locust ``LoadTestShape``: users follow
        the weight, scaled so the window's peak gets ``peak_users``."""
        if peak_users < 1 or step_s < 1 or hours <= 0:
            raise ShapeError(f"stages: expected peak_users >= 1, step_s >= 1 and hours > 0, got "
                             f"{peak_users}, {step_s}, {hours}")
        hourly = self.hourly(kind, calendar)
        top = window_peak(hourly, start_hour, hours)
        out, t, total = [], 0, int(round(hours * 3600))
        while t < total:
            end = min(t + step_s, total)
            mid_hour = start_hour + (t + end) / 2 / 3600
            out.append((end, max(1, round(peak_users * interpolate(hourly, mid_hour) / top))))
            t = end
        return out


def interpolate(hourly: tuple[float, ...], hour: float) -> float:
    x = (hour - 0.5) % 24.0
    i = int(x)
    frac = x - i
    return hourly[i] * (1.0 - frac) + hourly[(i + 1) % 24] * frac


def window_peak(hourly: tuple[float, ...], start_hour: float, hours: float) -> float:
    """Max of the interpolated weight on a window: at its ends or at an hour centre inside."""
    best = max(interpolate(hourly, start_hour), interpolate(hourly, start_hour + hours))
    centre = math.floor(start_hour - 0.5) + 1.5
    while centre < start_hour + hours:
        best = max(best, interpolate(hourly, centre))
        centre += 1.0
    return best


# -- loading ---------------------------------------------------------------------------------
def list_shapes() -> list[str]:
    return sorted(p.stem for p in SHAPE_DIR.glob("*.yaml"))


def shape_path(name: str) -> Path:
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or "/" in name:
        if not p.is_file():
            raise ShapeError(f"shape file {name!r} does not exist")
        return p
    p = SHAPE_DIR / f"{name}.yaml"
    if not p.is_file():
        raise ShapeError(f"unknown shape {name!r}; expected one of {', '.join(list_shapes())} "
                         f"or a path to a .yaml file")
    return p


def load_shape(name: str = "default") -> LoadShape:
    path = shape_path(name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ShapeError(f"{path.name}: not valid YAML: {e}") from None
    return parse_shape(data, path.name)


def _weights(value: object, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != 24:
        raise ShapeError(f"{where}: expected a list of 24 hourly weights (hours 0-23), got "
                         f"{len(value) if isinstance(value, list) else type(value).__name__}")
    for h, w in enumerate(value):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise ShapeError(f"{where}[{h}]: expected a weight >= 0, got {w!r}")
    if sum(value) <= 0:
        raise ShapeError(f"{where}: expected at least one weight above 0")
    mean = sum(value) / 24.0
    return tuple(float(w) / mean for w in value)


def parse_shape(data: object, source: str) -> LoadShape:
    if not isinstance(data, dict):
        raise ShapeError(f"{source}: expected a mapping with name, kinds and modifiers")
    unknown = set(data) - {"name", "description", "kinds", "modifiers"}
    if unknown:
        raise ShapeError(f"{source}: unknown keys {sorted(unknown)}; expected name, description, kinds, modifiers")
    kinds_in = data.get("kinds")
    if not isinstance(kinds_in, dict) or not kinds_in:
        raise ShapeError(f"{source}: kinds: expected a mapping of kind -> 24 weights")
    kinds: dict[str, tuple[float, ...]] = {}
    later: dict[str, dict] = {}
    for kind, value in kinds_in.items():
        if isinstance(value, dict):
            later[kind] = value
        else:
            kinds[kind] = _weights(value, f"{source}: kinds.{kind}")
    for kind, spec in later.items():
        where = f"{source}: kinds.{kind}"
        if set(spec) - {"like", "offset_h"} or spec.get("like") not in kinds:
            raise ShapeError(f"{where}: expected {{like: <a kind with weights: "
                             f"{', '.join(sorted(kinds))}>, offset_h: <whole hours>}}")
        off = spec.get("offset_h", 0)
        if isinstance(off, bool) or not isinstance(off, int) or not -23 <= off <= 23:
            raise ShapeError(f"{where}.offset_h: expected whole hours from -23 to 23, got {off!r}")
        base = kinds[spec["like"]]
        kinds[kind] = tuple(base[(h - off) % 24] for h in range(24))
    modifiers = {}
    for name, spec in (data.get("modifiers") or {}).items():
        where = f"{source}: modifiers.{name}"
        if not isinstance(spec, dict) or set(spec) - {"kinds", "factor", "hours", "description"}:
            raise ShapeError(f"{where}: expected a mapping with kinds, factor, hours, description")
        mk = spec.get("kinds")
        if not isinstance(mk, list) or not mk or any(k not in kinds for k in mk):
            raise ShapeError(f"{where}.kinds: expected a list among {', '.join(sorted(kinds))}, got {mk!r}")
        factor = spec.get("factor", 1.0)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 100:
            raise ShapeError(f"{where}.factor: expected a number above 0 (and below 100), got {factor!r}")
        hours = [1.0] * 24
        for h, m in (spec.get("hours") or {}).items():
            if isinstance(h, bool) or not isinstance(h, int) or not 0 <= h <= 23:
                raise ShapeError(f"{where}.hours: expected hours 0-23 as keys, got {h!r}")
            if isinstance(m, bool) or not isinstance(m, (int, float)) or not 0 <= m < 100:
                raise ShapeError(f"{where}.hours.{h}: expected a multiplier >= 0, got {m!r}")
            hours[h] = float(m)
        modifiers[name] = Modifier(name, tuple(mk), float(factor), tuple(hours), str(spec.get("description", "")))
    return LoadShape(str(data.get("name", source)), kinds, modifiers, str(data.get("description", "")))
