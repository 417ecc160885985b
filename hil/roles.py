"""From a bench binding to an open device port: the one place that knows each role's factory.

The bench file says what a hardware team can say (a port, a baud rate, a reader's name, test
keys); the world adds what only it knows (the core's keys for this meter, the network a handset
attaches to) as ``extra``. Keys the file does not give fall back to the bench's development
keys below, which are test keys by construction and never a utility's.
"""
from __future__ import annotations

import contextlib
import random
from contextlib import contextmanager
from typing import Any, Iterator

from hil.bench import Bench, BenchError, RoleBinding

DEFAULT_METER = "47500150231"           # Luhn-checked, as the core registers meters
DEFAULT_CARD_SERIAL = "04A1B2C3D4E5F607"
DEV_DECODER_KEY = "e653341f9d5bf36f"    # the bench's own STS test key
DEV_CARD_KEY = bytes(range(32)).hex()   # the bench's own card master key (key version 1)


def meter_keys(params: dict[str, Any]) -> tuple[Any, bytes]:
    """(STS decoder key, card master key) of a bench meter binding."""
    from protocols import sts

    return (sts.DecoderKey.from_hex(params.get("decoder_key", DEV_DECODER_KEY)),
            bytes.fromhex(params.get("card_key", DEV_CARD_KEY)))


def card_master_key(params: dict[str, Any]) -> bytes:
    return bytes.fromhex(params.get("card_key", DEV_CARD_KEY))


def open_port(bench: Bench, binding: RoleBinding, **extra: Any) -> Any:
    opener = {"meter": _meter, "card_reader": _card_reader, "modem": _modem}[binding.role]
    return opener(bench, binding, dict(binding.params), extra)


@contextmanager
def _meter(bench: Bench, b: RoleBinding, p: dict[str, Any], extra: dict[str, Any]) -> Iterator[Any]:
    from devices.meter import open_meter

    for bench_only in ("relay_timeout",):
        p.pop(bench_only, None)
    decoder_key, card_key = meter_keys(p)
    p.pop("decoder_key", None)
    p.pop("card_key", None)
    if b.face == "driver":
        args = {**p, **extra}
    else:
        args = {"meter_number": p.pop("meter_number", DEFAULT_METER), "decoder_key": decoder_key,
                "card_master_keys": {1: card_key}, **p, **extra}
        if b.face == "model":
            args.pop("baud", None)
    with open_meter(b.face, **args) as port:
        yield port


def _reader_index(name: str) -> int:
    from devices.card import VPCD_READERS

    for index, (reader, _) in VPCD_READERS.items():
        if reader.startswith(name) or name == reader:
            return index
    raise BenchError([f"roles.card_reader.reader: {name!r} is not a vpcd reader; the emulator face uses "
                      + " or ".join(repr(r) for r, _ in VPCD_READERS.values())])


@contextmanager
def _card_reader(bench: Bench, b: RoleBinding, p: dict[str, Any], extra: dict[str, Any]) -> Iterator[Any]:
    from devices.card import MemoryCard, PcscReader, ReaderNotFound, open_card_reader

    timeout = p.pop("card_timeout", None)
    if b.face == "driver":
        wanted = p["reader"]
        probe = PcscReader(wanted)
        try:
            names = probe.readers()
        finally:
            probe.close()
        matches = [n for n in names if n == wanted] or [n for n in names if n.startswith(wanted)]
        if len(matches) != 1:
            raise ReaderNotFound(f"reader {wanted!r}: {'no reader' if not matches else 'several readers'} "
                                 f"of that name; readers now: {names or 'none'} (see `rbench devices`)")
        args: dict[str, Any] = {"reader": matches[0], **extra}
    else:
        card = extra.pop("card", None)
        if card is None:
            card = MemoryCard.manufacture(p.get("card_serial", DEFAULT_CARD_SERIAL), card_master_key(p),
                                          rng=extra.pop("rng", None) or random.Random(0))
        args = {"card": card, **extra}
        if b.face == "emulator":
            args["index"] = _reader_index(p.get("reader", "Virtual PCD 00 00"))
    with contextlib.ExitStack() as stack:
        if b.face == "emulator":      # the real PC/SC path: pcscd (ours, or the machine's) + vpcd
            from hil.pcsc import pcscd_users

            stack.enter_context(pcscd_users())
        port = stack.enter_context(open_card_reader(b.face, **args))
        if timeout is not None and b.face != "model" and not port.card_present():
            port.wait_for_card(float(timeout))
        yield port


@contextmanager
def _modem(bench: Bench, b: RoleBinding, p: dict[str, Any], extra: dict[str, Any]) -> Iterator[Any]:
    from devices.modem import open_modem

    if b.face != "driver" and "msisdn" not in p and "model" not in extra:
        p["msisdn"] = {"DZ": "213551234567", "IR": "989121234567", "EG": "201001234567"}[bench.market]
    if "msisdn" in p:
        p["msisdn"] = p["msisdn"].lstrip("+")
    with open_modem(b.face, **{**p, **extra}) as port:
        yield port
