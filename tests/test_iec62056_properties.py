"""IEC 62056-21 codec properties (hypothesis): every message round-trips; chunking never changes
what the parser sees; any bytes at all give messages and frame errors, never an exception; the
parser resynchronises after garbage; a changed byte inside a block is always caught by the BCC."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocols.iec62056 import (
    ACK, EOT, ETX, NAK, SOH, STX, Ack, Command, DataMessage, DataSet, ErrorMessage, FrameError, FrameParser,
    Identification, Nak, OptionSelect, SignOn, parse, scaled, unscaled,
)

PRINTABLE = [chr(c) for c in range(0x20, 0x7F)]


def text(barred: str, max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from([c for c in PRINTABLE if c not in barred]), min_size=min_size, max_size=max_size)


datasets = st.builds(DataSet, text("()/!\r\n", 16), text("()/!*", 128), text("()/!*", 16))
addressed = st.builds(DataSet, text("()/!", 16, min_size=1), text("()/!*", 40), text("()/!*", 8))
digit = st.sampled_from("0123456789")
letters = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), min_size=3, max_size=3)

meter_bound = st.one_of(
    st.builds(SignOn, text("/?!", 32)),
    st.builds(OptionSelect, digit, digit, digit),
    st.just(Nak()),
    st.builds(Command, st.sampled_from("PWRE"), digit, datasets),
    st.builds(Command, st.just("B"), digit),
)
master_bound = st.one_of(
    st.builds(Identification, letters, st.sampled_from("0123456789ABCDEFGHI"), text("/!\\", 16, min_size=1),
              st.sampled_from(["", "2", "W"])),
    st.just(Ack()),
    st.just(Nak()),
    st.builds(Command, st.just("P"), st.just("0"), datasets),
    st.builds(DataMessage, st.lists(addressed, max_size=6).map(tuple)),
    st.builds(DataMessage, st.lists(datasets, max_size=6).map(tuple), st.just(True)),
    st.builds(DataMessage, st.lists(addressed, min_size=1, max_size=4).map(tuple), st.just(False), st.just(True)),
    st.builds(ErrorMessage, text("()*/!", 32)),
)


@given(message=meter_bound)
def test_what_a_meter_reads_round_trips(message):
    assert parse(message.encode(), role="meter") == message


@given(message=master_bound)
def test_what_a_master_reads_round_trips(message):
    assert parse(message.encode(), role="master") == message


@st.composite
def chunked(draw, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    edges = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@given(messages=st.lists(master_bound, min_size=1, max_size=5), data=st.data())
def test_chunking_never_changes_what_comes_out(messages, data):
    stream = b"".join(m.encode() for m in messages)
    parser = FrameParser("master")
    out = [item for chunk in data.draw(chunked(stream)) for item in parser.feed(chunk)]
    assert out == messages and parser.pending == b""


@given(noise=st.binary(max_size=300), role=st.sampled_from(["meter", "master"]), data=st.data())
def test_any_bytes_give_messages_and_frame_errors_never_an_exception(noise, role, data):
    parser = FrameParser(role, max_frame=128)
    items = [item for chunk in data.draw(chunked(noise)) for item in parser.feed(chunk)] + parser.flush()
    assert parser.pending == b""
    errors = [i for i in items if isinstance(i, FrameError)]
    assert all(e.kind in ("garbage", "truncated", "bcc", "malformed", "too_long") and e.raw for e in errors)
    assert sum(len(e.raw) for e in errors) <= len(noise)


@given(noise=st.binary(max_size=200), message=master_bound)
def test_after_a_quiet_line_the_next_frame_parses_whatever_came_before(noise, message):
    parser = FrameParser("master")
    parser.feed(noise)
    parser.flush()                                   # the read timeout between two exchanges
    assert parser.feed(message.encode()) == [message]


STARTS_AND_ENDS = {SOH, STX, ETX, EOT, ACK, NAK, ord("/")}


@given(noise=st.binary(max_size=100).map(lambda b: bytes(x for x in b if x not in STARTS_AND_ENDS)),
       message=master_bound)
def test_garbage_that_starts_no_frame_is_skipped_and_the_frame_follows(noise, message):
    items = FrameParser("master").feed(noise + message.encode())
    assert items[-1] == message
    assert items[:-1] == ([FrameError("garbage", f"{len(noise)} bytes that start no frame: {noise[:32]!r}", noise)]
                          if noise else [])


@given(message=st.one_of(
    st.builds(DataMessage, st.lists(addressed, min_size=1, max_size=4).map(tuple), st.booleans()),
    st.builds(Command, st.sampled_from("PWR"), digit, addressed)), data=st.data())
def test_one_changed_byte_inside_a_block_is_caught(message, data):
    frame = bytearray(message.encode())
    position = data.draw(st.integers(1, len(frame) - 3), label="position")   # between the start and ETX
    new = data.draw(st.integers(0, 255).filter(lambda b: b != frame[position] and b not in STARTS_AND_ENDS),
                    label="new byte")
    frame[position] = new
    items = FrameParser("master").feed(bytes(frame))
    assert len(items) == 1 and isinstance(items[0], FrameError) and items[0].kind == "bcc"


@given(value=st.integers(-10**15, 10**15), decimals=st.integers(0, 6))
def test_scaled_values_round_trip_exactly(value, decimals):
    assert unscaled(scaled(value, decimals), decimals) == value
