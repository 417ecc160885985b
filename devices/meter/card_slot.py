"""The card slot of a card meter: read a utility card's credit record and apply the meter's rule.

In order: the record must be readable (``unreadable``), its key generation known to the
meter (``key``), its MAC must verify under the key diversified by the card serial (``mac``),
it must not be older than the card validity (``expired``); then ``protocols.utility_card.apply``
decides with the purchase-count rule: exactly the meter's count + 1 credits, equal or lower
is already loaded (no credit, no error), 2 or more above is refused (``count``); another
meter's or another card's record, another unit or the hoarding limit are refused too.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from protocols import utility_card as uc

from .codes import FROM_CARD, ResultCode


@dataclass(frozen=True)
class CardEntry:
    code: ResultCode
    credited: int = 0
    record: uc.CreditRecord | None = None
    detail: str = ""


def _master_keys(keys: object) -> dict[int, bytes]:
    if isinstance(keys, (bytes, bytearray)):
        keys = {1: bytes(keys)}
    if not isinstance(keys, Mapping) or not keys:
        raise ValueError(f"invalid card master keys {type(keys).__name__}: expected the utility master key "
                         "(bytes, key version 1) or {key_version: key}")
    out = {}
    for version, key in keys.items():
        if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version <= 255:
            raise ValueError(f"invalid card key version {version!r}: expected 0..255")
        if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
            raise ValueError(f"invalid card master key for version {version}: expected at least 16 bytes")
        out[version] = bytes(key)
    return out


class CardSlot:
    def __init__(self, master_keys: bytes | Mapping[int, bytes], *, card_serial: str | None = None,
                 purchase_count: int = 0, validity_days: int | None = None) -> None:
        self.master_keys = _master_keys(master_keys)
        self.card_serial = None if card_serial is None else uc.card_serial_bytes(card_serial).hex().upper()
        if isinstance(purchase_count, bool) or not isinstance(purchase_count, int) \
                or not 0 <= purchase_count <= 0xFFFF_FFFF:
            raise ValueError(f"invalid purchase count {purchase_count!r}: expected an integer >= 0")
        self.purchase_count = purchase_count
        if validity_days is not None and (isinstance(validity_days, bool) or not isinstance(validity_days, int)
                                          or validity_days < 1):
            raise ValueError(f"invalid card validity {validity_days!r}: expected whole days >= 1, or None")
        self.validity_days = validity_days

    def insert(self, data: bytes, *, meter_number: str, balance: int, unit: str, currency: str,
               hoarding_limit: int, now_s: int) -> CardEntry:
        """Read ``data`` and apply it; updates the slot's count and card on a credit."""
        try:
            key_version, serial = uc.key_id(data)
        except uc.CardError as exc:
            return CardEntry(ResultCode.UNREADABLE, detail=str(exc))
        master = self.master_keys.get(key_version)
        if master is None:
            return CardEntry(ResultCode.KEY, detail=f"key_version {key_version}: this meter holds "
                                                    f"{sorted(self.master_keys)}")
        try:
            record = uc.decode(data, uc.credit_key(master, serial))
        except uc.CardError as exc:
            return CardEntry(FROM_CARD[exc.code], detail=str(exc))
        if self.validity_days is not None and now_s - record.issued_at > self.validity_days * 86_400:
            return CardEntry(ResultCode.EXPIRED, record=record,
                             detail=f"issued_at {record.issued_at}: older than {self.validity_days} days")
        state = uc.MeterCardState(meter_number=meter_number, purchase_count=self.purchase_count, balance=balance,
                                  card_serial=self.card_serial, unit=unit, currency=currency)
        outcome = uc.apply(state, record, hoarding_limit=max(hoarding_limit, 0))
        if outcome.status == "refused":
            return CardEntry(FROM_CARD[outcome.code], record=record, detail=str(outcome.error))
        if outcome.status == "already_loaded":
            return CardEntry(ResultCode.ALREADY_LOADED, record=record,
                             detail=f"purchase_count {record.purchase_count} <= meter's {self.purchase_count}")
        self.purchase_count = outcome.state.purchase_count
        self.card_serial = outcome.state.card_serial
        return CardEntry(ResultCode.ACCEPTED, outcome.credited, record,
                         "card registered (activation)" if outcome.registered else "")
