"""Test tokens and card records for a bench meter, as a vending system would make them.

TIDs must be new to the meter (it remembers the last 50), so the maker counts on from the
later of "now" and the last TID it handed out for that meter in an earlier run, which it keeps
in a small state file: two validation runs in the same minute do not collide on a real meter.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from protocols import sts
from protocols import utility_card as uc

_STATE = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "rbench" / "tids.json"


class TokenMaker:
    def __init__(self, meter_number: str, decoder_key: sts.DecoderKey, *, persist: bool = False,
                 now: dt.datetime | None = None) -> None:
        self.meter_number = meter_number
        self.key = decoder_key
        self.persist = persist
        start = sts.tid_of(now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), base_date=2014)
        if persist:
            start = max(start, self._saved() + 1)
        self.next_tid = start
        self.rnd = 0

    def _saved(self) -> int:
        try:
            return int(json.loads(_STATE.read_text()).get(self.meter_number, -1))
        except (OSError, ValueError, AttributeError):
            return -1

    def _save(self, tid: int) -> None:
        try:
            data = json.loads(_STATE.read_text()) if _STATE.exists() else {}
            data[self.meter_number] = tid
            _STATE.parent.mkdir(parents=True, exist_ok=True)
            _STATE.write_text(json.dumps(data))
        except (OSError, ValueError):
            pass   # a read-only home only risks a "used" answer on the next run, never credit

    def tid(self) -> int:
        tid, self.next_tid = self.next_tid, self.next_tid + 1
        if self.persist:
            self._save(tid)
        return tid

    def credit(self, kwh: float, *, tid: int | None = None, key: sts.DecoderKey | None = None) -> str:
        self.rnd = (self.rnd + 1) % 16
        token = sts.TransferElectricityCredit.of(kwh, tid=self.tid() if tid is None else tid, rnd=self.rnd)
        return sts.encode(token, key or self.key)


def test_token_with_bad_crc() -> str:
    """A class-1 test token (any meter accepts it) with its last digit changed so the CRC fails."""
    good = sts.encode(sts.InitiateMeterTestOrDisplay1(manufacturer_code=7, control=1))
    return next(t for t in (good[:-1] + str((int(good[-1]) + d) % 10) for d in range(1, 10))
                if sts.decode(t).result is sts.TokenResult.CRC_ERROR)


test_token_with_bad_crc.__test__ = False   # type: ignore[attr-defined]  # not a pytest test


def card_record(meter_number: str, card_serial: str, master: bytes, count: int, credit: int, *,
                unit: str = "energy", currency: str = "EGP", tag: str = "bench", kind: str = "credit") -> bytes:
    """A record for ``count``; ``kind="activation"`` registers a new card in the meter."""
    rec = uc.CreditRecord(kind=kind, meter_number=meter_number, card_serial=card_serial, utility_id=818,
                          purchase_count=count, credit=credit, paid=credit, currency=currency, unit=unit,
                          issued_at=int(dt.datetime.now(dt.timezone.utc).timestamp()),
                          vend_ref=uc.vend_ref_from_id(f"{tag}-{count}-{card_serial}"))
    return uc.encode(rec, uc.credit_key(master, card_serial))
