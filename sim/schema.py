"""Small validators for the simulator's YAML files: each names the key, the value and what
was allowed, so a typo in a profile or a sweep's override is a one-line message, not a crash
halfway through a run.

A spec's ``check(value, where, ctx)`` returns the normalised value (money in minor units,
distributions as (p50, p95) pairs) or raises :class:`SimConfigError`. ``ctx`` carries what a
check depends on (the market's currency, the gateways that exist).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from core.errors import InvalidInput
from core.money import Money


class SimConfigError(ValueError):
    """A profile, fault file, argument or override that cannot run: says where and what is allowed."""


def fail(where: str, got: object, expected: str) -> SimConfigError:
    return SimConfigError(f"{where}: got {got!r}; expected {expected}")


class Spec:
    def check(self, value: Any, where: str, ctx: dict) -> Any:
        raise NotImplementedError

    def keys(self, prefix: str, ctx: dict) -> list[str]:
        """The dotted keys under this spec (for override listings)."""
        return [prefix]


@dataclass
class Num(Spec):
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    integer: bool = False
    nullable: bool = False

    def check(self, value: Any, where: str, ctx: dict) -> Any:
        if value is None and self.nullable:
            return None
        if isinstance(value, str):
            try:
                value = float(value) if not self.integer else int(value)
            except ValueError:
                pass
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
        if ok and self.integer and isinstance(value, float):
            ok = value.is_integer()
            value = int(value) if ok else value
        if ok and self.lo is not None:
            ok = value > self.lo if self.lo_open else value >= self.lo
        if ok and self.hi is not None:
            ok = value <= self.hi
        if not ok:
            raise fail(where, value, self.describe())
        return int(value) if self.integer else float(value)

    def describe(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        lo = "" if self.lo is None else f" {'>' if self.lo_open else '>='} {_num(self.lo)}"
        hi = "" if self.hi is None else f"{' and' if lo else ''} <= {_num(self.hi)}"
        return kind + lo + hi + (" (or null)" if self.nullable else "")


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def prob() -> Num:
    return Num(0.0, 1.0)


@dataclass
class Text(Spec):
    choices: Callable[[dict], list[str]] | None = None
    pattern: str | None = None
    hint: str = "text"
    nullable: bool = False

    def check(self, value: Any, where: str, ctx: dict) -> Any:
        if value is None and self.nullable:
            return None
        if not isinstance(value, str):
            raise fail(where, value, self.hint)
        if self.choices is not None and value not in (allowed := self.choices(ctx)):
            raise fail(where, value, "one of " + (", ".join(allowed) or "(none here)"))
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise fail(where, value, self.hint)
        return value


@dataclass
class Amount(Spec):
    """Money in major units of the market's currency ("150", 2.5) -> minor units (int > 0)."""

    def check(self, value: Any, where: str, ctx: dict) -> int:
        cur = ctx["currency"]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise fail(where, value, f"an amount in {cur} such as \"150\"")
        text = value if isinstance(value, str) else repr(value)
        try:
            return Money.parse(text, cur, field=where).minor
        except InvalidInput as e:
            raise SimConfigError(f"{where}: got {value!r}; expected a positive amount in {cur} "
                                 f"({e.message.split(': ', 1)[-1]})") from None


@dataclass
class Dist(Spec):
    """A lognormal by two percentiles {p50, p95}; money in major units when ``money``."""

    money: bool = False

    def check(self, value: Any, where: str, ctx: dict) -> tuple[float, float]:
        if not isinstance(value, dict) or set(value) != {"p50", "p95"}:
            raise fail(where, value, "{p50: ..., p95: ...} (two percentiles of a lognormal)")
        inner = Amount() if self.money else Num(0.0, lo_open=True)
        p50 = inner.check(value["p50"], f"{where}.p50", ctx)
        p95 = inner.check(value["p95"], f"{where}.p95", ctx)
        if p95 < p50:
            raise fail(f"{where}.p95", value["p95"], f"a value >= p50 ({value['p50']})")
        return (float(p50), float(p95))

    def keys(self, prefix: str, ctx: dict) -> list[str]:
        return [f"{prefix}.p50", f"{prefix}.p95"]


