"""A household of the simulation whose meter is on the bench: the SimPy world meets real I/O.

The simulator runs every meter as a model; this is the same household story (buy at a kiosk,
type the token, look at the meter) with the meter role taken from a bench file, so the meter
can be the emulator on a pty or a real meter on /dev/ttyUSB0. The world runs in a
``simpy.rt.RealtimeEnvironment`` and the meter's serial I/O on its own thread
(``hil.realtime.DeviceThread``): while the meter answers, the world keeps ticking::

    python -m hil.household --bench emulated --purchases 3
    python -m hil.household --bench my-lab.yaml --factor 1     # a real meter keyed with the core's keys

The core vends on the simulated clock; every purchase is checked against the meter's answer
(accepted, credited what was sold) and the run ends with the ledger's conservation check.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import simpy
import simpy.rt

from core.money import Money
from core.wiring import build_core
from hil.bench import Bench, BenchError, load_bench, open_role
from hil.realtime import DeviceThread
from sim.clock import SimClock, SimScheduler

METER = "47500150231"
AGENT = "kiosk-bench-1"
EPOCH = 1_795_320_000.0      # 2026-11-22T00:00:00Z


@dataclass
class HouseholdRun:
    purchases: list[dict] = field(default_factory=list)
    ticks: int = 0                      # world ticks while device calls were outstanding
    wall_s: float = 0.0
    conservation_ok: bool = False
    conservation: str = ""

    @property
    def ok(self) -> bool:
        return self.conservation_ok and all(p["result"] == "accepted" and p["credited_kwh"] == p["sold_kwh"]
                                            for p in self.purchases)


def run_household(bench: Bench, *, purchases: int = 3, amount: str = "20", think_s: float = 0.2,
                  factor: float = 1.0, seed: int = 0, db: str | None = None) -> HouseholdRun:
    env = simpy.rt.RealtimeEnvironment(factor=factor, strict=False)
    tmp = tempfile.TemporaryDirectory(prefix="rbench-household-")
    core = build_core(db or f"sqlite:///{Path(tmp.name) / 'core.db'}", clock=SimClock(env, EPOCH),
                      scheduler=SimScheduler(env), seed=seed)
    market = bench.market
    tariff = f"{market}-RES"
    number = bench.roles["meter"].params.get("meter_number", METER)
    meter = core.meters.register(market, number, kind="sts", tariff=tariff, customer="Bench Household")
    currency = {"DZ": "DZD", "IR": "IRR", "EG": "EGP"}[market]
    core.payments.deposit_float(AGENT, Money.parse("100000", currency), "bench-float-1")
    extra = {}
    if bench.face("meter") != "driver":         # a model or emulator takes the core's keys for this meter
        extra = {"decoder_key": core.vending.purpose.decoder_key(meter), "key_revision": meter.key_revision,
                 "tariff_index": int(meter.tariff_index)}
    run = HouseholdRun()
    t0 = time.perf_counter()
    with open_role(bench, "meter", **extra) as port, DeviceThread(env, port, name="meter") as dev:
        busy = {"calls": 0}

        def household(env: simpy.Environment):  # type: ignore[no-untyped-def]
            for i in range(purchases):
                order = core.vending.vend(number, amount, method="kiosk", method_account=AGENT, channel="kiosk",
                                          order_id=f"bench-vend-{seed}-{i}")
                sold = core.vending.result(order.id)
                before = yield _call(dev, busy, "read")
                result = yield _call(dev, busy, "enter_token", sold["token"])
                after = yield _call(dev, busy, "read")
                run.purchases.append({
                    "order": order.id, "token": sold["token"], "sold_kwh": float(sold["energy_kwh"]),
                    "result": result.code.wire_name, "credited_kwh": round(result.credited / 100, 2),
                    "credit_before": before.credit, "credit_after": after.credit, "relay_closed": after.relay_closed,
                    "at_s": round(env.now, 3)})
                yield env.timeout(think_s)

        def ticker(env: simpy.Environment):  # type: ignore[no-untyped-def]
            while True:
                if busy["calls"]:
                    run.ticks += 1
                yield env.timeout(0.005)

        proc = env.process(household(env))
        env.process(ticker(env))
        env.run(until=proc)
    run.wall_s = time.perf_counter() - t0
    report = core.conservation()
    run.conservation_ok, run.conservation = report.ok, report.summary()
    core.store.close()
    tmp.cleanup()
    return run


def _call(dev: DeviceThread, busy: dict, method: str, *args):  # type: ignore[no-untyped-def]
    """A device call that counts as outstanding until its event is processed."""
    busy["calls"] += 1
    event = dev.call(method, *args)
    event.callbacks.append(lambda _: busy.__setitem__("calls", busy["calls"] - 1))
    return event


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hil.household", description=__doc__.split("\n")[0])
    ap.add_argument("--bench", default="emulated", help="bench file or shipped name (default: emulated)")
    ap.add_argument("--purchases", type=int, default=3)
    ap.add_argument("--amount", default=None,
                    help="money per purchase, in the market's currency (default: 20 EGP, 500 DZD, 500000 IRR)")
    ap.add_argument("--factor", type=float, default=1.0, help="wall seconds per simulated second")
    args = ap.parse_args(argv)
    try:
        bench = load_bench(args.bench)
    except BenchError as e:
        print(f"bad bench file:\n{e}", file=sys.stderr)
        return 2
    if "meter" not in bench.roles:
        print(f"{bench.path}: binds no meter", file=sys.stderr)
        return 2
    amount = args.amount or {"EG": "20", "DZ": "500", "IR": "500000"}[bench.market]
    run = run_household(bench, purchases=args.purchases, amount=amount, factor=args.factor)
    for p in run.purchases:
        print(f"t={p['at_s']:6.2f}s  {p['order']}  token {p['token']}  sold {p['sold_kwh']} kWh -> meter "
              f"{p['result']}, credited {p['credited_kwh']} kWh, credit {p['credit_before']} -> {p['credit_after']}, "
              f"relay {'closed' if p['relay_closed'] else 'open'}")
    print(f"the world ticked {run.ticks} times while the meter was answering; {run.wall_s:.2f} s wall")
    print(run.conservation)
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
