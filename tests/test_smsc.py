"""The emulated SMSC: delays, loss, throughput queueing, inboxes, determinism, threads."""
from __future__ import annotations

import random
import statistics
import sys
import threading

import pytest

from core.adapters.smsc import DeliveryDelay, EmulatedSmsc, SmsStatus
from core.clock import FakeClock, ImmediateScheduler, ManualScheduler
from core.ports import SmsMessage, SmsSender

ALICE, BOB = "213551234567", "989121234567"


def make_smsc(seed: int = 7, **kwargs: object) -> tuple[EmulatedSmsc, FakeClock]:
    clock = FakeClock()
    return EmulatedSmsc(clock, ManualScheduler(clock), random.Random(seed), **kwargs), clock  # type: ignore[arg-type]


# --- delay model ------------------------------------------------------------------------------

def test_default_delay_fits_the_public_measurements() -> None:
    delay = DeliveryDelay()
    assert delay.quantile(0.5) == pytest.approx(4.0)
    assert delay.quantile(0.95) == pytest.approx(12.0)
    assert 15.0 < delay.quantile(0.99) < 30.0


def test_sampled_delays_have_the_fitted_quantiles() -> None:
    rng = random.Random(1)
    samples = sorted(DeliveryDelay().sample(rng) for _ in range(20_000))
    assert samples[10_000] == pytest.approx(4.0, rel=0.05)
    assert samples[19_000] == pytest.approx(12.0, rel=0.08)
    assert samples[19_800] < 30.0


def test_fixed_and_no_delay() -> None:
    rng = random.Random(1)
    assert DeliveryDelay.fixed(2.5).sample(rng) == 2.5
    assert DeliveryDelay.none().sample(rng) == 0.0
    assert DeliveryDelay.fixed(2.5).quantile(0.99) == 2.5


def test_bad_delay_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="median must be a finite number of seconds >= 0, got -1"):
        DeliveryDelay.fixed(-1)
    with pytest.raises(ValueError, match="sigma must be finite and >= 0"):
        DeliveryDelay(4.0, float("nan"))


# --- delivery ---------------------------------------------------------------------------------

def test_send_returns_at_once_and_delivers_after_the_delay() -> None:
    smsc, clock = make_smsc(delay=DeliveryDelay.fixed(5.0))
    sender: SmsSender = smsc
    start = clock.now()
    message_id = sender.send(ALICE, "Votre code: 482913", sender="SATIM")
    assert message_id == "sms-00000001"
    assert smsc.inbox(ALICE) == [] and smsc.status(message_id).status is SmsStatus.EN_ROUTE
    clock.advance(4.9)
    assert smsc.inbox(ALICE) == []
    clock.advance(60)   # the clock overshoots; the handset got it at the due time
    [sms] = smsc.inbox(ALICE)
    assert (sms.text, sms.sender, sms.encoding, sms.segments) == ("Votre code: 482913", "SATIM", "gsm7", 1)
    assert (sms.submitted_at, sms.delivered_at) == (start, start + 5.0)
    assert smsc.status(message_id).status is SmsStatus.DELIVERED


def test_inbox_is_per_msisdn_in_delivery_order() -> None:
    smsc, clock = make_smsc(delay=DeliveryDelay.fixed(1.0))
    smsc.send(ALICE, "first")
    clock.advance(0.5)
    smsc.send(BOB, "for bob")
    smsc.send(ALICE, "second")
    clock.advance(10)
    assert [m.text for m in smsc.inbox(ALICE)] == ["first", "second"]
    assert [m.text for m in smsc.inbox(BOB)] == ["for bob"]
    assert smsc.last(ALICE).text == "second"   # type: ignore[union-attr]
    assert smsc.last("213559999999") is None
    assert [s.message.to for s in smsc.sent()] == [ALICE, BOB, ALICE]
    assert [s.message.text for s in smsc.sent(BOB)] == ["for bob"]


