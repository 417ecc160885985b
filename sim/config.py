"""Run configuration: a profile (``sim/profiles/*.yaml``) over the defaults (``_base.yaml``),
then the run's arguments and a sweep's overrides, validated before anything runs.

    cfg = load_config("dz-peak-hour", subscribers=20_000, seed=7, faults="smsc-slowdown",
                      overrides={"smsc.throughput_per_s": 20, "otp.validity_s": 300})
    list_profiles()      # ['dz-peak-hour', 'dz-ramadan-last-night', ...]
    override_keys(cfg)   # every dotted key a sweep may set, for this run's markets

Overrides are dotted keys of the resolved profile; short forms are accepted when they are
unambiguous: ``smsc.*``/``ussd.*``/``gateways.*`` mean ``network.*``, and a market key without
its market (``topup.per_day``) sets it in every market of the run. Anything invalid raises
:class:`SimConfigError` naming the key, the value and what is allowed.
"""
from __future__ import annotations

import copy
import difflib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
import yaml

from sim.faults import FaultSchedule, load_faults
from sim.schema import Keys, MapOf, Num, SimConfigError, Text, fail
from sim.schema_market import market_context, market_spec, network_spec, human_spec, MARKETS
from sim.shape import ShapeError, load_shape

PROFILE_DIR = Path(__file__).parent / "profiles"
BASE = PROFILE_DIR / "_base.yaml"
RUN_ARGS = ("subscribers", "hours", "seed", "start", "db")

__all__ = ["SimConfig", "SimConfigError", "list_profiles", "load_config", "override_keys"]


@dataclass(frozen=True)
class SimConfig:
    """A validated run: every money amount in minor units, distributions as (p50, p95)."""

    profile: str
    description: str
    seed: int
    subscribers: int
    hours: float
    start: float                    # UTC epoch seconds of the first simulated instant
    drain_s: float
    shape: str
    calendar: tuple[str, ...]
    markets: dict[str, dict]        # code -> market block (share, topup, bills, meters...)
    human: dict
    network: dict
    otp: dict
    sweep: dict
    faults: FaultSchedule | None = None
    db: str | None = None           # None: a fresh SQLite file in a temporary folder
    overrides: dict = field(default_factory=dict)

    @property
    def start_iso(self) -> str:
        return datetime.fromtimestamp(self.start, timezone.utc).isoformat().replace("+00:00", "Z")

    @property
    def duration_s(self) -> float:
        return self.hours * 3600.0

    def market_counts(self) -> dict[str, int]:
        """Subscribers per market: shares of ``subscribers``, rounded, summing exactly."""
        total = sum(m["share"] for m in self.markets.values())
        codes = sorted(self.markets)
        counts, given = {}, 0
        for code in codes[:-1]:
            counts[code] = int(round(self.subscribers * self.markets[code]["share"] / total))
            given += counts[code]
        counts[codes[-1]] = self.subscribers - given
        return counts

    def to_dict(self) -> dict:
        """JSON-able and deterministic: what RunResult.config carries."""
        return json.loads(json.dumps({
            "profile": self.profile, "description": self.description, "markets": sorted(self.markets),
            "subscribers": self.subscribers, "subscribers_per_market": self.market_counts(),
            "hours": self.hours, "seed": self.seed, "start": self.start_iso,
            "faults": self.faults.name if self.faults else None,
            "db": _masked(self.db) if self.db else "sqlite (temporary file)",
            "overrides": self.overrides, "shape": self.shape, "calendar": list(self.calendar),
            "drain_s": self.drain_s, "params": {"markets": self.markets, "human": self.human,
                                                "network": self.network, "otp": self.otp, "sweep": self.sweep},
            "fault_schedule": self.faults.to_dict() if self.faults else None,
        }, sort_keys=True))


