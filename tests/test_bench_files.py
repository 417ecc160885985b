"""Bench files: the shipped ones load, and every mistake names its line and the fix."""
from __future__ import annotations

import pytest

from hil.bench import BENCH_DIR, FACES, BenchError, all_models, load_bench, parse_bench


@pytest.mark.parametrize("name", ["model", "emulated", "example-lab"])
def test_shipped_benches_load(name):
    bench = load_bench(BENCH_DIR / f"{name}.yaml")
    assert set(bench.roles) == {"meter", "card_reader", "modem"}
    assert bench.market == "EG"


def test_a_bench_by_name_and_its_faces():
    assert {b.face for b in load_bench("model").roles.values()} == {"model"}
    assert {b.face for b in load_bench("emulated").roles.values()} == {"emulator"}
    lab = load_bench("example-lab")
    assert lab.roles["meter"].params["port"] == "/dev/ttyUSB0"
    assert lab.roles["meter"].line == 8


def test_all_models_binds_every_role():
    assert {r: b.face for r, b in all_models().roles.items()} == dict.fromkeys(("meter", "card_reader", "modem"), "model")


def _problems(text: str) -> list[str]:
    with pytest.raises(BenchError) as e:
        parse_bench(text, "lab.yaml")
    return e.value.problems


def test_every_problem_is_reported_with_its_line():
    problems = _problems(
        "market: XX\n"
        "roles:\n"
        "  meter: {face: emulater}\n"
        "  printer: {face: model}\n"
        "  modem:\n"
        "    face: driver\n"
        "    baud: 1234\n"
        "    pin: '12'\n")
    assert "lab.yaml:1: market: 'XX' is not one of DZ, IR, EG" in problems
    assert "lab.yaml:3: roles.meter.face: 'emulater' is not one of model, emulator, driver (did you mean 'emulator'?)" in problems
    assert "lab.yaml:4: roles.printer: unknown role; expected one of meter, card_reader, modem" in problems
    assert "lab.yaml:7: roles.modem.baud: 1234 is not one of 9600, 19200, 38400, 57600, 115200" in problems
    assert any(p.startswith("lab.yaml:8: roles.modem.pin: '12' is not valid") for p in problems)
    assert any(p.startswith("lab.yaml:5: roles.modem.port: missing; face driver needs") for p in problems)
    assert len(problems) == 6


def test_keys_that_do_not_fit_the_face_or_the_role():
    problems = _problems("market: DZ\nroles:\n  meter:\n    face: model\n    port: /dev/ttyUSB0\n    bauds: 9600\n")
    assert "lab.yaml:5: roles.meter.port: only for face driver, not model" in problems
    assert any(p.startswith("lab.yaml:6: roles.meter.bauds: unknown key (did you mean 'baud'?)") for p in problems)


@pytest.mark.parametrize("text,expected", [
    ("", "lab.yaml:1: expected a mapping with 'market' and 'roles'"),
    ("market: DZ\nroles: [meter]\n", "lab.yaml:2: roles: expected a mapping"),
    ("market: DZ\nroles:\n  meter: model\n", "lab.yaml:3: roles.meter: expected a mapping like {face: model}"),
    ("market: DZ\nroles:\n  meter: {port: x}\n", "lab.yaml:3: roles.meter.face: missing"),
    ("market: DZ\nroles: {meter: {face: model}\n", "lab.yaml:3: not valid YAML"),
    ("roles: {}\n", "lab.yaml:1: market: missing"),
    ("market: DZ\nroles:\n  meter: {face: model, meter_number: 123}\n", "lab.yaml:3: roles.meter.meter_number: 123 is not a text"),
    ("market: DZ\nroles:\n  modem: {face: emulator, timeout: 0}\n", "lab.yaml:3: roles.modem.timeout: 0 is too small"),
])
def test_malformed_benches(text, expected):
    assert any(p.startswith(expected) for p in _problems(text)), _problems(text)


def test_a_missing_file_lists_the_shipped_benches(tmp_path):
    with pytest.raises(BenchError, match="no such bench file; give a path or one of: emulated, example-lab, model"):
        load_bench(tmp_path / "nope.yaml")


def test_faces_are_the_three_of_the_architecture():
    assert FACES == ("model", "emulator", "driver")
