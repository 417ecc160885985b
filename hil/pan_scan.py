"""Card data at rest: scan database files and logs for what must never be kept.

Two rules, as PCI DSS puts them for a merchant: no full card number anywhere (a Luhn-valid
run of 13 to 19 digits, whatever stands around it; millisecond epoch times are not card
numbers), and no card secret (CVC2, PIN2, an OTP) written next to its
name (``"cvc2": "123"``, ``pin2=48213907``). Raw bytes are scanned as well as the rows, so a
card number a table once held, still in the WAL's old page images (or in free pages, where
SQLite is built without ``secure_delete``; Debian's has it on), is found too. Findings show
the number masked (first 6, last 4): a scan report must not leak what it found.

    python -m hil.pan_scan rb.db core.log      # an SQLite file with its WAL; logs; exit 1 if any finding
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from protocols.luhn import valid

_RUN = re.compile(rb"(?<![0-9])[0-9]{13,19}(?![0-9])")
# In raw database pages the values of a row lie glued together ("ord_..ab146908" + "213760324817"):
# there a number counts only with no letter, digit or _ on either side. Values are also
# scanned one by one (a dump of the rows), where the plain rule applies.
_GLUED_RUN = re.compile(rb"(?<![0-9A-Za-z_])[0-9]{13,19}(?![0-9A-Za-z_])")
_LABELLED = re.compile(rb"(?i)(?<![a-z_])(cvc2?|cvv2?|cvn|pin2?|otp|card_?number|pan)(?![a-z_])"
                       rb"[\"']?\s*[:=]\s*[\"']?([0-9]{3,19})(?![0-9])")
_EPOCH_MS = (1_500_000_000_000, 4_200_000_000_000)      # 2017..2103: times, not cards
_HEX = frozenset(b"0123456789abcdefABCDEF")
_DIGEST_CHARS = 32       # a hex word this long is a digest or key (sha256 of a request body...)


def _in_digest(data: bytes, start: int, end: int) -> bool:
    """Whether data[start:end] lies inside a long hexadecimal word: one in ten digit runs there
    passes the Luhn check by chance, and a digest is not a stored card number."""
    while start > 0 and data[start - 1] in _HEX:
        start -= 1
    while end < len(data) and data[end] in _HEX:
        end += 1
    return end - start >= _DIGEST_CHARS


@dataclass(frozen=True)
class Finding:
    where: str
    offset: int
    kind: str            # "card_number" | "labelled_secret" | "known_secret"
    shown: str           # masked

    def __str__(self) -> str:
        return f"{self.where} @{self.offset}: {self.kind} {self.shown}"


luhn = valid


def mask(digits: str) -> str:
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:] if len(digits) > 10 else "*" * len(digits)


def scan_bytes(data: bytes, where: str, known: Iterable[str] = (), *, glued: bool = False) -> list[Finding]:
    """Card numbers, labelled secrets, and any of the ``known`` secret values (6 digits or
    more: PANs, PIN2s, OTPs a test handed out) as a whole digit run. ``glued``: raw pages
    whose values touch each other (see ``_GLUED_RUN``)."""
    out = []
    edge = rb"0-9A-Za-z_" if glued else rb"0-9"
    for m in (_GLUED_RUN if glued else _RUN).finditer(data):
        run = m.group().decode()
        if luhn(run) and not (len(run) == 13 and _EPOCH_MS[0] <= int(run) <= _EPOCH_MS[1]) \
                and not _in_digest(data, m.start(), m.end()):
            out.append(Finding(where, m.start(), "card_number", mask(run)))
    for m in _LABELLED.finditer(data):
        out.append(Finding(where, m.start(), "labelled_secret", f"{m.group(1).decode()}={mask(m.group(2).decode())}"))
    for value in {v for v in known if len(v) >= 6}:
        for m in re.finditer(rb"(?<![" + edge + rb"])" + re.escape(value.encode()) + rb"(?![" + edge + rb"])", data):
            out.append(Finding(where, m.start(), "known_secret", mask(value)))
    return out


def scan_paths(paths: Iterable[Path], known: Iterable[str] = (), *, glued: bool = False) -> list[Finding]:
    known = list(known)
    out: list[Finding] = []
    for path in paths:
        if path.is_file():
            out += scan_bytes(path.read_bytes(), str(path), known, glued=glued)
    return out


def store_findings(db_url: str, known: Iterable[str] = ()) -> list[Finding]:
    """An SQLite store's files, raw (free pages and WAL included), plus every stored value."""
    import sqlite3
    import json
    known = list(known)
    files = store_files(db_url)
    conn = sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        values = json.dumps({t: [list(map(str, r)) for r in conn.execute(f'SELECT * FROM "{t}"')] for t in tables},
                            ensure_ascii=False).encode()
    finally:
        conn.close()
    return scan_paths(files, known, glued=True) + scan_bytes(values, f"{files[0]} (rows)", known)


def store_files(db_url: str) -> list[Path]:
    """An SQLite store's files: the database, its WAL and shared memory."""
    base = Path(db_url.split("sqlite:///", 1)[1] if db_url.startswith("sqlite:///") else db_url)
    return [base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")]


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == b"SQLite format 3\x00"


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)]
    if not paths:
        print("usage: python -m hil.pan_scan FILE...  (database files, WAL, logs)", file=sys.stderr)
        return 2
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"pan_scan: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    findings = [f for p in paths for f in (store_findings(f"sqlite:///{p}") if _is_sqlite(p)
                                            else scan_paths([p]))]
    for f in findings:
        print(f)
    print(f"{len(findings)} findings in {len(paths)} files")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