def _masked(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url
    return url


# -- profiles ----------------------------------------------------------------------------------
def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml") if not p.stem.startswith("_"))


def profile_path(profile: str) -> Path:
    if not isinstance(profile, str) or not profile.strip():
        raise SimConfigError(f"profile: got {profile!r}; expected one of {', '.join(list_profiles())} or a path")
    p = Path(profile)
    if p.suffix in (".yaml", ".yml") or "/" in profile:
        if not p.is_file():
            raise SimConfigError(f"profile: file {profile!r} does not exist")
        return p
    p = PROFILE_DIR / f"{profile}.yaml"
    if profile.startswith("_") or not p.is_file():
        close = difflib.get_close_matches(profile, list_profiles(), n=1)
        raise SimConfigError(f"profile: unknown profile {profile!r}"
                             + (f" (did you mean {close[0]!r}?)" if close else "")
                             + f"; expected one of {', '.join(list_profiles())} or a path to a .yaml file")
    return p


def read_yaml(path: Path, what: str) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise SimConfigError(f"{what} {path.name}: not valid YAML: {e}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SimConfigError(f"{what} {path.name}: expected a mapping of keys, got {type(data).__name__}")
    return data


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def resolve_markets(raw: dict, defaults: dict, where: str) -> None:
    """Each market the profile names gets the defaults of that market under its own keys."""
    given = raw.get("markets")
    if not isinstance(given, dict) or not given:
        raise SimConfigError(f"{where}: markets: got {given!r}; expected a mapping of market codes "
                             f"({', '.join(MARKETS)}) to their settings, e.g. {{DZ: {{share: 1}}}}")
    out = {}
    for code, block in given.items():
        if code not in MARKETS:
            raise SimConfigError(f"{where}: markets.{code}: unknown market; expected one of {', '.join(MARKETS)}")
        if block is not None and not isinstance(block, dict):
            raise SimConfigError(f"{where}: markets.{code}: expected a mapping of settings (or {{}})")
        out[code] = deep_merge(defaults.get(code, {}), block or {})
    raw["markets"] = out


def top_spec() -> Keys:
    return Keys({
        "description": Text(hint="a sentence"),
        "subscribers": Num(1, 50_000_000, integer=True),
        "hours": Num(0, 24 * 14, lo_open=True),
        "start": Text(hint="an ISO time with its UTC offset, e.g. 2026-03-10T20:00:00+01:00"),
        "drain_s": Num(0, 86_400),
        "shape": Text(hint="a shape name in sim/shapes or a path"),
        "otp": Keys({"validity_s": Num(10, 3600, integer=True), "max_attempts": Num(1, 10, integer=True),
                     "max_resends": Num(0, 10, integer=True)}, optional=("validity_s", "max_attempts", "max_resends")),
        "sweep": Keys({"every_s": Num(1, 86_400), "older_than_s": Num(0, 86_400)}),
        "human": human_spec(),
        "network": network_spec(),
        "markets": MapOf(lambda c: [m for m in MARKETS if m in c["run_markets"]], market_spec(),
                         ctx_for=market_context),
    })


def validate(raw: dict, where: str) -> dict:
    try:
        shape = load_shape(raw.get("shape", "default"))
    except ShapeError as e:
        raise SimConfigError(f"{where}: shape: {e}") from None
    cal = raw.get("calendar", [])
    if not isinstance(cal, list) or any(c not in shape.modifiers for c in cal):
        raise fail(f"{where}: calendar", cal, "a list among " + ", ".join(sorted(shape.modifiers)))
    spec = top_spec()
    body = {k: v for k, v in raw.items() if k != "calendar"}
    ctx = {"run_markets": list(raw["markets"]), "gateways": _gateways(raw["markets"])}
    try:
        out = spec.check(body, "", ctx)
    except SimConfigError as e:
        raise SimConfigError(f"{where}: {e}") from None
    out["calendar"] = tuple(cal)
    return out


def _gateways(markets: dict) -> list[str]:
    from core.market import load_markets
    names: list[str] = []
    for code in markets:
        for g in load_markets()[code].gateways:
            if g not in names:
                names.append(g)
    return names


def parse_start(text: str, where: str) -> float:
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        t = None
    if t is None or t.tzinfo is None:
        raise fail(f"{where}: start", text, "an ISO time with its UTC offset, e.g. 2026-03-10T20:00:00+01:00")
    return t.timestamp()


# -- the entry point ---------------------------------------------------------------------------
def load_config(profile: str, *, subscribers: int | None = None, hours: float | None = None, seed: int = 0,
                faults: str | None = None, db: str | None = None, overrides: dict | None = None) -> SimConfig:
    path = profile_path(profile)
    name = path.stem
    where = f"profile {name}"
    base = read_yaml(BASE, "profile")
    defaults = base.pop("market_defaults", {})
    raw = deep_merge(base, read_yaml(path, "profile"))
    if "market_defaults" in raw:
        raise SimConfigError(f"{where}: market_defaults: only _base.yaml holds them; set markets.<code> instead")
    resolve_markets(raw, defaults, where)
    if subscribers is not None:
        raw["subscribers"] = subscribers
    if hours is not None:
        raw["hours"] = hours
    overrides = dict(overrides or {})
    if "seed" in overrides:
        seed = overrides.pop("seed")
    for k in ("subscribers", "hours", "start"):
        if k in overrides:
            raw[k] = overrides.pop(k)
    from sim.overrides import apply_overrides
    applied = apply_overrides(raw, overrides, where)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise fail("seed", seed, "a whole number >= 0")
    if db is not None and not (isinstance(db, str) and db.startswith(("sqlite:", "postgresql:", "postgres:"))):
        raise fail("db", db, "sqlite:///PATH or postgresql://user@host/db (or nothing: a temporary SQLite file)")
    v = validate(raw, where)
    start = parse_start(v["start"], where)
    total = sum(m["share"] for m in v["markets"].values())
    for code, m in v["markets"].items():
        if round(v["subscribers"] * m["share"] / total) < 1:
            raise SimConfigError(f"{where}: markets.{code}.share: {m['share']:g} of {v['subscribers']} subscribers "
                                 "leaves this market empty; expected at least 1 subscriber per market")
    schedule = load_faults(faults, v["hours"], _gateways(v["markets"])) if faults else None
    return SimConfig(profile=name, description=v["description"], seed=seed, subscribers=v["subscribers"],
                     hours=v["hours"], start=start, drain_s=v["drain_s"], shape=v["shape"],
                     calendar=v["calendar"], markets=v["markets"], human=v["human"], network=v["network"],
                     otp=v["otp"], sweep=v["sweep"], faults=schedule, db=db, overrides=applied)


def override_keys(config: SimConfig | None = None, markets: list[str] | None = None) -> list[str]:
    """Every dotted key an override may set (for the config's markets, or the ones given)."""
    codes = markets or (sorted(config.markets) if config else list(MARKETS))
    ctx = {"run_markets": codes, "gateways": _gateways({c: None for c in codes})}
    return ["seed"] + top_spec().keys("", ctx) + ["calendar"]
