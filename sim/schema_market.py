"""The shape of a profile's blocks (markets, human behaviour, network), as validator specs.

Allowed values come from the core's own data where they exist: languages and operators from
the market profiles (``core/profiles/*.toml``), billers and mandate rules from billers.toml,
gateway names from the markets' gateways, so a profile cannot name what the core lacks.
"""
from __future__ import annotations

from typing import Any

from core import billers as core_billers
from core.market import load_markets
from sim.schema import Amount, Dist, Keys, ListOf, MapOf, Num, SimConfigError, Spec, Text, Weights, fail, prob

MARKETS = ("DZ", "EG", "IR")
TOPUP_CHANNELS = ("web", "ussd", "kiosk", "wallet", "bank_app")
CARD_CHANNELS = ("kiosk", "wallet", "bank_app")
STS_METHODS = ("card", "wallet", "bank", "kiosk")
PROVIDER = r"[a-z0-9][a-z0-9-]{0,24}"
HHMM = r"([01][0-9]|2[0-3]):[0-5][0-9]"


def market_context(code: str, ctx: dict) -> dict:
    mkt = load_markets()[code]
    bs = [b for b in core_billers.load_billers().billers.values() if b.market == code]
    return ctx | {"market": code, "currency": mkt.currency, "languages": list(mkt.languages),
                  "operators": sorted(set(mkt.numbering.operators.values())),
                  "billers": sorted(b.id for b in bs),
                  "mandate_billers": sorted(b.id for b in bs if b.mandates is not None),
                  "topup_min": mkt.topup_min.minor, "topup_max": mkt.topup_max.minor}


class AmountWeights(Spec):
    """{"100": 0.3, "200": 0.7}: top-up amounts in major units (within the market's limits)."""

    def check(self, value: Any, where: str, ctx: dict) -> dict[int, float]:
        if not isinstance(value, dict) or not value:
            raise fail(where, value, "a mapping of amounts (major units) to weights, e.g. {\"100\": 0.5, \"200\": 0.5}")
        out: dict[int, float] = {}
        for k, w in value.items():
            minor = Amount().check(k, f"{where}.{k}", ctx)
            if not ctx["topup_min"] <= minor <= ctx["topup_max"]:
                raise fail(f"{where}.{k}", k, f"an amount within the {ctx['market']} top-up limits "
                                              f"({_major(ctx['topup_min'], ctx)}..{_major(ctx['topup_max'], ctx)})")
            out[minor] = Num(0.0).check(w, f"{where}.{k}", ctx)
        if sum(out.values()) <= 0:
            raise fail(where, value, "at least one weight above 0")
        return out

    def keys(self, prefix: str, ctx: dict) -> list[str]:
        return [prefix]


def _major(minor: int, ctx: dict) -> str:
    from core.money import Money
    return Money(minor, ctx["currency"]).major_str()


class MandateSpec(Keys):
    def check(self, value: Any, where: str, ctx: dict) -> Any:
        out = super().check(value, where, ctx)
        if out is None:
            return None
        if out["households"] > 0:
            if out["biller"] not in ctx["mandate_billers"]:
                takers = ", ".join(ctx["mandate_billers"]) or "none"
                raise fail(f"{where}.biller", out["biller"], "a biller of this market taking postal mandates: " + takers)
            b = core_billers.biller(out["biller"])
            if out["product"] and out["product"] not in b.products:
                raise fail(f"{where}.product", out["product"],
                           "'' (pay bills) or a product of the biller: " + (", ".join(b.products) or "none"))
        return out


