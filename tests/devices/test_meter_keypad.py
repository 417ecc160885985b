"""The STS keypad of the meter model (flows F6): vended tokens accepted once, used and old
TIDs, wrong keys and CRCs, the lock-out that doubles, key changes, management tokens, and the
meter's own refusals (overflow, key type, key expiry, tamper)."""
from __future__ import annotations

import pytest
from meter_support import KEY, OTHER_KEY, credit_token, keypad_meter, tid

from devices.meter import MeterInputError, ResultCode
from protocols import sts


def test_a_vended_token_is_accepted_once_then_used():
    meter = keypad_meter()
    token = credit_token(25.6)
    first = meter.enter_token(token)
    assert (first.code, first.credited, first.credit, first.unit) == (ResultCode.ACCEPTED, 2560, 2560, "kWh")
    again = meter.enter_token(token)
    assert (again.code, again.credited, again.credit) == (ResultCode.USED, 0, 2560)
    assert again.message == "token already used"
    reading = meter.read()
    assert reading.last_result is ResultCode.USED and reading.last_charge == 2560


def test_tokens_are_typed_with_spaces_dashes_and_arabic_or_persian_digits():
    meter = keypad_meter()
    digits = credit_token(1)
    arabic = "".join("٠١٢٣٤٥٦٧٨٩"[int(d)] for d in digits)
    spaced = " ".join(digits[i:i + 4] for i in range(0, 20, 4))
    assert meter.enter_token(arabic).code is ResultCode.ACCEPTED
    assert meter.enter_token(spaced).code is ResultCode.USED
    persian = "-".join("۰۱۲۳۴۵۶۷۸۹"[int(d)] for d in credit_token(2, minute=1))
    assert meter.enter_token(persian).code is ResultCode.ACCEPTED


@pytest.mark.parametrize("text,match", [
    ("1234", "4 digits, expected 20"),
    ("1234x678901234567890", "'x' at position 5 is not a digit"),
    ("99999999999999999999", "beyond the 66-bit range"),
])
def test_text_that_is_no_token_is_refused_at_the_edge_and_counts_nothing(text, match):
    meter = keypad_meter()
    with pytest.raises(MeterInputError, match=match):
        meter.enter_token(text)
    assert meter.keypad.wrong == 0 and meter.last_result is None


def test_an_old_tid_is_refused_once_the_memory_is_full():
    meter = keypad_meter(tid_capacity=3)
    for minute in (10, 11, 12, 13):
        assert meter.enter_token(credit_token(1, minute)).code is ResultCode.ACCEPTED
    assert meter.keypad.memory.tids() == [tid(11), tid(12), tid(13)]
    assert meter.enter_token(credit_token(1, 10)).code is ResultCode.OLD      # forgotten, so too old
    assert meter.enter_token(credit_token(1, 5)).code is ResultCode.OLD
    assert meter.enter_token(credit_token(1, 12)).code is ResultCode.USED
    assert meter.balance == 400


def test_a_token_for_another_key_or_with_a_bad_crc_is_refused():
    meter = keypad_meter()
    assert meter.enter_token(credit_token(5, key=OTHER_KEY)).code is ResultCode.AUTH
    test_token = sts.encode(sts.InitiateMeterTestOrDisplay1(manufacturer_code=7, control=1))
    assert meter.enter_token(test_token).code is ResultCode.ACCEPTED           # class 1: any meter
    bad_crc = next(t for t in (test_token[:-1] + str((int(test_token[-1]) + d) % 10) for d in range(1, 10))
                   if sts.decode(t).result is sts.TokenResult.CRC_ERROR)
    assert meter.enter_token(bad_crc).code is ResultCode.CRC
    assert meter.balance == 0 and meter.keypad.wrong == 1          # the good test token between reset the count


def test_the_keypad_locks_out_for_doubling_times_after_wrong_tokens():
    meter = keypad_meter(wrong_tokens_to_lockout=3, lockout_s=60)
    wrong = credit_token(5, key=OTHER_KEY)
    assert [meter.enter_token(wrong).code for _ in range(3)] == [ResultCode.AUTH] * 3
    assert meter.keypad_locked_s() == 60
    locked = meter.enter_token(credit_token(5))
    assert locked.code is ResultCode.LOCKED and locked.message == "keypad locked after wrong tokens"
    assert meter.keypad.wrong == 3                       # tokens typed while locked do not count
    waits = []
    for _ in range(3):
        meter.advance(meter.keypad_locked_s())
        assert meter.enter_token(wrong).code is ResultCode.AUTH
        waits.append(meter.keypad_locked_s())
    assert waits == [120, 240, 480]
    meter.advance(480)
    assert meter.read().keypad_wrong == 6
    assert meter.enter_token(credit_token(5)).code is ResultCode.ACCEPTED
    assert meter.keypad.wrong == 0
    assert meter.enter_token(wrong).code is ResultCode.AUTH and meter.keypad_locked_s() == 0


