"""The scenario format: the JSON Schema, the loader's checks with file:line, the library loads."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenarios.actors import ACTIONS
from scenarios.loader import ScenarioError, load, parse
from scenarios.schema import load_schema, unsupported

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios" / "library"
STORY = """\
scenario: a small story
flow: F1
market: DZ
vars:
  me: ${faker:msisdn}
given:
  subscribers: [{msisdn: "${me}"}]
  cards:
    gold: {phone: "${me}"}
steps:
  - subscriber.topup: {recipient: "${me}", amount: "100"}
    capture: {order: id}
  - subscriber.card: {order: "${order}", card: gold}
    expect: {state: otp_pending}
"""


def problems(text: str, source: str = "x.yaml") -> list[str]:
    with pytest.raises(ScenarioError) as e:
        parse(textwrap.dedent(text), source)
    return e.value.problems


def edit(old: str, new: str) -> str:
    assert old in STORY
    return STORY.replace(old, new)


def test_a_valid_story_keeps_the_line_of_every_step() -> None:
    s = parse(STORY, "x.yaml")
    assert (s.kind, s.flows, s.markets) == ("story", ("F1",), ("DZ",))
    assert [(x.index, x.line, x.action) for x in s.steps] == [(0, 11, "subscriber.topup"),
                                                              (1, 13, "subscriber.card")]
    assert s.steps[1].expect == {"state": "otp_pending"} and s.steps[0].capture == {"order": "id"}
    assert s.markers == ("f1", "story") and s.roles == ()


def test_roles_and_markers_follow_the_actors() -> None:
    text = edit("steps:", "  utility_cards: {mine: {serial: 04A1B2C3D4E5F607}}\nsteps:") + \
        "  - handset.sms: {match: code}\n  - meter.insert_card: {card: mine}\n"
    s = parse(text, "x.yaml")
    assert s.roles == ("meter", "card_reader", "modem")
    assert s.markers == ("f1", "story", "meter", "card_reader", "modem")


@pytest.mark.parametrize("text,expected", [
    (edit("subscriber.card:", "subscriber.crad:"),
     "x.yaml:13: steps[1].subscriber.crad: unknown key (did you mean 'subscriber.card'?)"),
    (edit("flow: F1", "flow: F9"), "x.yaml:2: flow: 'F9' does not fit; expected F1 to F6 or settlement"),
    (edit("market: DZ", "market: MA"), "x.yaml:3: market: 'MA' is not one of DZ, IR, EG"),
    (edit('amount: "100"', "amount: 1.5"),
     "x.yaml:11: steps[0].subscriber.topup.amount: 1.5 is a number; expected an amount in major units"),
    (edit("scenario: a small story\n", ""), "x.yaml:1: missing key 'scenario'"),
    (edit("    capture: {order: id}\n", "    capture: {order: id}\n    clock.advance: 1m\n"),
     "x.yaml:11: steps[0]: 2 actions (subscriber.topup, clock.advance); expected exactly one"),
    (edit('"${order}", card: gold', '"${ordr}", card: gold'),
     "x.yaml:13: steps[1]: ${ordr} is used before anything sets it (did you mean 'order'?)"),
    (edit("card: gold}", "card: silver}"),
     "x.yaml:13: steps[1].subscriber.card.card: 'silver' is not declared under given.cards"),
    (edit("expect: {state: otp_pending}", "expect: {text: {matches: '(unclosed'}}"),
     "x.yaml:14: steps[1].expect.text: '(unclosed' is not a regular expression"),
    (edit("expect: {state: otp_pending}", "within: soon"), "x.yaml:14: steps[1].within: 'soon' is not a duration"),
    (edit("${faker:msisdn}", "${faker:phone}"), "x.yaml:5: vars.me: ${faker:phone}: unknown; expected one of"),
    (edit("expect: {state: otp_pending}", "expect: {text: {matches: '${text:sms_otpp}'}}"),
     "x.yaml:13: steps[1]: ${text:sms_otpp}: unknown text (did you mean 'sms_otp'?)"),
    (edit("expect: {state: otp_pending}", "expect: {text: {matches: '${text:fa:sms_otp}'}}"),
     "x.yaml:13: steps[1]: ${text:fa:sms_otp}: DZ has no language 'fa'"),
    (edit("market: DZ\n", ""), "x.yaml:1: missing key 'market' (DZ, IR or EG) or 'markets'"),
    (edit("expect: {state: otp_pending}", "expect: {masked_pan: '${gold.pin}'}"),
     "x.yaml:13: steps[1]: ${gold.pin}: a bank card has no field 'pin' (did you mean 'pin2'?)"),
    (edit("flow: F1\n", "flow: F1\nflow: F2\n"), "x.yaml:3: flow: given twice (also on line 2)"),
    (edit("steps:", "steps:\n  - {}\n"), "x.yaml:11: steps[0]: 0 keys; expected a step"),
    ("scenario: [unclosed\n", "x.yaml:2: not valid YAML"),
    ("- just a list\n", "x.yaml:1: expected a mapping starting with 'scenario: <title>'"),
])
def test_a_malformed_story_names_file_line_and_what_was_expected(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_in_file_order() -> None:
    text = edit("market: DZ", "market: XX").replace("subscriber.card:", "subscriber.kard:")
    found = problems(text)
    assert [p.split(":")[1] for p in found] == ["3", "13"], found


POPULATION = """\
scenario: a population run
kind: population
flow: [F1]
market: DZ
simulation: {profile: dz-peak-hour, subscribers: 100, hours: 0.5}
thresholds:
  - {kpi: totals.success_rate, ge: 0.5}
