"""docs/meter-protocol.md shows a session captured from the emulator; replaying the same session
must give the same bytes, so the page a hardware team maps a meter from cannot drift."""
from __future__ import annotations

import re
from pathlib import Path

from meter_support import START, credit_token, keypad_meter

from devices.meter import MeterDriver, MeterEmulator

DOC = Path(__file__).resolve().parents[2] / "docs" / "meter-protocol.md"
_NAMES = {0x01: "SOH", 0x02: "STX", 0x03: "ETX", 0x04: "EOT", 0x06: "ACK", 0x15: "NAK", 0x0D: "CR", 0x0A: "LF"}


def render(direction: str, data: bytes) -> list[str]:
    """Bytes of one direction as text: control characters named, the BCC in hex, a line after
    each LF and each BCC (so how the pty chunked the bytes does not show)."""
    out, text, after_end = [], "", False
    for byte in data:
        if after_end:
            text, after_end = text + f"<BCC {byte:02X}>", False
            out.append(text)
            text = ""
            continue
        text += f"<{_NAMES[byte]}>" if byte in _NAMES else chr(byte) if 0x20 <= byte < 0x7F else f"<{byte:02X}>"
        after_end = byte in (0x03, 0x04)
        if byte == 0x0A or (byte == 0x06 and direction == "meter"):
            out.append(text)
            text = ""
    if text:
        out.append(text)
    arrow = "bench -> meter" if direction == "master" else "meter -> bench"
    return [f"{arrow}  {line}" if i == 0 else f"{' ' * len(arrow)}  {line}" for i, line in enumerate(out)]


def session() -> list[str]:
    meter = keypad_meter(credit=1250, clock=START)
    with MeterEmulator(meter, record=True) as emu:
        with MeterDriver(emu.port, timeout=2.0) as driver:
            driver.identify()
            driver.read_register("C.50.0")
            driver.enter_token(credit_token(25.6, minute=30))
            driver.enter_token(credit_token(25.6, minute=30))
            driver.emergency_credit()
            driver.set_relay(False)
            driver.read()
    runs: list[tuple[str, bytes]] = []
    for direction, data in emu.transcript:            # consecutive reads of one direction: one run
        if runs and runs[-1][0] == direction:
            runs[-1] = (direction, runs[-1][1] + data)
        else:
            runs.append((direction, data))
    return [line for direction, data in runs for line in render(direction, data)]


def test_the_transcript_in_the_docs_is_what_the_emulator_says():
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- transcript -->\n```text\n(.*?)```", text, re.S)
    assert block, "docs/meter-protocol.md lost its transcript block"
    assert block.group(1).splitlines() == session()
