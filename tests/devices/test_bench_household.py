"""A household of the simulated world with its meter on the bench: tokens the core sells are
typed into the meter over a real pty while the SimPy world keeps running in real time."""
from __future__ import annotations

import pytest

from hil.bench import load_bench, parse_bench
from hil.household import run_household


@pytest.mark.parametrize("bench", ["model", "emulated"])
def test_each_purchase_is_credited_on_the_bench_meter(bench):
    run = run_household(load_bench(bench), purchases=3, think_s=0.05)
    assert len(run.purchases) == 3
    for p in run.purchases:
        assert p["result"] == "accepted" and p["credited_kwh"] == p["sold_kwh"] > 0, p
        assert p["credit_after"] - p["credit_before"] == round(p["sold_kwh"] * 100)
    assert run.purchases[-1]["relay_closed"]
    assert run.conservation_ok and run.ok, run.conservation


def test_the_world_keeps_ticking_while_the_emulated_meter_answers():
    bench = parse_bench("market: DZ\nroles:\n  meter: {face: emulator, pace: true, baud: 9600}\n", "paced.yaml")
    run = run_household(bench, purchases=1, amount="500", think_s=0.0)
    assert run.purchases[0]["result"] == "accepted"
    # a paced emulator takes real time to answer at 300 then 9600 baud; the world ticked meanwhile
    assert run.ticks >= 20, run.ticks
