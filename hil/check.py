"""``rbench check BENCH``: open each bound role, ask it one cheap question, say what answered.

Before a long validation run or a scenario suite, a bench engineer wants the cabling checked in
seconds: the probe on the right port, the meter the bench file names, a card in the reader, a
modem that answers AT. Each role is opened on its face and asked the least it can be asked;
a failure prints the device's own error (which says what to check) and the others still run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

from hil.bench import Bench, BenchError, load_bench, open_role


@dataclass(frozen=True)
class RoleCheck:
    role: str
    face: str
    ok: bool
    seconds: float
    answer: str


def _meter(port: Any) -> str:
    ident = port.identify()
    r = port.read()
    unit = "kWh" if r.unit == "kWh" else r.unit
    credit = f"{r.credit / 100:.2f} {unit}"
    relay = "closed" if r.relay_closed else f"open ({r.relay_reason})"
    return (f"{ident.manufacturer} {ident.ident}, meter {ident.meter_number}, credit {credit}, relay {relay}"
            + (", TAMPER" if r.tamper else ""))


def _card_reader(port: Any) -> str:
    from devices.card import UtilityCard

    if not port.card_present():
        return f"reader {port.name}: no card inserted"
    atr = port.connect()
    session = UtilityCard(port)
    try:
        session.start()
        card = f"utility card {session.serial}"
    except Exception as e:  # a foreign card in the reader is an answer, not a failure
        card = f"not a utility card ({e})"
    return f"reader {port.name}, ATR {atr.hex().upper()}, {card}"


def _modem(port: Any) -> str:
    port.at("AT")
    return f"AT OK, MSISDN +{port.msisdn}" if port.msisdn else "AT OK"


PROBES: dict[str, Callable[[Any], str]] = {"meter": _meter, "card_reader": _card_reader, "modem": _modem}


def check_bench(bench: Bench) -> list[RoleCheck]:
    out = []
    for role, binding in bench.roles.items():
        t0 = time.perf_counter()
        try:
            with open_role(bench, role) as port:
                answer = PROBES[role](port)
            ok = True
        except Exception as e:  # reported per role; the next role is still checked
            answer, ok = f"{type(e).__name__}: {e}", False
        out.append(RoleCheck(role, binding.face, ok, time.perf_counter() - t0, answer))
    return out


def run_check(path: str) -> int:
    try:
        bench = load_bench(path)
    except BenchError as e:
        print(f"rbench check: bad bench file:\n{e}")
        return 2
    print(f"bench {bench.name or bench.path} ({bench.path}), market {bench.market}")
    results = check_bench(bench)
    for r in results:
        print(f"  {r.role:<12} {r.face:<9} {'OK' if r.ok else 'FAIL':<4} {r.seconds * 1000:7.0f} ms  {r.answer}")
    failed = [r.role for r in results if not r.ok]
    print(f"{len(results) - len(failed)} of {len(results)} roles answered"
          + (f"; check the cabling and the bench file for: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
