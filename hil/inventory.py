"""``rbench devices``: what a bench could bind on this machine, serial ports and PC/SC readers.

The first thing a hardware engineer asks on a new bench PC is "does it see my probe and my
reader?", before any bench file is written. Serial ports come from pyserial's own listing
(USB-serial adapters with their vendor and product); readers from pcscd. When pcscd is not
running or not installed, the output says so and how to fix it rather than listing nothing.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SerialPort:
    device: str
    description: str
    hwid: str


def serial_ports() -> list[SerialPort]:
    from serial.tools import list_ports

    return [SerialPort(p.device, p.description or "", p.hwid or "")
            for p in sorted(list_ports.comports(), key=lambda p: p.device)]


def pcsc_readers() -> tuple[list[str], str | None]:
    """(readers, None), or ([], why there are none) when PC/SC cannot be asked."""
    from hil.pcsc import pcsc_available, readers

    ok, why = pcsc_available()
    if not ok:
        return [], why
    names = readers()
    if names is None:
        return [], "pcscd is not running: start it with `pcscd` (or `python -m hil.pcsc start`)"
    return names, None


def run_devices() -> int:
    ports = serial_ports()
    print(f"serial ports ({len(ports)}):")
    for p in ports:
        extra = f"  [{p.hwid}]" if p.hwid and p.hwid != "n/a" else ""
        print(f"  {p.device:<20} {p.description}{extra}")
    if not ports:
        print("  none (a USB-serial probe shows up as /dev/ttyUSB0 or /dev/ttyACM0; "
              "pyserial URLs like socket://host:port need no local port)")
    names, why = pcsc_readers()
    print(f"PC/SC readers ({len(names)}):")
    for n in names:
        note = "  (vpcd: the emulator face's reader)" if n.startswith("Virtual PCD") else ""
        print(f"  {n}{note}")
    if why:
        print(f"  unavailable: {why}")
    elif not names:
        print("  none: plug a reader in (pcscd sees it within a second)")
    return 0
