"""Read a scenario file: YAML, then the JSON Schema, then what a schema cannot say.

Every problem is reported at once as ``file:line: where: what is wrong; expected what``, in
file order, so a malformed scenario fails at collection (never half-way through a run):
unknown actions and keys (with a suggestion), steps with no action or two, a ``${name}`` used
before anything sets it, a name under ``card:`` or ``meter:`` that ``given`` does not declare,
a regular expression that does not compile, a duration that is not one (``scenarios.checks``),
a simulator profile, fault or override the simulator refuses.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from scenarios.actors import ACTIONS
from scenarios.checks import (
    GIVEN_FIELDS,
    Checks,
    StaticCheck,
    durations,
    names_used,
    regexes,
)
from scenarios.population import KPI_ROOTS, config_of
from scenarios.scenario import Scenario, Step, Threshold
from scenarios.schema import Problem, Validator, load_schema, suggest

STEP_KEYS = ("name", "note", "expect", "capture", "within", "timeout")
OPS = ("eq", "ne", "gt", "ge", "lt", "le")


class ScenarioError(Exception):
    """A scenario file that cannot run; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def load(path: str | Path, source: str | None = None) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([f"{source or p}:1: cannot read the scenario: {e}"]) from None
    return parse(text, source or str(p), p)


def parse(text: str, source: str, path: Path | None = None) -> Scenario:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ScenarioError([f"{source}:{line}: not valid YAML: {getattr(e, 'problem', None) or e}"]) from None
    if not isinstance(root, yaml.MappingNode):
        expected = "expected a mapping starting with 'scenario: <title>' (see docs/scenarios.md)"
        raise ScenarioError([f"{source}:1: {expected}"])

    def value_of(node: yaml.Node) -> Any:
        try:
            return _plain(loader.construct_object(node, deep=True))
        except yaml.YAMLError as e:
            return f"<unreadable: {e}>"

    problems = Validator(load_schema(), value_of).check(root, load_schema())
    if problems:
        raise ScenarioError(_ordered(problems, source))
    data = value_of(root)
    nodes = {k.value: (k, v) for k, v in root.value}
    checks = Checks(source)
    markets = _markets(data, nodes, checks)
    if data.get("kind") == "population":
        scenario = _population(data, nodes, markets, source, path, checks)
    else:
        scenario = _story(data, nodes, markets, source, path, checks)
    if checks.problems:
        raise ScenarioError(_ordered(checks.problems, source))
    return scenario


def _ordered(problems: list[Problem], source: str) -> list[str]:
    return [p.render(source) for p in sorted(problems, key=lambda p: p.line)]


def _markets(data: dict, nodes: dict, checks: Checks) -> tuple[str, ...]:
    if "market" in data and "markets" in data:
        checks.bad(nodes["markets"][0], "markets", "given with market; expected one of the two")
    if "markets" in data:
        return tuple(dict.fromkeys(data["markets"]))
    if "market" in data:
        return (data["market"],)
    checks.bad(nodes["scenario"][0], "", "missing key 'market' (DZ, IR or EG) or 'markets' (a list)")
    return ()


def _flows(data: dict) -> tuple[str, ...]:
    flow = data["flow"]
    return tuple(flow) if isinstance(flow, list) else (flow,)


def _population(data: dict, nodes: dict, markets: tuple[str, ...], source: str, path: Path | None,
                checks: Checks) -> Scenario:
    thresholds = []
    for i, node in enumerate(nodes["thresholds"][1].value):
        t = data["thresholds"][i]
        subjects = [k for k in ("kpi", "ratio", "minutes") if k in t]
        ops = {k: t[k] for k in OPS if k in t}
        if len(subjects) != 1:
            checks.bad(node, f"thresholds[{i}]", f"{' and '.join(subjects) or 'nothing'} measured; expected exactly "
                                                 "one of kpi, ratio, minutes")
        if not ops:
            checks.bad(node, f"thresholds[{i}]", f"no limit; expected one of {', '.join(OPS)}")
        if "of" in t and "minutes" not in t:
            checks.bad(node, f"thresholds[{i}].of", "only with minutes")
        thresholds.append(Threshold(node.start_mark.line + 1, t.get("kpi"),
                                    tuple(t["ratio"]) if "ratio" in t else None, t.get("minutes"),
                                    t.get("of", "max"), ops, t.get("why", "")))
        for p in ([t["kpi"]] if "kpi" in t else []) + list(t.get("ratio", ())):
            if p.split(".")[0] not in KPI_ROOTS:
                checks.bad(node, f"thresholds[{i}]", f"{p!r}: expected a KPI path starting with "
                                                     f"{', '.join(KPI_ROOTS)} (see docs/scenarios.md)")
    scenario = Scenario(path=path or Path(source), source=source, title=data["scenario"], kind="population",
                        flows=_flows(data), markets=markets, description=data.get("description", ""),
                        tags=tuple(data.get("tags", ())), slow=bool(data.get("slow", False)),
                        simulation=data["simulation"], thresholds=tuple(thresholds))
    from sim.config import SimConfigError
    try:
        config_of(scenario, 0)              # a profile, fault or override the simulator refuses
    except SimConfigError as e:
        checks.bad(nodes["simulation"][1], "simulation", str(e))
    return scenario


