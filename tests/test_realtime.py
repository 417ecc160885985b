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

    def read(self, register: str, delay: float = 0.2) -> str:
        self.threads.add(threading.current_thread().name)
        time.sleep(delay)
        return f"{register}=42"

    def fail(self) -> None:
        raise TimeoutError("meter did not answer within 0.1 s")


def test_the_loop_keeps_running_while_a_device_answers():
    env = simpy.rt.RealtimeEnvironment(factor=1.0, strict=False)
    port = SlowPort()
    ticks: list[float] = []
    got: list[tuple[float, str]] = []

    def clock(env):
        while env.now < 0.3:
            ticks.append(env.now)
            yield env.timeout(0.01)

    with DeviceThread(env, port, name="meter") as dev:
        def reader(env):
            value = yield dev.call("read", "C.1.0")
            got.append((env.now, value))

        env.process(clock(env))
        env.process(reader(env))
        env.run(until=0.35)
    assert got and got[0][1] == "C.1.0=42"
    assert 0.19 <= got[0][0] <= 0.3                       # arrived after the device's 0.2 s
    assert len([t for t in ticks if t < got[0][0]]) >= 15   # and the world ticked meanwhile
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
