"""Market profiles: the rules of F1/F4 per market, kept as data (``core/profiles/*.toml``).

One file per market, named by its country code (``dz.toml``); other data files share the folder.
Every limit, tier, timeout and message text is a profile default, never a constant in code:
real operators change them. Profiles are validated on load so a bad edit fails loudly.
"""
from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.errors import InvalidInput
from core.money import Money, currency
from core.msisdn import NumberPlan

PROFILE_DIR = Path(__file__).parent / "profiles"

# Every text key a profile language must define, with the placeholders it may use.
TEXT_KEYS: dict[str, set[str]] = {
    "sms_topup_ok": {"amount", "msisdn", "balance", "order"},
    "sms_gift_received": {"amount", "payer"},
    "sms_topup_failed": {"amount", "msisdn", "reason", "order"},
    "sms_cap_refused": {"msisdn", "cap"},
    "sms_otp": {"otp", "amount", "minutes"},
    "sms_bonus": {"bonus", "expiry"},
    "ussd_type": set(), "ussd_target": set(), "ussd_saved": {"numbers"},
    "ussd_number": set(), "ussd_amount": {"amounts"}, "ussd_card": set(),
    "ussd_expiry": set(), "ussd_pin2": set(), "ussd_confirm": {"amount", "msisdn"},
    "ussd_save": {"msisdn"}, "ussd_processing": {"order"}, "ussd_cancelled": set(),
    "ussd_invalid": set(), "ussd_refused": {"reason"}, "ussd_busy": set(), "ussd_timeout": set(),
}


class ProfileError(ValueError):
    """A market profile file is malformed: names the file, the key and what was expected."""


@dataclass(frozen=True)
class BonusTier:
    min: Money
    bonus: Money
    valid_hours: int


@dataclass(frozen=True)
class OtpRules:
    length: int
    validity_s: int
    max_attempts: int
    max_resends: int
    max_failures_per_msisdn_hour: int = 10   # wrong codes per payer across orders (core/otp_guard.py)


@dataclass(frozen=True)
class UssdRules:
    service_code: str
    session_timeout_s: int
    answer_timeout_s: int
    max_gsm7: int
    max_ucs2: int


@dataclass(frozen=True)
class Market:
    code: str
    name: str
    currency: str
    languages: tuple[str, ...]
    display_digits: str
    numbering: NumberPlan
    topup_min: Money
    topup_max: Money
    balance_cap: Money
    presets: tuple[Money, ...]
    web_gateway: str
    ussd_gateway: str
    gateways: dict[str, str]       # gateway name -> style ("satim" | "shaparak")
    bonus_tiers: tuple[BonusTier, ...]
    otp: OtpRules
    session_timeout_s: int
    verify_window_s: int
    refund_window_s: int
    ussd: UssdRules
    texts: dict[str, dict[str, str]]

    def money(self, text: str | int, *, field: str = "amount") -> Money:
        return Money.parse(text, self.currency, field=field)

    def bonus_for(self, amount: Money) -> BonusTier | None:
        """The highest tier whose minimum the amount reaches (tiers are data)."""
        best = None
        for tier in self.bonus_tiers:
            if amount.minor >= tier.min.minor:
                best = tier
        return best

    def text(self, key: str, lang: str | None = None, **values: object) -> str:
        lang = lang if lang in self.texts else self.languages[0]
        return self.texts[lang][key].format(**values)