def test_a_later_message_can_overtake_a_slow_one() -> None:
    smsc, clock = make_smsc(seed=3)
    for i in range(30):
        smsc.send(ALICE, f"m{i}")
    clock.advance(600)
    received = smsc.inbox(ALICE)
    arrivals = [m.delivered_at for m in received if m.delivered_at is not None]
    assert len(arrivals) == 30
    assert arrivals == sorted(arrivals)                              # inbox in arrival order
    assert [m.text for m in received] != [f"m{i}" for i in range(30)]  # not submission order


def test_long_message_is_one_message_of_several_segments() -> None:
    smsc, clock = make_smsc(delay=DeliveryDelay.fixed(3.0))
    smsc.send(BOB, "ش" * 71)          # Persian: 2 UCS2 parts
    smsc.send(BOB, "a" * 161)         # 153 + 8
    smsc.send(BOB, "ok")
    clock.advance(10)
    assert [(m.segments, m.encoding) for m in smsc.inbox(BOB)] == [(2, "ucs2"), (2, "gsm7"), (1, "gsm7")]
    stats = smsc.stats()
    assert (stats.submitted, stats.delivered, stats.segments) == (3, 3, 5)


def test_long_message_arrives_with_its_slowest_segment() -> None:
    smsc, clock = make_smsc(seed=11)
    message_id = smsc.send(ALICE, "x" * 153 * 4)
    rng = random.Random(11)
    rng.random()                                      # the loss draw
    samples = [DeliveryDelay().sample(rng) for _ in range(4)]
    assert max(samples) != samples[-1]                # the seed makes an early part the slowest
    assert smsc.status(message_id).due_at == clock.now() + max(samples)


def test_lost_messages_never_arrive_and_are_counted() -> None:
    smsc, clock = make_smsc(seed=5, loss_rate=0.3, delay=DeliveryDelay.fixed(1.0))
    ids = [smsc.send(ALICE, f"otp {i}") for i in range(1000)]
    clock.advance(5)
    lost = [i for i in ids if smsc.status(i).status is SmsStatus.LOST]
    stats = smsc.stats()
    assert 250 < stats.lost < 350 and stats.lost == len(lost)
    assert stats.delivered == 1000 - stats.lost and stats.en_route == 0
    assert len(smsc.inbox(ALICE)) == stats.delivered
    assert all(smsc.status(i).due_at is None for i in lost)


def test_everything_lost_at_rate_one_and_nothing_at_zero() -> None:
    for rate, delivered in ((1.0, 0), (0.0, 50)):
        smsc, clock = make_smsc(loss_rate=rate)
        for _ in range(50):
            smsc.send(ALICE, "x")
        clock.advance(3600)
        assert smsc.stats().delivered == delivered


def test_throughput_makes_messages_queue() -> None:
    smsc, clock = make_smsc(delay=DeliveryDelay.none(), throughput_per_s=2.0)
    start = clock.now()
    ids = [smsc.send(ALICE, f"m{i}") for i in range(5)]
    assert [smsc.status(i).due_at - start for i in ids] == [0.0, 0.5, 1.0, 1.5, 2.0]  # type: ignore[operator]
    clock.advance(10)                    # queue drained: the next one leaves at once
    late = smsc.send(ALICE, "late")
    assert smsc.status(late).due_at == clock.now()


def test_throughput_counts_segments() -> None:
    smsc, clock = make_smsc(delay=DeliveryDelay.fixed(1.0), throughput_per_s=1.0)
    smsc.send(ALICE, "a" * 153 * 3)      # 3 parts leave at t, t+1, t+2
    second = smsc.send(BOB, "short")
    assert smsc.status(second).due_at == clock.now() + 3 + 1.0


def test_same_seed_same_run() -> None:
    def run(seed: int) -> list[float | None]:
        smsc, _ = make_smsc(seed=seed, loss_rate=0.1)
        return [smsc.status(smsc.send(ALICE, "a" * i)).due_at for i in range(0, 400, 7)]
    assert run(42) == run(42)
    assert run(42) != run(43)


