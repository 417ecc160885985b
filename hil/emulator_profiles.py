"""Profiles of the network-side emulators as data (``hil/emulator_profiles.yaml``): how the
gateway service answers (latency, declines, timeouts, callbacks) and how the SMSC service
delivers (delay, loss, licence throughput).

    p = emulator_profile("normal")          # or a path to a YAML file holding one profile
    p.gateway                                # core.adapters.gateway_profile.GatewayProfile
    p.smsc.delay                             # core.adapters.smsc.DeliveryDelay
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.adapters.gateway_profile import GatewayProfile, Latency, lognormal
from core.adapters.smsc import DeliveryDelay

PROFILES_FILE = Path(__file__).with_name("emulator_profiles.yaml")


class EmulatorProfileError(ValueError):
    """A profile name or file that cannot be used: says which key and what was expected."""


@dataclass(frozen=True)
class SmscProfile:
    delay: DeliveryDelay = DeliveryDelay.none()
    loss_rate: float = 0.0
    throughput_per_s: float | None = None


@dataclass(frozen=True)
class EmulatorProfile:
    name: str
    gateway: GatewayProfile
    callbacks: bool
    smsc: SmscProfile
    description: str = ""


def profile_names() -> list[str]:
    return sorted(_read(PROFILES_FILE))


def emulator_profile(name_or_path: str) -> EmulatorProfile:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or "/" in name_or_path:
        if not p.is_file():
            raise EmulatorProfileError(f"emulator profile file {name_or_path!r} does not exist")
        return parse_profile(_read(p), p.stem, p.name)
    profiles = _read(PROFILES_FILE)
    if name_or_path not in profiles:
        raise EmulatorProfileError(f"unknown emulator profile {name_or_path!r}; expected one of "
                                   f"{', '.join(sorted(profiles))} or a path to a .yaml file")
    return parse_profile(profiles[name_or_path], name_or_path, f"{PROFILES_FILE.name}:{name_or_path}")


def _read(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise EmulatorProfileError(f"{path.name}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise EmulatorProfileError(f"{path.name}: expected a mapping")
    return data


def _rate(spec: dict, key: str, where: str) -> float:
    v = spec.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise EmulatorProfileError(f"{where}.{key}: expected a rate from 0 to 1, got {v!r}")
    return float(v)


def _percentiles(spec: dict, key: str, where: str) -> tuple[float, float]:
    v = spec.get(key, {"p50": 0, "p95": 0})
    if not isinstance(v, dict) or set(v) != {"p50", "p95"}:
        raise EmulatorProfileError(f"{where}.{key}: expected {{p50: seconds, p95: seconds}}, got {v!r}")
    p50, p95 = v["p50"], v["p95"]
    for x in (p50, p95):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
            raise EmulatorProfileError(f"{where}.{key}: expected seconds >= 0, got {v!r}")
    if p95 < p50 or (p50 == 0 and p95 > 0):
        raise EmulatorProfileError(f"{where}.{key}: expected 0 < p50 <= p95 (or both 0), got {v!r}")
    return float(p50), float(p95)


def _latency(p50: float, p95: float) -> Latency:
    return Latency(p50) if p95 == p50 else lognormal(p50, p95, cap_s=p95 * 5)


def parse_profile(data: object, name: str, where: str) -> EmulatorProfile:
    if not isinstance(data, dict) or set(data) - {"description", "gateway", "smsc"}:
        raise EmulatorProfileError(f"{where}: expected a mapping with description, gateway and smsc")
    gw = data.get("gateway") or {}
    sm = data.get("smsc") or {}
    allowed_gw = {"answer_s", "callback_s", "decline_rate", "timeout_rate", "callback_loss_rate", "callbacks"}
    if not isinstance(gw, dict) or set(gw) - allowed_gw:
        raise EmulatorProfileError(f"{where}.gateway: expected keys among {', '.join(sorted(allowed_gw))}")
    if not isinstance(sm, dict) or set(sm) - {"delay_s", "loss_rate", "throughput_per_s"}:
        raise EmulatorProfileError(f"{where}.smsc: expected keys among delay_s, loss_rate, throughput_per_s")
    callbacks = gw.get("callbacks", True)
    if not isinstance(callbacks, bool):
        raise EmulatorProfileError(f"{where}.gateway.callbacks: expected true or false, got {callbacks!r}")
    gateway = GatewayProfile(
        answer_latency=_latency(*_percentiles(gw, "answer_s", f"{where}.gateway")),
        callback_latency=_latency(*_percentiles(gw, "callback_s", f"{where}.gateway")),
        decline_rate=_rate(gw, "decline_rate", f"{where}.gateway"),
        timeout_rate=_rate(gw, "timeout_rate", f"{where}.gateway"),
        callback_loss_rate=_rate(gw, "callback_loss_rate", f"{where}.gateway"))
    p50, p95 = _percentiles(sm, "delay_s", f"{where}.smsc")
    delay = DeliveryDelay.fixed(p50) if p95 == p50 else DeliveryDelay(p50, math.log(p95 / p50) / 1.6448536)
    tput = sm.get("throughput_per_s")
    if tput is not None and (isinstance(tput, bool) or not isinstance(tput, (int, float)) or tput <= 0):
        raise EmulatorProfileError(f"{where}.smsc.throughput_per_s: expected parts per second > 0 or null, "
                                   f"got {tput!r}")
    return EmulatorProfile(name, gateway, callbacks,
                           SmscProfile(delay, _rate(sm, "loss_rate", f"{where}.smsc"),
                                       None if tput is None else float(tput)),
                           str(data.get("description", "")))
