"""SMS result codes and listings of 3GPP TS 27.005: ``+CMTI``, ``+CMT``, ``+CMGR``, ``+CMGL``.

PDU mode (``AT+CMGF=0``) shows a short header and the PDU in hex on the next line; text mode
(``AT+CMGF=1``) shows addresses and timestamps in the header and the text on the next line,
with the extra fields (type of address, first octet, PID, DCS, SMSC, length) only after
``AT+CSDH=1``. Whether a header is PDU or text mode shows in its ``<stat>``: a number in PDU
mode, a quoted word in text mode.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols.at.command import format_args
from protocols.at.errors import AtSyntaxError
from protocols.at.responses import Field, info, split_info, want_int, want_str

STATUSES = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT", "ALL")   # index = PDU-mode number


def stat_word(stat: int | str) -> str:
    if isinstance(stat, int) and 0 <= stat < len(STATUSES):
        return STATUSES[stat]
    if isinstance(stat, str) and stat.upper() in STATUSES:
        return stat.upper()
    raise AtSyntaxError(f"message status {stat!r}; expected 0-4 or one of {', '.join(STATUSES)}")


@dataclass(frozen=True)
class Cmti:
    """``+CMTI: <mem>,<index>``: a new message is stored at ``index``."""

    storage: str
    index: int


def format_cmti(cmti: Cmti) -> str:
    return f"+CMTI: {format_args((cmti.storage, cmti.index))}"


def parse_cmti(line: str) -> Cmti:
    fields = info(line, "+CMTI")
    return Cmti(want_str(fields, 0, "<mem>", line) or "", want_int(fields, 1, "<index>", line))


@dataclass(frozen=True)
class PduListing:
    """A stored (``+CMGR``/``+CMGL``) or routed (``+CMT``) message in PDU mode."""

    pdu: str                  # hex: SMSC address, then the TPDU
    length: int               # TPDU octets
    stat: str | None = None   # None for +CMT
    index: int | None = None  # +CMGL only
    alpha: str | None = None


@dataclass(frozen=True)
class TextListing:
    """The same in text mode; ``address`` and ``data`` are wire text (TE charset or hex)."""

    data: str
    address: str
    stat: str | None = None
    index: int | None = None
    alpha: str | None = None
    scts: str | None = None
    toa: int | None = None        # shown with AT+CSDH=1
    fo: int | None = None
    pid: int | None = None
    dcs: int | None = None
    vp: int | str | None = None   # SMS-SUBMIT only
    sca: str | None = None
    tosca: int | None = None
    length: int | None = None

    @property
    def received(self) -> bool:
        return self.stat is None or self.stat.startswith("REC")


Listing = PduListing | TextListing


def format_listing(prefix: str, item: Listing, *, csdh: bool = False) -> list[str]:
    """Two lines (header, body) for ``+CMGR``, ``+CMGL`` or ``+CMT``."""
    prefix = prefix.upper()
    head: list[Field] = []
    if prefix == "+CMGL":
        head.append(item.index)
    if isinstance(item, PduListing):
        if prefix != "+CMT":
            head.append(STATUSES.index(stat_word(item.stat or "")))
        head += [item.alpha, item.length]
        return [f"{prefix}: {_args(head)}", item.pdu]
    if prefix != "+CMT":
        head.append(item.stat)
    head += [item.address, item.alpha]
    if prefix == "+CMGL":
        head.append(item.scts)
        if csdh:
            head += [item.toa, item.length]
    elif item.received:
        head.append(item.scts)
        if csdh:
            head += [item.toa, item.fo, item.pid, item.dcs, item.sca, item.tosca, item.length]
    elif csdh:
        head += [item.toa, item.fo, item.pid, item.dcs, item.vp, item.sca, item.tosca, item.length]
    return [f"{prefix}: {_args(head)}", item.data]


def _args(fields: list[Field]) -> str:
    return ",".join("" if f is None else str(f) if isinstance(f, int) else format_args([f])
                    for f in fields)


def parse_listing(header: str, body: str) -> Listing:
    """Read a ``+CMGR``/``+CMGL``/``+CMT`` header and the line after it, in either mode."""
    prefix = split_info(header)[0]
    if prefix not in ("+CMGR", "+CMGL", "+CMT"):
        raise AtSyntaxError(f"expected a +CMGR, +CMGL or +CMT line, got {header!r}")
    f = info(header, prefix)
    index = None
    if prefix == "+CMGL":
        index = want_int(f, 0, "<index>", header)
        f = f[1:]
    if prefix == "+CMT":
        pdu_mode = len(f) == 2 and isinstance(f[1], int)
        stat = None
    else:
        if not f or f[0] is None:
            raise AtSyntaxError(f"{header!r} has no <stat>; expected a number (PDU mode) or a word")
        pdu_mode = isinstance(f[0], int)
        stat = stat_word(f[0])  # type: ignore[arg-type]
        f = f[1:]
    if pdu_mode:
        return PduListing(body.strip(), want_int(f, 1, "<length>", header), stat, index,
                          want_str(f, 0, "<alpha>", header, optional=True))
    address = want_str(f, 0, "<oa/da>", header) or ""
    alpha = want_str(f, 1, "<alpha>", header, optional=True)
    rest = f[2:]
    get_s = lambda i, what: want_str(rest, i, what, header, optional=True)
    get_i = lambda i, what: _opt_int(rest, i, what, header)
    if prefix == "+CMGL":
        return TextListing(body, address, stat, index, alpha, get_s(0, "<scts>"), get_i(1, "<toa>"),
                           length=get_i(2, "<length>"))
    if stat is None or stat.startswith("REC"):
        return TextListing(body, address, stat, None, alpha, get_s(0, "<scts>"), get_i(1, "<tooa>"),
                           get_i(2, "<fo>"), get_i(3, "<pid>"), get_i(4, "<dcs>"), None,
                           get_s(5, "<sca>"), get_i(6, "<tosca>"), get_i(7, "<length>"))
    vp = rest[4] if len(rest) > 4 else None
    if vp is not None and not isinstance(vp, (int, str)):
        raise AtSyntaxError(f"<vp> of {header!r} is {vp!r}; expected a number or a quoted time")
    return TextListing(body, address, stat, None, alpha, None, get_i(0, "<toda>"), get_i(1, "<fo>"),
                       get_i(2, "<pid>"), get_i(3, "<dcs>"), vp, get_s(5, "<sca>"),
                       get_i(6, "<tosca>"), get_i(7, "<length>"))


def _opt_int(fields: list[Field], i: int, what: str, line: str) -> int | None:
    if i >= len(fields) or fields[i] is None:
        return None
    return want_int(fields, i, what, line)
