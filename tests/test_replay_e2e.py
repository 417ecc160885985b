"""Replays and clones end to end: what the core sells over HTTP, loaded into the meter model
(the device a field engineer trusts), then replayed or forged. An STS token works once (a
retried vend returns the same token, which the meter then calls used); a card record loads
once (the same record again adds nothing), a record copied to another card, forged under a
wrong diversified key (a clone: same serial, no keys) or written to a replaced card is refused."""
import uuid
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from core.api.auth import DEV_KEYS
from devices.meter import LoadProfile, MeterTariff, PrepaidMeter, ResultCode
from hil.server import app_for
from protocols import utility_card as uc
from support import make_world

KEY = {c: k for k, c in DEV_KEYS.items()}
STS_METER, OTHER_STS, CARD_METER = "47500150231", "12345678903", "04040404040"
SERIAL, NEW_SERIAL = "04A1B2C3D4E5F607", "04FFEEDDCCBBAA99"
EGP = MeterTariff("EGP", ((50, 68), (100, 78), (None, 223)), monthly_fee=1000)


def h(channel, key=None):
    return {"X-API-Key": KEY[channel], "Idempotency-Key": key or str(uuid.uuid4())}


@pytest.fixture
def api(store_url):
    w = make_world(store_url)
    for number, kind in ((STS_METER, "sts"), (OTHER_STS, "sts"), (CARD_METER, "card")):
        w.core.meters.register("EG", number, kind=kind, tariff="EG-RES", customer="Mona Hassan")
    w.core.meters.issue_card(CARD_METER, SERIAL)
    with TestClient(app_for(w.core), raise_server_exceptions=False) as c:
        assert c.post("/v1/agents/k9/float", headers=h("admin"), json={"amount": "2000", "currency": "EGP"}
                      ).status_code == 200
        yield w, c
    assert w.core.conservation().ok
    w.core.close()


def vend(c, meter, amount="100", key=None):
    r = c.post("/v1/vends", headers=h("kiosk", key), json={"meter": meter, "amount": amount, "method_account": "k9"})
    assert r.status_code == 201, r.text
    return r.json()["vend"]


def keypad(w, number=STS_METER):
    key = w.core.vending.purpose.decoder_key(w.core.meters.get(number))
    return PrepaidMeter(number, decoder_key=key, clock=datetime(2026, 1, 1, 1, 0), load=LoadProfile.constant(0))


def test_an_sts_token_sold_over_http_loads_once_and_a_retry_sells_no_second_one(api):
    w, c = api
    meter = keypad(w)
    first = vend(c, STS_METER, key="vend-1")
    assert meter.enter_token(first["token"]).code is ResultCode.ACCEPTED
    energy = meter.balance
    assert energy > 0
    again = vend(c, STS_METER, key="vend-1")                    # the kiosk retries: the same token
    assert again["token"] == first["token"]
    assert meter.enter_token(again["token"]).code is ResultCode.USED and meter.balance == energy
    second = vend(c, STS_METER, "50")                           # a new sale: a higher TID, accepted
    assert second["tid"] > first["tid"]
    assert meter.enter_token(second["token"]).code is ResultCode.ACCEPTED
    assert meter.enter_token(first["token"]).code is ResultCode.USED
    other = vend(c, OTHER_STS, "50")                            # another meter's token: its key
    assert meter.enter_token(other["token"]).code is ResultCode.AUTH
    typo = second["token"][:-1] + str((int(second["token"][-1]) + 1) % 10)
    assert meter.enter_token(typo).code in (ResultCode.AUTH, ResultCode.CRC)


def card_meter(w):
    return PrepaidMeter(CARD_METER, unit="money", tariff=EGP, clock=datetime(2026, 1, 1, 1, 0),
                        card_master_keys=w.core.keys.card_master_key("eehc"), load=LoadProfile.constant(0))


def record_bytes(v):
    return uc.from_text(v["record"])


def test_a_card_record_loads_once_and_copies_clones_and_replaced_cards_are_refused(api):
    w, c = api
    meter = card_meter(w)
    activation = vend(c, CARD_METER, "100")
    assert meter.load_card(record_bytes(activation)).code is ResultCode.ACCEPTED   # registers the card
    credit = vend(c, CARD_METER, "50")
    assert meter.load_card(record_bytes(credit)).code is ResultCode.ACCEPTED
    balance = meter.balance
    replay = meter.load_card(record_bytes(credit))                                   # the same record again
    assert replay.code is ResultCode.ALREADY_LOADED and meter.balance == balance
    master = w.core.keys.card_master_key("eehc")
    rec = uc.decode(record_bytes(credit), uc.credit_key(master, SERIAL))
    bumped = uc.CreditRecord(**{**rec.__dict__, "purchase_count": rec.purchase_count + 1, "credit": 10**6})
    forged = uc.encode(bumped, uc.credit_key(b"\x00" * 32, SERIAL))                   # a clone's own key
    assert meter.load_card(forged).code is ResultCode.MAC and meter.balance == balance
    moved = uc.encode(uc.CreditRecord(**{**bumped.__dict__, "card_serial": NEW_SERIAL}),
                      uc.credit_key(master, SERIAL))                                  # copied to another card
    assert meter.load_card(moved).code in (ResultCode.MAC, ResultCode.CARD) and meter.balance == balance
    r = c.post(f"/v1/meters/{CARD_METER}/cards", headers=h("kiosk"),
               json={"serial": NEW_SERIAL, "reason": "lost", "method_account": "k9"})
    assert r.status_code == 201 and r.json()["state"] == "credited", r.text
    new_card = vend(c, CARD_METER, "50")                                             # the new card's activation
    assert meter.load_card(record_bytes(new_card)).code is ResultCode.ACCEPTED
    old = uc.encode(uc.CreditRecord(**{**rec.__dict__, "purchase_count": rec.purchase_count + 5}),
                    uc.credit_key(master, SERIAL))                                    # the lost card, later
    assert meter.load_card(old).code is ResultCode.CARD
