"""docs/card-profile.md's worked example is what the implementation does, byte for byte."""
from __future__ import annotations

import random
import re
from pathlib import Path

from card_support import MASTER, SERIAL

from devices.card import TIMING_APDU, MemoryCard, MemoryReader, UtilityCard
from protocols import utility_card as uc
from protocols.utility_card.card_files import AID, ATR
from protocols.utility_card.secure_messaging import CardKeys, session_key

DOC = (Path(__file__).parents[2] / "docs" / "card-profile.md").read_text()


def transcript() -> tuple[list[tuple[str, str]], dict[str, str]]:
    card = MemoryCard.manufacture(SERIAL, MASTER, rng=random.Random(7))
    reader = MemoryReader(card)
    log: list[tuple[str, str]] = []
    send = reader.transmit

    def logged(cmd):
        resp = send(cmd)
        log.append((cmd.encode().hex().upper(), resp.encode().hex().upper()))
        return resp
    reader.transmit = logged
    session = UtilityCard(reader, rng=random.Random(8)).start()
    session.read_serial()
    session.read_meter()
    session.authenticate(MASTER)
    session.write_meter("47500150231", 3)
    record = uc.CreditRecord(meter_number="47500150231", card_serial=SERIAL, utility_id=3, purchase_count=7,
                             credit=10_000, paid=10_000, currency="EGP", issued_at=1_767_261_600,
                             vend_ref="5f1c0a9e3b7d2c4e8a6f0b13")
    session.write_record(uc.encode(record, uc.credit_key(MASTER, SERIAL)))
    session.read_receipt()
    keys = CardKeys.derive(MASTER, SERIAL)
    rnd_card, rnd_reader = bytes.fromhex(log[3][1][:-4]), bytes.fromhex(log[4][0][10:26])
    values = {"K_auth": keys.auth.hex(), "K_sm": keys.sm.hex(), "RND.C": rnd_card.hex().upper(),
              "RND.R": rnd_reader.hex().upper(), "S_mac": session_key(keys, rnd_card, rnd_reader).hex()}
    return log, values


def test_the_documented_transcript_is_the_implementations():
    commands, answers = re.findall(r"^C: ([0-9A-F]+)$", DOC, re.M), re.findall(r"^R: ([0-9A-F]+)$", DOC, re.M)
    documented = list(zip(commands, answers, strict=True))
    log, values = transcript()
    assert documented == log
    for name, value in values.items():
        assert re.search(rf"^{re.escape(name)}\s+{value}$", DOC, re.M), name


def test_the_documented_constants():
    assert " ".join(f"{b:02X}" for b in ATR) in DOC
    assert " ".join(f"{b:02X}" for b in AID) in DOC
    assert " ".join(f"{b:02X}" for b in TIMING_APDU.encode()) in DOC
