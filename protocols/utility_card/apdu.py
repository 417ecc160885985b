"""ISO/IEC 7816-4 APDUs with short lengths: commands (cases 1-4), responses, status words, BER-TLV.

A command APDU is ``CLA INS P1 P2 [Lc data] [Le]`` with one-byte Lc (1-255) and Le (1-256, 256
written ``00``); its *case* follows from which of data and Le are present::

    case 1  CLA INS P1 P2                 no data, no answer expected
    case 2  CLA INS P1 P2 Le              answer expected
    case 3  CLA INS P1 P2 Lc data         data, no answer expected
    case 4  CLA INS P1 P2 Lc data Le      both

Extended lengths (Lc ``00`` followed by two bytes) are not part of this card profile and are
refused as a wrong length. A response APDU is ``[data] SW1 SW2``. ``STATUS_WORDS`` names every
status word the utility card answers, so a refusal is never an unexplained number::

    cmd = Command(0x00, 0xB0, 0x81, 0x00, le=8)           # READ BINARY, SFI 1, 8 bytes
    assert Command.decode(cmd.encode()) == cmd
    Response.decode(bytes.fromhex("6982")).meaning         # 'security status not satisfied...'

``ApduError`` carries the status word a card answers to a malformed command (``6700`` for a
length that does not add up), so the card application can reply instead of raising.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols.utility_card.errors import ApduError

SW_OK = 0x9000
SW_END_OF_FILE = 0x6282            # fewer bytes than Le: the end of the file came first
SW_MEMORY_FAILURE = 0x6581
SW_WRONG_LENGTH = 0x6700
SW_LOGICAL_CHANNEL = 0x6881
SW_SM_NOT_SUPPORTED = 0x6882
SW_INCOMPATIBLE_FILE = 0x6981
SW_SECURITY_STATUS = 0x6982
SW_AUTH_BLOCKED = 0x6983
SW_CONDITIONS = 0x6985
SW_NO_CURRENT_EF = 0x6986
SW_SM_MISSING = 0x6987
SW_SM_INCORRECT = 0x6988
SW_WRONG_DATA = 0x6A80
SW_FILE_NOT_FOUND = 0x6A82
SW_NO_SPACE = 0x6A84
SW_WRONG_P1P2 = 0x6A86
SW_OFFSET = 0x6B00
SW_INS_NOT_SUPPORTED = 0x6D00
SW_CLA_NOT_SUPPORTED = 0x6E00
SW_UNKNOWN = 0x6F00

STATUS_WORDS: dict[int, str] = {
    SW_OK: "success",
    SW_END_OF_FILE: "end of file reached before Le bytes were read",
    SW_MEMORY_FAILURE: "memory failure: the write did not complete",
    SW_WRONG_LENGTH: "wrong length: Lc or Le does not fit this command",
    SW_LOGICAL_CHANNEL: "logical channel not supported: use CLA 00 or 0C",
    SW_SM_NOT_SUPPORTED: "secure messaging not supported for this command: use CLA 00",
    SW_INCOMPATIBLE_FILE: "command incompatible with the file structure",
    SW_SECURITY_STATUS: "security status not satisfied: authenticate and use secure messaging (CLA 0C)",
    SW_AUTH_BLOCKED: "authentication method blocked: too many failed authentications",
    SW_CONDITIONS: "conditions of use not satisfied (wrong order of commands, or the data breaks a card rule)",
    SW_NO_CURRENT_EF: "command not allowed: no current elementary file (select one or use an SFI)",
    SW_SM_MISSING: "expected secure messaging data objects missing",
    SW_SM_INCORRECT: "secure messaging data objects incorrect (bad MAC): the session is closed",
    SW_WRONG_DATA: "incorrect parameters in the data field",
    SW_FILE_NOT_FOUND: "file or application not found",
    SW_NO_SPACE: "not enough memory space in the file: offset + length past its end",
    SW_WRONG_P1P2: "incorrect parameters P1-P2",
    SW_OFFSET: "wrong parameters P1-P2: offset outside the file",
    SW_INS_NOT_SUPPORTED: "instruction code not supported",
    SW_CLA_NOT_SUPPORTED: "class not supported",
    SW_UNKNOWN: "no precise diagnosis (internal card error)",
}


def sw_meaning(sw: int) -> str:
    """What a status word means, families (61xx, 63Cx, 6Cxx) included."""
    if sw in STATUS_WORDS:
        return STATUS_WORDS[sw]
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x61:
        return f"success; {sw2 or 256} more bytes available (GET RESPONSE)"
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return f"authentication failed: {sw2 & 0x0F} tries left before the card blocks it"
    if sw1 == 0x6C:
        return f"wrong Le: the card has exactly {sw2 or 256} bytes to send"
    return f"status word {sw:04X} is not used by this card profile"


@dataclass(frozen=True)
class Command:
    """A command APDU; ``le`` is the number of bytes expected (1-256) or None for none."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= 0xFF:
                raise ApduError(f"{name}: expected a byte 0-255, got {value!r}", field=name)
        if not isinstance(self.data, (bytes, bytearray)) or len(self.data) > 255:
            raise ApduError(f"data: expected at most 255 bytes (short APDU), got "
                            f"{len(self.data) if isinstance(self.data, (bytes, bytearray)) else self.data!r}",
                            field="data")
        object.__setattr__(self, "data", bytes(self.data))
        if self.le is not None and (type(self.le) is not int or not 1 <= self.le <= 256):
            raise ApduError(f"le: expected 1-256 bytes or None, got {self.le!r}", field="le")

    @property
    def case(self) -> int:
        return 1 + (self.le is not None) + 2 * bool(self.data)

    @property
    def secure(self) -> bool:
        """CLA says secure messaging with the header authenticated (b4-b3 = 11)."""
        return self.cla & 0x0C == 0x0C

    @property
    def header(self) -> bytes:
        return bytes((self.cla, self.ins, self.p1, self.p2))

    def encode(self) -> bytes:
        out = self.header
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le & 0xFF,))
        return out

    @classmethod
    def decode(cls, raw: bytes) -> Command:
        """Parse a short command APDU; ``ApduError.sw`` says what a card answers if it is malformed."""
        if not isinstance(raw, (bytes, bytearray, memoryview)):
            raise ApduError(f"apdu: expected bytes, got {type(raw).__name__}", field="apdu")
        raw = bytes(raw)
        if len(raw) < 4:
            raise ApduError(f"apdu: {len(raw)} bytes ({raw.hex().upper() or 'empty'}); expected at "
                            "least 4 (CLA INS P1 P2)", field="apdu", sw=SW_WRONG_LENGTH)
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0:
            raise ApduError(f"apdu {raw[:8].hex().upper()}...: Lc 00 starts an extended length, "
                            "which this card does not support; expected Lc 01-FF", field="lc",
                            sw=SW_WRONG_LENGTH)
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, body[1:])
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, body[1:-1], le=body[-1] or 256)
        raise ApduError(f"apdu {raw.hex().upper()[:40]}: Lc says {lc} data bytes but {len(body) - 1} "
                        f"follow; expected {lc} (case 3) or {lc + 1} with Le (case 4)",
                        field="lc", sw=SW_WRONG_LENGTH)

    def __str__(self) -> str:
        return self.encode().hex().upper()


