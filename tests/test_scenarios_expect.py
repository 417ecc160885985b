"""Expectations, captures, templates (variables, Faker, market texts, durations), the transcript
and the HTML report of the scenario runner."""
from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.digits import to_ascii_digits
from core.market import TEXT_KEYS, load_markets, market
from core.msisdn import normalise
from scenarios.expect import CaptureError, capture, check, lookup, matches, same
from scenarios.report import render
from scenarios.transcript import Transcript, mask
from scenarios.values import (
    Context,
    TemplateError,
    parse_duration,
    references,
    text_pattern,
)


def ctx(code: str = "DZ", seed: int = 1, worker: int = 0) -> Context:
    return Context(market(code), random.Random(seed), worker=worker, seed=seed)


RESULT = {"http": 201, "state": "credited", "main": "1100.00", "amount": {"value": "500.00"},
          "texts": ["Recharge de 500", "other", "Recharge de 200"], "text": "code 123456 ok", "n": 3}


@pytest.mark.parametrize("path,matcher", [
    ("http", 201), ("http", "201"), ("main", "1100.00"), ("main", "1100"), ("amount.value", "500"),
    ("state", {"in": ["failed", "credited"]}), ("n", {"gt": 2, "le": 3}), ("texts.-1", {"matches": "200$"}),
    ("texts", {"count": {"matches": "^Recharge"}, "eq": 2}), ("texts", {"contains": "other"}),
    ("texts", {"any": {"matches": "500"}, "none": {"matches": "999"}}), ("texts", {"len": 3}),
    ("text", {"contains": "123456", "not_matches": "^x"}), ("missing", {"present": False}),
    ("text", {"len": {"ge": 10}}), ("texts", {"all": {"matches": "e"}}),
])
def test_matchers_that_hold(path: str, matcher: object) -> None:
    assert check(RESULT, {path: matcher}, ctx()) == []


@pytest.mark.parametrize("path,matcher,said", [
    ("http", 200, "http: expected 200, got 201"),
    ("state", "failed", "state: expected 'failed', got 'credited'"),
    ("missing", 1, "missing: expected 1, got (missing)"),
    ("texts", {"count": {"matches": "Recharge"}, "eq": 1}, "texts: expected a count of items matching"),
    ("n", {"lt": 3}, "n: expected < 3, got 3"),
    ("text", {"matches": "^\\d+$"}, "text: expected matching /^\\d+$/"),
])
def test_matchers_that_fail_say_what_was_expected_and_what_came(path: str, matcher: object, said: str) -> None:
    [mismatch] = check(RESULT, {path: matcher}, ctx())
    assert str(mismatch).startswith(said), str(mismatch)


def test_equality_is_numeric_only_where_it_should_be() -> None:
    assert same("500000", "500000.00") and same(12.5, "12.50") and same(201, "201")
    assert not same("0551234567", "551234567")         # phone numbers are text
    assert not same(True, 1) and not same(None, 0) and same(None, None)
    assert same([200, 409], [200, 409]) and not same([200], [409])


def test_templates_render_in_expectations() -> None:
    c = ctx()
    c.set("want", "credited")
    assert check(RESULT, {"state": "${want}"}, c) == []
    assert matches("x", {"eq": "x"}) == (True, "= 'x'")


def test_captures_take_fields_and_pattern_groups() -> None:
    c = ctx()
    assert capture(RESULT, "amount.value", c) == "500.00"
    assert capture(RESULT, {"from": "text", "pattern": r"(\d{6})"}, c) == "123456"
    assert capture(RESULT, {"from": "text", "pattern": r"code (?P<otp>\d+)", "group": "otp"}, c) == "123456"
    with pytest.raises(CaptureError, match="no field 'nope' in the result"):
        capture(RESULT, "nope", c)
    with pytest.raises(CaptureError, match=r"/\\d\{9\}/ not found in text"):
        capture(RESULT, {"from": "text", "pattern": r"\d{9}"}, c)
    with pytest.raises(CaptureError, match="no group 'x'"):
        capture(RESULT, {"from": "text", "pattern": r"(\d+)", "group": "x"}, c)


def test_lookup_walks_mappings_and_lists() -> None:
    assert lookup({"a": [{"b": 1}]}, "a.0.b") == 1
    assert lookup({"a": [1, 2]}, "a.-1") == 2


def test_variables_faker_and_conversions() -> None:
    c = ctx("IR")
    c.set("order", {"id": "ord_1", "items": ["x", "y"]})
    c.set("friend", "09351234567")
    c.set("otp", "019283")
    assert c.render("${order.id}") == "ord_1" and c.render("${order.items.1}") == "y"
    assert c.render({"a": ["${order.id} ok"]}) == {"a": ["ord_1 ok"]}
    assert c.render("${local:friend}") == "۰۹۳۵۱۲۳۴۵۶۷" and c.render("${e164:friend}") == "989351234567"
    assert c.render("${wrong:otp}") == "120394"
    assert c.render("${market.verify_window_s}") == 900 and c.render("${market.currency}") == "IRR"
    assert c.render("${faker:digits:5}").isdigit()
    with pytest.raises(TemplateError, match="'nothing' is not set"):
        c.render("${nothing}")
    with pytest.raises(TemplateError, match="no field 'x' in order"):
        c.render("${order.x}")
    with pytest.raises(TemplateError, match="unknown market fact"):
        c.render("${market.colour}")
    assert references("${a.b} ${faker:name} ${text:sms_otp} ${local:c} ${market.code}") == ["a", "c"]


