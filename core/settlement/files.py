"""The end-of-day settlement file: one CSV per gateway and business day.

    reference,order_number,amount_minor,currency,status,captured_at,approval_code,line_check
    6F2C...,ord_3ac1...,100000,DZD,captured,2026-01-01T09:12:44Z,482113,5c2e81f0
    ...
    TRAILER,satim,2026-01-01,12,DZD:1234500;IRR:500000,0a4b77c2

UTF-8 (a BOM is allowed and ignored), LF or CRLF line endings, no quoting: no field can hold a
comma or a quote. ``line_check`` is the CRC-32 of the line's other seven fields, so an altered
field is caught on its own line; the trailer counts the lines and sums ``amount_minor`` per
currency (every status), so a truncated file or a lost line is caught too. The reader is
strict: it names the line and the field of the first thing wrong, and returns nothing on error.
"""
from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from core.money import CURRENCIES, Money

HEADER = ("reference", "order_number", "amount_minor", "currency", "status", "captured_at",
          "approval_code", "line_check")
TRAILER_FIELDS = ("marker", "gateway", "business_date", "line_count", "totals", "check")
STATUSES = ("captured", "refunded", "reversed", "declined")
_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_APPROVAL = re.compile(r"[A-Za-z0-9]{0,20}")
_AMOUNT = re.compile(r"[1-9][0-9]{0,14}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_GATEWAY = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_CRC = re.compile(r"[0-9a-f]{8}")
_TOTAL = re.compile(r"([A-Z]{3}):([1-9][0-9]{0,17})")
_BOMS = {b"\xff\xfe\x00\x00": "UTF-32 LE", b"\x00\x00\xfe\xff": "UTF-32 BE",
         b"\xff\xfe": "UTF-16 LE", b"\xfe\xff": "UTF-16 BE"}


class SettlementFileError(ValueError):
    """A settlement file refused as a whole: where (line, field) and what was expected."""

    def __init__(self, message: str, *, line: int, field: str | None = None,
                 source: str = "settlement file") -> None:
        self.message, self.line, self.field, self.source = message, line, field, source
        where = f"line {line}" + (f", field {field}" if field else "")
        super().__init__(f"{source}: {where}: {message}")


@dataclass(frozen=True)
class SettlementLine:
    """One payment as the gateway reports it at the end of the day."""

    reference: str                     # the gateway's payment reference (SATIM orderId, token)
    order_number: str                  # our order id, as we registered it at the gateway
    amount: Money
    status: str                        # captured | refunded | reversed | declined
    captured_at: datetime | None       # UTC, whole seconds; None for declined
    approval_code: str = ""
    line_no: int | None = field(default=None, compare=False)   # where it was read

    def fields(self) -> tuple[str, ...]:
        """The seven data fields as written (without ``line_check``)."""
        return (self.reference, self.order_number, str(self.amount.minor), self.amount.currency,
                self.status, iso(self.captured_at) if self.captured_at else "", self.approval_code)


@dataclass(frozen=True)
class SettlementFile:
    gateway: str
    business_date: date
    lines: tuple[SettlementLine, ...]

    def totals(self) -> dict[str, int]:
        """Sum of ``amount_minor`` per currency over every line (the trailer's control sums)."""
        out: Counter[str] = Counter()
        for ln in self.lines:
            out[ln.amount.currency] += ln.amount.minor
        return dict(sorted(out.items()))

    def captured(self) -> dict[str, int]:
        """Sum per currency of the lines still captured: what the gateway says it will pay."""
        out: Counter[str] = Counter()
        for ln in self.lines:
            if ln.status == "captured":
                out[ln.amount.currency] += ln.amount.minor
        return dict(sorted(out.items()))


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(epoch_s: float) -> datetime:
    """A clock reading as the file writes it: UTC, whole seconds."""
    return datetime.fromtimestamp(int(epoch_s), UTC)


def crc(fields: tuple[str, ...] | list[str]) -> str:
    return f"{zlib.crc32(chr(31).join(fields).encode('utf-8')):08x}"


def _totals_text(totals: dict[str, int]) -> str:
    return ";".join(f"{cur}:{minor}" for cur, minor in sorted(totals.items()))


def render(f: SettlementFile) -> bytes:
    """The file's bytes: UTF-8 without BOM, LF line endings, trailer last."""
    out = [",".join(HEADER)]
    for ln in f.lines:
        data = ln.fields()
        out.append(",".join((*data, crc(data))))
    trailer = ("TRAILER", f.gateway, f.business_date.isoformat(), str(len(f.lines)),
               _totals_text(f.totals()))
    out.append(",".join((*trailer, crc(trailer))))
    return ("\n".join(out) + "\n").encode("utf-8")


def write(f: SettlementFile, path: str | Path) -> Path:
    path = Path(path)
    path.write_bytes(render(f))
    return path


def read(path: str | Path, *, gateway: str | None = None,
         business_date: date | None = None) -> SettlementFile:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SettlementFileError(f"cannot read the file: {e.strerror}", line=0, source=str(path)) from None
    return parse(data, source=str(path), gateway=gateway, business_date=business_date)


def parse(data: bytes, *, source: str = "settlement file", gateway: str | None = None,
          business_date: date | None = None) -> SettlementFile:
    """Read a settlement file strictly; ``gateway``/``business_date`` if given must match."""
    def bad(message: str, line: int, fld: str | None = None) -> SettlementFileError:
        return SettlementFileError(message, line=line, field=fld, source=source)

    for bom, name in _BOMS.items():
        if data.startswith(bom):
            raise bad(f"the file is {name} (byte-order mark {bom.hex(' ').upper()}); expected UTF-8", 1)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    nul = data.find(b"\x00")
    if nul >= 0:
        col = data[data.rfind(b"\n", 0, nul) + 1:nul].count(b",")
        raise bad("the file holds NUL bytes (UTF-16 without a byte-order mark?); expected UTF-8",
                  data[:nul].count(b"\n") + 1, HEADER[col] if col < len(HEADER) else None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        start = data.rfind(b"\n", 0, e.start) + 1
        col = data[start:e.start].count(b",")
        fld = HEADER[col] if col < len(HEADER) else None
        if e.end >= len(data) and "unexpected end" in e.reason:
            raise bad("the file ends inside a UTF-8 character: it is truncated", line, fld) from None
        raise bad(f"byte 0x{data[e.start]:02X} is not UTF-8 (Latin-1 or a Windows code page?); "
                  "expected a UTF-8 file, with or without BOM", line, fld) from None
    if not text:
        raise bad("the file is empty; expected the header " + ",".join(HEADER), 1)
    rows = text.split("\n")
    if rows[-1] != "":
        raise bad("the last line has no line ending: the file is truncated", len(rows))
    rows = [r.removesuffix("\r") for r in rows[:-1]]

    header = rows[0].split(",")
    if tuple(header) != HEADER:
        for i, want in enumerate(HEADER):
            if i >= len(header):
                raise bad(f"header ends after {len(header)} columns; expected {want!r} next (header: "
                          f"{','.join(HEADER)})", 1, want)
            if header[i] != want:
                raise bad(f"header column {i + 1} is {header[i]!r}; expected {want!r} (header: "
                          f"{','.join(HEADER)})", 1, want)
        raise bad(f"header has {len(header)} columns; expected {len(HEADER)}: {','.join(HEADER)}", 1)

    lines: list[SettlementLine] = []
    seen: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        parts = row.split(",")
        if parts[0] == "TRAILER":
            if n != len(rows):
                raise bad(f"the trailer must be the last line; {len(rows) - n} line(s) follow it", n)
            trailer = _trailer(parts, n, lines, bad)
            if gateway is not None and trailer[0] != gateway:
                raise bad(f"the trailer names gateway {trailer[0]!r}; expected {gateway!r}", n, "gateway")
            if business_date is not None and trailer[1] != business_date:
                raise bad(f"the trailer's business date is {trailer[1]}; expected {business_date}", n,
                          "business_date")
            return SettlementFile(trailer[0], trailer[1], tuple(lines))
        if row == "":
            raise bad("blank line; expected a payment line or the trailer", n)
        lines.append(_line(parts, n, bad))
        if row in seen:
            raise bad(f"exact copy of line {seen[row]} (reference {parts[0]}): a payment presented "
                      "twice must differ in its capture time", n)
        seen[row] = n
    raise bad("the file ends here without its trailer (TRAILER,gateway,date,count,totals,check): "
              "it is truncated", len(rows) + 1)


def _line(parts: list[str], n: int, bad) -> SettlementLine:
    if len(parts) != len(HEADER):
        raise bad(f"{len(parts)} fields; expected {len(HEADER)} ({','.join(HEADER)})", n)
    ref, order, amount, cur, status, at, approval, check = parts
    for name, value in (("reference", ref), ("order_number", order)):
        if not _REF.fullmatch(value):
            raise bad(f"{value!r}: expected 1 to 64 letters, digits or . _ : - (not starting with "
                      "a sign)", n, name)
    if not _AMOUNT.fullmatch(amount):
        raise bad(f"{amount!r}: expected a positive whole number of minor units, no sign, no "
                  "leading zero, no decimal point", n, "amount_minor")
    if cur not in CURRENCIES:
        raise bad(f"{cur!r}: expected one of {', '.join(sorted(CURRENCIES))}", n, "currency")
    if status not in STATUSES:
        raise bad(f"{status!r}: expected one of {', '.join(STATUSES)}", n, "status")
    captured_at = None
    if at:
        captured_at = _time(at, n, bad)
    elif status in ("captured", "refunded"):
        raise bad(f"empty; a {status} payment needs its capture time (YYYY-MM-DDTHH:MM:SSZ)", n,
                  "captured_at")
    if at and status == "declined":
        raise bad(f"{at!r}: a declined payment was never captured; expected an empty field", n,
                  "captured_at")
    if not _APPROVAL.fullmatch(approval):
        raise bad(f"{approval!r}: expected up to 20 letters or digits", n, "approval_code")
    if not _CRC.fullmatch(check):
        raise bad(f"{check!r}: expected 8 lowercase hex digits (CRC-32 of the line)", n, "line_check")
    if crc(parts[:7]) != check:
        raise bad(f"CRC-32 of the line is {crc(parts[:7])}, the file says {check}: the line was "
                  "altered after it was written", n, "line_check")
    return SettlementLine(ref, order, Money(int(amount), cur), status, captured_at, approval, line_no=n)


def _time(text: str, n: int, bad) -> datetime:
    if _TIME.fullmatch(text):
        try:
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            pass
    raise bad(f"{text!r}: expected an ISO 8601 UTC time such as 2026-01-01T09:12:44Z", n, "captured_at")


def _trailer(parts: list[str], n: int, lines: list[SettlementLine], bad) -> tuple[str, date]:
    if len(parts) != len(TRAILER_FIELDS):
        raise bad(f"trailer has {len(parts)} fields; expected {len(TRAILER_FIELDS)} "
                  f"({','.join(TRAILER_FIELDS)})", n)
    _, gw, day, count, totals, check = parts
    if not _GATEWAY.fullmatch(gw):
        raise bad(f"{gw!r}: expected a gateway name (lowercase letters, digits, -)", n, "gateway")
    when = None
    if _DATE.fullmatch(day):
        try:
            when = date.fromisoformat(day)
        except ValueError:
            pass
    if when is None:
        raise bad(f"{day!r}: expected a date YYYY-MM-DD", n, "business_date")
    if not (count.isascii() and count.isdigit()) or (len(count) > 1 and count[0] == "0"):
        raise bad(f"{count!r}: expected the number of payment lines", n, "line_count")
    if int(count) != len(lines):
        raise bad(f"the trailer counts {int(count)} payment lines, the file has {len(lines)}: "
                  "lines are missing or added", n, "line_count")
    declared: dict[str, int] = {}
    for item in totals.split(";") if totals else []:
        m = _TOTAL.fullmatch(item)
        if not m or m.group(1) not in CURRENCIES or m.group(1) in declared:
            raise bad(f"{item!r}: expected CUR:minor_units per currency, separated by ';'", n, "totals")
        declared[m.group(1)] = int(m.group(2))
    actual = SettlementFile(gw, when, tuple(lines)).totals()
    if declared != actual or totals != _totals_text(declared):
        raise bad(f"the lines sum to {_totals_text(actual) or 'nothing'}, the trailer says "
                  f"{totals or 'nothing'}: a line is missing or altered", n, "totals")
    if not _CRC.fullmatch(check) or crc(parts[:5]) != check:
        raise bad(f"{check!r}: expected {crc(parts[:5])}, the CRC-32 of the trailer's fields: "
                  "the trailer was altered", n, "check")
    return gw, when
