"""Bench files: which face (model, emulator or real driver) each device role takes.

A bench file is YAML; moving a role from the emulator to a real meter on /dev/ttyUSB0 is a
change of two lines, never of code::

    market: EG
    roles:
      meter:       {face: driver, port: /dev/ttyUSB0, meter_number: "47500150231"}
      card_reader: {face: emulator}
      modem:       {face: model, msisdn: "+201001234567"}

``load_bench(path)`` validates the whole file and raises one ``BenchError`` listing every
problem as ``file:line: key: what is wrong; what is expected``. ``open_role(bench, role)`` opens
a role's face as a context manager yielding the role's port (``MeterPort``, ``CardReaderPort``,
``ModemPort``): the same object whatever the face, which is what lets one scenario or one
validation suite run on models, on emulators in CI and on the real bench.
"""
from __future__ import annotations

import difflib
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

FACES = ("model", "emulator", "driver")
MARKETS = ("DZ", "IR", "EG")
BENCH_DIR = Path(__file__).with_name("benches")


class BenchError(ValueError):
    """A bench file that cannot be used; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Param:
    """One key a role accepts: its type, the faces it applies to, and what it means."""

    kind: type | tuple[type, ...]
    faces: tuple[str, ...] = FACES
    required: tuple[str, ...] = ()          # the faces for which it must be given
    doc: str = ""
    pattern: str | None = None              # for strings: a regex the whole value must match
    low: float | None = None                # for numbers
    choices: tuple[Any, ...] = ()


def _int(low: float | None = None, **kw: Any) -> Param:
    return Param(int, low=low, **kw)


_SERIAL = dict(
    port=Param(str, faces=("driver",), required=("driver",),
               doc="serial device or pyserial URL (/dev/ttyUSB0, COM3, socket://host:port, rfc2217://...)"),
    timeout=Param((int, float), faces=("emulator", "driver"), low=0.01, doc="seconds to wait for an answer"),
)

# What each role accepts. The factories behind them live in devices/<role>/__init__.py.
ROLES: dict[str, dict[str, Param]] = {
    "meter": {
        **_SERIAL,
        "baud": Param(int, faces=("emulator", "driver"), choices=(300, 600, 1200, 2400, 4800, 9600, 19200),
                      doc="readout baud rate proposed after the 300-baud sign-on"),
        "meter_number": Param(str, pattern=r"\d{11}|\d{13}", doc="the meter's 11- or 13-digit number"),
        "password": Param(str, faces=("driver",), pattern=r"[0-9A-Za-z]{1,16}",
                          doc="programming-mode password (P1)"),
        "pace": Param(bool, faces=("emulator",), doc="pace bytes at the nominal baud like a real meter"),
        "speed": Param((int, float), faces=("emulator",), low=0,
                       doc="meter seconds per wall second (0: the meter's time stands still)"),
        "decoder_key": Param(str, pattern=r"[0-9A-Fa-f]{16}",
                             doc="the meter's STS decoder key, 16 hex digits (test meters only)"),
        "card_key": Param(str, pattern=r"[0-9A-Fa-f]{64}",
                          doc="the utility's card master key, 64 hex digits (test keys only)"),
        "relay_timeout": Param((int, float), low=1,
                               doc="seconds a check may wait for the relay to open under the test load"),
    },
    "card_reader": {
        "reader": Param(str, faces=("emulator", "driver"),
                        doc="PC/SC reader name or its start (emulator default: Virtual PCD 00 00)"),
        "card_timeout": Param((int, float), faces=("emulator", "driver"), low=0.0,
                              doc="seconds to wait for a card in the reader"),
        "card_serial": Param(str, faces=("model", "emulator"), pattern=r"[0-9A-Fa-f]{16}",
                             doc="the serial of the card the model or emulator holds, 16 hex digits"),
        "card_key": Param(str, pattern=r"[0-9A-Fa-f]{64}",
                          doc="the utility's card master key, 64 hex digits (test keys only)"),
    },
    "modem": {
        **_SERIAL,
        "baud": Param(int, faces=("emulator", "driver"), choices=(9600, 19200, 38400, 57600, 115200),
                      doc="serial speed of the modem's AT port"),
        "msisdn": Param(str, pattern=r"\+?[0-9]{8,15}", doc="the SIM's MSISDN in E.164"),
        "pin": Param(str, faces=("driver",), pattern=r"\d{4,8}", doc="SIM PIN, sent with AT+CPIN when asked"),
    },
}


@dataclass(frozen=True)
class RoleBinding:
    role: str
    face: str
    params: dict[str, Any]
    line: int


@dataclass(frozen=True)
class Bench:
    path: str
    market: str
    roles: dict[str, RoleBinding] = field(default_factory=dict)
    name: str = ""

    def face(self, role: str) -> str | None:
        binding = self.roles.get(role)
        return binding.face if binding else None


# ---------------------------------------------------------------------------------- loading
def _suggest(word: str, options: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _mapping(node: yaml.Node) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    return {k.value: (k, v) for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}


def _check_param(name: str, p: Param, value: Any) -> str | None:
    kinds = p.kind if isinstance(p.kind, tuple) else (p.kind,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        want = " or ".join(k.__name__.replace("str", "text").replace("int", "integer").replace("float", "number")
                           .replace("bool", "true/false") for k in kinds)
        return f"{value!r} is not a {want}" + (f"; expected {p.doc}" if p.doc else "")
    if p.choices and value not in p.choices:
        return f"{value!r} is not one of {', '.join(map(str, p.choices))}"
    if p.pattern is not None and not re.fullmatch(p.pattern, value):
        return f"{value!r} is not valid; expected {p.doc}"
    if p.low is not None and value < p.low:
        return f"{value!r} is too small; expected at least {p.low}"
    return None


def parse_bench(text: str, path: str = "<bench>") -> Bench:
    """Validate a bench file's text; every problem is reported at once, with its line."""
    problems: list[str] = []

    def bad(node: yaml.Node | None, what: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        problems.append(f"{path}:{line}: {what}")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise BenchError([f"{path}:{line}: not valid YAML: {getattr(e, 'problem', None) or e}"]) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise BenchError([f"{path}:1: expected a mapping with 'market' and 'roles' "
                          f"(see hil/benches/example-lab.yaml)"])
    top = _mapping(root)
    for key, (knode, _) in top.items():
        if key not in ("market", "roles", "name"):
            bad(knode, f"{key}: unknown key{_suggest(key, ['market', 'roles', 'name'])}; "
                       "expected market, roles and optionally name")
    market = "DZ"
    if "market" in top:
        mnode = top["market"][1]
        market = str(mnode.value).upper() if isinstance(mnode, yaml.ScalarNode) else ""
        if market not in MARKETS:
            bad(mnode, f"market: {mnode.value!r} is not one of {', '.join(MARKETS)}")
    else:
        bad(root, "market: missing; expected one of " + ", ".join(MARKETS))
    name = ""
    if "name" in top:
        name = str(top["name"][1].value)
    roles: dict[str, RoleBinding] = {}
    if "roles" not in top:
        bad(root, "roles: missing; expected a mapping of " + ", ".join(ROLES) + " to {face: ...}")
    else:
        rnode = top["roles"][1]
        if not isinstance(rnode, yaml.MappingNode):
            bad(rnode, "roles: expected a mapping of " + ", ".join(ROLES) + " to {face: ...}")
        for role, (knode, vnode) in _mapping(rnode).items():
            if role not in ROLES:
                bad(knode, f"roles.{role}: unknown role{_suggest(role, list(ROLES))}; "
                           f"expected one of {', '.join(ROLES)}")
                continue
            binding = _parse_role(role, knode, vnode, bad)
            if binding is not None:
                roles[role] = binding
    if problems:   # in file order, as an editor shows them
        raise BenchError(sorted(problems, key=lambda p: int(p[len(path) + 1:].split(":", 1)[0])))
    return Bench(path=path, market=market, roles=roles, name=name)


def _parse_role(role: str, knode: yaml.Node, vnode: yaml.Node,
                bad: Callable[[yaml.Node | None, str], None]) -> RoleBinding | None:
    where = f"roles.{role}"
    if not isinstance(vnode, yaml.MappingNode):
        bad(vnode, f"{where}: expected a mapping like {{face: model}}; faces: {', '.join(FACES)}")
        return None
    values = yaml.safe_load(yaml.serialize(vnode)) or {}
    nodes = _mapping(vnode)
    face = values.get("face")
    if face is None:
        bad(knode, f"{where}.face: missing; expected one of {', '.join(FACES)}")
        return None
    if face not in FACES:
        bad(nodes["face"][1], f"{where}.face: {face!r} is not one of {', '.join(FACES)}{_suggest(face, FACES)}")
        return None
    spec = ROLES[role]
    params: dict[str, Any] = {}
    ok = True
    for key, value in values.items():
        if key == "face":
            continue
        node = nodes[key][0]
        p = spec.get(key)
        if p is None:
            bad(node, f"{where}.{key}: unknown key{_suggest(key, list(spec))}; a {role} takes "
                      f"{', '.join(sorted(spec))}")
            ok = False
            continue
        if face not in p.faces:
            bad(node, f"{where}.{key}: only for face {' or '.join(p.faces)}, not {face}")
            ok = False
            continue
        why = _check_param(key, p, value)
        if why:
            bad(nodes[key][1], f"{where}.{key}: {why}")
            ok = False
            continue
        params[key] = value
    for key, p in spec.items():
        if face in p.required and key not in values:
            bad(knode, f"{where}.{key}: missing; face {face} needs {p.doc or key}")
            ok = False
    return RoleBinding(role, face, params, knode.start_mark.line + 1) if ok else None


def load_bench(path: str | Path) -> Bench:
    """A bench by path, or by name from hil/benches (``model``, ``emulated``...)."""
    p = Path(path)
    if not p.exists() and not p.suffix and (BENCH_DIR / f"{p.name}.yaml").exists():
        p = BENCH_DIR / f"{p.name}.yaml"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        shipped = ", ".join(sorted(x.stem for x in BENCH_DIR.glob("*.yaml")))
        raise BenchError([f"{path}: no such bench file; give a path or one of: {shipped}"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise BenchError([f"{path}: cannot read the bench file: {e}"]) from None
    return parse_bench(text, str(path))


def all_models(market: str = "DZ") -> Bench:
    """Every role as a model: the bench of pure simulation and the default of the suites."""
    return Bench(path="<models>", market=market,
                 roles={r: RoleBinding(r, "model", {}, 0) for r in ROLES}, name="models")


# ---------------------------------------------------------------------------------- opening
def open_role(bench: Bench, role: str, **extra: Any) -> AbstractContextManager[Any]:
    """The role's port on the face the bench gives it; ``extra`` adds factory arguments
    (keys, a network) that come from the world rather than from the bench file."""
    binding = bench.roles.get(role)
    if binding is None:
        raise BenchError([f"{bench.path}: no role {role!r} on this bench; it binds "
                          f"{', '.join(bench.roles) or 'nothing'}"])
    from hil import roles as factories

    return factories.open_port(bench, binding, **extra)
