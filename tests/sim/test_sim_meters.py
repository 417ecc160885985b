"""Households' meters: the book's consumption over the shape, cut at zero, reconnect on credit;
then the live device model (devices.meter) judging the core's real tokens and card records."""
from __future__ import annotations

import pytest

from protocols import utility_card as uc
from sim.config import load_config
from sim.population import CARD, STS
from sim.world import World


@pytest.fixture
def world(tmp_path):
    cfg = load_config("mixed-peak-hour", subscribers=600, hours=1, seed=3,
                      overrides={"markets.DZ.meters.households": 1.0, "markets.EG.meters.households": 1.0})
    w = World(cfg, f"sqlite:///{tmp_path / 'm.db'}")
    yield w
    w.store.close()


def test_credit_runs_down_with_the_shape_and_the_zero_time_agrees(world):
    book = world.meters["DZ"]
    h = book.with_meter[STS][0]
    assert book.credit_at(h, 0) == pytest.approx(book.credit[h])
    assert book.credit_at(h, 1800) < book.credit_at(h, 0)
    used = book.credit_at(h, 0) - book.credit_at(h, 3600)
    assert used == pytest.approx(book.rate[h] * (book.W_at(3600) - book.W_at(0)))
    book.credit[h] = book.rate[h] * (book.W_at(600) - book.W_at(0))      # runs out at 10 minutes
    assert book.zero_time(h) == pytest.approx(600, abs=1)
    assert book.credit_at(h, 900) == 0.0


def test_a_live_meter_runs_out_on_the_environment_and_its_relay_hours_count(world):
    book, env = world.meters["DZ"], world.env
    h = book.with_meter[STS][1]
    book.credit[h] = book.rate[h] * (book.W_at(600) - book.W_at(0))      # about ten minutes left
    book.number(h)
    cuts = []
    book.on_cut = cuts.append
    env.run(until=3600)
    book.live[h].sync()
    assert cuts == [h] and not book.live[h].relay_closed
    assert book.live[h].disconnected_s == pytest.approx(3000, abs=120)
    assert book.hours_disconnected(3600) == pytest.approx(book.live[h].disconnected_s / 3600)


def test_a_meter_cut_at_zero_counts_its_hours_until_credit_comes(world):
    book, env = world.meters["DZ"], world.env
    h = book.with_meter[STS][0]
    book.credit[h] = book.rate[h] * (book.W_at(600) - book.W_at(0))
    book.gen[h] += 1
    cuts = []
    book.on_cut = cuts.append
    book._schedule_cut(h, 0.0)
    env.run(until=1200)
    assert cuts == [h] and book.cut_since[h] == pytest.approx(600, abs=1)
    assert book.hours_disconnected(1200) == pytest.approx(600 / 3600, abs=0.001)
    book.load(h, 1000.0)
    env.run(until=2400)
    assert book.cut_since[h] == -1.0
    assert book.hours_disconnected(2400) == pytest.approx(600 / 3600, abs=0.001)


def test_sts_tokens_from_the_core_are_accepted_once_and_a_typo_is_refused(world):
    book = world.meters["DZ"]
    h = book.with_meter[STS][0]
    credit = book.credit_at(h, 0)
    number = book.number(h)
    model = book.live[h]
    assert model.balance == int(credit * 10)                 # the book's tenths, the model's 0.01 kWh
    order = world.core.vending.vend(number, "1000", method="wallet", method_account="baridimob", channel="wallet")
    result = world.core.vending.result(order.id)
    token = result["token"]
    wrong = token[:5] + str((int(token[5]) + 1) % 10) + token[6:]
    assert book.enter_token(h, wrong) in ("auth", "crc", "format")      # the class bits may change too
    assert model.balance == int(credit * 10)
    assert book.enter_token(h, token) == "accepted"
    assert model.balance == int(credit * 10) + round(float(result["energy_kwh"]) * 100)
    assert book.enter_token(h, token) == "used"


def test_card_records_load_in_order_by_the_purchase_count_rule(world):
    book = world.meters["EG"]
    h = book.with_meter[CARD][0]
    number = book.number(h)
    for amount in ("50", "60"):
        order = world.core.vending.vend(number, amount, method="bank", method_account="nbe-app", channel="bank")
        book.card_records.setdefault(h, []).append(uc.from_text(world.core.vending.result(order.id)["record"]))
    model = book.live[h]
    before = model.balance
    status, credited = book.insert_card(h)
    assert status == "credited" and model.card_slot.purchase_count == 2
    assert credited == 5000 - 1000 + 6000          # EGP 50 minus the monthly fee of 10, then 60
    assert model.balance == before + credited
    assert book.insert_card(h) == ("empty", 0)
    order = world.core.vending.vend(number, "30", method="bank", method_account="nbe-app", channel="bank")
    data = uc.from_text(world.core.vending.result(order.id)["record"])
    book.card_records[h] = [data, data]
    assert book.insert_card(h) == ("credited", 3000)      # the second copy: already loaded


def test_a_skipped_purchase_is_refused_by_the_meter(world):
    book = world.meters["EG"]
    h = book.with_meter[CARD][1]
    number = book.number(h)
    records = []
    for amount in ("40", "40"):
        order = world.core.vending.vend(number, amount, method="bank", method_account="nbe-app", channel="bank")
        records.append(uc.from_text(world.core.vending.result(order.id)["record"]))
    book.card_records[h] = [records[1]]
    status, _ = book.insert_card(h)
    assert status == "refused:card"          # the activation record never reached the meter
    assert book.live[h].card_slot.purchase_count == 0