@dataclass
class Weights(Spec):
    """name -> weight >= 0 with a positive sum; names from ``choices``."""

    choices: Callable[[dict], list[str]]

    def check(self, value: Any, where: str, ctx: dict) -> dict[str, float]:
        allowed = self.choices(ctx)
        if not isinstance(value, dict) or not value:
            raise fail(where, value, f"a mapping of weights over {', '.join(allowed)}")
        out = {}
        for k, w in value.items():
            k = str(k)
            if k not in allowed:
                raise fail(f"{where}.{k}", k, "a key among " + ", ".join(allowed))
            out[k] = Num(0.0).check(w, f"{where}.{k}", ctx)
        if sum(out.values()) <= 0:
            raise fail(where, value, "at least one weight above 0")
        return out

    def keys(self, prefix: str, ctx: dict) -> list[str]:
        return [f"{prefix}.{k}" for k in self.choices(ctx)]


@dataclass
class ListOf(Spec):
    item: Spec
    min_len: int = 0

    def check(self, value: Any, where: str, ctx: dict) -> list:
        if not isinstance(value, list) or len(value) < self.min_len:
            raise fail(where, value, f"a list of at least {self.min_len} item(s)")
        return [self.item.check(v, f"{where}[{i}]", ctx) for i, v in enumerate(value)]


@dataclass
class Keys(Spec):
    """A mapping with known keys; ``optional`` keys may be absent; ``nullable``: null allowed."""

    fields: dict[str, Spec]
    optional: tuple[str, ...] = ()
    nullable: bool = False
    ctx_hook: Callable[[dict, dict], dict] | None = None   # (raw mapping, ctx) -> ctx for the fields

    def check(self, value: Any, where: str, ctx: dict) -> Any:
        if value is None and self.nullable:
            return None
        if not isinstance(value, dict):
            raise fail(where, value, "a mapping with keys " + ", ".join(self.fields))
        for k in value:
            if k not in self.fields:
                raise SimConfigError(f"{_join(where, str(k))}: unknown key; expected one of "
                                     + ", ".join(self.fields))
        inner = self.ctx_hook(value, ctx) if self.ctx_hook else ctx
        out = {}
        for k, spec in self.fields.items():
            if k not in value:
                if k in self.optional:
                    continue
                raise SimConfigError(f"{_join(where, k)}: missing; expected {_expect(spec)}")
            out[k] = spec.check(value[k], _join(where, k), inner)
        return out

    def keys(self, prefix: str, ctx: dict) -> list[str]:
        out = []
        for k, spec in self.fields.items():
            out += spec.keys(_join(prefix, k), ctx)
        return out


@dataclass
class MapOf(Spec):
    """name -> value spec, names from ``choices``; ``ctx_for`` adds per-entry context."""

    choices: Callable[[dict], list[str]]
    value: Spec
    ctx_for: Callable[[str, dict], dict] = field(default=lambda name, ctx: ctx)
    min_len: int = 1

    def check(self, value: Any, where: str, ctx: dict) -> dict:
        allowed = self.choices(ctx)
        if not isinstance(value, dict) or len(value) < self.min_len:
            raise fail(where, value, f"a mapping keyed by {', '.join(allowed)}")
        out = {}
        for k, v in value.items():
            if k not in allowed:
                raise SimConfigError(f"{_join(where, str(k))}: unknown key; expected one of " + ", ".join(allowed))
            out[k] = self.value.check(v, _join(where, k), self.ctx_for(k, ctx))
        return out

    def keys(self, prefix: str, ctx: dict) -> list[str]:
        out = []
        for k in self.choices(ctx):
            out += self.value.keys(_join(prefix, k), self.ctx_for(k, ctx))
        return out


def _join(where: str, key: str) -> str:
    if not where:
        return key
    return f"{where}.{key}" if not where.endswith(": ") else where + key


def _expect(spec: Spec) -> str:
    if isinstance(spec, Num):
        return spec.describe()
    if isinstance(spec, Dist):
        return "{p50: ..., p95: ...}"
    if isinstance(spec, Keys):
        return "a mapping with keys " + ", ".join(spec.fields)
    return "a value"
