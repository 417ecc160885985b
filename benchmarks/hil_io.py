"""Device I/O round trips per second through the real OS paths, each beside a baseline measured
in the same run on the same path.

    python -m benchmarks.hil_io                    # 2,000 round trips per measurement, best of 3
    python -m benchmarks.hil_io --n 5000 --passes 5 --json out/hil_io.json

- PC/SC: ``TIMING_APDU`` (READ BINARY of the card serial, 8 bytes, no crypto) through pyscard
  -> pcscd -> vpcd -> our virtual card, beside the same card driven in memory (``MemoryReader``):
  the ratio is what the operating-system path costs.
- Serial, meter: one IEC 62056-21 R1 register read (``read_register("C.50.0")``) from the
  pyserial driver to the meter emulator on a pty, beside a raw pyserial echo of a frame of the
  same size on a pty of its own (a thread writing back whatever it reads).
- Serial, modem: ``AT`` -> ``OK`` from the driver to the modem emulator on a pty, beside the
  same raw echo with a 4-byte line.

pcscd is started when none runs (and stopped after). Exit 0 when every path answered.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import threading
import time
import tty
from collections.abc import Callable, Sequence
from pathlib import Path


def _rate(fn: Callable[[], object], n: int, passes: int) -> float:
    best = 0.0
    for _ in range(passes):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = max(best, n / (time.perf_counter() - t0))
    return best


class _Echo:
    """A raw pty whose master end echoes every byte back: the cheapest serial round trip."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            os.write(self.master, data)

    def close(self) -> None:
        self._stop = True
        os.close(self.master)
        os.close(self._slave)


def _echo_rate(frame: bytes, n: int, passes: int) -> float:
    import serial

    echo = _Echo()
    try:
        with serial.Serial(echo.path, 115200, timeout=2) as port:
            def once() -> None:
                port.write(frame)
                got = port.read(len(frame))
                if len(got) != len(frame):
                    raise RuntimeError("echo pty lost bytes")
            return _rate(once, n, passes)
    finally:
        echo.close()


def measure_pcsc(n: int, passes: int) -> dict:
    from devices.card import TIMING_APDU, MemoryCard, MemoryReader, UtilityCard, open_card_reader
    from hil.pcsc import pcscd_users

    master = bytes(range(32))

    def card() -> MemoryCard:
        return MemoryCard.manufacture("04A1B2C3D4E5F607", master, rng=random.Random(1))

    memory = MemoryReader(card())
    UtilityCard(memory).start()
    base = _rate(lambda: memory.transmit(TIMING_APDU), n, passes)
    with pcscd_users(), open_card_reader("emulator", card=card()) as reader:
        UtilityCard(reader).start()
        ours = _rate(lambda: reader.transmit(TIMING_APDU), n, passes)
    return {"path": "APDU pyscard->pcscd->vpcd->virtual card", "per_s": ours,
            "baseline": "same APDU, same card, in memory", "base_per_s": base}


def measure_meter(n: int, passes: int) -> dict:
    from devices.meter import MeterDriver, MeterEmulator, PrepaidMeter

    emulator = MeterEmulator(PrepaidMeter("47500150231"))
    path = emulator.start()
    try:
        with MeterDriver(path, baud=9600) as meter:
            meter.read_register("C.50.0")
            ours = _rate(lambda: meter.read_register("C.50.0"), n, passes)
    finally:
        emulator.stop()
    base = _echo_rate(b"\x01R1\x02C.50.0()\x03\x00", n, passes)
    return {"path": "meter R1 register read, pyserial->pty->emulator", "per_s": ours,
            "baseline": "raw pyserial echo of a 14-byte frame on a pty", "base_per_s": base}


def measure_modem(n: int, passes: int) -> dict:
    from devices.modem import open_modem

    with open_modem("emulator", msisdn="201001234567") as modem:
        modem.at("AT")
        ours = _rate(lambda: modem.at("AT"), n, passes)
    base = _echo_rate(b"AT\r\n", n, passes)
    return {"path": "modem AT -> OK, pyserial->pty->emulator", "per_s": ours,
            "baseline": "raw pyserial echo of a 4-byte line on a pty", "base_per_s": base}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hil_io", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="round trips per pass (default 2000)")
    parser.add_argument("--passes", type=int, default=3, help="passes per measurement; the best counts")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--skip-pcsc", action="store_true", help="serial paths only (no pcscd here)")
    args = parser.parse_args(argv)
    if args.n < 1 or args.passes < 1:
        parser.error("--n and --passes must be >= 1")
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"hil_io {when}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
          f"{args.n:,} round trips per pass, best of {args.passes}")
    rows, failed = [], False
    for name, fn in (("pcsc", measure_pcsc), ("meter", measure_meter), ("modem", measure_modem)):
        if name == "pcsc" and args.skip_pcsc:
            continue
        try:
            row = fn(args.n, args.passes)
        except Exception as e:  # one path down does not hide the others' figures
            print(f"{name}: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
            failed = True
            continue
        row["ratio"] = row["per_s"] / row["base_per_s"]
        rows.append(row)
    print(f"{'path':<48} {'per s':>9}  {'baseline':<48} {'base/s':>9} {'ratio':>6}")
    print("-" * 126)
    for r in rows:
        print(f"{r['path']:<48} {r['per_s']:>9,.0f}  {r['baseline']:<48} {r['base_per_s']:>9,.0f} {r['ratio']:>6.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"when": when, "n": args.n, "passes": args.passes, "rows": rows}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