def _story(data: dict, nodes: dict, markets: tuple[str, ...], source: str, path: Path | None,
           checks: Checks) -> Scenario:
    given = data.get("given") or {}
    namespaces = {"bank": set(given.get("cards", {})), "utility": set(given.get("utility_cards", {})),
                  "meter": set(given.get("meters", {}))}
    static = StaticCheck(markets, checks, {name: (ns, GIVEN_FIELDS[ns]) for ns, names in namespaces.items()
                                            for name in names})
    for name, card in given.get("utility_cards", {}).items():
        meter = card.get("meter")
        if meter is not None and "${" not in meter and meter not in namespaces["meter"]:
            checks.bad(nodes["given"][1], f"given.utility_cards.{name}.meter",
                       f"{meter!r} is not a meter under given.meters{suggest(meter, sorted(namespaces['meter']))}")
    given_names = set().union(*namespaces.values())
    names = {"seed", "worker"}
    if "vars" in nodes:                     # vars come first: given may use them, not the reverse
        for knode, vnode in nodes["vars"][1].value:
            static.walk(vnode, data["vars"][knode.value], f"vars.{knode.value}", names)
            names.add(knode.value)
    if "given" in nodes:
        static.walk(nodes["given"][1], given, "given", names)
    names |= given_names | ({"handset"} if "handset" in given else set())
    steps = []
    for i, node in enumerate(nodes["steps"][1].value):
        raw = data["steps"][i]
        where = f"steps[{i}]"
        actions = [k for k in raw if k not in STEP_KEYS]
        if len(actions) != 1:
            checks.bad(node, where, f"{len(actions)} actions ({', '.join(actions) or 'none'}); expected exactly one "
                                    "actor.action per step, e.g. subscriber.topup")
            continue
        action = actions[0]
        step_nodes = {k.value: (k, v) for k, v in node.value}
        static.walk(node, {k: v for k, v in raw.items() if k != "capture"}, where, names)
        for cnode, spec_node in step_nodes["capture"][1].value if "capture" in step_nodes else ():
            spec = raw["capture"][cnode.value]
            static.walk(spec_node, spec, f"{where}.capture.{cnode.value}", names)
            if isinstance(spec, dict) and "pattern" in spec:
                static.regex(spec_node, f"{where}.capture.{cnode.value}.pattern", spec["pattern"])
        names_used(action, raw[action], step_nodes[action][1], namespaces, where, checks)
        durations(raw, step_nodes, where, checks)
        regexes(raw.get("expect", {}), step_nodes, where, static)
        steps.append(Step(i, node.start_mark.line + 1, action, raw[action], raw.get("expect", {}),
                          raw.get("capture", {}), raw.get("within"), raw.get("timeout"), raw.get("name"),
                          raw.get("note")))
        names |= set(raw.get("capture", {}))
    for action in {s.action for s in steps} - set(ACTIONS):   # the schema and the code disagree
        checks.bad(nodes["steps"][1], "steps", f"{action}: no such action in scenarios.actors")
    return Scenario(path=path or Path(source), source=source, title=data["scenario"], kind="story",
                    flows=_flows(data), markets=markets, description=data.get("description", ""),
                    tags=tuple(data.get("tags", ())), slow=bool(data.get("slow", False)),
                    timeout=float(data.get("timeout", 120)), world=data.get("world") or {}, given=given,
                    vars=data.get("vars") or {}, steps=tuple(steps))
