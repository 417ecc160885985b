"""The settlement file format: writer and strict reader. Every refusal names the line (and
the field when there is one); a file that reads back is exactly what was written."""
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.money import CURRENCIES, Money
from core.settlement.files import (HEADER, STATUSES, SettlementFile, SettlementFileError,
                                   SettlementLine, crc, parse, read, render, write)

DAY = date(2026, 1, 1)
T = datetime(2026, 1, 1, 9, 12, 44, tzinfo=UTC)


def line(ref="6F2C01", order="ord_1", minor=100000, cur="DZD", status="captured", at=T, code="482113"):
    return SettlementLine(ref, order, Money(minor, cur), status, at, code)


def sample() -> SettlementFile:
    return SettlementFile("satim", DAY, (
        line(), line("6F2C02", "ord_2", 50000, status="refunded"),
        line("A1B2", "ord_3", 500000, "IRR", "reversed", None, ""),
        line("6F2C03", "ord_4", 20000, status="declined", at=None, code="")))


def refused(data: bytes, **kw) -> SettlementFileError:
    with pytest.raises(SettlementFileError) as e:
        parse(data, **kw)
    return e.value


def with_line(data: bytes, n: int, text: str) -> bytes:
    rows = data.decode().split("\n")
    rows[n - 1] = text
    return "\n".join(rows).encode()


def data_row(*fields: str) -> str:
    return ",".join((*fields, crc(fields)))


# -- round trip ---------------------------------------------------------------------------
def test_roundtrip_with_and_without_bom_and_crlf(tmp_path):
    f = sample()
    data = render(f)
    assert data.startswith(b"reference,order_number,amount_minor,currency,status,captured_at,")
    assert data.decode().splitlines()[-1].startswith("TRAILER,satim,2026-01-01,4,DZD:170000;IRR:500000,")
    for variant in (data, b"\xef\xbb\xbf" + data, data.replace(b"\n", b"\r\n")):
        back = parse(variant, gateway="satim", business_date=DAY)
        assert back == f and [ln.line_no for ln in back.lines] == [2, 3, 4, 5]
    assert read(write(f, tmp_path / "satim.csv")) == f
    assert SettlementFile("satim", DAY, ()) == parse(render(SettlementFile("satim", DAY, ())))


refs = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59),
                     timezones=st.just(UTC)).map(lambda t: t.replace(microsecond=0))


@st.composite
def lines(draw) -> SettlementLine:
    status = draw(st.sampled_from(STATUSES))
    at = (None if status == "declined" else draw(times) if status in ("captured", "refunded")
          else draw(st.none() | times))
    return SettlementLine(draw(refs), draw(refs), Money(draw(st.integers(1, 10**15 - 1)),
                          draw(st.sampled_from(sorted(CURRENCIES)))), status, at,
                          draw(st.from_regex(r"[A-Za-z0-9]{0,20}", fullmatch=True)))


settlement_files = st.builds(
    SettlementFile, st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True),
    st.dates(date(2000, 1, 1), date(2099, 12, 31)),
    st.lists(lines(), max_size=12, unique_by=lambda ln: ln.fields()).map(tuple))
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(settlement_files)
def test_any_valid_file_roundtrips(f):
    assert parse(render(f), gateway=f.gateway, business_date=f.business_date) == f


@fast
@given(settlement_files, st.data())
def test_any_truncation_is_refused_at_the_line_where_the_file_stops(f, data):
    whole = render(f)
    cut = data.draw(st.integers(0, len(whole) - 1))
    e = refused(whole[:cut])
    assert e.line == whole[:cut].count(b"\n") + 1, str(e)


@fast
@given(settlement_files, st.data())
def test_any_single_field_corruption_is_refused_on_its_line(f, data):
    rows = [r.split(",") for r in render(f).decode().split("\n")[:-1]]
    n = data.draw(st.integers(1, len(rows)), label="line")
    i = data.draw(st.integers(0, len(rows[n - 1]) - 1), label="field")
    old = rows[n - 1][i]
    new = data.draw(st.text(st.characters(blacklist_characters=",\r\n", blacklist_categories=("Cs",)),
                            max_size=70).filter(lambda v: v != old), label="value")
    rows[n - 1][i] = new
    e = refused(("\n".join(",".join(r) for r in rows) + "\n").encode())
    assert e.line == n and (e.field is not None or n > 1), str(e)


# -- what a reader must refuse, and how it says so ------------------------------------------------
@pytest.mark.parametrize("bom,name", [(b"\xff\xfe", "UTF-16 LE"), (b"\xfe\xff", "UTF-16 BE")])
def test_utf16_is_refused_on_line_1(bom, name):
    e = refused(bom + render(sample()).decode().encode("utf-16-le" if "LE" in name else "utf-16-be"))
    assert e.line == 1 and name in e.message and "expected UTF-8" in e.message


def test_utf16_without_bom_is_refused():
    e = refused(render(sample()).decode().encode("utf-16-le"))
    assert e.line == 1 and "NUL bytes" in e.message


def test_a_latin1_byte_names_its_line_and_field():
    data = render(sample()).replace(b"ord_2", b"ord_\xe9")
    e = refused(data)
    assert (e.line, e.field) == (3, "order_number") and "0xE9 is not UTF-8" in e.message


def test_a_file_cut_inside_a_character_says_so():
    data = render(sample()) + "é".encode()
    e = refused(data[:-1])
    assert "truncated" in e.message


