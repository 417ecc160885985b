"""What a JSON Schema cannot say about a scenario, checked before it runs.

Templates refer to names set earlier (variables, given names, captures of earlier steps) and to
fields those names have; ``${text:...}``, ``${faker:...}`` and ``${market.*}`` name things that
exist; ``card:`` and ``meter:`` arguments name what ``given`` declares; regular expressions
compile; durations are durations. Each problem is kept with its YAML node, so it has a line.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

from core.market import TEXT_KEYS, load_markets
from scenarios.schema import Problem, suggest
from scenarios.values import (
    CONVERSIONS,
    FAKER_OURS,
    FAKER_SIMPLE,
    MARKET_FACTS,
    TEMPLATE,
    parse_duration,
    references,
)

# Which namespace of ``given`` a step argument names.
BANK_CARD_ACTIONS = ("subscriber.card", "subscriber.gateway_page", "bank.balance")
# The fields a given name has in templates (``${gold.pan}``), as ``StoryWorld.setup`` sets them.
GIVEN_FIELDS = {"bank": ("pan", "phone", "holder", "cvc2", "pin2", "expiry", "expiry_mmyy"),
                "utility": ("serial",), "meter": ("number", "kind", "tariff")}


class Checks:
    """The problems found in one file, each with its node (hence its line)."""

    def __init__(self, source: str) -> None:
        self.source, self.problems = source, []

    def bad(self, node: yaml.Node, path: str, message: str) -> None:
        self.problems.append(Problem(node, path, message))


class StaticCheck:
    """Templates checked before any run: names set earlier, known texts, facts and fakers."""

    def __init__(self, markets: tuple[str, ...], checks: Checks,
                 fields: dict[str, tuple[str, tuple[str, ...]]] | None = None) -> None:
        self.markets, self.checks, self.fields = markets, checks, fields or {}

    def walk(self, node: yaml.Node, value: Any, where: str, names: set[str]) -> None:
        for name in references(value):
            if name not in names:
                hint = suggest(name, sorted(names))
                self.checks.bad(node, where, f"${{{name}}} is used before anything sets it{hint}; expected a "
                                             "variable (vars:), a given name or an earlier capture")
        for expr in expressions(value):
            message = self.expression(expr)
            if message:
                self.checks.bad(node, where, message)

    def expression(self, expr: str) -> str | None:
        fn, colon, rest = expr.partition(":")
        head, *path = (rest if colon and fn in CONVERSIONS else expr).split(".")
        if head in self.fields and path:
            ns, known = self.fields[head]
            if path[0] not in known:
                what = {"bank": "a bank card", "utility": "a utility card", "meter": "a meter"}[ns]
                return (f"${{{expr}}}: {what} has no field {path[0]!r}{suggest(path[0], list(known))}; "
                        f"expected one of {', '.join(known)}")
        if expr.startswith("faker:"):
            name = expr[6:].split(":")[0]
            if name not in FAKER_SIMPLE + FAKER_OURS:
                known = ", ".join("faker:" + n for n in FAKER_SIMPLE + FAKER_OURS)
                return f"${{{expr}}}: unknown; expected one of {known}"
        elif expr.startswith("text:"):
            parts = expr[5:].split(":")
            if parts[-1] not in TEXT_KEYS or len(parts) > 2:
                return (f"${{{expr}}}: unknown text{suggest(parts[-1], sorted(TEXT_KEYS))}; expected text:KEY or "
                        f"text:LANGUAGE:KEY with a key of the market profiles")
            if len(parts) == 2:
                markets = load_markets()
                missing = [m for m in self.markets if parts[0] not in markets[m].languages]
                if missing:
                    return f"${{{expr}}}: {', '.join(missing)} has no language {parts[0]!r}"
        elif expr.startswith("market.") and expr[7:] not in MARKET_FACTS:
            return (f"${{{expr}}}: unknown market fact{suggest(expr[7:], sorted(MARKET_FACTS))}; expected one of "
                    f"{', '.join(sorted(MARKET_FACTS))}")
        return None

    def regex(self, node: yaml.Node, where: str, pattern: Any) -> None:
        if isinstance(pattern, str) and "${" not in pattern:
            try:
                re.compile(pattern)
            except re.error as e:
                self.checks.bad(node, where, f"{pattern!r} is not a regular expression ({e})")


def expressions(value: Any) -> list[str]:
    if isinstance(value, str):
        return [m.group(1).strip() for m in TEMPLATE.finditer(value)]
    if isinstance(value, list):
        return [e for v in value for e in expressions(v)]
    if isinstance(value, dict):
        return [e for v in value.values() for e in expressions(v)]
    return []


def names_used(action: str, args: Any, node: yaml.Node, namespaces: dict[str, set[str]], where: str,
                checks: Checks) -> None:
    if not isinstance(args, dict):
        args_map = {("card" if action in ("card_reader.insert", "bank.balance") else ""): args}
    else:
        args_map = args
    for key, value in args_map.items():
        if key not in ("card", "meter") or not isinstance(value, str) or "${" in value:
            continue
        ns = "meter" if key == "meter" else "bank" if action in BANK_CARD_ACTIONS else "utility"
        if value not in namespaces[ns]:
            section = {"meter": "given.meters", "bank": "given.cards", "utility": "given.utility_cards"}[ns]
            checks.bad(node, f"{where}.{action}.{key}", f"{value!r} is not declared under {section}"
                                                       f"{suggest(value, sorted(namespaces[ns]))}")


def durations(raw: dict, nodes: dict, where: str, checks: Checks) -> None:
    for key in ("within", "clock.advance"):
        value = raw.get(key)
        if value is None or (isinstance(value, str) and "${" in value):
            continue
        try:
            parse_duration(value)
        except ValueError as e:
            checks.bad(nodes[key][1], f"{where}.{key}", str(e))


def regexes(expect: dict, nodes: dict, where: str, static: StaticCheck) -> None:
    if "expect" not in nodes:
        return
    for knode, vnode in nodes["expect"][1].value:
        matcher = expect.get(knode.value)
        for pattern in patterns(matcher):
            static.regex(vnode, f"{where}.expect.{knode.value}", pattern)


def patterns(matcher: Any) -> list[str]:
    if not isinstance(matcher, dict):
        return []
    out = [matcher[k] for k in ("matches", "not_matches") if isinstance(matcher.get(k), str)]
    for k in ("len", "any", "all", "none", "count"):
        out += patterns(matcher.get(k))
    return out
