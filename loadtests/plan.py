"""A load plan: which profile, how many transactions per second, for how long, in which
shape, with which mix of channels per market. Built and checked here, before any load starts,
then handed to every Locust process as one JSON file (``$RBENCH_LOAD_PLAN``).

    plan = build_plan("dz-peak-hour", tps=50, duration_s=120, seed=1)
    plan.stages            # [(end_s, tps), ...] from the shared diurnal profile
    plan.tx_weights        # {"web_topup": 0.5, ...}: the Locust user classes' weights
    Path("plan.json").write_text(plan.to_json())

Profiles are ``loadtests/profiles/*.yaml`` (or a path); the channel mix and the accounts each
market's channels use are ``loadtests/mix.yaml``. Every mistake is a :class:`PlanError` naming
the flag or key and what was expected.
"""
from __future__ import annotations

import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from loadtests import shapes

HERE = Path(__file__).parent
PROFILE_DIR = HERE / "profiles"
MIX_FILE = HERE / "mix.yaml"
TX_TYPES = ("web_topup", "ussd_topup", "bill_payment", "mandate_debit", "vend_sts", "vend_card", "kiosk_cash")
MARKETS = ("DZ", "IR", "EG")
ARRIVALS = ("poisson", "constant")
# What a transaction type needs from its market's entry in mix.yaml.
NEEDS = {"bill_payment": "biller", "mandate_debit": "mandate_biller", "vend_sts": "tariff", "vend_card": "tariff"}
DEV_KEYS = {"web": "dev-web-key", "ussd": "dev-ussd-key", "admin": "dev-admin-key", "kiosk": "dev-kiosk-key",
            "wallet": "dev-wallet-key", "bank": "dev-bank-key", "app": "dev-app-key"}


class PlanError(ValueError):
    """Bad input for a load run: one line, naming what was wrong and what was expected."""


@dataclass
class Plan:
    profile: str
    description: str
    tps: float
    duration_s: float
    seed: int
    run_id: str
    markets: dict[str, float]
    mix: dict[str, dict[str, float]]
    market_data: dict[str, dict[str, Any]]
    shape: dict[str, Any]
    stages: list[tuple[float, float]]
    per_user_tps: float
    arrivals: str
    emulators: str
    host: str = ""
    gateway_url: str = ""
    smsc_url: str = ""
    keys: dict[str, str] = field(default_factory=lambda: dict(DEV_KEYS))
    out: str = ""
    provisioned: bool = False       # the users' subscriber ranges exist already: no provisioning calls

    @property
    def tx_types(self) -> list[str]:
        return [t for t in TX_TYPES if self.tx_weights.get(t, 0) > 0]

    @property
    def tx_weights(self) -> dict[str, float]:
        """Share of all offered transactions per type: sum over markets of share x mix."""
        out: dict[str, float] = {}
        for mkt, share in self.markets.items():
            for tx, w in self.mix[mkt].items():
                out[tx] = out.get(tx, 0.0) + share * w
        return {t: out[t] for t in TX_TYPES if out.get(t, 0) > 0}

    def markets_for(self, tx: str) -> dict[str, float]:
        """Which market a user of ``tx`` belongs to, weighted by offered transactions."""
        return {m: s * self.mix[m].get(tx, 0.0) for m, s in self.markets.items() if self.mix[m].get(tx, 0.0) > 0}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        data = json.loads(text)
        data["stages"] = [tuple(s) for s in data["stages"]]
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path) -> Plan:
        return cls.from_json(Path(path).read_text(encoding="utf-8"))