def test_faker_is_seeded_and_msisdns_come_from_the_worker_range() -> None:
    a, b = ctx("EG", seed=5, worker=3), ctx("EG", seed=5, worker=3)
    assert [a.render("${faker:name}") for _ in range(3)] == [b.render("${faker:name}") for _ in range(3)]
    numbers = {ctx("EG", seed=5, worker=w).render("${faker:msisdn}") for w in (3, 4)}
    assert {n[3:5] for n in numbers} == {"03", "04"}
    one = ctx("EG", seed=9, worker=7)
    drawn = [one.render("${faker:msisdn}") for _ in range(50)]
    assert len(set(drawn)) == 50


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["DZ", "IR", "EG"]), st.integers(0, 2 ** 32), st.integers(0, 150))
def test_property_faker_msisdns_are_valid_numbers_of_the_market(code: str, seed: int, worker: int) -> None:
    number = ctx(code, seed, worker).render("${faker:msisdn}")
    parsed = normalise(number, market(code).numbering)
    assert parsed.national == number and number[len(min(market(code).numbering.operators)) + 1:][:2] == \
        f"{worker % 100:02d}"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(load_markets())), st.sampled_from(sorted(TEXT_KEYS)), st.data())
def test_property_a_market_text_matches_its_own_pattern_and_captures_its_values(code: str, key: str,
                                                                                data: st.DataObject) -> None:
    mkt = market(code)
    lang = data.draw(st.sampled_from(mkt.languages))
    values = {name: data.draw(st.from_regex(r"[0-9]{4,8}" if name == "otp" else r"[A-Za-z0-9_.,]{1,12}",
                                            fullmatch=True)) for name in TEXT_KEYS[key]}
    text = mkt.text(key, lang, **values)
    m = re.search(text_pattern(mkt, key, lang), text)
    assert m is not None, (text, key)
    if "otp" in values and "otp" in m.groupdict():
        assert m.group("otp") == values["otp"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["", "ms", "s", "m", "h", "d"])), min_size=1,
                max_size=4))
def test_property_durations_are_the_sum_of_their_terms(terms: list[tuple[int, str]]) -> None:
    unit = {"": 1, "ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    text = " + ".join(f"{n}{u}" for n, u in terms)
    assert parse_duration(text) == pytest.approx(sum(n * unit[u] for n, u in terms))


@pytest.mark.parametrize("bad", ["soon", "-1s", "1 parsec", "", "1s +", True, -3, None])
def test_bad_durations_say_what_a_duration_is(bad: object) -> None:
    with pytest.raises(TemplateError, match="duration"):
        parse_duration(bad)


def test_the_transcript_masks_card_numbers_but_not_hex_frames() -> None:
    t = Transcript(lambda: 100.0)
    t.add("http", 'POST /card {"pan": "6280581234567890"}')
    t.add("apdu", "-> 0CB0830012345678901234 <- 9000")
    rows = t.as_rows()
    assert "628058******7890" in rows[0][3] and "1234567890" not in rows[0][3]
    assert rows[1][3] == "-> 0CB0830012345678901234 <- 9000"
    assert mask("card 6280581234567890 and 2026") == "card 628058******7890 and 2026"
    assert re.match(r"^T\+0\.000 +s w[0-9.]+ +s http", t.render())


def test_the_transcript_keeps_its_last_entries() -> None:
    t = Transcript(limit=3)
    for i in range(5):
        t.add("note", str(i))
    assert [r[3] for r in t.as_rows()] == ["2", "3", "4"]
    assert t.render().startswith("... 2 earlier entries not shown") and t.render(last=1).endswith(" 4")


def test_the_html_report_is_self_contained() -> None:
    story = {"nodeid": "s.yaml::DZ", "title": "a <story>", "source": "s.yaml", "kind": "story", "market": "DZ",
             "flows": ["F1"], "roles": ["modem"], "seed": 3, "bench": "models", "replay": "pytest s.yaml::DZ --seed 3",
             "passed": False, "outcome": "failed", "failure": "failed at step 2", "wall_s": 0.5, "clock_s": 60.0,
             "steps": "1/2", "transcript": [[0.0, 0.01, "http", "POST /v1/topups -> 201"]]}
    population = {**story, "nodeid": "p.yaml::DZ", "title": "pop", "kind": "population", "passed": True,
                  "outcome": "passed", "failure": "", "config": "dz-peak-hour, 100 subscribers", "conserved": True,
                  "checks": [{"threshold": "totals.success_rate >= 0.5", "value": "0.9", "ok": True, "why": ""}],
                  "plots": {"load": "iVBORw0KGgo="}, "transcript": []}
    page = render([population, story], seed=3, bench="models")
    assert "a &lt;story&gt;" in page and "POST /v1/topups -&gt; 201" in page and "failed at step 2" in page
    assert "data:image/png;base64,iVBORw0KGgo=" in page and "totals.success_rate &gt;= 0.5" in page
    assert "1 failed, 1 passed" in page
    assert not re.search(r"<(script|link)\b|src=['\"]http", page)
    assert to_ascii_digits("۱۲") == "12"
