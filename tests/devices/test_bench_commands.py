"""The bench commands end to end, as a hardware engineer runs them: devices, check, validate.

``validate emulated`` is the CI run of the meter and card reader conformance suites through the
real OS paths (a pty for the meter, pcscd + vpcd for the card reader).
"""
from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from card_support import pcscd  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]


def rbench(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hil.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_check_a_bench_of_models():
    r = rbench("check", "model")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "3 of 3 roles answered" in r.stdout
    assert "meter        model     OK" in r.stdout and "utility card 04A1B2C3D4E5F607" in r.stdout


def test_check_reports_every_role_that_does_not_answer(tmp_path):
    bench = tmp_path / "lab.yaml"
    bench.write_text("market: EG\nroles:\n  meter: {face: driver, port: /dev/ttyRBENCH-none}\n"
                     "  modem: {face: model}\n")
    r = rbench("check", str(bench))
    assert r.returncode == 1
    assert "meter        driver    FAIL" in r.stdout and "/dev/ttyRBENCH-none" in r.stdout
    assert "modem        model     OK" in r.stdout
    assert "1 of 2 roles answered; check the cabling and the bench file for: meter" in r.stdout


def test_a_bad_bench_file_is_one_clear_message_and_exit_2(tmp_path):
    bench = tmp_path / "lab.yaml"
    bench.write_text("market: EG\nroles:\n  meter: {face: emulater}\n")
    for cmd in ("check", "validate"):
        r = rbench(cmd, str(bench))
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"{bench}:3: roles.meter.face: 'emulater' is not one of model, emulator, driver" in r.stdout
        assert "Traceback" not in r.stdout + r.stderr


def test_devices_lists_ports_and_readers():
    r = rbench("devices")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("serial ports (") and "PC/SC readers (" in r.stdout


def _validate(bench: str, out: Path) -> tuple[subprocess.CompletedProcess, dict, ET.Element]:
    r = rbench("validate", bench, "--out", str(out))
    record = json.loads((out / "record.json").read_text())
    junit = ET.parse(out / "junit.xml").getroot()
    return r, record, junit


def test_validate_on_models(tmp_path):
    r, record, junit = _validate("model", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert record["summary"] == {"passed": 14}
    assert record["bench"]["roles"]["meter"]["face"] == "model"
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert suite.get("tests") == "14" and suite.get("failures") == "0"


@pytest.mark.xdist_group("pcsc")
def test_validate_on_emulators_through_a_pty_and_pcscd(tmp_path, pcscd):  # noqa: F811
    r, record, _ = _validate("emulated", tmp_path)
    assert r.returncode == 0, r.stdout[-3000:]
    assert record["summary"] == {"passed": 14}
    checks = {c["nodeid"].split("::")[-1]: c for c in record["checks"]}
    relay = {m["name"]: m for m in checks["test_relay_opens_at_zero_and_closes_after_credit"]["measurements"]}
    assert relay["credit_when_open"]["value"] <= 0 and relay["relay_reason"]["value"] == "credit"
    token = {m["name"]: m for m in checks["test_a_valid_token_is_accepted_once"]["measurements"]}
    assert token["token_time"]["unit"] == "ms" and token["token_time"]["passed"]
    assert {c["role"] for c in record["checks"]} == {"meter", "card_reader"}


@pytest.mark.xdist_group("pcsc")
def test_the_hil_io_benchmark_measures_every_path(tmp_path, pcscd):  # noqa: F811
    out = tmp_path / "hil_io.json"
    r = subprocess.run([sys.executable, "-m", "benchmarks.hil_io", "--n", "50", "--passes", "1", "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [row["path"].split()[0] for row in rows] == ["APDU", "meter", "modem"]
    assert all(row["per_s"] > 0 and row["base_per_s"] > 0 and 0 < row["ratio"] for row in rows)
