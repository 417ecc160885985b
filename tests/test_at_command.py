"""AT command lines (V.250): parsing, formatting, strings, and garbage refused clearly."""
import pytest
from hypothesis import given, strategies as st

from protocols.at.charset import quote, read_string
from protocols.at.command import AtCommand, format_line, parse_line
from protocols.at.errors import AtSyntaxError


@pytest.mark.parametrize("line,expected", [
    ("AT", ()),
    ("at", ()),
    ("ATE0", (AtCommand("E", "set", (0,)),)),
    ("ATZ", (AtCommand("Z"),)),
    ("AT&F", (AtCommand("&F"),)),
    ("ATE0V1", (AtCommand("E", "set", (0,)), AtCommand("V", "set", (1,)))),
    ("AT+CMGF?", (AtCommand("+CMGF", "read"),)),
    ("AT+CNMI=?", (AtCommand("+CNMI", "test"),)),
    ("AT+CSQ", (AtCommand("+CSQ"),)),
    ('AT+CUSD=1,"*1#",15', (AtCommand("+CUSD", "set", (1, "*1#", 15)),)),
    ("AT+CNMI=2,1,,,", (AtCommand("+CNMI", "set", (2, 1)),)),          # trailing omitted = absent
    ("AT+CMGL=", (AtCommand("+CMGL", "set", ()),)),
    ("AT+CMGD=1,,4", (AtCommand("+CMGD", "set", (1, None, 4)),)),
    ("at+cmgf=1;+cmee=2", (AtCommand("+CMGF", "set", (1,)), AtCommand("+CMEE", "set", (2,)))),
    ("ATE0+CMEE=1;E1", (AtCommand("E", "set", (0,)), AtCommand("+CMEE", "set", (1,)),
                        AtCommand("E", "set", (1,)))),
    ("AT S3?", (AtCommand("S3", "read"),)),
    ("ATS0=2", (AtCommand("S0", "set", (2,)),)),
    ("ATD*100#;", (AtCommand("D", "set", ("*100#;",)),)),
    ('AT+CPMS = "SM" , "SM"', (AtCommand("+CPMS", "set", ("SM", "SM")),)),    # spaces outside strings
    ('AT+CSCA="a\\22b\\5Cc"', (AtCommand("+CSCA", "set", ('a"b\\c',)),)),     # \hh escapes
    ("AT^SYSINFO", (AtCommand("^SYSINFO"),)),
])
def test_parse_line(line, expected):
    assert parse_line(line) == expected


@pytest.mark.parametrize("line,words", [
    ("hello", "does not start with 'AT'"),
    ("", "does not start with 'AT'"),
    ('AT+CUSD=1,"*1#', "never closed"),
    ('AT+CSCA="\\2"', "bad escape"),
    ("AT+CMGF=1+CMEE=1", "after a parameter"),
    ("AT+CMGF=x", "expected a number or a quoted string"),
    ("AT+CMGF?x", "expected ';' or the end"),
    ("AT+", "extended command name"),
    ("AT+1X", "extended command name"),
    ("AT&", "'&' not followed by a letter"),
    ("ATS", "without a register number"),
    ("ATS3", "without '?' or '='"),
    ("AT!", "is not a command"),
    ("AT" + "E" * 3000, "at most"),
])
def test_garbage_is_refused_with_the_place_and_the_expectation(line, words):
    with pytest.raises(AtSyntaxError, match="(?s)" + words.replace("(", r"\(").replace("?", r"\?")):
        parse_line(line)


def test_errors_name_the_column():
    with pytest.raises(AtSyntaxError, match="at column 9 of 'AT\\+CMGF=x'"):
        parse_line("AT+CMGF=x")


def test_format_line_puts_semicolons_where_v250_needs_them():
    cmds = [AtCommand("E", "set", (0,)), AtCommand("+CMGF", "set", (1,)), AtCommand("E", "set", (1,)),
            AtCommand("+CUSD", "set", (1, 'say "hi"', 15))]
    assert format_line(cmds) == 'ATE0+CMGF=1;E1+CUSD=1,"say \\22hi\\22",15'
    with pytest.raises(ValueError, match="put it last"):
        format_line([AtCommand("D", "set", ("123",)), AtCommand("Z")])


def test_quote_keeps_raw_newlines_only_when_asked():
    assert quote("a\nb") == '"a\\0Ab"'
    assert quote("a\nb", raw_newlines=True) == '"a\nb"'
    assert read_string('"a\\0Ab"', 0) == ("a\nb", 7)


# --- properties ---------------------------------------------------------------------------------

wire_text = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=30)
arg = st.one_of(st.none(), st.integers(0, 10**6), wire_text)
ext_name = st.from_regex(r"\A[+^][A-Z][A-Z0-9]{0,7}\Z")
extended = st.one_of(
    st.builds(AtCommand, ext_name, st.sampled_from(["exec", "read", "test"])),
    st.builds(lambda n, a: AtCommand(n, "set", a), ext_name, st.lists(arg, max_size=5).map(tuple)),
)
basic = st.one_of(
    st.builds(lambda c: AtCommand(c), st.sampled_from("EVQZIH")),
    st.builds(lambda c, n: AtCommand(c, "set", (n,)), st.sampled_from("EVQZIH"), st.integers(0, 99)),
    st.builds(lambda c: AtCommand(c), st.sampled_from(["&F", "&W"])),
    st.builds(lambda r: AtCommand(f"S{r}", "read"), st.integers(0, 99)),
    st.builds(lambda r, v: AtCommand(f"S{r}", "set", (v,)), st.integers(0, 99), st.integers(0, 255)),
)


def canonical(cmd: AtCommand) -> AtCommand:
    args = list(cmd.args)
    while args and args[-1] is None:
        args.pop()
    return AtCommand(cmd.name, cmd.op, tuple(args))


@given(st.lists(st.one_of(basic, extended), max_size=6))
def test_format_then_parse_gives_the_commands_back(cmds):
    line = format_line(cmds)
    assert parse_line(line) == tuple(canonical(c) for c in cmds)


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_a_syntax_error(text):
    for line in (text, "AT" + text):
        try:
            parse_line(line)
        except AtSyntaxError:
            pass


@given(wire_text)
def test_strings_round_trip(s):
    assert read_string(quote(s), 0) == (s, len(quote(s)))
    assert read_string(quote(s, raw_newlines=True), 0)[0] == s
