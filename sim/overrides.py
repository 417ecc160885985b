"""Dotted-key overrides of a resolved profile: what a sweep varies between runs.

    apply_overrides(raw, {"smsc.throughput_per_s": 20, "topup.per_day": 0.3}, "profile x")

A key is taken as written if the profile has it; else ``network.<key>`` (``smsc.*``,
``ussd.*``, ``gateways.*``); else ``markets.<code>.<key>`` in every market of the run. The
values are validated afterwards with the rest of the profile, so a bad value names its key.
"""
from __future__ import annotations

import difflib


def known_keys(markets: list[str]) -> set[str]:
    from sim.config import override_keys
    keys = set(override_keys(markets=markets))
    # a distribution, a mix of weights or a whole block may also be replaced at once
    for k in list(keys):
        parts = k.split(".")
        keys |= {".".join(parts[:n]) for n in range(1, len(parts))}
    return keys


def resolve_key(key: str, markets: list[str], known: set[str]) -> list[str]:
    if key in known:
        return [key]
    if f"network.{key}" in known:
        return [f"network.{key}"]
    per_market = [f"markets.{m}.{key}" for m in markets]
    if all(k in known for k in per_market):
        return per_market
    return []


def apply_overrides(raw: dict, overrides: dict, where: str) -> dict:
    """Set each override in ``raw`` (in place); returns {resolved key: value}, sorted."""
    from sim.schema import SimConfigError
    markets = sorted(raw["markets"])
    known = known_keys(markets)
    applied: dict = {}
    for key, value in overrides.items():
        if not isinstance(key, str) or not key:
            raise SimConfigError(f"{where}: override {key!r}: expected a dotted key such as 'smsc.throughput_per_s'")
        targets = resolve_key(key, markets, known)
        if not targets:
            close = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SimConfigError(f"{where}: override {key!r}: unknown key{hint}; expected a key of the profile "
                                 f"such as network.smsc.throughput_per_s, otp.validity_s, markets."
                                 f"{markets[0]}.topup.per_day (sim.config.override_keys() lists them all)")
        for target in targets:
            node = raw
            parts = target.split(".")
            for i, part in enumerate(parts[:-1]):
                if node.get(part) is None:
                    if part in node and node[part] is None:
                        raise SimConfigError(f"{where}: override {key!r}: {'.'.join(parts[:i + 1])} is null "
                                             "in this profile (nothing there to change)")
                    node[part] = {}
                node = node[part]
            node[parts[-1]] = value
            applied[target] = value
    return dict(sorted(applied.items()))