def _need(data: dict, key: str, kind: type, where: str):
    if key not in data:
        raise ProfileError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ProfileError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def parse_profile(data: dict, source: str) -> Market:
    try:
        m = _need(data, "market", dict, source)
        code = _need(m, "code", str, f"{source}:market")
        cur = currency(_need(m, "currency", str, f"{source}:market")).code
        num = _need(data, "numbering", dict, source)
        t = _need(data, "topup", dict, source)
        where = f"{source}:topup"

        def money(v: object, key: str) -> Money:
            try:
                return Money.parse(v, cur, field=key)  # type: ignore[arg-type]
            except InvalidInput as e:
                raise ProfileError(f"{where}.{key}: {e.message}") from None

        tiers = tuple(
            BonusTier(money(x["min"], "bonus_tiers.min"), money(x["bonus"], "bonus_tiers.bonus"),
                      int(x["valid_hours"]))
            for x in _need(t, "bonus_tiers", list, where))
        if [x.min for x in tiers] != sorted(x.min for x in tiers):
            raise ProfileError(f"{where}.bonus_tiers: expected tiers in ascending order of min")
        gateways = {name: _need(g, "style", str, f"{source}:gateways.{name}")
                    for name, g in _need(data, "gateways", dict, source).items()}
        for name, style in gateways.items():
            if style not in ("satim", "shaparak"):
                raise ProfileError(f"{source}:gateways.{name}.style: {style!r}; expected satim or shaparak")
        for key in ("web_gateway", "ussd_gateway"):
            if _need(t, key, str, where) not in gateways:
                raise ProfileError(f"{where}.{key}: {t[key]!r} is not in [gateways] ({', '.join(gateways)})")
        otp = _need(data, "otp", dict, source)
        gw = _need(data, "gateway", dict, source)
        us = _need(data, "ussd", dict, source)
        langs = tuple(_need(m, "languages", list, f"{source}:market"))
        texts = _need(data, "texts", dict, source)
        for lang in langs:
            block = texts.get(lang)
            if not isinstance(block, dict):
                raise ProfileError(f"{source}:texts: missing language {lang!r}")
            for key, allowed in TEXT_KEYS.items():
                text = _need(block, key, str, f"{source}:texts.{lang}")
                used = {f for _, f, _, _ in string.Formatter().parse(text) if f}
                if used - allowed:
                    raise ProfileError(f"{source}:texts.{lang}.{key}: unknown placeholders "
                                       f"{sorted(used - allowed)}; expected some of {sorted(allowed)}")
        market = Market(
            code=code, name=_need(m, "name", str, f"{source}:market"), currency=cur,
            languages=langs, display_digits=_need(m, "display_digits", str, f"{source}:market"),
            numbering=NumberPlan(code, _need(num, "country_code", str, f"{source}:numbering"),
                                 _need(num, "national_length", int, f"{source}:numbering"),
                                 dict(_need(num, "operators", dict, f"{source}:numbering"))),
            topup_min=money(_need(t, "min", str, where), "min"),
            topup_max=money(_need(t, "max", str, where), "max"),
            balance_cap=money(_need(t, "balance_cap", str, where), "balance_cap"),
            presets=tuple(money(p, "presets") for p in _need(t, "presets", list, where)),
            web_gateway=_need(t, "web_gateway", str, where),
            ussd_gateway=_need(t, "ussd_gateway", str, where),
            gateways=gateways,
            bonus_tiers=tiers,
            otp=OtpRules(*(_need(otp, k, int, f"{source}:otp")
                           for k in ("length", "validity_s", "max_attempts", "max_resends")),
                         _need(otp, "max_failures_per_msisdn_hour", int, f"{source}:otp")
                         if "max_failures_per_msisdn_hour" in otp else 10),
            session_timeout_s=_need(gw, "session_timeout_s", int, f"{source}:gateway"),
            verify_window_s=_need(gw, "verify_window_s", int, f"{source}:gateway"),
            refund_window_s=_need(gw, "refund_window_s", int, f"{source}:gateway"),
            ussd=UssdRules(_need(us, "service_code", str, f"{source}:ussd"),
                           *(_need(us, k, int, f"{source}:ussd") for k in
                             ("session_timeout_s", "answer_timeout_s", "max_gsm7", "max_ucs2"))),
            texts={lang: dict(texts[lang]) for lang in langs},
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, ProfileError):
            raise
        raise ProfileError(f"{source}: {e}") from None
    if market.topup_min > market.topup_max:
        raise ProfileError(f"{source}:topup: min is above max")
    if market.otp.max_failures_per_msisdn_hour < 1:
        raise ProfileError(f"{source}:otp.max_failures_per_msisdn_hour: expected at least 1")
    if not 600 <= market.session_timeout_s <= 86400:
        raise ProfileError(f"{source}:gateway.session_timeout_s: expected 600..86400")
    return market


@lru_cache(maxsize=None)
def load_markets(directory: str | None = None) -> dict[str, Market]:
    base = Path(directory) if directory else PROFILE_DIR
    markets = {}
    for path in sorted(base.glob("[a-z][a-z].toml")):     # market files are named by country code
        with path.open("rb") as f:
            try:
                data = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise ProfileError(f"{path.name}: {e}") from None
        market = parse_profile(data, path.name)
        markets[market.code] = market
    return markets


def market(code: object, *, field: str = "market") -> Market:
    markets = load_markets()
    if not isinstance(code, str) or code.strip().upper() not in markets:
        raise InvalidInput(f"{field}: unknown market {code!r}; expected one of "
                           f"{', '.join(sorted(markets))}", field=field)
    return markets[code.strip().upper()]


def market_for_msisdn(msisdn: object, *, field: str = "msisdn") -> Market:
    """The market of an international number (+213, 00213, 213...): for callers that send none."""
    import re
    from core.digits import to_ascii_digits
    digits = re.sub(r"\D", "", to_ascii_digits(msisdn)) if isinstance(msisdn, str) else ""
    digits = digits[2:] if digits.startswith("00") else digits
    for mkt in load_markets().values():
        if digits.startswith(mkt.numbering.country_code):
            return mkt
    codes = ", ".join("+" + m.numbering.country_code for m in load_markets().values())
    raise InvalidInput(f"{field}: {msisdn!r}: expected an international number of a served market "
                       f"({codes}), or give the market", field=field)