def market_spec() -> Keys:
    dist, money = Dist(), Dist(money=True)
    return Keys({
        "share": Num(0.0, lo_open=True),
        "utc_offset_h": Num(-12, 14),
        "prepaid": prob(),
        "household_size": Num(1, 20),
        "languages": Weights(lambda c: c["languages"]),
        "operators": Weights(lambda c: c["operators"]),
        "balance": money,
        "usage": Keys({"per_hour": Num(0, 100), "charge": money}),
        "low_balance": Keys({"threshold": Amount(), "recharge": prob(), "delay_s": dist}),
        "topup": Keys({"per_day": Num(0, 100), "gift_per_day": Num(0, 100), "amazing": prob(),
                       "amounts": AmountWeights(), "channels": Weights(lambda c: list(TOPUP_CHANNELS))}),
        "cards": Keys({"balance": money, "other_phone": prob(), "other_phone_delay_s": dist}),
        "bills": Keys({"households": prob(), "per_day": Num(0, 100), "billers": Weights(lambda c: c["billers"]),
                       "amount": money, "in_plan": prob(), "part": prob()}),
        "mandates": MandateSpec({"households": prob(), "biller": Text(hint="a biller id"),
                                 "product": Text(hint="a product id or ''"),
                                 "runs": ListOf(Text(pattern=HHMM, hint="a local time HH:MM")),
                                 "due_per_run": prob(), "ccp_balance": money}, nullable=True),
        "meters": Keys({"households": prob(), "card_share": prob(), "per_day": Num(0, 100), "amount": money,
                        "kwh_per_day": dist, "credit_kwh": dist,
                        "card_channels": Weights(lambda c: list(CARD_CHANNELS)),
                        "sts_methods": Weights(lambda c: list(STS_METHODS)),
                        "load_delay_s": dist, "keypad_typo": prob(), "card_read_error": prob(),
                        "cut_buy": prob(), "cut_buy_delay_s": dist}),
        "kiosks": Keys({"agents": Num(1, 100_000, integer=True), "float": Amount()}),
        "wallets": ListOf(Text(pattern=PROVIDER, hint="a provider id: lowercase letters, digits, '-'"), 1),
        "banks": ListOf(Text(pattern=PROVIDER, hint="a bank-app id: lowercase letters, digits, '-'"), 1),
    })


def gateway_spec(optional: bool) -> Keys:
    names = ("capacity", "answer_s", "callback_s", "decline_rate", "timeout_rate", "callback_loss_rate")
    return Keys({"capacity": Num(1, 1_000_000, integer=True), "answer_s": Dist(), "callback_s": Dist(),
                 "decline_rate": prob(), "timeout_rate": prob(), "callback_loss_rate": prob()},
                optional=names if optional else ())


class GatewaysSpec(MapOf):
    def check(self, value: Any, where: str, ctx: dict) -> dict:
        if not isinstance(value, dict) or "default" not in value:
            raise fail(where, value, "a mapping with 'default' and optionally gateways by name: "
                                     + ", ".join(ctx["gateways"]))
        out = {"default": gateway_spec(False).check(value["default"], f"{where}.default", ctx)}
        for name, block in value.items():
            if name == "default":
                continue
            if name not in ctx["gateways"]:
                raise SimConfigError(f"{where}.{name}: unknown gateway; expected default or one of "
                                     + ", ".join(ctx["gateways"]))
            out[name] = gateway_spec(True).check(block, f"{where}.{name}", ctx)
        return out

    def keys(self, prefix: str, ctx: dict) -> list[str]:
        out = gateway_spec(False).keys(f"{prefix}.default", ctx)
        for g in ctx["gateways"]:
            out += gateway_spec(True).keys(f"{prefix}.{g}", ctx)
        return out


def network_spec() -> Keys:
    return Keys({
        "gateways": GatewaysSpec(lambda c: ["default", *c["gateways"]], Keys({})),
        "providers": Keys({"answer_s": Dist()}),
        "postal": Keys({"answer_s": Dist()}),
        "smsc": Keys({"throughput_per_s": Num(0, lo_open=True, nullable=True), "delay_s": Dist(),
                      "loss_rate": prob()}),
        "ussd": Keys({"dialogues": Num(1, 10_000_000, integer=True), "answer_s": Dist(),
                      "app_timeout_s": Num(0.1, 600), "drop_rate": prob()}),
    })


def human_spec() -> Keys:
    dist = Dist()
    return Keys({
        "think_s": dist, "type_char_s": dist, "card_typo": prob(), "pin2_wrong": prob(), "otp_typo": prob(),
        "otp_read_s": dist, "patience_s": dist, "resend": prob(), "abandon_form": prob(), "retry": prob(),
        "retry_after_s": dist, "double_submit": prob(), "close_browser": prob(), "ussd_direct": prob(),
        "ussd_slow_step": prob(),
    })
