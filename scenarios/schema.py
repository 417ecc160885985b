"""The scenario format's JSON Schema (``schema.json``), checked on the YAML *nodes*.

Validating the composed node tree instead of the loaded data keeps every node's line, so each
problem reads ``file:line: where: what is wrong; expected what`` as an editor would show it.
This checks the subset of JSON Schema (2020-12) that ``schema.json`` uses, no more: type, enum,
const, pattern, min/maxLength, minimum/maximum/exclusiveMinimum, properties, required,
additionalProperties, patternProperties, propertyNames, min/maxProperties, items,
min/maxItems, anyOf, oneOf, allOf, if/then/else and local ``$ref``. A schema's ``title`` is the
short "expected" phrase of its messages. ``unsupported(schema)`` lists any other keyword, so
the schema cannot drift into what this validator would silently ignore.
"""
from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

SCHEMA_FILE = Path(__file__).with_name("schema.json")
ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "$defs",
               "markdownDescription"}
CHECKED = {"type", "enum", "const", "pattern", "minLength", "maxLength", "minimum", "maximum",
           "exclusiveMinimum", "properties", "required", "additionalProperties", "patternProperties",
           "propertyNames", "minProperties", "maxProperties", "items", "minItems", "maxItems", "anyOf",
           "oneOf", "allOf", "if", "then", "else", "$ref"}
_TYPE_NAMES = {"string": "text", "number": "a number", "integer": "a whole number", "boolean": "true or false",
               "object": "a mapping (key: value)", "array": "a list (- item)", "null": "nothing"}


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def unsupported(schema: Any, where: str = "#") -> list[str]:
    """Keywords in ``schema`` this validator does not check (should be none)."""
    out: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key not in CHECKED | ANNOTATIONS:
                out.append(f"{where}/{key}")
            if key in ("properties", "patternProperties", "$defs"):
                for name, sub in value.items():
                    out += unsupported(sub, f"{where}/{key}/{name}")
            elif key in ("anyOf", "oneOf", "allOf"):
                for i, sub in enumerate(value):
                    out += unsupported(sub, f"{where}/{key}/{i}")
            elif key in ("items", "additionalProperties", "propertyNames", "if", "then", "else") \
                    and isinstance(value, dict):
                out += unsupported(value, f"{where}/{key}")
    return out


class Problem:
    """One thing wrong, at a node."""

    def __init__(self, node: yaml.Node, path: str, message: str) -> None:
        self.node, self.path, self.message = node, path, message

    @property
    def line(self) -> int:
        return self.node.start_mark.line + 1

    def render(self, source: str) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{source}:{self.line}: {where}{self.message}"


def shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _type_ok(value: Any, wanted: str) -> bool:
    k = kind_of(value)
    return k == wanted or (wanted == "number" and k == "integer")


def suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Validator:
    """Validate a node tree; ``value_of(node)`` turns a node into its Python value."""

    def __init__(self, root_schema: dict, value_of: Callable[[yaml.Node], Any]) -> None:
        self.root, self.value_of = root_schema, value_of

    def resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"schema: only local $ref are supported, got {ref!r}")
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest}
        return schema

    def expected(self, schema: dict) -> str:
        schema = self.resolve(schema)
        if "title" in schema:
            return schema["title"]
        if "enum" in schema:
            return "one of " + ", ".join(str(v) for v in schema["enum"])
        if "const" in schema:
            return repr(schema["const"])
        t = schema.get("type")
        if isinstance(t, list):
            return " or ".join(_TYPE_NAMES.get(x, x) for x in t)
        return _TYPE_NAMES.get(t, "a value") if t else "a value"

    def check(self, node: yaml.Node, schema: dict, path: str = "") -> list[Problem]:
        schema = self.resolve(schema)
        value = self.value_of(node)
        if "if" in schema:
            branch = "then" if not self.check(node, schema["if"], path) else "else"
            if branch in schema:
                problems = self.check(node, schema[branch], path)
                if problems:
                    return problems
        t = schema.get("type")
        if t is not None:
            wanted = t if isinstance(t, list) else [t]
            if not any(_type_ok(value, w) for w in wanted):
                return [Problem(node, path, f"{shown(value)} is {_TYPE_NAMES.get(kind_of(value), kind_of(value))};"
                                            f" expected {self.expected(schema)}")]
        for key in ("anyOf", "oneOf"):
            if key in schema:
                results = [self.check(node, sub, path) for sub in schema[key]]
                passed = sum(1 for r in results if not r)
                if passed == 0:
                    deepest = min(results, key=lambda r: (-max(len(p.path) for p in r), len(r)))
                    if any(len(p.path) > len(path) for p in deepest):
                        return deepest
                    return [Problem(node, path, f"{shown(value)} does not fit; expected {self.expected(schema)}")]
                if key == "oneOf" and passed > 1:
                    return [Problem(node, path, f"{shown(value)} is ambiguous; expected {self.expected(schema)}")]
        for sub in schema.get("allOf", ()):
            problems = self.check(node, sub, path)
            if problems:
                return problems
        if "const" in schema and value != schema["const"]:
            return [Problem(node, path, f"{shown(value)}; expected {schema['const']!r}")]
        if "enum" in schema and value not in schema["enum"]:
            options = [str(v) for v in schema["enum"]]
            hint = suggest(str(value), options)
            return [Problem(node, path, f"{shown(value)} is not one of {', '.join(options)}{hint}")]
        if isinstance(value, str):
            return self._string(node, schema, path, value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return self._number(node, schema, path, value)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, schema, path)
        if isinstance(node, yaml.SequenceNode):
            return self._sequence(node, schema, path)
        return []

    def _string(self, node: yaml.Node, schema: dict, path: str, value: str) -> list[Problem]:
        if "minLength" in schema and len(value) < schema["minLength"]:
            return [Problem(node, path, f"{shown(value)} is too short; expected {self.expected(schema)}")]
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return [Problem(node, path, f"{shown(value)} is longer than {schema['maxLength']} characters")]
        if "pattern" in schema and not re.search(schema["pattern"], value):
            return [Problem(node, path, f"{shown(value)} is not valid; expected {self.expected(schema)}")]
        return []

    def _number(self, node: yaml.Node, schema: dict, path: str, value: float) -> list[Problem]:
        if "minimum" in schema and value < schema["minimum"]:
            return [Problem(node, path, f"{value} is below {schema['minimum']}; expected {self.expected(schema)}")]
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return [Problem(node, path, f"{value} is too small; expected {self.expected(schema)}")]
        if "maximum" in schema and value > schema["maximum"]:
            return [Problem(node, path, f"{value} is above {schema['maximum']}; expected {self.expected(schema)}")]
        return []

    def _mapping(self, node: yaml.MappingNode, schema: dict, path: str) -> list[Problem]:
        problems: list[Problem] = []
        seen: dict[str, yaml.Node] = {}
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extra = schema.get("additionalProperties", True)
        for knode, vnode in node.value:
            key = str(self.value_of(knode))
            where = f"{path}.{key}" if path else key
            if key in seen:
                problems.append(Problem(knode, where, f"given twice (also on line {seen[key].start_mark.line + 1}); "
                                                      "expected each key once"))
                continue
            seen[key] = knode
            if "propertyNames" in schema:
                bad = self.check(knode, schema["propertyNames"], where)
                if bad:
                    problems.append(Problem(knode, where, bad[0].message))
                    continue
            if key in props:
                problems += self.check(vnode, props[key], where)
                continue
            matched = [p for p in patterns if re.search(p, key)]
            for p in matched:
                problems += self.check(vnode, patterns[p], where)
            if matched:
                continue
            if extra is False:
                options = sorted(props)
                listed = ", ".join(options) if options else "no keys"
                if len(options) > 15 and "title" in schema:      # a step: dozens of actions
                    listed = schema["title"]
                problems.append(Problem(knode, where, f"unknown key{suggest(key, options)}; expected {listed}"))
            elif isinstance(extra, dict):
                problems += self.check(vnode, extra, where)
        for key in schema.get("required", ()):
            if key not in seen:
                sub = props.get(key)
                what = f" ({self.expected(sub)})" if isinstance(sub, dict) else ""
                problems.append(Problem(node, path, f"missing key {key!r}{what}"))
        n = len(seen)
        if "minProperties" in schema and n < schema["minProperties"]:
            problems.append(Problem(node, path, f"{n} keys; expected {self.expected(schema)}"))
        if "maxProperties" in schema and n > schema["maxProperties"]:
            problems.append(Problem(node, path, f"{n} keys; expected {self.expected(schema)}"))
        return problems

    def _sequence(self, node: yaml.SequenceNode, schema: dict, path: str) -> list[Problem]:
        problems: list[Problem] = []
        n = len(node.value)
        if "minItems" in schema and n < schema["minItems"]:
            problems.append(Problem(node, path, f"{n} items; expected at least {schema['minItems']}"))
        if "maxItems" in schema and n > schema["maxItems"]:
            problems.append(Problem(node, path, f"{n} items; expected at most {schema['maxItems']}"))
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(node.value):
                problems += self.check(item, items, f"{path}[{i}]")
        return problems
