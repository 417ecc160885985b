"""The network models on SimPy time: SMSC licence queue, delays, loss, slowdowns; USSD
gateway capacity, timeouts and drops; gateway capacity; the core's ports on SimPy."""
from __future__ import annotations

import random
import statistics

import pytest
import simpy

from sim.clock import SimClock, SimScheduler
from sim.draw import Choice, LogNormal
from sim.faults import Fault, FaultSchedule
from sim.network import GatewayDesk, SimSmsc, UssdGateway


def test_clock_and_scheduler_follow_simpy_time():
    env = simpy.Environment()
    clock, sched = SimClock(env, 1000.0), SimScheduler(env)
    seen = []
    sched.call_later(5, lambda: seen.append(clock.now()))
    sched.call_later(-1, lambda: seen.append(("now", clock.now())))
    sched.call_later(2, lambda: 1 / 0)
    env.run(until=10)
    assert seen == [("now", 1000.0), 1005.0]
    assert sched.errors == {"scheduled:ZeroDivisionError": 1}


def smsc(env, **kw):
    args = dict(throughput_per_s=None, delay=LogNormal(4, 12), loss_rate=0.0)
    args.update(kw)
    return SimSmsc(env, SimScheduler(env), random.Random(1), **args)


def arrivals_to(env, s, phone):
    got = []
    s.expect(phone, lambda text, at: got.append(at))
    return got


def test_delivery_delays_fit_the_measured_percentiles():
    env = simpy.Environment()
    s = smsc(env)
    got = arrivals_to(env, s, "213551234567")
    for _ in range(4000):
        s.send("213551234567", "code 123456")
    env.run()
    assert statistics.median(got) == pytest.approx(4, rel=0.08)
    assert sorted(got)[int(0.95 * len(got))] == pytest.approx(12, rel=0.12)


def test_a_licence_queues_parts_and_unsubscribed_messages_cost_no_event():
    env = simpy.Environment()
    s = smsc(env, throughput_per_s=10, delay=LogNormal(1, 1))
    got = arrivals_to(env, s, "1")
    for _ in range(100):
        s.send("2", "notice")              # nobody waits on "2"
    s.send("1", "the code")
    assert s.queue() == 100
    env.run()
    assert got == [pytest.approx(11.0)]     # behind 100 parts at 10/s, then 1 s on the way
    assert (s.submitted, s.accepted, s.lost) == (101, 101, 0)


def test_long_texts_take_several_parts():
    env = simpy.Environment()
    s = smsc(env, throughput_per_s=1, delay=LogNormal(1, 1))
    s.send("1", "ب" * 150)                  # UCS2: 70 per part when concatenated -> 3 parts
    assert s.segments == 3 and s.queue() == 2         # the first part leaves at once


def test_loss_and_slowdown_windows():
    env = simpy.Environment()
    faults = FaultSchedule("t", "", (Fault("smsc_slowdown", 100, 200, {"throughput_factor": 0.5,
                                                                          "delay_factor": 10, "loss_rate": 1.0}),))
    s = smsc(env, delay=LogNormal(1, 1), loss_rate=0.0, faults=faults)
    got = arrivals_to(env, s, "1")
    s.send("1", "a")
    env.run(until=150)
    s.send("1", "b")                        # lost: the window's loss rate is 1
    env.run(until=250)
    s.send("1", "c")
    env.run()
    assert got == [1.0, 251.0] and s.lost == 1
    faults2 = FaultSchedule("t", "", (Fault("smsc_slowdown", 0, 50, {"throughput_factor": 1, "delay_factor": 10}),))
    env2 = simpy.Environment()
    s2 = smsc(env2, delay=LogNormal(1, 1), faults=faults2)
    got2 = arrivals_to(env2, s2, "1")
    s2.send("1", "x")
    env2.run()
    assert got2 == [10.0]


def test_expect_stops_delivery_when_asked():
    env = simpy.Environment()
    s = smsc(env, delay=LogNormal(1, 1))
    got = []
    stop = s.expect("1", lambda text, at: got.append(text))
    s.send("1", "a")
    stop()
    env.run()
    assert got == []


def test_ussd_gateway_capacity_timeouts_drops_and_overload():
    env = simpy.Environment()
    cfg = {"dialogues": 2, "answer_s": (1.0, 1.0), "app_timeout_s": 5.0, "drop_rate": 0.0}
    faults = FaultSchedule("t", "", (Fault("ussd_overload", 10, 20, {"capacity_factor": 0.5, "latency_factor": 8,
                                                                        "drop_rate": 1.0}),))
    g = UssdGateway(env, random.Random(1), cfg, faults)
    assert g.open() and g.open() and not g.open() and g.refused == 1
    g.close()
    assert g.screen() == (1.0, "ok")
    env.run(until=15)
    assert not g.open()                      # capacity halved: 1 open, 1 allowed
    latency, fate = g.screen()
    assert fate == "dropped"
    g2 = UssdGateway(env, random.Random(1), {**cfg, "drop_rate": 0.0}, FaultSchedule("t", "", (
        Fault("ussd_overload", 0, 100, {"capacity_factor": 1, "latency_factor": 8}),)))
    assert g2.screen() == (5.0, "timeout") and g2.timeouts == 1


class _Gw:
    def __init__(self):
        self.rng = random.Random(1)

    def answer_delay(self):
        return 2.0


def test_gateway_desk_queues_beyond_capacity():
    env = simpy.Environment()
    desk = GatewayDesk(env, {"g": _Gw()}, {"g": 2})
    done = []

    def caller(k):
        result = yield from desk.call("g", lambda: k)
        done.append((env.now, result))
    for k in range(5):
        env.process(caller(k))
    env.run(until=1)
    assert desk.queued() == 3
    env.run()
    assert done == [(2.0, 0), (2.0, 1), (4.0, 2), (4.0, 3), (6.0, 4)]


def test_draw_helpers():
    rng = random.Random(2)
    xs = sorted(LogNormal(10, 30).draw(rng) for _ in range(5000))
    assert xs[2500] == pytest.approx(10, rel=0.08) and xs[4750] == pytest.approx(30, rel=0.12)
    assert LogNormal(3, 3).draw(rng) == 3
    with pytest.raises(ValueError):
        LogNormal(5, 2)
    c = Choice({"a": 1, "b": 3, "z": 0})
    picks = [c.draw(rng) for _ in range(4000)]
    assert picks.count("z") == 0 and picks.count("b") / 4000 == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError):
        Choice({"a": 0})
