"""The bench's devices in a story: handsets (modem role), meters, the card reader and its cards.

Each is opened through the bench (``hil.bench.open_role``) on the face the bench gives its role,
with what only the world knows passed as ``extra``: the handset's model on the core's network,
the meter's model holding the core's keys (decoder key of this meter, the utility's card key)
and the card in the reader. Everything they exchange goes to the transcript: AT lines of the
modem, APDUs of the reader, the meter's serial frames (emulator and driver faces).

Faces a story cannot use say so (``FaceUnsupported``, the test is skipped with that reason): a
real modem's SIM is on a real network the in-process core cannot reach, and a real reader holds
whatever card a person put in it.
"""
from __future__ import annotations

import random
from contextlib import ExitStack
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.tariffs import tariff as tariff_of
from hil.bench import Bench, RoleBinding, open_role

if TYPE_CHECKING:
    from scenarios.world import StoryWorld


def _face(world: StoryWorld, role: str) -> str:
    return world.bench.face(role) or "model"


def _bench_for(world: StoryWorld, role: str, drop: tuple[str, ...] = ()) -> Bench:
    binding = world.bench.roles.get(role) or RoleBinding(role, "model", {}, 0)
    binding = replace(binding, params={k: v for k, v in binding.params.items() if k not in drop})
    return replace(world.bench, roles={role: binding})


def _hex(data: bytes) -> str:
    return data.hex().upper()


def _frame(data: bytes) -> str:
    return data.decode("ascii", "backslashreplace").replace("\x02", "<STX>").replace("\x03", "<ETX>") \
        .replace("\x01", "<SOH>").replace("\x06", "<ACK>").replace("\x15", "<NAK>")


# -- handsets ---------------------------------------------------------------------------------------
def handset(world: StoryWorld, msisdn: Any = None) -> Any:
    number = msisdn if msisdn is not None else world.ctx.values.get("handset")
    if number is None:
        from scenarios.world import StoryError
        raise StoryError("handset: no msisdn given and no given.handset; say whose handset it is")
    e164 = world.e164(number)
    key = ("handset", e164)
    if key in world.devices:
        return world.devices[key]
    from scenarios.world import FaceUnsupported
    face = _face(world, "modem")
    if face == "driver":
        raise FaceUnsupported("the modem role is a real modem whose SIM is on a real network; the story's core "
                              "runs in process with an emulated SMSC and USSD gateway: bind the modem to the "
                              "model or emulator face (e.g. --bench hil/benches/emulated.yaml)")
    from devices.modem import ModemModel
    from hil.modem_network import UTC_OFFSET_MIN
    model = ModemModel(e164, world.network, utc_offset_min=UTC_OFFSET_MIN.get(world.market.code, 0),
                       now=world.core.clock.now)
    world.stack.callback(world.network.attach(model))
    port = world.stack.enter_context(open_role(_bench_for(world, "modem", ("msisdn",)), "modem", model=model,
                                               timeout=world.io_timeout))
    world.devices[key] = port
    world.transcript.add("note", f"handset {e164} on the {face} face")
    return port


def flush_at(world: StoryWorld, port: Any) -> None:
    """Move the AT lines the session logged into the transcript."""
    lines = list(port.transcript)
    port.transcript.clear()
    for line in lines:
        world.transcript.add("at", f"{port.msisdn}: {line}")


# -- meters -----------------------------------------------------------------------------------------
def _units(value: Any) -> int:
    """Register units: 0.01 kWh for a keypad meter, minor units of money for a card meter."""
    return int(Decimal(str(value)) * 100)