@pytest.mark.parametrize("header,fld", [
    ("reference,order,amount_minor,currency,status,captured_at,approval_code,line_check", "order_number"),
    ("reference,order_number,amount_minor,currency,status,captured_at,approval_code", "line_check"),
    ("Reference,order_number,amount_minor,currency,status,captured_at,approval_code,line_check", "reference"),
])
def test_bad_headers_name_the_column(header, fld):
    e = refused(with_line(render(sample()), 1, header))
    assert (e.line, e.field) == (1, fld) and ",".join(HEADER) in e.message


def test_an_extra_header_column_is_refused():
    e = refused(with_line(render(sample()), 1, ",".join(HEADER) + ",terminal"))
    assert e.line == 1 and "9 columns" in e.message


def test_an_exact_duplicate_line_is_refused_even_when_counted():
    f = sample()
    data = render(SettlementFile(f.gateway, f.business_date, (*f.lines, f.lines[0])))
    e = refused(data)
    assert e.line == 6 and "exact copy of line 2" in e.message


def test_a_payment_presented_twice_with_its_own_time_reads_back():
    again = line(at=T.replace(second=45))
    back = parse(render(SettlementFile("satim", DAY, (line(), again))))
    assert [ln.reference for ln in back.lines] == ["6F2C01", "6F2C01"]


@pytest.mark.parametrize("cut,message", [
    (lambda rows: rows[:-2] + [""], "without its trailer"),     # the trailer line is gone
    (lambda rows: rows[:3] + [""], "without its trailer"),
    (lambda rows: rows[:-2] + [rows[-2][:20]], "no line ending"),
])
def test_truncated_files(cut, message):
    rows = render(sample()).decode().split("\n")
    data = "\n".join(cut(rows)).encode()
    e = refused(data)
    assert message in e.message and "truncated" in e.message


def test_a_lost_or_added_line_is_caught_by_the_trailer():
    rows = render(sample()).decode().split("\n")
    e = refused("\n".join(rows[:2] + rows[3:]).encode())
    assert (e.line, e.field) == (5, "line_count") and "the file has 3" in e.message


@pytest.mark.parametrize("row,fld,words", [
    (data_row("6F2C01", "ord_1", "100.00", "DZD", "captured", "2026-01-01T09:12:44Z", ""), "amount_minor", "minor units"),
    (data_row("6F2C01", "ord_1", "0100", "DZD", "captured", "2026-01-01T09:12:44Z", ""), "amount_minor", "leading zero"),
    (data_row("6F2C01", "ord_1", "-5", "DZD", "captured", "2026-01-01T09:12:44Z", ""), "amount_minor", "no sign"),
    (data_row("6F2C01", "ord_1", "100", "dzd", "captured", "2026-01-01T09:12:44Z", ""), "currency", "DZD, EGP, IRR"),
    (data_row("6F2C01", "ord_1", "100", "DZD", "paid", "2026-01-01T09:12:44Z", ""), "status", "captured, refunded"),
    (data_row("6F2C01", "ord_1", "100", "DZD", "captured", "2026-01-01 09:12:44", ""), "captured_at", "ISO 8601"),
    (data_row("6F2C01", "ord_1", "100", "DZD", "captured", "2026-02-30T09:12:44Z", ""), "captured_at", "ISO 8601"),
    (data_row("6F2C01", "ord_1", "100", "DZD", "captured", "", ""), "captured_at", "needs its capture time"),
    (data_row("6F2C01", "ord_1", "100", "DZD", "declined", "2026-01-01T09:12:44Z", ""), "captured_at", "never captured"),
    (data_row("", "ord_1", "100", "DZD", "captured", "2026-01-01T09:12:44Z", ""), "reference", "1 to 64"),
    (data_row("6F2C01", "ord 1", "100", "DZD", "captured", "2026-01-01T09:12:44Z", ""), "order_number", "1 to 64"),
    (data_row("6F2C01", "ord_1", "100", "DZD", "captured", "2026-01-01T09:12:44Z", "48-21"), "approval_code", "letters or digits"),
    ("6F2C01,ord_1,100,DZD,captured,2026-01-01T09:12:44Z,,00000000", "line_check", "altered"),
    ("6F2C01,ord_1,100,DZD,captured,2026-01-01T09:12:44Z,", None, "7 fields; expected 8"),
    ('"6F2C01",ord_1,100,DZD,captured,2026-01-01T09:12:44Z,,x', "reference", "1 to 64"),
    ("", None, "blank line"),
])
def test_bad_fields_name_the_line_and_field(row, fld, words):
    e = refused(with_line(render(sample()), 3, row))
    assert (e.line, e.field) == (3, fld) and words in e.message, str(e)
    assert str(e).startswith("settlement file: line 3")


def test_the_trailer_must_be_last_and_match_what_is_expected():
    data = render(sample())
    e = refused(data + b"more\n")
    assert e.line == 6 and "trailer must be the last line" in e.message
    e = refused(data, gateway="dz-pin")
    assert (e.line, e.field) == (6, "gateway")
    e = refused(data, business_date=date(2026, 1, 2))
    assert (e.line, e.field) == (6, "business_date")
    rows = data.decode().split("\n")
    trailer = rows[5].split(",")
    trailer[4] = "DZD:170001;IRR:500000"
    e = refused("\n".join(rows[:5] + [",".join(trailer)] + rows[6:]).encode())
    assert (e.line, e.field) == (6, "totals") and "DZD:170000;IRR:500000" in e.message


def test_an_unreadable_path_is_a_clear_error(tmp_path):
    with pytest.raises(SettlementFileError, match="cannot read the file"):
        read(tmp_path / "missing.csv")


def test_empty_file():
    e = refused(b"")
    assert e.line == 1 and "empty" in e.message
