"""Request bodies. Unknown fields are refused; values are checked by the domain, which says
exactly what was expected (so the rules live in one place, not twice)."""
from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

Amount = Union[StrictStr, StrictInt]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscriberIn(Body):
    market: str = Field(max_length=8, examples=["DZ"])
    msisdn: str = Field(max_length=32, examples=["0551234567"])
    kind: Literal["prepaid", "postpaid"] = "prepaid"
    language: str | None = Field(default=None, max_length=8)
    email: str | None = Field(default=None, max_length=254)
    opening_balance: Amount | None = Field(default=None, examples=["100.00"])


class TopupIn(Body):
    market: str = Field(max_length=8, examples=["DZ"])
    recipient: str | None = Field(default=None, max_length=32, examples=["0551234567"],
                                  description="number to top up; omitted: the payer's own")
    payer: str | None = Field(default=None, max_length=32, examples=["0661234567"])
    amount: Amount = Field(examples=["1000", "1000.50", "١٠٠٠"],
                           description="major units as a string (Latin, Arabic-Indic or Persian digits)")
    currency: str | None = Field(default=None, max_length=3, examples=["DZD"])
    product: Literal["normal", "amazing"] = "normal"
    channel: Literal["web", "app", "kiosk", "wallet", "bank"] = "web"
    save_recipient: bool = False
    email: str | None = Field(default=None, max_length=254)
    language: str | None = Field(default=None, max_length=8)
    method_account: str | None = Field(default=None, max_length=64,
                                       description="kiosk/wallet/bank channels: the agent, provider or bank")


class VendIn(Body):
    meter: str = Field(max_length=32, examples=["47500150231"])
    amount: Amount = Field(examples=["100", "١٠٠"])
    method_account: str | None = Field(default=None, max_length=64,
                                       description="kiosk/wallet/bank channels: the agent, provider or bank")
    payer: str | None = Field(default=None, max_length=32)


class BillPaymentIn(Body):
    amount: Amount = Field(examples=["2450", "٢٤٥٠"])
    currency: str | None = Field(default=None, max_length=3, examples=["DZD"])
    payer: str | None = Field(default=None, max_length=32, examples=["0551234567"])
    method_account: str | None = Field(default=None, max_length=64,
                                       description="kiosk/wallet/bank channels: the agent, provider or bank")
    language: str | None = Field(default=None, max_length=8)


class RechargeIn(Body):
    product: str = Field(max_length=32, examples=["adsl-2m"])
    payer: str | None = Field(default=None, max_length=32)
    method_account: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=8)


class PlanIn(Body):
    monthly: Amount = Field(examples=["2500"])
    currency: str | None = Field(default=None, max_length=3)
    debt: Amount | None = Field(default=None, description="accept only if the debt is still the one proposed")
    customer: str | None = Field(default=None, max_length=32)
    language: str | None = Field(default=None, max_length=8)


class MandateIn(Body):
    market: str = Field(max_length=8, examples=["DZ"])
    biller: str = Field(max_length=48, examples=["dz-at-adsl"])
    account: str = Field(max_length=32, examples=["034123456"])
    ccp: str = Field(max_length=32, examples=["12345678 clé 90"])
    customer: str = Field(max_length=32, examples=["0551234567"])
    product: str | None = Field(default=None, max_length=32, examples=["adsl-2m"])
    language: str | None = Field(default=None, max_length=8)


class AccessCodeIn(Body):
    access_code: str = Field(max_length=16, examples=["48213907"])


class MeterIn(Body):
    market: str = Field(max_length=8, examples=["EG"])
    number: str = Field(max_length=32, examples=["47500150231"])
    kind: Literal["sts", "card"]
    tariff: str = Field(max_length=32, examples=["EG-RES"])
    customer: str = Field(max_length=128)
    supply_group: str = Field(default="123456", max_length=6)
    tariff_index: str = Field(default="01", max_length=2)
    key_revision: int = Field(default=1, ge=0, le=9)
    key_ref: str = Field(default="vk-1", max_length=64)


class CardIssueIn(Body):
    serial: str = Field(max_length=32, examples=["04A1B2C3D4E5F607"])
    reason: Literal["lost", "damaged"] | None = None
    method_account: str | None = Field(default=None, max_length=64)


class FloatIn(Body):
    amount: Amount
    currency: str = Field(max_length=3)


class CardIn(Body):
    pan: str = Field(max_length=32, examples=["6280580000000000"])
    expiry: str = Field(max_length=8, examples=["12/29"])
    holder: str = Field(default="", max_length=64)
    cvc2: str | None = Field(default=None, max_length=4)
    pin2: str | None = Field(default=None, max_length=12)


class OtpIn(Body):
    otp: str = Field(max_length=16, examples=["123456"])


class EmailIn(Body):
    email: str | None = Field(default=None, max_length=254)


class CallbackIn(Body):
    gateway_ref: str = Field(max_length=128)
    model_config = ConfigDict(extra="ignore")   # real gateways send more than we read


class UssdIn(Body):
    session_id: str = Field(max_length=64)
    msisdn: str = Field(max_length=32, examples=["+989121234567"])
    service_code: str = Field(max_length=32, examples=["*1#"])
    text: str = Field(default="", max_length=512, description="answers so far, joined by '*'")
    market: str | None = Field(default=None, max_length=8)
