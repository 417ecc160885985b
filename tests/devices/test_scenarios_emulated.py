"""The stories that drive a meter, a card reader or a modem, on the emulator bench: the meter
and the handsets on ptys through pyserial, the card reader through pcscd and vpcd with pyscard
(``hil/benches/emulated.yaml``). Needs pcscd and vsmartcard-vpcd (``./rb setup`` as root);
under CI they must be there."""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from card_support import pcscd  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.xdist_group("pcsc")
def test_device_stories_pass_on_the_emulator_bench(pcscd: object, tmp_path: Path) -> None:  # noqa: F811
    junit, report = tmp_path / "junit.xml", tmp_path / "emulated.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "scenarios", "-q",
         "--bench", "hil/benches/emulated.yaml", "-m", "meter or card_reader or modem",
         "--junitxml", str(junit), "--scenario-report", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 25 and suite.get("failures") == "0" and suite.get("skipped") == "0"
    page = report.read_text(encoding="utf-8")
    assert "bench emulated" in page
    for channel in ("apdu", "serial", "at"):        # the real OS paths were used and recorded
        assert f"<td class='ch'>{channel}</td>" in page, channel
