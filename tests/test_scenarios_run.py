"""Running scenarios: stories in process (transcript, failures, replay, determinism), population
thresholds, the pytest plugin in a subprocess (collection errors, xdist, JUnit, the HTML report)
and ``rbench scenarios``."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hil.bench import all_models
from hil.scenarios_cmd import pytest_args, run_scenarios
from scenarios.loader import parse
from scenarios.population import ThresholdMissed, run_population
from scenarios.story import StepFailed, StoryRun, run_story

ROOT = Path(__file__).resolve().parent.parent
STORY = """\
scenario: a self top-up by card and OTP, read from the SMSC
flow: F1
markets: [DZ, EG]
vars:
  me: ${faker:msisdn}
given:
  subscribers: [{msisdn: "${me}", balance: "10"}]
  cards:
    gold: {phone: "${me}"}
steps:
  - subscriber.topup: {recipient: "${me}", amount: "100"}
    expect: {http: 201}
    capture: {order: id}
  - subscriber.card: {order: "${order}", card: gold}
    expect: {state: otp_pending}
  - smsc.wait: {to: "${me}", match: "${text:sms_otp}"}
    capture: {otp: {from: text, pattern: "${text:sms_otp}", group: otp}}
  - subscriber.otp: {order: "${order}", otp: "${otp}"}
    expect: {state: credited}
  - subscriber.balance: ${me}
    expect: {main: "110.00"}
"""


def story(text: str = STORY, market: str = "DZ", seed: int = 1, tmp: Path | None = None) -> StoryRun:
    scenario = parse(text, "t.yaml", Path("t.yaml"))
    return run_story(scenario, market, bench=all_models(market), seed=seed, workdir=tmp, replay="pytest t.yaml")


def test_a_story_runs_and_keeps_its_transcript(tmp_path: Path) -> None:
    run = story(tmp=tmp_path)
    assert run.passed and run.steps_done == 5 and run.clock_s > 0
    channels = {row[2] for row in run.transcript}
    assert {"step", "http", "sms", "result", "note"} <= channels
    assert any("POST /v1/topups" in row[3] for row in run.transcript)
    assert any(row[2] == "note" and "conservation OK" in row[3] for row in run.transcript)


def test_same_seed_same_story_other_seed_other_numbers(tmp_path: Path) -> None:
    def texts(seed: int, sub: str) -> list[tuple[float, str, str]]:
        (tmp_path / sub).mkdir()
        return [(round(c, 6), ch, t) for c, _w, ch, t in story(seed=seed, tmp=tmp_path / sub).transcript]
    first, again, other = texts(4, "a"), texts(4, "b"), texts(5, "c")
    assert first == again
    assert first != other


def test_a_failing_step_shows_the_step_the_expectation_the_seed_and_the_transcript(tmp_path: Path) -> None:
    text = STORY.replace('expect: {main: "110.00"}', 'expect: {main: "999.00"}')
    with pytest.raises(StepFailed) as e:
        story(text, seed=7, tmp=tmp_path)
    message = e.value.text
    assert "failed at step 5 (line 20) subscriber.balance: expectation not met" in message
    assert "main: expected '999.00', got '110.00'" in message
    assert "seed 7, bench models; replay: pytest t.yaml" in message
    assert re.search(r"T\+\S+ +s w\S+ +s http +GET /v1/subscribers/", message)
    assert e.value.run.steps_done == 4 and not e.value.run.passed


def test_a_wait_that_never_ends_fails_at_its_deadline(tmp_path: Path) -> None:
    text = STORY.replace('match: "${text:sms_otp}"}', 'match: "never"}\n    within: 90s')
    with pytest.raises(StepFailed) as e:
        story(text, tmp=tmp_path)
    assert "step 3 (line 16) smsc.wait: expectation not met within 90 s" in e.value.text
    assert "received: expected True, got False" in e.value.text


def test_an_action_that_cannot_be_done_and_a_bad_given_are_failures_not_crashes(tmp_path: Path) -> None:
    text = STORY.replace("  - subscriber.balance: ${me}\n    expect: {main: \"110.00\"}\n",
                         "  - subscriber.answer: \"1\"\n")
    with pytest.raises(StepFailed, match=r"step 5 \(line 20\) subscriber.answer: the action could not be carried "
                                         r"out: ValueError: subscriber.answer: no USSD session 'main'"):
        story(text, tmp=tmp_path / "a")
    bad_given = STORY.replace('balance: "10"', 'balance: "10.001"')
    with pytest.raises(StepFailed, match=r"after the last step: given: could not set up the story: InvalidInput"):
        story(bad_given, tmp=tmp_path / "b")


POPULATION = """\
scenario: a tiny population run
kind: population
flow: [F1]
market: DZ
simulation: {profile: dz-peak-hour, subscribers: 300, hours: 0.25}
thresholds:
  - {kpi: conservation.ok, eq: true}
  - {kpi: totals.attempts, ge: 1000000, why: "a threshold that cannot hold"}