@dataclass(frozen=True)
class Response:
    """A response APDU: ``data`` then the status word ``sw`` (SW1 SW2 as one number)."""

    data: bytes = b""
    sw: int = SW_OK

    def __post_init__(self) -> None:
        if type(self.sw) is not int or not 0 <= self.sw <= 0xFFFF:
            raise ApduError(f"sw: expected two bytes 0000-FFFF, got {self.sw!r}", field="sw")
        if not isinstance(self.data, (bytes, bytearray)) or len(self.data) > 256:
            raise ApduError("data: expected at most 256 bytes", field="data")
        object.__setattr__(self, "data", bytes(self.data))

    @property
    def sw1(self) -> int:
        return self.sw >> 8

    @property
    def sw2(self) -> int:
        return self.sw & 0xFF

    @property
    def ok(self) -> bool:
        return self.sw == SW_OK

    @property
    def meaning(self) -> str:
        return sw_meaning(self.sw)

    def encode(self) -> bytes:
        return self.data + self.sw.to_bytes(2, "big")

    @classmethod
    def decode(cls, raw: bytes) -> Response:
        if not isinstance(raw, (bytes, bytearray, memoryview)) or not 2 <= len(raw) <= 258:
            size = len(raw) if isinstance(raw, (bytes, bytearray, memoryview)) else type(raw).__name__
            raise ApduError(f"response: {size} bytes; expected 2 to 258 (data then SW1 SW2)",
                            field="response")
        raw = bytes(raw)
        return cls(raw[:-2], int.from_bytes(raw[-2:], "big"))

    def __str__(self) -> str:
        return f"{self.data.hex().upper()} {self.sw:04X}".lstrip()


# --- BER-TLV (ISO 7816-4 §6.3): what the FCI and the secure messaging data objects use --------

def tlv(tag: int, value: bytes) -> bytes:
    """One data object with a one- or two-byte tag and a definite length up to 65535."""
    tag_bytes = tag.to_bytes(2 if tag > 0xFF else 1, "big")
    n = len(value)
    if n < 0x80:
        length = bytes((n,))
    elif n <= 0xFF:
        length = bytes((0x81, n))
    else:
        length = bytes((0x82,)) + n.to_bytes(2, "big")
    return tag_bytes + length + bytes(value)


def parse_tlv(data: bytes, *, where: str = "data") -> list[tuple[int, bytes]]:
    """The data objects of ``data`` in order; ``ApduError`` (SW 6A80) when they do not add up."""
    out: list[tuple[int, bytes]] = []
    i, data = 0, bytes(data)
    while i < len(data):
        start = i
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            if i >= len(data):
                raise ApduError(f"{where}: two-byte tag at offset {start} is cut short",
                                field=where, sw=SW_WRONG_DATA)
            tag = (tag << 8) | data[i]
            i += 1
            if tag & 0x80:
                raise ApduError(f"{where}: tag at offset {start} has more than two bytes; "
                                "expected one- or two-byte tags", field=where, sw=SW_WRONG_DATA)
        if i >= len(data):
            raise ApduError(f"{where}: tag {tag:X} at offset {start} has no length", field=where,
                            sw=SW_WRONG_DATA)
        n = data[i]
        i += 1
        if n & 0x80:
            size = n & 0x7F
            if size not in (1, 2) or i + size > len(data):
                raise ApduError(f"{where}: length byte {n:02X} of tag {tag:X} at offset {start}; "
                                "expected a definite length of 1 or 2 bytes", field=where,
                                sw=SW_WRONG_DATA)
            n = int.from_bytes(data[i:i + size], "big")
            i += size
        if i + n > len(data):
            raise ApduError(f"{where}: tag {tag:X} at offset {start} says {n} bytes but only "
                            f"{len(data) - i} follow", field=where, sw=SW_WRONG_DATA)
        out.append((tag, data[i:i + n]))
        i += n
    return out