def test_the_longest_lock_out_is_capped():
    meter = keypad_meter(wrong_tokens_to_lockout=1, lockout_s=60, lockout_max_s=200)
    wrong = credit_token(5, key=OTHER_KEY)
    waits = []
    for _ in range(4):
        meter.enter_token(wrong)
        waits.append(meter.keypad_locked_s())
        meter.advance(waits[-1])
    assert waits == [60, 120, 200, 200]


def test_a_key_change_moves_the_meter_to_the_new_key():
    meter = keypad_meter()
    first, second = sts.key_change_tokens(OTHER_KEY, key_type=2, key_revision=2, tariff_index=7,
                                          key_expiry_number=200)
    assert meter.enter_token(sts.encode(first, KEY)).code is ResultCode.KEY_CHANGE_PENDING
    done = meter.enter_token(sts.encode(second, KEY))
    assert done.code is ResultCode.ACCEPTED and meter.keypad.key == OTHER_KEY
    reading = meter.read()
    assert (reading.key_revision, reading.key_type, reading.tariff_index, reading.key_expiry_number) == (2, 2, 7, 200)
    assert meter.enter_token(credit_token(1)).code is ResultCode.AUTH
    assert meter.enter_token(credit_token(1, minute=1, key=OTHER_KEY)).code is ResultCode.ACCEPTED


def test_a_key_change_interrupted_by_another_token_starts_over():
    meter = keypad_meter()
    first, second = sts.key_change_tokens(OTHER_KEY, key_type=2, key_revision=2, tariff_index=1,
                                          key_expiry_number=255)
    meter.enter_token(sts.encode(first, KEY))
    meter.enter_token(credit_token(1))
    assert meter.enter_token(sts.encode(second, KEY)).code is ResultCode.KEY_CHANGE_PENDING
    assert meter.keypad.key == KEY


def test_a_rollover_key_change_clears_the_tid_memory():
    meter = keypad_meter()
    assert meter.enter_token(credit_token(1)).code is ResultCode.ACCEPTED
    for section in sts.key_change_tokens(OTHER_KEY, key_type=2, key_revision=2, tariff_index=1,
                                         key_expiry_number=255, rollover=True):
        meter.enter_token(sts.encode(section, KEY))
    assert len(meter.keypad.memory) == 0
    assert meter.enter_token(credit_token(1, key=OTHER_KEY)).code is ResultCode.ACCEPTED   # same TID again


def test_management_tokens_act_on_the_meter():
    meter = keypad_meter(credit=5000)
    limit = sts.encode(sts.SetMaximumPowerLimit.of(2000, tid=tid(1)), KEY)
    assert meter.enter_token(limit).code is ResultCode.ACCEPTED and meter.read().power_limit_w == 2000
    meter.set_test_load(2500)
    assert meter.relay_reason == "overcurrent"
    meter.set_test_load(0)
    clear = sts.encode(sts.ClearCredit(register=0xFFFF, tid=tid(2), rnd=0), KEY)
    assert meter.enter_token(clear).code is ResultCode.ACCEPTED and meter.balance == 0
    meter.set_case_open(True)
    meter.set_case_open(False)
    untamper = sts.encode(sts.ClearTamperCondition(pad=0, tid=tid(3), rnd=0), KEY)
    assert meter.enter_token(untamper).code is ResultCode.ACCEPTED and not meter.tamper
    assert meter.enter_token(untamper).code is ResultCode.USED
    water = sts.encode(sts.TransferWaterCredit.of(5, tid=tid(4)), KEY)
    assert meter.enter_token(water).code is ResultCode.FORMAT


def test_the_meters_own_refusals():
    full = keypad_meter(credit=900, credit_max=1000)
    token = credit_token(5)
    assert full.enter_token(token).code is ResultCode.OVERFLOW
    full.enter_token(sts.encode(sts.ClearCredit(register=0, tid=tid(9), rnd=0), KEY))
    assert full.enter_token(token).code is ResultCode.ACCEPTED       # the overflowed TID was not spent
    assert keypad_meter(key_type=0).enter_token(credit_token(1)).code is ResultCode.KEY_TYPE
    assert keypad_meter(key_expiry_number=0).enter_token(credit_token(1)).code is ResultCode.KEY_EXPIRED


def test_a_card_only_meter_has_no_keypad():
    from meter_support import card_meter
    result = card_meter().enter_token(credit_token(1))
    assert result.code is ResultCode.NO_KEYPAD and result.credit is None