# -- reading -----------------------------------------------------------------------------------
def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def _yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PlanError(f"{what} {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise PlanError(f"{what} {path.name}: not valid YAML ({str(e).splitlines()[0]})") from None


def load_profile(name: str) -> tuple[str, dict]:
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or "/" in name:
        if not p.is_file():
            raise PlanError(f"profile file {name!r} does not exist")
    else:
        p = PROFILE_DIR / f"{name}.yaml"
        if not p.is_file():
            raise PlanError(f"unknown profile {name!r}; expected one of {', '.join(list_profiles())} "
                            "or a path to a .yaml file")
    data = _yaml(p, "profile")
    allowed = {"description", "markets", "mix", "shape", "pace", "emulators"}
    if not isinstance(data, dict) or set(data) - allowed:
        extra = sorted(set(data) - allowed) if isinstance(data, dict) else []
        raise PlanError(f"profile {p.name}: expected a mapping with {', '.join(sorted(allowed))}"
                        + (f"; unknown keys {extra}" if extra else ""))
    return p.stem, data


def load_mix() -> dict[str, dict]:
    data = _yaml(MIX_FILE, "mix file")
    if not isinstance(data, dict):
        raise PlanError(f"{MIX_FILE.name}: expected a mapping of market -> mix and accounts")
    for mkt, entry in data.items():
        if mkt not in MARKETS or not isinstance(entry, dict) or "mix" not in entry:
            raise PlanError(f"{MIX_FILE.name}: {mkt}: expected one of {', '.join(MARKETS)} with a mix")
        check_mix(entry["mix"], f"{MIX_FILE.name}: {mkt}.mix")
    return data


def check_mix(mix: object, where: str) -> dict[str, float]:
    if not isinstance(mix, dict) or not mix:
        raise PlanError(f"{where}: expected a mapping of transaction type -> share")
    for tx, w in mix.items():
        if tx not in TX_TYPES:
            raise PlanError(f"{where}: unknown transaction type {tx!r}; expected one of {', '.join(TX_TYPES)}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0:
            raise PlanError(f"{where}.{tx}: expected a share >= 0, got {w!r}")
    total = sum(mix.values())
    if total <= 0:
        raise PlanError(f"{where}: expected at least one share above 0")
    return {tx: float(w) / total for tx, w in mix.items() if w > 0}


# -- command-line values ----------------------------------------------------------------------
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s?)?$")


def parse_duration(text: str, flag: str = "--duration") -> float:
    """``90``, ``90s``, ``2m``, ``1h30m``, ``١٢٠`` -> seconds > 0."""
    t = str(text).translate(_DIGITS).strip().lower().replace(" ", "")
    m = _DURATION.match(t) if t else None
    if m is None or not any(m.groups()):
        raise PlanError(f"{flag} {text!r}: expected a duration such as 90s, 2m or 1h30m")
    h, mi, s = (float(g) if g else 0.0 for g in m.groups())
    seconds = h * 3600 + mi * 60 + s
    if seconds <= 0:
        raise PlanError(f"{flag} {text!r}: expected a duration above 0")
    return seconds


def parse_rate(text: str, flag: str = "--tps") -> float:
    t = str(text).translate(_DIGITS).strip().lower().removesuffix("/s")
    try:
        value = float(t)
    except ValueError:
        raise PlanError(f"{flag} {text!r}: expected transactions per second, a number such as 50 or 0.5") from None
    if not math.isfinite(value) or value <= 0:
        raise PlanError(f"{flag} {text!r}: expected a number above 0")
    return value


def parse_list(text: str | None, allowed: tuple[str, ...], flag: str) -> list[str] | None:
    if text is None:
        return None
    items = [x.strip() for x in str(text).split(",") if x.strip()]
    bad = [x for x in items if x not in allowed]
    if bad or not items:
        raise PlanError(f"{flag} {text!r}: unknown {'value' if not bad else repr(bad[0])}; expected "
                        f"comma-separated values among {', '.join(allowed)}")
    return items


def keys_from_env(value: str | None) -> dict[str, str]:
    """``RBENCH_API_KEYS`` ("web=KEY,admin=KEY,...") over the development keys."""
    keys = dict(DEV_KEYS)
    for part in (value or "").split(","):
        channel, sep, key = part.strip().partition("=")
        if sep and channel and key:
            keys[channel] = key
        elif part.strip():
            raise PlanError(f"RBENCH_API_KEYS: {part.strip()!r}; expected channel=key pairs separated by commas")
    return keys


# -- building ---------------------------------------------------------------------------------
def build_plan(profile: str, *, tps: float, duration_s: float, seed: int = 0, shape: str | None = None,
               only: list[str] | None = None, markets: list[str] | None = None,
               per_user_tps: float | None = None, arrivals: str | None = None,
               emulators: str | None = None, run_id: str | None = None) -> Plan:
    name, data = load_profile(profile)
    mix_file = load_mix()
    shares = data.get("markets")
    if not isinstance(shares, dict) or not shares:
        raise PlanError(f"profile {name}: markets: expected a mapping of market -> share, e.g. {{DZ: 1.0}}")
    for mkt, s in shares.items():
        if mkt not in mix_file:
            raise PlanError(f"profile {name}: markets: unknown market {mkt!r}; expected one of "
                            f"{', '.join(mix_file)}")
        if isinstance(s, bool) or not isinstance(s, (int, float)) or s < 0:
            raise PlanError(f"profile {name}: markets.{mkt}: expected a share >= 0, got {s!r}")
    if markets is not None:
        unknown = [m for m in markets if m not in shares]
        if unknown:
            raise PlanError(f"--market {unknown[0]}: profile {name} has only {', '.join(shares)}")
        shares = {m: s for m, s in shares.items() if m in markets}
    overrides = data.get("mix") or {}
    if not isinstance(overrides, dict) or set(overrides) - set(shares):
        raise PlanError(f"profile {name}: mix: expected a mapping of market (among {', '.join(shares)}) -> mix")
    mix: dict[str, dict[str, float]] = {}
    for mkt in shares:
        raw = dict(overrides.get(mkt) or mix_file[mkt]["mix"])
        check_mix(raw, f"profile {name}: mix.{mkt}")
        for tx in list(raw):
            need = NEEDS.get(tx)
            if need and not mix_file[mkt].get(need):
                raise PlanError(f"profile {name}: mix.{mkt}.{tx}: {mkt} has no {need} in {MIX_FILE.name}")
        if only is not None:
            raw = {tx: w for tx, w in raw.items() if tx in only}
        mix[mkt] = check_mix(raw, f"mix of {mkt}") if sum(raw.values()) > 0 else {}
    mix = {m: x for m, x in mix.items() if x}
    shares = {m: float(s) for m, s in shares.items() if m in mix and s > 0}
    if not shares:
        what = f"--only {','.join(only)}" if only else f"profile {name}"
        raise PlanError(f"{what}: no transaction type left to run in {', '.join(markets or data['markets'])}")
    total = sum(shares.values())
    shares = {m: s / total for m, s in shares.items()}

    shape_spec = dict(data.get("shape") or {"kind": "soak"})
    if shape is not None and shape != shape_spec.get("kind"):
        shape_spec = {"kind": shape}              # another kind: its own defaults
    try:
        stages = shapes.stages(shape_spec, tps=tps, duration_s=duration_s)
    except shapes.ShapeError as e:
        raise PlanError(str(e)) from None
    pace = data.get("pace") or {}
    if not isinstance(pace, dict) or set(pace) - {"per_user_tps", "arrivals"}:
        raise PlanError(f"profile {name}: pace: expected {{per_user_tps: N, arrivals: poisson|constant}}")
    per_user = per_user_tps if per_user_tps is not None else pace.get("per_user_tps", 0.2)
    if isinstance(per_user, bool) or not isinstance(per_user, (int, float)) or not 0 < per_user <= 100:
        raise PlanError(f"pace: per_user_tps {per_user!r}; expected a rate above 0 (and at most 100) per user")
    arr = arrivals or pace.get("arrivals", "poisson")
    if arr not in ARRIVALS:
        raise PlanError(f"pace: arrivals {arr!r}; expected one of {', '.join(ARRIVALS)}")
    emu = emulators or data.get("emulators", "normal")
    desc = str(data.get("description", ""))
    return Plan(profile=name, description=desc, tps=tps, duration_s=duration_s, seed=seed,
                run_id=run_id or f"{time.time_ns() // 1000:x}", markets=shares, mix=mix,
                market_data={m: {k: v for k, v in mix_file[m].items() if k != "mix"} for m in shares},
                shape=shape_spec, stages=stages, per_user_tps=float(per_user), arrivals=arr, emulators=str(emu))
