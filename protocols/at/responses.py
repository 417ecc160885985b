"""Response lines: ``+NAME: <fields>`` information responses and unsolicited result codes.

A modem's answer to a command is information lines then one final result; between commands,
and even in the middle of an answer, it may print unsolicited result codes (URCs) such as
``+CMTI`` (an SMS was stored) or ``+CUSD`` (the network answered a USSD request). A driver
that does not set URCs aside loses OTPs; :func:`is_urc` tells them apart.
"""
from __future__ import annotations

from protocols.at.charset import read_string
from protocols.at.errors import AtSyntaxError


class Token(str):
    """An unquoted field that is not a plain number, like ``(0-2)`` in a test response."""


Field = int | str | Token | None

# Prefixes that only ever arrive unsolicited. +CUSD is both: with a text or m > 2 it is the
# network's answer (a URC); ``+CUSD: <n>`` alone is the answer to ``AT+CUSD?``.
URC_PREFIXES = ("+CMTI", "+CMT", "+CDSI", "+CDS", "+CBM", "+CUSD", "RING", "+CRING", "+CLIP",
                "+CREG", "+CIEV")


def split_info(line: str) -> tuple[str, str]:
    """``'+CMTI: "SM",3'`` → ``('+CMTI', '"SM",3')``; a line without ':' gives ('', line)."""
    head, sep, rest = line.partition(":")
    if not sep or not head or " " in head.strip() or '"' in head:
        return "", line
    return head.strip().upper(), rest.strip()


def prefix_of(line: str) -> str:
    return split_info(line)[0] or line.strip().upper()


def parse_fields(text: str) -> list[Field]:
    """Split a parameter list: numbers, quoted strings (``\\hh`` unescaped), tokens, empties."""
    fields: list[Field] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            value, i = read_string(text, i)
            fields.append(value)
        else:
            start, depth = i, 0
            while i < n and (text[i] != "," or depth):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            raw = text[start:i].strip()
            if not raw:
                fields.append(None)
            elif raw.isdigit() and raw.isascii():
                fields.append(int(raw))
            else:
                fields.append(Token(raw))
        while i < n and text[i] == " ":
            i += 1
        if i >= n:
            return fields
        if text[i] != ",":
            raise AtSyntaxError(f"{text[i]!r} at column {i + 1} of {text!r}; expected ',' between fields")
        i += 1


def info(line: str, prefix: str) -> list[Field]:
    """The fields of a ``prefix: ...`` line; raises when the line is something else."""
    head, rest = split_info(line)
    if head != prefix.upper():
        raise AtSyntaxError(f"expected a {prefix} line, got {line!r}")
    return parse_fields(rest)


def is_urc(line: str, command: str | None = None) -> bool:
    """Whether ``line`` is unsolicited. While ``command`` (a name like '+CREG') runs, a line
    with its own prefix is its answer (``+CREG: 0,1``). ``+CUSD`` is the exception: the
    answer to ``AT+CUSD?`` is ``+CUSD: <n>`` with n 0 or 1; anything else is the network's."""
    head, rest = split_info(line)
    head = head or line.strip().upper()
    running = (command or "").upper()
    if head == "+CUSD" and running == "+CUSD":
        try:
            fields = parse_fields(rest) if rest else []
        except AtSyntaxError:
            return True
        return not (len(fields) == 1 and fields[0] in (0, 1))
    return head in URC_PREFIXES and head != running


def want_int(fields: list[Field], i: int, what: str, line: str) -> int:
    value = fields[i] if i < len(fields) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise AtSyntaxError(f"{what} (field {i + 1}) of {line!r} is {value!r}; expected a number")
    return value


def want_str(fields: list[Field], i: int, what: str, line: str, *, optional: bool = False) -> str | None:
    value = fields[i] if i < len(fields) else None
    if value is None and optional:
        return None
    if not isinstance(value, str) or isinstance(value, Token):
        raise AtSyntaxError(f"{what} (field {i + 1}) of {line!r} is {value!r}; expected a quoted string")
    return value
