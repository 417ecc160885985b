"""The meter registry and the utility cards of card meters.

A card meter works with one card at a time: issuing or replacing a card points the meter at
the new serial and makes its next credit record an *activation* (the company's first charge),
which the meter accepts only from the new card at its next purchase count, so the lost card
is dead from then on. A replacement carries a fee by reason (the tariff's ``card_fees``) and
happens in the transaction that takes the fee (:mod:`core.vending`).
"""
from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.digits import to_ascii_digits
from core.errors import Conflict, InvalidInput, NotFound
from core.market import market as market_of
from core.store import Store, Tx
from core.tariffs import tariff as tariff_of
from protocols import sts
from protocols import utility_card as uc

STS_IIN = "600727"


@dataclass(frozen=True)
class Meter:
    number: str
    market: str
    kind: str
    tariff: str
    supply_group: str
    tariff_index: str
    key_revision: int
    key_ref: str
    customer: str
    last_tid: int
    purchase_count: int
    card_serial: str | None
    card_activation: bool

    @property
    def pan(self) -> sts.MeterPan:
        return sts.MeterPan(STS_IIN, self.number)


def _meter(row: dict) -> Meter:
    return Meter(row["number"], row["market"], row["kind"], row["tariff"], row["supply_group"],
                 row["tariff_index"], int(row["key_revision"]), row["key_ref"], row["customer"],
                 int(row["last_tid"]), int(row["purchase_count"]), row["card_serial"], bool(row["card_activation"]))


def meter_number(text: object, *, field: str = "meter") -> str:
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: expected the meter number as a string of 11 digits", field=field)
    try:
        return uc.parse_meter_number(to_ascii_digits(text).replace(" ", "").replace("-", ""))
    except uc.CardError as e:
        raise InvalidInput(f"{field}: {str(e).split(': ', 1)[-1]}", field=field) from None


class Meters:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store, self.clock = store, clock

    def find(self, tx: Tx, number: str | None, *, lock: bool = False) -> Meter | None:
        row = tx.one("SELECT * FROM meters WHERE number = ?" + (tx.for_update if lock else ""), (number,))
        return _meter(row) if row else None

    def get(self, number: object) -> Meter:
        n = meter_number(number)
        with self.store.autocommit() as tx:
            m = self.find(tx, n)
        if m is None:
            raise NotFound(f"meter: {n} is not registered", field="meter")
        return m

    def register(self, market: str, number: object, *, kind: str, tariff: str, customer: str,
                 supply_group: str = "123456", tariff_index: str = "01", key_revision: int = 1,
                 key_ref: str = "vk-1") -> Meter:
        mkt = market_of(market)
        n = meter_number(number)
        if kind not in ("sts", "card"):
            raise InvalidInput(f"kind: {kind!r}; expected 'sts' (keypad) or 'card'", field="kind")
        t = tariff_of(tariff)
        if t.market != mkt.code:
            raise InvalidInput(f"tariff: {tariff} is a {t.market} tariff, not {mkt.code}", field="tariff")
        if not (supply_group.isdigit() and len(supply_group) == 6):
            raise InvalidInput("supply_group: expected 6 digits", field="supply_group")
        if not (tariff_index.isdigit() and len(tariff_index) == 2):
            raise InvalidInput("tariff_index: expected 2 digits", field="tariff_index")
        if not 0 <= key_revision <= 9:
            raise InvalidInput("key_revision: expected 0 to 9", field="key_revision")
        now_ms = int(self.clock.now() * 1000)

        def run(tx: Tx) -> Meter:
            tx.execute("INSERT INTO meters (number, market, kind, tariff, supply_group, tariff_index, key_revision,"
                       " key_ref, customer, created_ms) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (number) DO NOTHING",
                       (n, mkt.code, kind, tariff, supply_group, tariff_index, key_revision, key_ref, customer, now_ms))
            m = self.find(tx, n)
            if (m.kind, m.market, m.tariff) != (kind, mkt.code, tariff):
                raise Conflict(f"meter: {n} is already registered as a {m.kind} meter on {m.tariff}", field="meter")
            return m
        return self.store.run(run)

    def check_card(self, number: object, serial: str, reason: str | None) -> tuple[Meter, str]:
        """The meter and normalised serial for a first issue (no reason) or a replacement."""
        m = self.get(number)
        if m.kind != "card":
            raise InvalidInput(f"meter: {m.number} is a keypad (STS) meter; cards are for card meters",
                               field="meter")
        try:
            serial = uc.card_serial_bytes(serial).hex().upper()
        except uc.CardError as e:
            raise InvalidInput(f"serial: {e}", field="serial") from None
        if reason is None and m.card_serial is not None:
            raise Conflict(f"meter: {m.number} has card {m.card_serial}; replace it (lost or damaged)",
                           field="meter")
        if reason is not None and reason not in tariff_of(m.tariff).card_fees:
            raise InvalidInput(f"reason: {reason!r}; expected one of {', '.join(tariff_of(m.tariff).card_fees)}",
                               field="reason")
        with self.store.autocommit() as tx:
            if tx.one("SELECT 1 AS x FROM meter_cards WHERE serial = ?", (serial,)):
                raise Conflict(f"serial: card {serial} was already issued", field="serial")
        return m, serial

    def switch_card(self, tx: Tx, number: str, serial: str, reason: str | None, now_ms: int) -> None:
        """Point the meter at ``serial``; the old card (if any) becomes ``reason`` and dies at
        the new card's activation."""
        m = self.find(tx, number, lock=True)
        if m.card_serial is not None:
            tx.execute("UPDATE meter_cards SET state = ?, replaced_by = ? WHERE serial = ?",
                       (reason or "replaced", serial, m.card_serial))
        tx.execute("INSERT INTO meter_cards (serial, meter, state, issued_ms) VALUES (?, ?, 'active', ?)",
                   (serial, m.number, now_ms))
        tx.execute("UPDATE meters SET card_serial = ?, card_activation = 1 WHERE number = ?", (serial, m.number))

    def issue_card(self, number: object, serial: str) -> Meter:
        """A meter's first card (at the branch, free); replacements go through vending's fee."""
        m, serial = self.check_card(number, serial, None)
        now_ms = int(self.clock.now() * 1000)
        self.store.run(lambda tx: self.switch_card(tx, m.number, serial, None, now_ms))
        return self.get(m.number)

    def card_state(self, serial: str) -> str:
        with self.store.autocommit() as tx:
            row = tx.one("SELECT state FROM meter_cards WHERE serial = ?", (serial.upper(),))
        if row is None:
            raise NotFound(f"serial: card {serial} was never issued", field="serial")
        return row["state"]
