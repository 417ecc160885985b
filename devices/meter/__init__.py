"""The prepaid meter role (flows F5/F6): one interface, three faces.

- ``PrepaidMeter`` (``model.py``): the meter as a state machine in plain Python: credit
  register, consumption from a load profile, low-credit alert, relay, emergency credit,
  over-current trips, tamper, monthly history and fee, STS keypad, utility-card slot. Time
  moves by ``advance(seconds)``, or with SimPy by ``env.process(meter.run(env))``.
- ``MeterDriver`` (``driver.py``): IEC 62056-21 mode C over pyserial, to any port or URL.
- ``MeterEmulator`` (``emulator.py``): the model served on a pty, for the driver to talk to.

All three satisfy ``MeterPort`` (``interface.py``); ``open_meter`` gives one by name::

    from devices.meter import LoadProfile, ResultCode, open_meter
    from protocols import sts

    # the key a vending system derives for this meter: sts.dkga02(vending_key, pan=..., ...)
    key = sts.DecoderKey.from_hex("e653341f9d5bf36f")
    with open_meter("emulator", meter_number="47500150231", decoder_key=key,
                    load=LoadProfile.constant(400)) as meter:       # or "model", or
        result = meter.enter_token("2122 1345 0025 6910 9007")    # "driver", port="/dev/ttyUSB0"
        result.code, result.credited                               # ResultCode.ACCEPTED, 2560
        meter.read().credit                                        # 2560 (0.01 kWh)
        meter.read_register("C.50.0")                              # the cheap command: one R1

Amounts are integers in the register's unit (0.01 kWh, or minor units with a ``MeterTariff``).
The wire protocol, every register and result code: ``docs/meter-protocol.md``.
"""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

from .codes import ResultCode
from .driver import MeterDriver
from .emulator import MeterEmulator
from .errors import MeterError, MeterInputError, MeterLinkError, MeterProtocolError, MeterTimeout
from .interface import Identity, MeterPort, MeterReading, MeterResult
from .load import LoadProfile, MeterTariff
from .model import MeterEvent, PrepaidMeter
from .session import MeterSession

Face = Literal["model", "emulator", "driver"]
_MODEL = frozenset(inspect.signature(PrepaidMeter.__init__).parameters) - {"self"}
_EMULATOR = frozenset({"pace", "speed", "reaction_s", "record", "option_timeout_s", "inactivity_s",
                       "password_tries", "register_map"})   # register_map: to both ends (a rehearsal)
_DRIVER = frozenset(inspect.signature(MeterDriver.__init__).parameters) - {"self", "port"}


def _split(params: dict[str, Any], allowed: frozenset[str], face: str) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"open_meter({face!r}): unknown parameter(s) {', '.join(unknown)}; expected some of "
                         f"{', '.join(sorted(allowed))}")


@contextmanager
def open_meter(face: Face, **params: Any) -> Iterator[MeterPort]:
    """A ``MeterPort`` for ``face``, closed (emulator stopped) on leaving the block.

    - ``"model"``: ``PrepaidMeter(**params)``, or ``model=`` an existing one;
    - ``"emulator"``: the model (same parameters, or ``model=``) on a pty with a ``MeterDriver``
      on it; emulator options ``pace``, ``speed``, ``reaction_s``..., driver options ``baud``,
      ``password``, ``timeout``...;
    - ``"driver"``: ``MeterDriver(port, **params)`` for a real meter (``port`` is required); with
      ``meter_number``, the meter on the port must be that one (checked at once).
    """
    if face == "model":
        _split(params, _MODEL | {"model"}, face)
        yield params["model"] if "model" in params else PrepaidMeter(**params)
    elif face == "emulator":
        _split(params, _MODEL | _EMULATOR | _DRIVER | {"model"}, face)
        model = params.get("model") or PrepaidMeter(**{k: v for k, v in params.items() if k in _MODEL})
        emulator = MeterEmulator(model, password=params.get("password", "00000000"),
                                 **{k: v for k, v in params.items() if k in _EMULATOR})
        port = emulator.start()
        try:
            with MeterDriver(port, **{k: v for k, v in params.items() if k in _DRIVER}) as driver:
                yield driver
        finally:
            emulator.stop()
    elif face == "driver":
        _split(params, _DRIVER | {"port", "meter_number"}, face)
        if "port" not in params:
            raise ValueError("open_meter('driver') needs port=, e.g. '/dev/ttyUSB0' or 'socket://host:port'")
        expected = params.pop("meter_number", None)
        with MeterDriver(**params) as driver:
            if expected is not None and driver.identify().meter_number != expected:
                raise MeterProtocolError(f"the meter on {params['port']!r} is {driver.identify().meter_number}, "
                                         f"not {expected} as the bench says")
            yield driver
    else:
        raise ValueError(f"invalid meter face {face!r}: expected 'model', 'emulator' or 'driver'")


__all__ = [
    "Face", "Identity", "LoadProfile", "MeterDriver", "MeterEmulator", "MeterError", "MeterEvent",
    "MeterInputError", "MeterLinkError", "MeterPort", "MeterProtocolError", "MeterReading", "MeterResult",
    "MeterSession", "MeterTariff", "MeterTimeout", "PrepaidMeter", "ResultCode", "open_meter",
]