def test_on_delivery_listeners_and_stop() -> None:
    smsc, clock = make_smsc(delay=DeliveryDelay.fixed(2.0))
    seen: list[SmsMessage] = []
    stop = smsc.on_delivery(seen.append)
    smsc.send(ALICE, "one")
    clock.advance(2)
    assert [m.text for m in seen] == ["one"] and seen[0].delivered_at is not None
    stop()
    smsc.send(ALICE, "two")
    clock.advance(2)
    assert [m.text for m in seen] == ["one"]


def test_listener_may_send_a_reply_from_inside_a_delivery() -> None:
    clock = FakeClock()
    smsc = EmulatedSmsc(clock, ImmediateScheduler(), random.Random(1))

    def answer(sms: SmsMessage) -> None:
        if sms.to == ALICE:
            smsc.send(BOB, "reply to " + sms.text)
    smsc.on_delivery(answer)
    smsc.send(ALICE, "hello")
    assert smsc.last(BOB).text == "reply to hello"   # type: ignore[union-attr]
    assert smsc.last(ALICE).delivered_at == clock.now()   # type: ignore[union-attr]


@pytest.mark.parametrize("to", ["+213551234567", "0551234567x", "", "1234567890123456", "٠٥٥١"])
def test_bad_destination_is_refused(to: str) -> None:
    smsc, _ = make_smsc()
    with pytest.raises(ValueError, match="expected E.164 digits without '\\+'"):
        smsc.send(to, "hi")
    assert smsc.stats().submitted == 0


@pytest.mark.parametrize("sender,ok", [
    ("RBENCH", True), ("MobilisFlexy", False), ("Djezzy", True), ("3030", True),
    ("123456789012345", True), ("1234567890123456", False), ("", False), ("همراه", False),
])
def test_sender_id_rules(sender: str, ok: bool) -> None:
    smsc, _ = make_smsc()
    if ok:
        smsc.send(ALICE, "hi", sender=sender)
    else:
        with pytest.raises(ValueError, match="up to 11 GSM 7-bit characters"):
            smsc.send(ALICE, "hi", sender=sender)


def test_bad_settings_and_unknown_ids_are_refused() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="loss_rate must be between 0 and 1, got 1.5"):
        EmulatedSmsc(clock, ImmediateScheduler(), random.Random(1), loss_rate=1.5)
    with pytest.raises(ValueError, match="throughput_per_s must be > 0"):
        EmulatedSmsc(clock, ImmediateScheduler(), random.Random(1), throughput_per_s=0)
    smsc, _ = make_smsc(id_prefix="otp")
    assert smsc.send(ALICE, "x") == "otp-00000001"
    with pytest.raises(KeyError, match="unknown message id 'otp-00000009'"):
        smsc.status("otp-00000009")


def test_thread_safety_smoke() -> None:
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)          # switch threads often, to give races a chance
    try:
        _hammer_from_threads()
    finally:
        sys.setswitchinterval(switch)


def _hammer_from_threads() -> None:
    smsc, clock = make_smsc(loss_rate=0.1, throughput_per_s=1000.0)
    delivered: list[str] = []
    smsc.on_delivery(lambda m: delivered.append(m.message_id))
    ids: list[str] = []
    ids_lock = threading.Lock()
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        mine = [smsc.send(f"21355{n:07d}", "x" * (n * 30)) for _ in range(250)]
        with ids_lock:
            ids.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    def tick() -> None:
        for _ in range(300):
            clock.advance(0.01)

    clock_thread = threading.Thread(target=tick)
    clock_thread.start()
    for t in threads + [clock_thread]:
        t.join()
    clock.advance(3600)
    stats = smsc.stats()
    assert sorted(ids) == [f"sms-{n:08d}" for n in range(1, 2001)]
    assert stats.submitted == 2000 and stats.delivered + stats.lost == 2000
    assert sorted(delivered) == sorted(m.message.message_id for m in smsc.sent()
                                       if m.status is SmsStatus.DELIVERED)
    assert stats.segments == sum(s.message.segments for s in smsc.sent())
    assert statistics.mean(s.message.segments for s in smsc.sent()) > 1