"""


def test_population_thresholds_are_checked_and_a_miss_names_its_line() -> None:
    with pytest.raises(ThresholdMissed) as e:
        run_population(parse(POPULATION, "p.yaml"), seed=1, replay="pytest p.yaml")
    text = e.value.text
    assert "ok   line 7: conservation.ok = True" in text
    assert "MISS line 8: totals.attempts >= 1000000" in text and "a threshold that cannot hold" in text
    assert "conservation: ok" in text and "seed 1; replay: pytest p.yaml" in text
    ok = parse(POPULATION.replace("ge: 1000000", "ge: 0"), "p.yaml")
    run = run_population(ok, seed=1)
    assert run.passed and run.minutes and run.checks[1].ok


# -- the plugin, as QA runs it ----------------------------------------------------------------------
def pytest_run(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False, timeout=timeout)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_malformed_scenario_fails_at_collection_with_file_and_line(tmp_path: Path) -> None:
    write(tmp_path / "scenarios", "bad.yaml", STORY.replace("subscriber.card:", "subscriber.cart:"))
    write(tmp_path / "scenarios", "good.yaml", STORY)
    done = pytest_run("-p", "scenarios.plugin", str(tmp_path / "scenarios"), "-q")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "malformed scenario:" in done.stdout
    assert re.search(r"(scenarios/)?bad.yaml:14: steps\[1\].subscriber.cart: unknown key "
                     r"\(did you mean 'subscriber.card'\?\); expected a step: one action", done.stdout), done.stdout


@pytest.mark.slow
def test_the_plugin_on_xdist_filters_markets_and_prints_the_seed_to_replay(tmp_path: Path) -> None:
    write(tmp_path / "scenarios", "good.yaml", STORY)
    write(tmp_path / "scenarios", "failing.yaml", STORY.replace('{main: "110.00"}', '{main: "1.00"}'))
    report, junit = tmp_path / "out" / "report.html", tmp_path / "out" / "junit.xml"
    done = pytest_run("-p", "scenarios.plugin", str(tmp_path / "scenarios"), "-n", "2", "--dist", "loadgroup",
                      "--market", "EG", "--seed", "11", "--scenario-report", str(report), "--junitxml", str(junit))
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "1 failed, 1 passed" in out and "::DZ" not in out
    assert "seed 11, bench models; replay: pytest" in out and "failing.yaml::EG --seed 11" in out
    cases = ET.parse(junit).getroot().iter("testcase")
    props = {c.get("name"): {p.get("name"): p.get("value") for p in c.iter("property")} for c in cases}
    assert props == {"EG": {"seed": "11", "bench": "models", "market": "EG"}} or \
        all(p == {"seed": "11", "bench": "models", "market": "EG"} for p in props.values())
    page = report.read_text(encoding="utf-8")
    assert "1 failed, 1 passed" in page and page.count("<h2") == 2 and "POST /v1/topups" in page


@pytest.mark.slow
def test_pytest_scenarios_passes_on_models_with_junit_and_the_html_report(tmp_path: Path) -> None:
    """The whole library on the model bench, as CI runs it (about a minute on 2 cores)."""
    report, junit = tmp_path / "scenarios.html", tmp_path / "junit.xml"
    done = pytest_run("scenarios", "-n", "2", "--dist", "loadgroup", "--scenario-report", str(report),
                      "--junitxml", str(junit), "-q", timeout=1200)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    total = int(suite.get("tests"))
    assert total >= 40 and suite.get("failures") == "0" and suite.get("errors") == "0"
    assert int(suite.get("skipped")) == 0
    page = report.read_text(encoding="utf-8")
    assert page.count("<h2") == total and page.count("data:image/png;base64,") >= 9 * 3


def test_rbench_scenarios_turns_its_options_into_the_plugin_s(tmp_path: Path) -> None:
    folder = write(tmp_path / "qa", "mine.yaml", STORY).parent
    ns = argparse.Namespace(paths=[str(folder)], bench="emulated", market=["EG", "DZ"], seed="3",
                            report="r.html", junit="j.xml", marker="f1", keyword="top", workers="2")
    args = pytest_args(ns)
    assert args[:5] == ["-p", "scenarios.plugin", "-p", "no:cacheprovider", "-ra"]
    assert args[5:] == [str(folder / "mine.yaml"), "--bench", "emulated", "--market", "EG", "--market", "DZ",
                        "--seed", "3", "--scenario-report", "r.html", "--junitxml", "j.xml", "-m", "f1",
                        "-k", "top", "-n", "2", "--dist", "loadgroup"]
    library = str(ROOT / "scenarios" / "library" / "f6")          # under scenarios/: given as it is
    assert pytest_args(argparse.Namespace(paths=[library]))[5:] == [library]
    assert pytest_args(argparse.Namespace(paths=[]))[5:] == [str(ROOT / "scenarios" / "library")]


def test_rbench_scenarios_refuses_a_path_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    ns = argparse.Namespace(paths=[str(tmp_path / "nope")])
    assert run_scenarios(ns) == 4
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_scenarios(argparse.Namespace(paths=[str(tmp_path / "empty")])) == 4


def test_rbench_scenarios_runs_scenarios_kept_anywhere(tmp_path: Path) -> None:
    folder = write(tmp_path / "qa", "mine.yaml", STORY).parent
    report = tmp_path / "r.html"
    code = ("import argparse, sys; from hil.scenarios_cmd import add_parser; p = argparse.ArgumentParser(); "
            "add_parser(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.run(a))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run([sys.executable, "-c", code, "scenarios", str(folder), "--market", "DZ", "--seed", "3",
                           "--report", str(report)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout and f"HTML report {report}" in done.stdout
    assert "seed 3" in report.read_text(encoding="utf-8")
