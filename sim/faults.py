"""Fault schedules as data (``sim/faults/*.yaml``): what goes wrong, when, for how long.

    faults:
      - {kind: gateway_outage, gateways: [satim], start_min: 20, duration_min: 10}
      - {kind: smsc_slowdown, start_min: 10, duration_min: 25, throughput_factor: 0.05, delay_factor: 6}
      - {kind: ussd_overload, start_min: 5, duration_min: 30, capacity_factor: 0.02, latency_factor: 8}
      - {kind: core_restart, at_min: 25, downtime_s: 90}

Times are minutes after the run's start, so one file fits every profile; a fault must start
inside the run (a window running past its end is cut there). The network models ask the
schedule what holds at a moment (``smsc_at``, ``ussd_at``); gateway outages become the
emulated gateways' own outage windows; core restarts are done by the world.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sim.schema import Keys, ListOf, Num, SimConfigError, Text, prob

FAULT_DIR = Path(__file__).parent / "faults"
_WINDOW = {"start_min": Num(0), "duration_min": Num(0, lo_open=True)}
KINDS: dict[str, Keys] = {
    "gateway_outage": Keys({"kind": Text(), "gateways": ListOf(Text(hint="a gateway name or 'all'"), 1), **_WINDOW}),
    "smsc_slowdown": Keys({"kind": Text(), **_WINDOW, "throughput_factor": Num(0, 1, lo_open=True),
                           "delay_factor": Num(0, 1000, lo_open=True), "loss_rate": prob()},
                          optional=("loss_rate",)),
    "ussd_overload": Keys({"kind": Text(), **_WINDOW, "capacity_factor": Num(0, 1, lo_open=True),
                           "latency_factor": Num(0, 1000, lo_open=True), "drop_rate": prob()},
                          optional=("drop_rate",)),
    "core_restart": Keys({"kind": Text(), "at_min": Num(0), "downtime_s": Num(0, 86_400, lo_open=True)}),
}


@dataclass(frozen=True)
class Fault:
    kind: str
    start_s: float
    end_s: float
    params: dict = field(default_factory=dict)

    def active(self, t: float) -> bool:
        return self.start_s <= t < self.end_s


@dataclass(frozen=True)
class FaultSchedule:
    name: str
    description: str
    faults: tuple[Fault, ...]

    def of(self, kind: str) -> list[Fault]:
        return [f for f in self.faults if f.kind == kind]

    def smsc_at(self, t: float) -> tuple[float, float, float | None]:
        """(throughput factor, delay factor, loss rate or None) holding at run time ``t``."""
        thr, delay, loss = 1.0, 1.0, None
        for f in self.faults:
            if f.kind == "smsc_slowdown" and f.active(t):
                thr *= f.params["throughput_factor"]
                delay *= f.params["delay_factor"]
                loss = f.params.get("loss_rate", loss)
        return thr, delay, loss

    def ussd_at(self, t: float) -> tuple[float, float, float | None]:
        """(capacity factor, latency factor, drop rate or None) holding at run time ``t``."""
        cap, lat, drop = 1.0, 1.0, None
        for f in self.faults:
            if f.kind == "ussd_overload" and f.active(t):
                cap *= f.params["capacity_factor"]
                lat *= f.params["latency_factor"]
                drop = f.params.get("drop_rate", drop)
        return cap, lat, drop

    def outages(self, gateway: str) -> list[tuple[float, float]]:
        return [(f.start_s, f.end_s) for f in self.of("gateway_outage")
                if "all" in f.params["gateways"] or gateway in f.params["gateways"]]

    def restarts(self) -> list[tuple[float, float]]:
        """(at, downtime) of each core restart, in run seconds."""
        return [(f.start_s, f.end_s - f.start_s) for f in self.of("core_restart")]

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description,
                "faults": [{"kind": f.kind, "start_s": f.start_s, "end_s": f.end_s, **f.params} for f in self.faults]}


def list_faults() -> list[str]:
    return sorted(p.stem for p in FAULT_DIR.glob("*.yaml"))


def fault_path(name: str) -> Path:
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or "/" in name:
        if not p.is_file():
            raise SimConfigError(f"faults: file {name!r} does not exist")
        return p
    p = FAULT_DIR / f"{name}.yaml"
    if not p.is_file():
        raise SimConfigError(f"faults: unknown fault file {name!r}; expected one of {', '.join(list_faults())} "
                             "or a path to a .yaml file")
    return p


def load_faults(name: str, hours: float, gateways: list[str]) -> FaultSchedule:
    """Read and validate a fault file for a run of ``hours`` whose markets have ``gateways``."""
    path = fault_path(name)
    where = f"fault file {path.stem}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SimConfigError(f"{where}: not valid YAML: {e}") from None
    if not isinstance(data, dict) or set(data) - {"name", "description", "faults"}:
        raise SimConfigError(f"{where}: expected a mapping with name, description and faults")
    items = data.get("faults")
    if not isinstance(items, list) or not items:
        raise SimConfigError(f"{where}: faults: expected a list of at least one fault")
    out = []
    run_min = hours * 60.0
    for i, item in enumerate(items):
        at = f"{where}: faults[{i}]"
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind not in KINDS:
            raise SimConfigError(f"{at}.kind: got {kind!r}; expected one of {', '.join(KINDS)}")
        v = KINDS[kind].check(item, at, {})
        start = v.get("start_min", v.get("at_min"))
        if start >= run_min:
            raise SimConfigError(f"{at}: starts at minute {start:g}, after the run ends (minute {run_min:g}); "
                                 "expected a start inside the run")
        if kind == "core_restart":
            end_s = start * 60 + v["downtime_s"]
        else:
            end_s = min(start + v["duration_min"], run_min) * 60
        if kind == "gateway_outage":
            for g in v["gateways"]:
                if g != "all" and g not in gateways:
                    raise SimConfigError(f"{at}.gateways: got {g!r}; expected 'all' or one of "
                                         + ", ".join(gateways) + " (the gateways of this run's markets)")
        params = {k: val for k, val in v.items() if k not in ("kind", "start_min", "duration_min", "at_min",
                                                               "downtime_s")}
        out.append(Fault(kind, start * 60.0, end_s, params))
    return FaultSchedule(str(data.get("name", path.stem)), str(data.get("description", "")), tuple(out))
