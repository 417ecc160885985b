"""Meter vending (F5, F6): money -> energy by tariff -> an STS token for a keypad meter or a
signed credit record for a card meter, exactly once per order.

The token or record is made inside the capture transaction and stored with the vend, so a
retried vend (same order id) returns the very same 20 digits or record, never a second one.
STS TIDs grow per meter (two vends in one minute get consecutive TIDs, or the meter would
answer "used"); card records carry the meter's purchase count + 1.
"""
from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from typing import Callable

from core import ledger
from core.adapters.keystore import KeyStore
from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound
from core.market import market as market_of
from core.meters import Meter, Meters
from core.money import Money
from core.orders import Order
from core.payments import DIRECT_METHODS, Notice, Payments
from core.store import Store
from core.tariffs import tariff as tariff_of
from protocols import sts
from protocols import utility_card as uc

STS_BASE_DATE = 2014        # after the 2024-11-24 TID rollover


def utility_payable(utility: str, cur: str) -> str:
    """What the operator owes a utility for the energy it sold on its behalf (liability)."""
    return f"utility:{utility}:{cur}"


class VendPurpose:
    name = "vend"

    def __init__(self, meters: Meters, keys: KeyStore) -> None:
        self.meters, self.keys = meters, keys

    def refusal(self, tx, order: Order) -> str | None:  # type: ignore[no-untyped-def]
        meter = self.meters.find(tx, order.target)
        if meter is None:
            return "unknown_meter"
        if meter.kind == "card" and meter.card_serial is None:
            return "no_active_card"
        return None

    def fulfil(self, batch: ledger.Batch, order: Order) -> None:
        tx, now_ms = batch.tx, batch.at_ms
        meter = self.meters.find(tx, order.target, lock=True)
        t = tariff_of(meter.tariff)
        month = time.strftime("%Y-%m", time.gmtime(now_ms / 1000))
        sold = tx.one("SELECT COALESCE(SUM(energy_tenths), 0) AS e, COUNT(*) AS n FROM vends"
                      " WHERE meter = ? AND month = ?", (meter.number, month))
        conv = t.convert(order.amount, int(sold["e"]), fee_due=int(sold["n"]) == 0)
        batch.add(f"credit:{order.id}", ledger.held(order.amount.currency),
                  utility_payable(t.utility, order.amount.currency), order.amount, kind="credit",
                  order_id=order.id)
        token = record = tid = count = None
        if meter.kind == "sts":
            tid = max(sts.tid_of(datetime.fromtimestamp(now_ms / 1000, timezone.utc).replace(tzinfo=None),
                                 base_date=STS_BASE_DATE), meter.last_tid + 1)
            rnd = hashlib.sha256(order.id.encode()).digest()[0] & 0x0F
            credit = sts.TransferElectricityCredit(sts.amount_field(conv.energy_tenths, "amount"), tid, rnd)
            token = sts.encode(credit, self.decoder_key(meter))
            tx.execute("UPDATE meters SET last_tid = ? WHERE number = ?", (tid, meter.number))
        else:
            count = meter.purchase_count + 1
            credit_money = order.amount.minor - conv.fee.minor
            rec = uc.CreditRecord(meter_number=meter.number, card_serial=meter.card_serial,
                                  utility_id=t.utility_id, purchase_count=count, credit=credit_money,
                                  paid=order.amount.minor, currency=order.amount.currency,
                                  issued_at=now_ms // 1000, vend_ref=uc.vend_ref_from_id(order.id),
                                  kind="activation" if meter.card_activation else "credit")
            key = uc.credit_key(self.keys.card_master_key(t.utility), meter.card_serial)
            record = uc.to_text(uc.encode(rec, key))
            tx.execute("UPDATE meters SET purchase_count = ?, card_activation = 0 WHERE number = ?",
                       (count, meter.number))
        tx.execute("INSERT INTO vends (order_id, meter, kind, month, paid, fee, currency, energy_tenths, token,"
                   " record, tid, purchase_count, card_serial, at_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (order.id, meter.number, meter.kind, month, order.amount.minor, conv.fee.minor,
                    order.amount.currency, conv.energy_tenths, token, record, tid, count, meter.card_serial, now_ms))

    def decoder_key(self, meter: Meter) -> sts.DecoderKey:
        return sts.dkga02(self.keys.vending_key(meter.key_ref), pan=meter.pan, key_type=2,
                          supply_group_code=meter.supply_group, tariff_index=meter.tariff_index,
                          key_revision=meter.key_revision)

    def notices(self, order: Order, event: str, balances: dict[str, int] | None = None) -> list[Notice]:
        return []     # the vend answer itself carries the token; SMS delivery is the channel's


