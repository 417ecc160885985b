"""``rbench validate BENCH``: run the bench validation suites, write the record and JUnit XML.

The suites are pytest files (hil/validation); this wraps them so a hardware engineer needs one
command and gets two files a lab keeps: ``record.json`` (every measurement with its unit and
limits) and ``junit.xml`` (for the CI server of the lab).
"""
from __future__ import annotations

import json
from pathlib import Path

SUITES = {"meter": "test_meter_conformance.py", "card_reader": "test_card_reader_conformance.py"}


def run_validate(bench_path: str, *, suites: list[str] | None = None, out: str = "validation",
                 pytest_args: list[str] | None = None) -> int:
    import pytest

    from hil.bench import BenchError, load_bench

    try:
        bench = load_bench(bench_path)
    except BenchError as e:
        print(f"rbench validate: bad bench file:\n{e}")
        return 2
    unknown = sorted(set(suites or []) - set(SUITES))
    if unknown:
        print(f"rbench validate: unknown suite {', '.join(unknown)}; expected {', '.join(SUITES)}")
        return 2
    here = Path(__file__).with_name("validation")
    chosen = [s for s in (suites or list(SUITES)) if s in bench.roles]
    if not chosen:
        print(f"rbench validate: the bench binds none of {', '.join(suites or SUITES)}")
        return 2
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    record, junit = out_dir / "record.json", out_dir / "junit.xml"
    bench_arg = bench_path if Path(bench_path).exists() else str(Path(__file__).with_name("benches") /
                                                                   f"{bench_path}.yaml")
    args = [str(here / SUITES[s]) for s in chosen] + [
        "--bench", bench_arg, "--record", str(record), f"--junitxml={junit}",
        "-p", "no:cacheprovider", "-q", "--rootdir", str(here), "-o", "addopts=", "-o", "testpaths=",
        *(pytest_args or [])]
    print(f"validating {', '.join(chosen)} on bench {bench.name or bench.path} "
          f"({', '.join(f'{r}: {bench.roles[r].face}' for r in chosen)})", flush=True)
    rc = int(pytest.main(args))
    if record.exists():
        data = json.loads(record.read_text())
        print(f"\n{'check':<62} {'result':<8} measurements")
        for c in data["checks"]:
            name = c["nodeid"].split("::")[-1]
            ms = ", ".join(_fmt(m) for m in c["measurements"][:4])
            print(f"{name:<62} {c['outcome']:<8} {ms}")
        print(f"\nrecord: {record}\njunit:  {junit}")
    return rc


def _fmt(m: dict) -> str:
    v = m["value"]
    text = f"{v:.1f}" if isinstance(v, float) else str(v)
    return f"{m['name']}={text}{' ' + m['unit'] if m.get('unit') else ''}"
