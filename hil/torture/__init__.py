"""Deterministic simulation testing of the core (``rbench torture``), in the spirit of
TigerBeetle's VOPR: many short runs of the real core, each driven by clients and faults drawn
from its seed, each judged by invariants, each replayable exactly from its seed.

    rbench torture --seeds 1..200 [--steps 120] [--db postgresql://postgres@127.0.0.1:5432/postgres]

    from hil.torture import run_seed
    result = run_seed(17, steps=120)          # SeedResult: ok, violations, counts, digest
    print(result.line())                      # a failing seed ends with its replay command

What lives here: ``faults`` (the fault plan a seed draws, and the store that injects database
errors and core deaths), ``run`` (one seed's world: clock, scheduler, issuer, gateways, SMSC,
and the core rebuilt on the same database after every restart), ``clients`` (browsers,
handsets and kiosks, with their retries), ``checks`` (the invariants), ``cli`` (the command).
"""
from hil.torture.cli import DEFAULT_STEPS, SeedResult, add_parser, parse_seeds, replay_command, run_seed, run_torture

__all__ = ["DEFAULT_STEPS", "SeedResult", "add_parser", "parse_seeds", "replay_command", "run_seed", "run_torture"]
