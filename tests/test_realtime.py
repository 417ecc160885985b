"""Device I/O on its own thread enters a real-time SimPy world as events, never blocking it."""
from __future__ import annotations

import threading
import time

import pytest
import simpy
import simpy.rt

from hil.realtime import DeviceClosed, DeviceThread


class SlowPort:
    """A device whose answers take real time, like a 300-baud meter."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.reads: list[tuple[float, float]] = []

    def read(self, register: str, delay: float = 0.2) -> str:
        self.threads.add(threading.current_thread().name)
        start = time.monotonic()
        time.sleep(delay)
        self.reads.append((start, time.monotonic()))
        return f"{register}=42"

    def fail(self) -> None:
        raise TimeoutError("meter did not answer within 0.1 s")


def test_the_loop_keeps_running_while_a_device_answers():
    """Judged by real time, not simulated time: on a busy machine a non-strict real-time world lags
    the wall clock, so the answer can arrive at any simulated instant. What must hold is that the
    world ticked while the device thread was inside its 0.2 s read."""
    env = simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)
    port = SlowPort()
    ticks: list[float] = []                              # real time of every tick
    got: list[tuple[float, str]] = []

    def clock(env):
        while not got:
            ticks.append(time.monotonic())
            yield env.timeout(0.01)

    with DeviceThread(env, port, name="meter") as dev:
        def reader(env):
            value = yield dev.call("read", "C.1.0")
            got.append((env.now, value))

        env.process(clock(env))
        env.process(reader(env))
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            env.run(until=env.now + 0.05)
    assert got and got[0][1] == "C.1.0=42"
    assert got[0][0] > 0                                  # came back as a later event, not inline
    (start, end), = port.reads
    assert end - start >= 0.2
    assert len([t for t in ticks if start < t < end]) >= 3   # the world ticked during the read
    assert port.threads == {"rbench-meter"}


def test_a_device_error_reaches_the_waiting_process():
    env = simpy.Environment()
    seen: list[str] = []
    with DeviceThread(env, SlowPort(), poll_s=0.001) as dev:
        def proc(env):
            try:
                yield dev.call("fail")
            except TimeoutError as e:
                seen.append(str(e))

        env.process(proc(env))
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            env.run(until=env.now + 0.01)
    assert seen == ["meter did not answer within 0.1 s"]


def test_calls_run_in_order_one_at_a_time():
    env = simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)
    order: list[str] = []

    class Port:
        def op(self, name: str) -> str:
            order.append(name)
            time.sleep(0.01)
            return name

    with DeviceThread(env, Port()) as dev:
        results: list[str] = []

        def proc(env, name):
            results.append((yield dev.call("op", name)))

        for n in "abcd":
            env.process(proc(env, n))
        env.run(until=0.2)
    assert order == list("abcd") and results == list("abcd")


def test_unknown_methods_and_closed_devices_are_clear_errors():
    env = simpy.Environment()
    dev = DeviceThread(env, SlowPort(), name="card_reader")
    with pytest.raises(AttributeError, match="card_reader: the port has no method 'nope'"):
        dev.call("nope")
    dev.close()
    with pytest.raises(DeviceClosed):
        dev.call("read", "x")
    with pytest.raises(ValueError, match="poll_s"):
        DeviceThread(env, SlowPort(), poll_s=0)
