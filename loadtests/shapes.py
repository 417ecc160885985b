"""Load shapes as data: a list of stages ``(end_s, tps)`` (the offered transactions per second
until ``end_s`` seconds into the run), and how many paced users carry each stage.

    peak_hour   the diurnal profile (``sim/shapes/<diurnal>.yaml``, the simulator's own file)
                over ``start_hour .. start_hour + hours`` local time, compressed into the run in
                ``steps`` steps (the weight at each step's middle), scaled so the busiest step
                offers ``tps``
    step        ``tps`` reached in ``steps`` equal steps (capacity search)
    spike       ``base`` x tps, a spike to tps for ``length`` of the run from ``at``, then base again
    soak        ``tps`` for the whole run

    stages({"kind": "step", "steps": 4}, tps=40, duration_s=120)
    # [(30.0, 10.0), (60.0, 20.0), (90.0, 30.0), (120.0, 40.0)]

Pure (no Locust, no core): the Locust ``LoadTestShape`` in ``locustfile.py`` and the report
both read the same stages.
"""
from __future__ import annotations

import math

KINDS = ("peak_hour", "step", "spike", "soak")
_KEYS = {"peak_hour": {"diurnal", "kind_of_traffic", "start_hour", "hours", "steps", "calendar"},
         "step": {"steps"}, "spike": {"base", "at", "length"}, "soak": set()}


class ShapeError(ValueError):
    """A shape that cannot be built: names the key and what was expected."""


def _number(spec: dict, key: str, default: float, lo: float, hi: float) -> float:
    v = spec.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise ShapeError(f"shape.{key}: expected a number from {lo:g} to {hi:g}, got {v!r}")
    return float(v)


def _steps(spec: dict, default: int) -> int:
    v = spec.get("steps", default)
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1000:
        raise ShapeError(f"shape.steps: expected a whole number from 1 to 1000, got {v!r}")
    return v


def stages(spec: dict, *, tps: float, duration_s: float) -> list[tuple[float, float]]:
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ShapeError(f"shape {kind!r}: expected one of {', '.join(KINDS)}")
    extra = set(spec) - _KEYS[kind] - {"kind"}
    if extra:
        raise ShapeError(f"shape {kind}: unknown keys {sorted(extra)}; expected "
                         f"{', '.join(sorted(_KEYS[kind])) or 'none'}")
    if not (tps > 0 and duration_s > 0):
        raise ShapeError(f"shape {kind}: expected tps > 0 and a duration > 0, got {tps}, {duration_s}")
    d = float(duration_s)
    if kind == "soak":
        return [(d, float(tps))]
    if kind == "step":
        n = _steps(spec, 5)
        return [(d * (i + 1) / n, tps * (i + 1) / n) for i in range(n)]
    if kind == "spike":
        base = _number(spec, "base", 0.2, 0.0, 1.0)
        at, length = _number(spec, "at", 0.4, 0.0, 1.0), _number(spec, "length", 0.2, 0.01, 1.0)
        if at + length > 1.0:
            raise ShapeError(f"shape spike: at + length is {at + length:g}; expected at most 1 (the whole run)")
        out = [(d * at, tps * base)] if at > 0 else []
        out.append((d * (at + length), float(tps)))
        if at + length < 1.0:
            out.append((d, tps * base))
        return out
    return _peak_hour(spec, tps, d)


def _peak_hour(spec: dict, tps: float, d: float) -> list[tuple[float, float]]:
    from sim.shape import ShapeError as DiurnalError, interpolate, load_shape

    start = _number(spec, "start_hour", 18, 0, 24)
    hours = _number(spec, "hours", 4, 0.25, 24)
    n = _steps(spec, 8)
    calendar = spec.get("calendar") or []
    if not isinstance(calendar, list) or not all(isinstance(c, str) for c in calendar):
        raise ShapeError(f"shape.calendar: expected a list of calendar events, got {calendar!r}")
    try:
        diurnal = load_shape(str(spec.get("diurnal", "default")))
        hourly = diurnal.hourly(str(spec.get("kind_of_traffic", "topup")), tuple(calendar))
    except DiurnalError as e:
        raise ShapeError(f"shape peak_hour: {e}") from None
    weights = [interpolate(hourly, start + hours * (i + 0.5) / n) for i in range(n)]
    top = max(weights)
    if top <= 0:
        raise ShapeError(f"shape peak_hour: the diurnal weight is 0 all through {start:g}h + {hours:g}h")
    return [(d * (i + 1) / n, tps * w / top) for i, w in enumerate(weights)]


def users_for(tps: float, per_user_tps: float) -> int:
    """Paced users that offer ``tps``: each starts a transaction every 1/rate s on average."""
    return 0 if tps <= 0 else max(1, math.ceil(tps / per_user_tps - 1e-9))


def stage_at(table: list[tuple[float, float]], t: float) -> int | None:
    """Index of the stage running ``t`` seconds into the run; None once the run is over."""
    for i, (end, _) in enumerate(table):
        if t < end:
            return i
    return None


def per_user_rate(table: list[tuple[float, float]], per_user_tps: float, t: float) -> float:
    """The pace that makes a stage's whole users offer exactly its tps (users are rounded up)."""
    i = stage_at(table, t)
    i = len(table) - 1 if i is None else i
    tps = table[i][1]
    users = users_for(tps, per_user_tps)
    return tps / users if users else per_user_tps


def tick(table: list[tuple[float, float]], per_user_tps: float, t: float) -> tuple[int, float] | None:
    """What Locust's ``LoadTestShape.tick`` returns at ``t``: (users, spawn rate), or None to stop.
    Users arrive within about a second of a stage starting."""
    i = stage_at(table, t)
    if i is None:
        return None
    users = users_for(table[i][1], per_user_tps)
    return users, float(max(1, users))