class CardFeePurpose:
    """A card replacement: the fee goes to the utility, and the meter switches to the new card
    in the same transaction (the old card dies at the new card's activation record)."""

    name = "card_fee"

    def __init__(self, meters: Meters) -> None:
        self.meters = meters

    def refusal(self, tx, order: Order) -> str | None:  # type: ignore[no-untyped-def]
        return None

    def fulfil(self, batch: ledger.Batch, order: Order) -> None:
        tx = batch.tx
        req = tx.one("SELECT * FROM card_replacements WHERE order_id = ?", (order.id,))
        meter = self.meters.find(tx, req["meter"])
        t = tariff_of(meter.tariff)
        batch.add(f"credit:{order.id}", ledger.held(order.amount.currency),
                  utility_payable(t.utility, order.amount.currency), order.amount, kind="credit",
                  order_id=order.id)
        self.meters.switch_card(tx, meter.number, req["serial"], req["reason"], batch.at_ms)

    def notices(self, order: Order, event: str, balances: dict[str, int] | None = None) -> list[Notice]:
        return []


class Vending:
    def __init__(self, store: Store, clock: Clock, payments: Payments, meters: Meters, keys: KeyStore,
                 new_id: Callable[[], str]) -> None:
        self.store, self.clock, self.payments, self.meters, self.keys = store, clock, payments, meters, keys
        self.new_id = new_id
        self.purpose = VendPurpose(meters, keys)
        payments.add_purpose(self.purpose)
        payments.add_purpose(CardFeePurpose(meters))

    def vend(self, meter_number: object, amount: object, *, method: str = "card", method_account: str | None = None,
             channel: str = "web", payer: str | None = None, order_id: str | None = None) -> Order:
        """Sell energy for ``amount`` to a meter. Card: the order waits for the card payment;
        direct methods deliver at once. A repeated ``order_id`` returns the same order."""
        meter = self.meters.get(meter_number)
        t = tariff_of(meter.tariff)
        money = Money.parse(amount, t.currency)
        if money < t.min_charge:
            raise InvalidInput(f"amount: {money} is below the minimum charge of {t.min_charge}", field="amount")
        if money > t.max_credit:
            raise InvalidInput(f"amount: {money} is above the credit limit of {t.max_credit}", field="amount")
        return self._order("vend", meter, money, method, method_account, channel, payer, order_id)

    def replace_card(self, meter_number: object, serial: str, reason: str, *, method: str = "kiosk",
                     method_account: str | None = None, channel: str = "branch", payer: str | None = None,
                     order_id: str | None = None) -> Order:
        """Replace a lost or damaged card for the tariff's fee; the switch happens when it is paid."""
        if order_id is not None:
            with self.store.autocommit() as tx:
                if tx.one("SELECT 1 AS x FROM card_replacements WHERE order_id = ?", (order_id,)):
                    return self.payments.get(order_id)     # a retry: the same replacement
        meter, serial = self.meters.check_card(meter_number, serial, reason)
        if meter.card_serial is None:
            raise Conflict(f"meter: {meter.number} has no card to replace; issue its first card", field="meter")
        fee = tariff_of(meter.tariff).card_fees[reason]
        order_id = order_id or self.new_id()
        with self.store.autocommit() as tx:
            tx.execute("INSERT INTO card_replacements (order_id, meter, serial, reason) VALUES (?, ?, ?, ?)"
                       " ON CONFLICT (order_id) DO NOTHING", (order_id, meter.number, serial, reason))
        return self._order("card_fee", meter, fee, method, method_account, channel, payer, order_id)

    def _order(self, purpose: str, meter: Meter, money: Money, method: str, method_account: str | None,
               channel: str, payer: str | None, order_id: str | None) -> Order:
        if method != "card" and (method not in DIRECT_METHODS or not method_account):
            raise InvalidInput(f"method: {method!r}; expected card, or one of {', '.join(DIRECT_METHODS)} "
                               "with its account", field="method")
        mkt = market_of(meter.market)
        order = self.payments.open(dict(
            id=order_id or self.new_id(), market=mkt.code, channel=channel, purpose=purpose, target=meter.number,
            method=method, method_account=method_account, payer=payer, amount=money.minor, currency=money.currency,
            gateway=method if method != "card" else mkt.web_gateway, language=mkt.languages[0]),
            description=f"electricity {meter.number}")
        if order.purpose != purpose or order.target != meter.number or order.amount != money:
            raise Conflict(f"order_id: {order.id} is another order", field="order_id")
        return order

    def result(self, order_id: str) -> dict:
        """What the customer gets: the token or record of a delivered vend (the same every time)."""
        order = self.payments.get(order_id)
        if order.purpose != "vend":
            raise NotFound(f"order {order_id} is not a vend", field="order_id")
        with self.store.autocommit() as tx:
            v = tx.one("SELECT * FROM vends WHERE order_id = ?", (order_id,))
        if v is None:
            raise Conflict(f"order {order_id} is {order.state}; the token or record exists once it is paid",
                           field="order_id")
        return {"order": order_id, "meter": v["meter"], "kind": v["kind"], "token": v["token"],
                "record": v["record"], "energy_kwh": f"{int(v['energy_tenths']) / 10:.1f}",
                "fee": int(v["fee"]), "paid": int(v["paid"]), "currency": v["currency"],
                "tid": v["tid"], "purchase_count": v["purchase_count"]}
