"""Expectations and captures: what a step's result must show, and what to keep from it.

A result is a mapping (an HTTP answer, a USSD screen, a meter reading...). ``expect`` maps a
field path to a matcher; ``capture`` maps a name to a field path, or to ``{from, pattern,
group}`` to keep a part of a text (the OTP in an SMS)::

    expect:
      state: credited                     # equal (numbers and numeric text compare as numbers)
      http: {in: [200, 201]}
      text: {matches: "${text:sms_otp}"}  # re.search
      texts: {count: {matches: "Recharge"}, eq: 1}
      length: {le: 80}
    capture:
      order: id
      otp: {from: text, pattern: "${text:sms_otp}", group: otp}

Paths are dotted: ``amount.value``, ``texts.0``, ``texts.-1``. Operators: eq ne gt ge lt le
matches not_matches contains not_contains in len any all none count present.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from scenarios.values import Context

OPERATORS = ("eq", "ne", "gt", "ge", "lt", "le", "matches", "not_matches", "contains", "not_contains",
             "in", "len", "any", "all", "none", "count", "present")
_MISSING = object()


class CaptureError(ValueError):
    """A capture found nothing to keep; the message names the field and what it held."""


@dataclass(frozen=True)
class Mismatch:
    path: str
    expected: str
    actual: Any

    def __str__(self) -> str:
        actual = "(missing)" if self.actual is _MISSING else _short(self.actual)
        return f"{self.path}: expected {self.expected}, got {actual}"


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def lookup(result: Any, path: str) -> Any:
    """The value at a dotted path, or ``_MISSING``."""
    value = result
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and re.fullmatch(r"-?\d+", part) \
                and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, Decimal)):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            return Decimal(value.strip().replace(",", ""))
        except InvalidOperation:
            return None
    return None


def same(actual: Any, expected: Any) -> bool:
    """Equality as a QA engineer means it: 201 == "201", "500000" == "500000.00"; but
    "0551" != "551" (text compares as numbers only when one side has a decimal point)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual is expected
    if expected is None or actual is None:
        return actual is expected
    if isinstance(actual, str) and isinstance(expected, str):
        if ("." in actual or "." in expected) and _numeric_text(actual) and _numeric_text(expected):
            a, e = _number(actual), _number(expected)
            if a is not None and e is not None:
                return a == e
        return actual == expected
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return a == e
    return actual == expected


def _numeric_text(text: str) -> bool:
    return bool(re.fullmatch(r"\s*-?[\d,]*\.?\d+\s*", text))


def _compare(actual: Any, op: str, bound: Any) -> bool:
    a, b = _number(actual), _number(bound)
    if a is None or b is None:
        return False
    return {"gt": a > b, "ge": a >= b, "lt": a < b, "le": a <= b}[op]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def matches(actual: Any, matcher: Any) -> tuple[bool, str]:
    """(passed, what was expected in words)."""
    if not isinstance(matcher, dict):
        return same(actual, matcher), repr(matcher)
    if "count" in matcher:
        items = actual if isinstance(actual, (list, tuple)) else []
        n = sum(1 for item in items if matches(item, matcher["count"])[0])
        rest = {k: v for k, v in matcher.items() if k != "count"} or {"ge": 1}
        ok, said = matches(n, rest)
        return ok and isinstance(actual, (list, tuple)), f"a count of items matching {_said(matcher['count'])} {said}"
    words: list[str] = []
    ok = True
    for op, want in matcher.items():
        passed, said = _operator(actual, op, want)
        ok = ok and passed
        words.append(said)
    return ok, " and ".join(words)


def _said(matcher: Any) -> str:
    return matches(None, matcher)[1] if isinstance(matcher, dict) else repr(matcher)


def _operator(actual: Any, op: str, want: Any) -> tuple[bool, str]:
    present = actual is not _MISSING
    if op == "present":
        return present is bool(want), "present" if want else "absent"
    if not present:
        return False, f"{op} {want!r}"
    if op == "eq":
        return same(actual, want), f"= {want!r}"
    if op == "ne":
        return not same(actual, want), f"!= {want!r}"
    if op in ("gt", "ge", "lt", "le"):
        sign = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[op]
        return _compare(actual, op, want), f"{sign} {want}"
    if op in ("matches", "not_matches"):
        found = re.search(str(want), _as_text(actual)) is not None
        return found is (op == "matches"), f"{'matching' if op == 'matches' else 'not matching'} /{want}/"
    if op in ("contains", "not_contains"):
        if isinstance(actual, (list, tuple)):
            found = any(same(item, want) for item in actual)
        else:
            found = str(want) in _as_text(actual)
        return found is (op == "contains"), f"{'containing' if op == 'contains' else 'not containing'} {want!r}"
    if op == "in":
        options = want if isinstance(want, list) else [want]
        return any(same(actual, o) for o in options), f"one of {options!r}"
    if op == "len":
        try:
            n = len(actual)
        except TypeError:
            return False, f"a length {_said(want)}"
        ok, said = matches(n, want)
        return ok, f"a length {said}"
    if op in ("any", "all", "none"):
        items = actual if isinstance(actual, (list, tuple)) else []
        hits = [matches(item, want)[0] for item in items]
        ok = {"any": any(hits), "all": bool(items) and all(hits), "none": not any(hits)}[op]
        return ok and isinstance(actual, (list, tuple)), f"{op} item {_said(want)}"
    raise ValueError(f"unknown operator {op!r}; expected one of {', '.join(OPERATORS)}")


def check(result: Any, expect: dict[str, Any], ctx: Context) -> list[Mismatch]:
    """Every expectation of ``expect`` that ``result`` does not meet (templates rendered first)."""
    out: list[Mismatch] = []
    for path, matcher in expect.items():
        actual = lookup(result, path)
        ok, said = matches(actual, ctx.render(matcher))
        if not ok:
            out.append(Mismatch(path, said, actual))
    return out


def capture(result: Any, spec: Any, ctx: Context) -> Any:
    """The value a capture keeps from ``result``."""
    if isinstance(spec, str):
        value = lookup(result, ctx.render(spec))
        if value is _MISSING:
            raise CaptureError(f"capture: no field {spec!r} in the result (fields: {_fields(result)})")
        return value
    source = lookup(result, ctx.render(spec["from"]))
    if source is _MISSING:
        raise CaptureError(f"capture: no field {spec['from']!r} in the result (fields: {_fields(result)})")
    if "pattern" not in spec:
        return source
    pattern = ctx.render(spec["pattern"])
    m = re.search(pattern, _as_text(source))
    if m is None:
        raise CaptureError(f"capture: /{pattern}/ not found in {spec['from']} = {_short(source)}")
    group = spec.get("group", 1 if m.re.groups else 0)
    try:
        return m.group(group)
    except IndexError as e:
        raise CaptureError(f"capture: the pattern has no group {group!r} ({e})") from None


def _fields(result: Any) -> str:
    return ", ".join(sorted(map(str, result))) if isinstance(result, dict) else type(result).__name__
