"""Meter conformance: what a prepaid meter on this bench must do, measured.

Each check opens the meter role afresh (a model or an emulator starts empty; a real meter keeps
its state, so checks read before they act and never assume zero credit). Tokens and card
records are made with the bench's test keys. Amounts are in the meter's register unit, 0.01 kWh.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from devices.meter import ResultCode
from hil.roles import DEFAULT_CARD_SERIAL, DEFAULT_METER, meter_keys
from hil.validation.plugin import face_of, role_port
from hil.validation.tokens import TokenMaker, card_record, test_token_with_bad_crc
from protocols import sts

pytestmark = pytest.mark.role("meter")

OTHER_KEY = sts.DecoderKey.from_hex("0abc12def3456789")
SMALL = 0.5            # kWh of a test token: little enough to drain under the test load


@pytest.fixture
def meter(request: pytest.FixtureRequest) -> Iterator[Any]:
    yield from role_port(request, "meter")


@pytest.fixture
def params(bench) -> dict[str, Any]:
    return bench.roles["meter"].params


@pytest.fixture
def tokens(meter, params, request) -> TokenMaker:
    number = meter.identify().meter_number
    return TokenMaker(number, meter_keys(params)[0], persist=face_of(request, "meter") == "driver")


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn(*args)
    return out, (time.perf_counter() - t0) * 1000


def _wait_for(meter: Any, until, params: dict[str, Any], face: str, what: str):  # type: ignore[no-untyped-def]
    """Let meter time pass until ``until(reading)``: advance a model, wait for the others."""
    if hasattr(meter, "advance"):
        for _ in range(100_000):
            r = meter.read()
            if until(r):
                return r, 0.0
            meter.advance(10)
        pytest.fail(f"{what}: not reached after 1e6 simulated seconds")
    if face == "emulator" and not params.get("speed"):
        pytest.skip(f"{what}: the emulator's time stands still (give the meter 'speed:' in the bench file)")
    limit = float(params.get("relay_timeout", 900))
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        r = meter.read()
        if until(r):
            return r, time.monotonic() - t0
        time.sleep(0.05)
    pytest.fail(f"{what}: not reached within relay_timeout {limit:g} s")


def test_sign_on_and_identification(meter, measure):
    ident, ms = _timed(meter.identify)
    measure("identify_time", ms, "ms", high=3000)
    measure("manufacturer", ident.manufacturer)
    measure("ident", ident.ident)
    measure("max_baud", ident.max_baud, "Bd", low=300)
    assert len(ident.manufacturer) == 3 and ident.manufacturer.isalpha(), ident


def test_readout_has_every_register(meter, measure, bench):
    reading, ms = _timed(meter.read)
    measure("readout_time", ms, "ms", high=5000)
    expected = bench.roles["meter"].params.get("meter_number")
    if expected or face_of_model(bench):
        assert reading.meter_number == (expected or DEFAULT_METER)
    measure("credit", reading.credit, "0.01 kWh")
    measure("energy", reading.energy_wh, "Wh", low=0)
    measure("relay_closed", reading.relay_closed)
    measure("tamper", reading.tamper)
    measure("low_credit_threshold", reading.low_credit_threshold, "0.01 kWh", low=0)
    assert reading.relay_closed == (reading.relay_reason == ""), reading


def face_of_model(bench) -> bool:  # type: ignore[no-untyped-def]
    return bench.face("meter") in ("model", "emulator")


def test_a_valid_token_is_accepted_once(meter, tokens, measure):
    before = meter.read().credit
    token = tokens.credit(SMALL)
    result, ms = _timed(meter.enter_token, token)
    measure("token_time", ms, "ms", high=5000)
    assert result.code is ResultCode.ACCEPTED, result
    measure("credited", result.credited, "0.01 kWh", low=SMALL * 100, high=SMALL * 100)
    after = meter.read().credit
    measure("credit_delta", after - before, "0.01 kWh", low=SMALL * 100 - 1, high=SMALL * 100)
    again = meter.enter_token(token)
    measure("replay_code", again.code.wire_name)
    assert again.code is ResultCode.USED and again.credited == 0, again
    assert meter.read().credit <= after


def test_wrong_tokens_are_refused_with_their_code(meter, tokens, measure):
    other = meter.enter_token(tokens.credit(SMALL, key=OTHER_KEY))
    measure("other_meter_code", other.code.wire_name)
    assert other.code is ResultCode.AUTH and other.credited == 0, other
    crc = meter.enter_token(test_token_with_bad_crc())
    measure("bad_crc_code", crc.code.wire_name)
    assert crc.code is ResultCode.CRC and crc.credited == 0, crc
    ok = meter.enter_token(tokens.credit(SMALL))   # and a good token still goes in (two wrong: no lock-out)
    assert ok.code is ResultCode.ACCEPTED, ok


def test_an_old_token_is_refused_once_the_tid_memory_has_moved_on(meter, tokens, measure):
    oldest = tokens.tid()
    old_token = tokens.credit(0.1, tid=oldest)
    accepted = 0
    for _ in range(200):                       # fill the meter's TID memory with newer tokens
        r = meter.enter_token(tokens.credit(0.1))
        assert r.code is ResultCode.ACCEPTED, r
        accepted += 1
        if meter.enter_token(old_token).code is ResultCode.OLD:
            break
    else:
        pytest.fail("the meter took 200 newer tokens and still does not call an older one OLD")
    measure("tid_memory", accepted, "tokens", low=50)   # IEC 62055-41 asks for at least 50


def test_relay_opens_at_zero_and_closes_after_credit(meter, tokens, params, request, measure):
    face = face_of(request, "meter")
    start = meter.read()
    if start.credit > 1000 and face == "driver":
        pytest.skip(f"the meter holds {start.credit / 100:.2f} kWh: drain it below 10 kWh first")
    meter.set_test_load(0)
    if not start.relay_closed and start.relay_reason != "credit":
        pytest.skip(f"the relay is open for {start.relay_reason!r}, not for credit")
    if not start.relay_closed:
        r = meter.enter_token(tokens.credit(SMALL))
        assert r.code is ResultCode.ACCEPTED, r
    closed = meter.read()
    assert closed.relay_closed, f"relay still open ({closed.relay_reason}) with credit {closed.credit}"
    meter.set_test_load(min(closed.power_limit_w - 100, 6000) if closed.power_limit_w > 200 else 100)
    try:
        opened, waited = _wait_for(meter, lambda r: not r.relay_closed, params, face, "relay open at zero credit")
    finally:
        meter.set_test_load(0)
    measure("credit_when_open", opened.credit, "0.01 kWh", high=0)
    measure("relay_reason", opened.relay_reason)
    assert opened.relay_reason == "credit", opened
    measure("drain_wait", waited, "s")
    result, ms = _timed(meter.enter_token, tokens.credit(SMALL))
    assert result.code is ResultCode.ACCEPTED, result
    after = meter.read()
    measure("reconnect_time", ms, "ms", high=5000)
    assert after.relay_closed, f"relay still open ({after.relay_reason}) after {result.credited} credited"


def test_low_credit_alert_at_its_threshold(meter, tokens, params, request, measure):
    face = face_of(request, "meter")
    r = meter.read()
    threshold = r.low_credit_threshold
    if threshold <= 0:
        pytest.skip("the meter has no low-credit threshold set")
    if face == "driver" and r.credit > threshold + 1000:
        pytest.skip(f"the meter holds {r.credit / 100:.2f} kWh: bring it near {threshold / 100:.2f} kWh first")
    meter.set_test_load(0)
    while meter.read().credit <= threshold:
        assert meter.enter_token(tokens.credit(max(SMALL, (threshold - meter.read().credit) / 100 + 0.5))).ok
    above = meter.read()
    measure("alert_above_threshold", above.low_credit)
    assert not above.low_credit, above
    meter.set_test_load(3000)
    try:
        alert, _ = _wait_for(meter, lambda x: x.low_credit, params, face, "low-credit alert")
    finally:
        meter.set_test_load(0)
    measure("credit_at_alert", alert.credit, "0.01 kWh", high=threshold)
    measure("threshold", threshold, "0.01 kWh")
    assert alert.credit <= threshold


def test_card_purchase_count_rules(meter, params, request, measure):
    r = meter.read()
    if r.purchase_count is None:
        pytest.skip("this meter has no card slot (give the bench meter a card_key)")
    number, serial = r.meter_number, r.card_serial or DEFAULT_CARD_SERIAL
    master = meter_keys(params)[1]
    count = r.purchase_count
    if r.card_serial is None:                  # a meter without a card yet: activate ours first
        act = meter.load_card(card_record(number, serial, master, count + 1, 0, kind="activation"))
        measure("activation_code", act.code.wire_name)
        assert act.ok, act
        count += 1
    nxt = meter.load_card(card_record(number, serial, master, count + 1, 100))
    measure("next_count_code", nxt.code.wire_name)
    assert nxt.code is ResultCode.ACCEPTED and nxt.credited == 100, nxt
    same = meter.load_card(card_record(number, serial, master, count + 1, 100))
    measure("same_count_code", same.code.wire_name)
    assert same.code is ResultCode.ALREADY_LOADED and same.credited == 0, same
    skip = meter.load_card(card_record(number, serial, master, count + 3, 100))
    measure("skipped_count_code", skip.code.wire_name)
    assert skip.code is ResultCode.COUNT and skip.credited == 0, skip
    other = meter.load_card(card_record("04040404040", serial, master, count + 2, 100))
    assert other.code is ResultCode.METER and other.credited == 0, other
    forged = bytearray(card_record(number, serial, master, count + 2, 100))
    forged[-1] ^= 0x01
    bad_mac = meter.load_card(bytes(forged))
    assert bad_mac.code is ResultCode.MAC and bad_mac.credited == 0, bad_mac
    assert meter.read().purchase_count == count + 1


def test_tamper_is_flagged_and_cleared_only_once_the_case_is_shut(meter, request, measure):
    if face_of(request, "meter") == "driver":
        pytest.skip("opening a real meter's case is a manual step: see docs/hardware.md")
    meter.set_case_open(True)
    r = meter.read()
    measure("tamper_flag", r.tamper)
    assert r.tamper and r.case_open, r
    assert meter.clear_tamper().code is ResultCode.TAMPER
    meter.set_case_open(False)
    assert meter.read().tamper, "the tamper flag must stay until it is cleared"
    assert meter.clear_tamper().code is ResultCode.ACCEPTED
    assert not meter.read().tamper