def setup_meters(world: StoryWorld, meters: dict[str, dict]) -> None:
    from devices.meter import LoadProfile, MeterTariff, PrepaidMeter

    core = world.core
    for name, spec in meters.items():
        tariff = world.tariff_id(spec.get("tariff"))
        number = spec["number"]
        customer = spec.get("customer") or world.ctx.resolve("faker:name")
        m = core.meters.register(world.market.code, number, kind=spec["kind"], tariff=tariff, customer=customer)
        world.ctx.set(name, {"number": m.number, "kind": m.kind, "tariff": m.tariff})
        if _face(world, "meter") == "driver" and m.number == world.bench.roles["meter"].params.get("meter_number"):
            world.devices[("meter_model", name)] = None          # the real meter: its time is its own
            if m.kind == "sts":                                  # what a test meter must hold
                key = core.vending.purpose.decoder_key(m).hex()
                world.transcript.add("note", f"meter {m.number} is the bench's real meter: its tokens are made "
                                             f"with decoder key {key} (seed {world.seed}); load it as a test key")
            continue
        t = tariff_of(m.tariff)
        common = {"clock": world.meter_clock(), "credit": _units(spec.get("credit", 0)),
                  "load": LoadProfile.constant(int(spec.get("load_w", 0))),
                  "low_credit": _units(spec.get("low_credit", 10))}
        if m.kind == "sts":
            model = PrepaidMeter(m.number, unit="energy", decoder_key=core.vending.purpose.decoder_key(m),
                                 key_revision=m.key_revision, tariff_index=int(m.tariff_index),
                                 tid_capacity=int(spec.get("tid_capacity", 50)),
                                 lockout_s=int(spec.get("lockout_s", 60)), **common)
        else:
            bands = tuple((None if b.up_to_tenths is None else b.up_to_tenths // 10, b.price.minor) for b in t.bands)
            model = PrepaidMeter(m.number, unit="money", tariff=MeterTariff(t.currency, bands, 0),
                                 hoarding_limit=t.max_credit.minor * 2,
                                 card_master_keys={1: core.keys.card_master_key(t.utility)}, **common)
        world.devices[("meter_model", name)] = model
        world.add_meter_model(model)


def meter_name(world: StoryWorld, name: Any) -> str:
    if name is not None:
        return str(name)
    names = [key[1] for key in world.devices if key[0] == "meter_model"]
    if len(names) != 1:
        from scenarios.world import StoryError
        raise StoryError(f"meter: the story has {len(names)} meters ({', '.join(names) or 'none'}); say which")
    return names[0]


def meter(world: StoryWorld, name: Any = None) -> Any:
    """The meter's port (opened on first use)."""
    name = meter_name(world, name)
    key = ("meter", name)
    if key in world.devices:
        return world.devices[key]
    model = world.devices[("meter_model", name)]
    bench_face = _face(world, "meter")
    if model is None:                      # the real meter the bench names: its own keys and time
        face, bench, extra = "driver", world.bench, {}
    elif bench_face == "emulator":         # the meter's time follows the story's clock (speed 0)
        face, bench, extra = "emulator", world.bench, {"model": model, "speed": 0, "timeout": world.io_timeout}
    else:                                  # models, and a second meter on a real bench
        face, bench, extra = "model", _bench_for(world, "meter"), {"model": model}
        if bench_face != "model":
            bench = replace(world.bench, roles={"meter": RoleBinding("meter", "model", {}, 0)})
    port = world.stack.enter_context(open_role(bench, "meter", **extra))
    if hasattr(port, "_serial") and hasattr(port, "_port"):
        _record_serial(world, port)
    world.devices[key] = port
    world.transcript.add("note", f"meter {name} on the {face} face")
    return port


class RecordingSerial:
    """A pyserial port that writes what goes each way into the transcript (one line per burst)."""

    def __init__(self, inner: Any, world: StoryWorld, name: str) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_world", world)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_heard", bytearray())

    def write(self, data: bytes) -> Any:
        self.flush_log()
        self._world.transcript.add("serial", f"{self._name} -> {_frame(bytes(data))}")
        return self._inner.write(data)

    def read(self, size: int = 1) -> bytes:
        data = self._inner.read(size)
        self._heard.extend(data)
        return data

    def flush_log(self) -> None:
        if self._heard:
            self._world.transcript.add("serial", f"{self._name} <- {_frame(bytes(self._heard))}")
            self._heard.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def _record_serial(world: StoryWorld, driver: Any) -> None:
    """Frames of a ``MeterDriver``: its pyserial port, now and after any re-open, is wrapped.

    The driver has no public hook for its frames yet; this wraps its port object (``_port``)
    and the method that opens one (``_serial``), and nothing else."""
    name = getattr(driver, "port_name", "meter")
    if driver._port is not None:
        driver._port = RecordingSerial(driver._port, world, name)
    opener = driver._serial
    driver._serial = lambda baud: RecordingSerial(opener(baud), world, name)
    world.devices.setdefault("serial_ports", []).append(driver)


def flush_serial(world: StoryWorld) -> None:
    for driver in world.devices.get("serial_ports", ()):
        port = getattr(driver, "_port", None)
        if isinstance(port, RecordingSerial):
            port.flush_log()


# -- utility cards and the card reader ----------------------------------------------------------------
def setup_cards(world: StoryWorld, cards: dict[str, dict]) -> None:
    """Manufacture each card (blank, with the utility's key); issue the ones given a meter."""
    from devices.card import MemoryCard, MemoryReader, UtilityCard
    from hil.vending_point import issue_card

    utility = tariff_of(world.tariff_id()).utility
    for name, spec in cards.items():
        serial = spec["serial"].upper()
        card = MemoryCard.manufacture(serial, world.core.keys.card_master_key(utility),
                                      rng=random.Random(f"{world.seed}:{serial}"))
        world.devices[("card", name)] = card
        world.ctx.set(name, {"serial": serial})
        if spec.get("meter"):                 # issued at the branch before the story: not device I/O
            number = world.ctx.values[spec["meter"]]["number"]
            issue_card(world.core, UtilityCard(MemoryReader(card), rng=random.Random(1)), number)


class RecordingReader:
    """A ``CardReaderPort`` whose APDUs go into the transcript."""

    def __init__(self, inner: Any, world: StoryWorld) -> None:
        self.inner, self.world = inner, world
        self.name = inner.name

    def transmit(self, command: Any) -> Any:
        raw = command.encode() if hasattr(command, "encode") else bytes(command)
        try:
            response = self.inner.transmit(command)
        except Exception as e:
            self.world.transcript.add("apdu", f"-> {_hex(raw)} !! {type(e).__name__}: {e}")
            raise
        self.world.transcript.add("apdu", f"-> {_hex(raw)} <- {_hex(response.data)} {response.sw:04X}")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def utility_card(world: StoryWorld, name: str) -> Any:
    """A ``UtilityCard`` session on the bench's reader holding card ``name`` (put in if need be)."""
    from devices.card import UtilityCard
    from scenarios.world import FaceUnsupported

    face = _face(world, "card_reader")
    if face == "driver":
        raise FaceUnsupported("the card reader role is a real reader: it holds whatever card a person put in it, "
                              "and this story moves several cards; bind the card reader to the model or emulator face")
    card = world.devices[("card", name)]
    state = world.devices.get("reader")
    if state is not None and state["card"] != name:
        if face == "model":
            state["port"].remove()
            state["port"].insert(card)
            state["card"] = name
        else:
            state["stack"].close()
            state = None
    if state is None:
        if face == "emulator" and "pcscd" not in world.devices:   # one pcscd for the whole story,
            from hil.pcsc import pcscd_users  # not one per card put in
            world.devices["pcscd"] = world.stack.enter_context(pcscd_users())
        stack = ExitStack()
        world.stack.callback(stack.close)
        port = stack.enter_context(open_role(_bench_for(world, "card_reader"), "card_reader", card=card))
        state = world.devices["reader"] = {"port": port, "card": name, "stack": stack}
        world.transcript.add("note", f"card {name} ({card.serial}) in the {face} reader {port.name}")
    return UtilityCard(RecordingReader(state["port"], world), rng=random.Random(f"{world.seed}:session"))