"""


def test_a_valid_population_scenario() -> None:
    s = parse(POPULATION, "p.yaml")
    assert s.kind == "population" and s.markers == ("f1", "population")
    assert s.thresholds[0].describe() == "totals.success_rate >= 0.5" and s.thresholds[0].line == 7


@pytest.mark.parametrize("old,new,expected", [
    ("profile: dz-peak-hour", "profile: dz-peek-hour", "p.yaml:5: simulation: profile: unknown profile 'dz-peek-hour'"),
    ("hours: 0.5}", "hours: 0.5, overrides: {smsc.nope: 1}}", "p.yaml:5: simulation:"),
    ("{kpi: totals.success_rate, ge: 0.5}", "{kpi: totals.success_rate}", "p.yaml:7: thresholds[0]: 1 keys"),
    ("{kpi: totals.success_rate, ge: 0.5}", "{kpi: totals.success_rate, minutes: smsc_queue, ge: 1}",
     "p.yaml:7: thresholds[0]: kpi and minutes measured; expected exactly one"),
    ("{kpi: totals.success_rate, ge: 0.5}", "{kpi: total.success_rate, ge: 0.5}",
     "p.yaml:7: thresholds[0]: 'total.success_rate': expected a KPI path starting with markets, totals"),
    ("kind: population\n", "", "p.yaml:1: missing key 'steps'"),
])
def test_a_malformed_population_scenario(old: str, new: str, expected: str) -> None:
    found = problems(POPULATION.replace(old, new), "p.yaml")
    assert any(p.startswith(expected) for p in found), found


def test_the_schema_uses_only_what_the_checker_checks_and_lists_every_action() -> None:
    schema = load_schema()
    assert unsupported(schema) == []
    step = schema["$defs"]["step"]["properties"]
    listed = set(step) - {"name", "note", "expect", "capture", "within", "timeout"}
    assert listed == set(ACTIONS)
    for name in ACTIONS:
        assert schema["$defs"][name].get("description"), f"{name}: the schema must say what it does"
    json.dumps(schema)


def test_every_library_scenario_loads_and_the_issue_is_covered() -> None:
    scenarios = [load(p, source=str(p.relative_to(LIBRARY))) for p in sorted(LIBRARY.rglob("*.yaml"))]
    flows = {f for s in scenarios if s.kind == "story" for f in s.flows}
    assert flows >= {"F1", "F2", "F3", "F4", "F5", "F6", "settlement"}
    population = {(s.markets[0], tag) for s in scenarios if s.kind == "population" for tag in s.tags}
    for market in ("DZ", "IR", "EG"):
        for tag in ("normal_day", "salary_day", "smsc"):
            assert (market, tag) in population, (market, tag)
    assert not [s.source for s in scenarios if s.slow]


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope.yaml:1: cannot read the scenario"):
        load(tmp_path / "nope.yaml")


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abc:-[]{}\"' \n#&*!|>%@`,?${}0123456789.")), max_size=120))
def test_property_any_text_is_a_scenario_or_a_scenario_error(text: str) -> None:
    try:
        parse(text, "fuzz.yaml")
    except ScenarioError as e:
        assert e.problems and all(p.startswith("fuzz.yaml:") for p in e.problems)


step_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(ACTIONS)), step_values)
def test_property_any_arguments_to_any_action_load_or_fail_with_lines(action: str, args: object) -> None:
    import yaml
    text = yaml.safe_dump({"scenario": "fuzzed", "flow": "F1", "market": "EG", "steps": [{action: args}]},
                          allow_unicode=True)
    try:
        s = parse(text, "f.yaml")
    except ScenarioError as e:
        assert all(p.startswith("f.yaml:") and p.split(":")[1].isdigit() for p in e.problems), e.problems
    else:
        assert s.steps[0].action == action
