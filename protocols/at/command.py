"""AT command lines (ITU-T V.250 §5): what a TE types, parsed into commands and back.

A line is ``AT`` then commands: basic ones (``E0``, ``Z``, ``&F``, ``S3=13``, ``D*100#;``)
follow each other directly; extended ones (``+CMGF=1``, ``+CUSD?``, ``+CNMI=?``) end at a
``;``. Spaces outside strings do not count; trailing omitted parameters equal no parameters
(``+CNMI=2,1,,,`` is ``+CNMI=2,1``), so the parsed form is canonical.

    >>> parse_line('AT+CUSD=1,"*1#",15')
    (AtCommand(name='+CUSD', op='set', args=(1, '*1#', 15)),)
    >>> format_line([AtCommand("E", "set", (0,)), AtCommand("+CMGF", "read")])
    'ATE0+CMGF?'

Strings stay wire text (see :mod:`protocols.at.charset`): converting them from the TE
character set is the caller's job, since only the caller knows ``AT+CSCS``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from protocols.at.charset import quote, read_string
from protocols.at.errors import AtSyntaxError

Arg = int | str | None      # a number, a string constant (wire text), or omitted
Op = Literal["exec", "read", "test", "set"]
EXTENDED_PREFIXES = "+^$%"       # '+' is 27.007's; '^', '$', '%' are vendors'
_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%-./:_")
MAX_LINE = 2048                  # V.250 asks for at least 40; PDUs of AT+CMGS go on the prompt


@dataclass(frozen=True)
class AtCommand:
    """One command of a line: ``name`` is ``E``, ``&F``, ``S3``, ``D`` or ``+CMGF`` (upper case)."""

    name: str
    op: Op = "exec"
    args: tuple[Arg, ...] = ()

    @property
    def extended(self) -> bool:
        return self.name[0] in EXTENDED_PREFIXES

    def arg(self, i: int, default: Arg = None) -> Arg:
        return self.args[i] if i < len(self.args) and self.args[i] is not None else default


def parse_line(line: str) -> tuple[AtCommand, ...]:
    """Parse one command line (without its final CR); raises :class:`AtSyntaxError`."""
    text = line.rstrip("\r\n")
    if len(text) > MAX_LINE:
        raise AtSyntaxError(f"command line of {len(text)} characters; at most {MAX_LINE}")
    if text[:2].upper() != "AT":
        raise AtSyntaxError(f"command line {_show(text)} does not start with 'AT'; "
                            f"expected AT then commands, like 'AT+CMGF=1'")
    return tuple(_Parser(text).commands())


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.i = text, 2

    def error(self, what: str) -> AtSyntaxError:
        return AtSyntaxError(f"{what} at column {self.i + 1} of {_show(self.text)}")

    def peek(self) -> str:
        while self.i < len(self.text) and self.text[self.i] == " ":
            self.i += 1
        return self.text[self.i] if self.i < len(self.text) else ""

    def commands(self) -> Iterable[AtCommand]:
        while (ch := self.peek()):
            if ch in EXTENDED_PREFIXES:
                yield self.extended()
                after = self.peek()
                if after == ";":
                    self.i += 1
                elif after:
                    raise self.error(f"{after!r} after an extended command; expected ';' or the end")
            elif ch == ";":
                self.i += 1                       # a separator before a basic command
            else:
                yield self.basic()

    def number(self) -> int | None:
        start = self.i
        while self.i < len(self.text) and self.text[self.i].isdigit() and self.text[self.i].isascii():
            self.i += 1
        return int(self.text[start:self.i]) if self.i > start else None

    def basic(self) -> AtCommand:
        ch = self.text[self.i].upper()
        if ch == "D":                             # the dial string is the rest of the line
            rest = self.text[self.i + 1:]
            self.i = len(self.text)
            return AtCommand("D", "set", (rest,))
        name = ch
        self.i += 1
        if ch == "&":
            if self.i >= len(self.text) or not self.text[self.i].isalpha():
                raise self.error("'&' not followed by a letter")
            name += self.text[self.i].upper()
            self.i += 1
        elif not ("A" <= ch <= "Z"):
            raise self.error(f"{self.text[self.i - 1]!r} is not a command")
        if ch == "S":
            reg = self.number()
            if reg is None:
                raise self.error("'S' without a register number")
            name = f"S{reg}"
            if self.peek() == "?":
                self.i += 1
                return AtCommand(name, "read")
            if self.peek() != "=":
                raise self.error(f"register {name} without '?' or '='")
            self.i += 1
            self.peek()
            value = self.number()
            return AtCommand(name, "set", () if value is None else (value,))
        value = self.number()
        return AtCommand(name, "exec") if value is None else AtCommand(name, "set", (value,))

    def extended(self) -> AtCommand:
        start = self.i
        self.i += 1
        while self.i < len(self.text) and self.text[self.i].upper() in _NAME_CHARS:
            self.i += 1
        name = self.text[start:self.i].upper()
        if len(name) < 2 or not name[1].isalpha():
            raise self.error(f"extended command name {name!r}; expected a prefix and a letter, "
                             f"like '+CMGF'")
        ch = self.peek()
        if ch == "?":
            self.i += 1
            return AtCommand(name, "read")
        if ch != "=":
            return AtCommand(name, "exec")
        self.i += 1
        if self.peek() == "?":
            self.i += 1
            return AtCommand(name, "test")
        return AtCommand(name, "set", self.arguments())

    def arguments(self) -> tuple[Arg, ...]:
        args: list[Arg] = []
        while True:
            ch = self.peek()
            if ch == '"':
                value, self.i = read_string(self.text, self.i)
                args.append(value)
            elif ch.isdigit() and ch.isascii():
                args.append(self.number())
            elif ch in (",", ";", ""):
                args.append(None)
            else:
                raise self.error(f"{ch!r} in a parameter; expected a number or a quoted string")
            ch = self.peek()
            if ch != ",":
                if ch not in (";", ""):
                    raise self.error(f"{ch!r} after a parameter; expected ',' or ';' or the end")
                break
            self.i += 1
        while args and args[-1] is None:
            args.pop()
        return tuple(args)


def format_args(args: Iterable[Arg], *, raw_newlines: bool = False) -> str:
    """Parameters as V.250 writes them; trailing omitted ones are left out."""
    parts = ["" if a is None else str(a) if isinstance(a, int) else quote(a, raw_newlines=raw_newlines)
             for a in args]
    while parts and parts[-1] == "":
        parts.pop()
    return ",".join(parts)


def format_command(cmd: AtCommand) -> str:
    if cmd.name == "D":
        return "D" + str(cmd.arg(0, ""))
    if cmd.name.startswith("S") and not cmd.extended and cmd.name[1:].isdigit():
        return cmd.name + ("?" if cmd.op == "read" else "=" + format_args(cmd.args))
    if not cmd.extended:
        return cmd.name + (str(cmd.args[0]) if cmd.op == "set" and cmd.args else "")
    suffix = {"exec": "", "read": "?", "test": "=?"}.get(cmd.op)
    return cmd.name + (suffix if suffix is not None else "=" + format_args(cmd.args))


def format_line(commands: Iterable[AtCommand]) -> str:
    """``AT`` and the commands, with ';' where V.250 needs one (after an extended command)."""
    out, previous = ["AT"], None
    for cmd in commands:
        if previous is not None and previous.name == "D":
            raise ValueError("a dial command (D) takes the rest of the line; put it last")
        if previous is not None and previous.extended:
            out.append(";")
        out.append(format_command(cmd))
        previous = cmd
    return "".join(out)


def _show(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
