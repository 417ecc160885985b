"""Receipts for paid orders: a plain-text document in the market's languages, downloadable
from the API and sent by e-mail through the ``Email`` port."""
from __future__ import annotations

import time

from core.digits import to_local_digits
from core.errors import Conflict, InvalidInput
from core.market import market as market_of
from core.orders import Order, State
from core.ports import Email, EmailMessage
from core.payments import Payments
from core.topups import _EMAIL

_LABELS = {
    "ar": ("إيصال شحن", "المرجع", "التاريخ", "الرقم", "المبلغ", "مكافأة", "البطاقة", "القناة"),
    "fr": ("Reçu de recharge", "Référence", "Date", "Numéro", "Montant", "Bonus", "Carte", "Canal"),
    "fa": ("رسید خرید شارژ", "شماره پیگیری", "تاریخ", "شماره", "مبلغ", "هدیه", "کارت", "کانال"),
    "en": ("Top-up receipt", "Reference", "Date", "Number", "Amount", "Bonus", "Card", "Channel"),
}


def receipt_text(order: Order) -> str:
    if order.state is not State.CREDITED:
        raise Conflict(f"order {order.id} is {order.state}; receipts exist for delivered orders",
                       field="order_id")
    mkt = market_of(order.market)
    # What was paid for: the topped-up line, or the bill account / meter the order names.
    national = ("0" + order.recipient[len(mkt.numbering.country_code):] if order.purpose == "topup"
                else order.target or "")
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime((order.credited_ms or 0) / 1000))
    blocks = []
    for lang in (*mkt.languages, "en"):
        title, ref, date, number, amount, bonus, card, channel = _LABELS[lang]
        script = "latn" if lang in ("en", "fr") else mkt.display_digits

        def local(text: str) -> str:
            return to_local_digits(text, script)
        lines = [title, "=" * len(title), f"{ref}: {order.id}", f"{date}: {local(when)}",
                 f"{number}: {local(national)}", f"{amount}: {local(order.amount.display())}"]
        if order.bonus.minor:
            lines.append(f"{bonus}: {local(order.bonus.display())} ({order.bonus_hours} h)")
        if order.masked_pan:
            lines.append(f"{card}: {order.masked_pan}")
        lines.append(f"{channel}: {order.channel}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


class Receipts:
    def __init__(self, payments: Payments, email: Email) -> None:
        self.payments, self.email = payments, email

    def text(self, order_id: str) -> str:
        return receipt_text(self.payments.get(order_id))

    def send(self, order_id: str, to: object | None = None) -> str:
        """E-mail the receipt to ``to`` or to the address given with the order; returns it."""
        order = self.payments.get(order_id)
        address = to if to is not None else order.email
        if not isinstance(address, str) or not _EMAIL.match(address):
            raise InvalidInput(f"email: {address!r} is not an e-mail address; give one in the request "
                               "or with the order", field="email")
        body = receipt_text(order)
        self.email.send(EmailMessage(to=address, subject=f"Receipt {order.id}", body=body,
                                     attachments=((f"receipt-{order.id}.txt", "text/plain",
                                                   body.encode("utf-8")),)))
        return address
