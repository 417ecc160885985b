"""Shared helpers of the card reader tests: fixed keys and serials, a small card meter, and
the PC/SC fixture (a real pcscd with vpcd; skipped with how to install, failing under CI)."""
from __future__ import annotations

import os
import random
from collections.abc import Iterator

import pytest

from devices.card import MemoryCard, MemoryReader, UtilityCard
from protocols import utility_card as uc

MASTER = bytes(range(32))                 # the fixed test key of docs/utility-card.md
OTHER_MASTER = bytes(range(1, 33))
SERIAL = "04A1B2C3D4E5F607"
OTHER_SERIAL = "04A1B2C3D4E5F608"
METER = "47500150231"


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def make_card(serial: str = SERIAL, master: bytes = MASTER, seed: int = 1) -> MemoryCard:
    return MemoryCard.manufacture(serial, master, rng=random.Random(seed))


def model_session(card: MemoryCard | None = None, seed: int = 2) -> tuple[MemoryReader, UtilityCard]:
    reader = MemoryReader(card or make_card())
    return reader, UtilityCard(reader, rng=random.Random(seed))


def record_for(serial: str = SERIAL, count: int = 1, credit: int = 10_000, meter: str = METER,
               master: bytes = MASTER, kind: str = "credit") -> bytes:
    r = uc.CreditRecord(meter_number=meter, card_serial=serial, utility_id=3, purchase_count=count,
                        credit=credit, paid=credit, currency="EGP", issued_at=1_767_261_600,
                        vend_ref=uc.vend_ref_from_id(f"v{count}"), kind=kind)
    return uc.encode(r, uc.credit_key(master, serial))


class SlotMeter:
    """A card meter as little as the meter-side flow needs: decode, the meter rule, keep state."""

    def __init__(self, state: uc.MeterCardState, master: bytes, hoarding_limit: int = 500_000) -> None:
        self.state, self.master, self.hoarding_limit = state, master, hoarding_limit
        self.loads = 0

    def load_card(self, record: bytes) -> uc.Outcome:
        self.loads += 1
        decoded = uc.decode(record, uc.credit_key(self.master, uc.key_id(record).card_serial))
        out = uc.apply(self.state, decoded, hoarding_limit=self.hoarding_limit)
        self.state = out.state
        return out


@pytest.fixture(scope="session")
def pcscd() -> Iterator[object]:
    """A running pcscd listing the vpcd readers, for this session (started here if needed)."""
    from hil.pcsc import PcscError, pcsc_available, pcscd_users

    ok, why = pcsc_available()
    if not ok:
        if under_ci():
            pytest.fail(f"PC/SC is required under CI: {why}", pytrace=False)
        pytest.skip(why)
    try:
        with pcscd_users() as handle:
            yield handle
    except PcscError as e:
        pytest.fail(str(e), pytrace=False)
