"""Billers as data: who can be paid, on what cycle, by which rules (``core/profiles/billers/``).

    from core.billers import biller
    at = biller("dz-at-fixe")                   # Algérie Télécom fixed line
    at.parse_account("034 12 34 56")            # "034123456", or an error naming the field
    at.period("2026-03")                        # a bimonthly cycle starts in Jan, Mar, May...
    at.instalments.max_months                   # 6

Every rule (part payments, minimum payment, instalment months, mandate retries, ADSL recharge
products and prices) and every notice text lives in ``billers.toml``, validated on load: a bad
edit fails with a ``ProfileError`` naming the file and the key. The biller's market gives the
currency of its bills and the languages of its names and notices.
"""
from __future__ import annotations

import calendar
import logging
import re
import string
import tomllib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path

from core.digits import to_ascii_digits, to_local_digits
from core.errors import InvalidInput
from core.market import Market, ProfileError, load_markets, market as market_of
from core.money import Money
from core.ports import SmsSender

log = logging.getLogger("rbench.billers")
BILLERS_FILE = Path(__file__).parent / "profiles" / "billers" / "billers.toml"
KINDS = ("fixed_line", "adsl", "electricity", "gas")
CYCLES = {"monthly": 1, "bimonthly": 2, "quarterly": 3}
DAY_MS = 86_400_000
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")

# Every text key each language must define, with the placeholders it may use.
TEXT_KEYS: dict[str, set[str]] = {
    "sms_bill_paid": {"amount", "biller", "account", "outstanding", "order"},
    "sms_bill_failed": {"amount", "biller", "account", "reason", "order"},
    "sms_bill_refunded": {"amount", "biller", "account", "reason", "order"},
    "sms_adsl_recharged": {"product", "account", "until", "order"},
    "sms_adsl_failed": {"product", "account", "reason", "order"},
    "sms_plan_late": {"amount", "biller", "account", "due"},
    "sms_plan_defaulted": {"biller", "account", "outstanding"},
    "sms_mandate_active": {"biller", "account", "ccp"},
    "sms_mandate_insufficient": {"amount", "biller", "account", "ccp", "attempt", "attempts"},
    "sms_mandate_gave_up": {"amount", "biller", "account", "ccp", "attempts"},
}


@dataclass(frozen=True)
class Product:
    """An ADSL recharge: a speed for a number of months at a price."""

    id: str
    names: dict[str, str]
    speed_mbps: int
    months: int
    price: Money


@dataclass(frozen=True)
class InstalmentRules:
    min_months: int
    max_months: int
    grace_days: int
    default_after_missed: int
    min_debt: Money


@dataclass(frozen=True)
class MandateRules:
    max_attempts: int       # debits refused for insufficient funds before giving up on an item
    code_attempts: int      # wrong access codes before the mandate is blocked


@dataclass(frozen=True)
class Biller:
    id: str
    market: str
    currency: str
    names: dict[str, str]
    kind: str
    cycle: str
    part_payments: bool
    min_payment: Money
    account_pattern: re.Pattern
    account_hint: str
    instalments: InstalmentRules | None
    mandates: MandateRules | None
    products: dict[str, Product]

    @property
    def cycle_months(self) -> int:
        return CYCLES[self.cycle]

    def name(self, lang: str | None = None) -> str:
        return self.names.get(lang or "", next(iter(self.names.values())))

    def parse_account(self, text: object, *, field: str = "account") -> str:
        """An account number as typed (spaces, dashes, Arabic-Indic or Persian digits)."""
        if not isinstance(text, str):
            raise InvalidInput(f"{field}: expected the account number as a string; {self.account_hint}",
                               field=field)
        s = re.sub(r"[\s\-.]", "", to_ascii_digits(text))
        if not self.account_pattern.match(s):
            raise InvalidInput(f"{field}: {text!r} is not a {self.name('fr' if 'fr' in self.names else None)} "
                               f"account; expected {self.account_hint}", field=field)
        return s

    def period(self, text: object, *, field: str = "period") -> str:
        """A billing period "YYYY-MM": the first month of one of this biller's cycles."""
        m = _PERIOD.match(to_ascii_digits(text).strip()) if isinstance(text, str) else None
        if m is None or not 1 <= int(m.group(2)) <= 12:
            raise InvalidInput(f"{field}: {text!r} is not a period; expected YYYY-MM, e.g. 2026-01",
                               field=field)
        if (int(m.group(2)) - 1) % self.cycle_months:
            starts = ", ".join(f"{mo:02d}" for mo in range(1, 13, self.cycle_months))
            raise InvalidInput(f"{field}: {text!r} does not start a {self.cycle} cycle of {self.id}; "
                               f"expected a month among {starts}", field=field)
        return m.group(0)

    def product(self, product_id: object, *, field: str = "product") -> Product:
        if not isinstance(product_id, str) or product_id not in self.products:
            offered = ", ".join(self.products) or "none"
            raise InvalidInput(f"{field}: {product_id!r} is not a recharge product of {self.id}; "
                               f"expected one of: {offered}", field=field)
        return self.products[product_id]

    def money(self, text: object, *, field: str = "amount", currency: object = None) -> Money:
        """An amount in this biller's currency; a currency given must be that one."""
        if currency is not None and (not isinstance(currency, str) or currency.strip().upper() != self.currency):
            raise InvalidInput(f"currency: {currency!r} is not the currency of {self.id}'s bills; "
                               f"expected {self.currency}", field="currency")
        if isinstance(text, Money):
            if text.currency != self.currency:
                raise InvalidInput(f"{field}: {text} is not in {self.currency}, the currency of {self.id}'s "
                                   "bills", field="currency")
            return text
        return Money.parse(text, self.currency, field=field)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Catalogue:
    billers: dict[str, Biller]
    texts: dict[str, dict[str, str]]

    def text(self, key: str, lang: str | None, **values: object) -> str:
        block = self.texts.get(lang or "") or next(iter(self.texts.values()))
        return block[key].format(**values)


# -- loading ------------------------------------------------------------------------------
def _need(data: dict, key: str, kind: type, where: str):
    if key not in data:
        raise ProfileError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProfileError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def _only(data: dict, allowed: set[str], where: str) -> None:
    unknown = set(data) - allowed
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}; expected some of {sorted(allowed)}")


def _money(value: object, cur: str, where: str) -> Money:
    if not isinstance(value, str):
        raise ProfileError(f"{where}: expected an amount as a string such as \"1500\", got {value!r}")
    try:
        return Money.parse(value, cur)
    except InvalidInput as e:
        raise ProfileError(f"{where}: {e.message}") from None


def _names(data: dict, key: str, mkt: Market, where: str) -> dict[str, str]:
    names = _need(data, key, dict, where)
    for lang in mkt.languages:
        if not isinstance(names.get(lang), str) or not names[lang].strip():
            raise ProfileError(f"{where}.{key}: missing the {lang!r} name ({mkt.code} speaks "
                               f"{', '.join(mkt.languages)})")
    return {lang: names[lang] for lang in mkt.languages}


def _positive(data: dict, key: str, where: str, lo: int = 1) -> int:
    v = _need(data, key, int, where)
    if v < lo:
        raise ProfileError(f"{where}.{key}: expected an integer >= {lo}, got {v}")
    return v


def parse_biller(bid: str, b: object, source: str, markets: dict[str, Market]) -> Biller:
    where = f"{source}:billers.{bid}"
    if not _ID.match(bid):
        raise ProfileError(f"{where}: biller id {bid!r}; expected lower-case letters, digits and dashes")
    if not isinstance(b, dict):
        raise ProfileError(f"{where}: expected a table")
    _only(b, {"market", "name", "kind", "cycle", "part_payments", "min_payment", "account_pattern",
              "account_hint", "instalments", "mandates", "products"}, where)
    code = _need(b, "market", str, where)
    if code not in markets:
        raise ProfileError(f"{where}.market: {code!r}; expected one of {', '.join(sorted(markets))}")
    mkt = markets[code]
    kind = _need(b, "kind", str, where)
    if kind not in KINDS:
        raise ProfileError(f"{where}.kind: {kind!r}; expected one of {', '.join(KINDS)}")
    cycle = _need(b, "cycle", str, where)
    if cycle not in CYCLES:
        raise ProfileError(f"{where}.cycle: {cycle!r}; expected one of {', '.join(CYCLES)}")
    try:
        pattern = re.compile(_need(b, "account_pattern", str, where))
    except re.error as e:
        raise ProfileError(f"{where}.account_pattern: not a regular expression ({e})") from None
    instalments = None
    if "instalments" in b:
        i, iw = _need(b, "instalments", dict, where), f"{where}.instalments"
        _only(i, {"min_months", "max_months", "grace_days", "default_after_missed", "min_debt"}, iw)
        instalments = InstalmentRules(_positive(i, "min_months", iw), _positive(i, "max_months", iw),
                                      _positive(i, "grace_days", iw, 0), _positive(i, "default_after_missed", iw),
                                      _money(_need(i, "min_debt", str, iw), mkt.currency, f"{iw}.min_debt"))
        if not instalments.min_months <= instalments.max_months <= 60:
            raise ProfileError(f"{iw}: expected min_months <= max_months <= 60")
    mandates = None
    if "mandates" in b:
        m, mw = _need(b, "mandates", dict, where), f"{where}.mandates"
        _only(m, {"max_attempts", "code_attempts"}, mw)
        mandates = MandateRules(_positive(m, "max_attempts", mw), _positive(m, "code_attempts", mw))
    products: dict[str, Product] = {}
    for n, p in enumerate(b.get("products", [])):
        pw = f"{where}.products[{n}]"
        if kind != "adsl":
            raise ProfileError(f"{where}.products: recharge products are for kind 'adsl', not {kind!r}")
        if not isinstance(p, dict):
            raise ProfileError(f"{pw}: expected a table")
        _only(p, {"id", "name", "speed_mbps", "months", "price"}, pw)
        pid = _need(p, "id", str, pw)
        if not _ID.match(pid) or pid in products:
            raise ProfileError(f"{pw}.id: {pid!r}; expected a new id of lower-case letters, digits and dashes")
        products[pid] = Product(pid, _names(p, "name", mkt, pw), _positive(p, "speed_mbps", pw),
                                _positive(p, "months", pw), _money(p.get("price"), mkt.currency, f"{pw}.price"))
    return Biller(
        id=bid, market=code, currency=mkt.currency, names=_names(b, "name", mkt, where), kind=kind, cycle=cycle,
        part_payments=_need(b, "part_payments", bool, where),
        min_payment=_money(_need(b, "min_payment", str, where), mkt.currency, f"{where}.min_payment"),
        account_pattern=pattern, account_hint=_need(b, "account_hint", str, where),
        instalments=instalments, mandates=mandates, products=products)


def parse_billers(data: dict, source: str, markets: dict[str, Market] | None = None) -> Catalogue:
    markets = markets if markets is not None else load_markets()
    _only(data, {"billers", "texts"}, source)
    table = _need(data, "billers", dict, source)
    billers = {bid: parse_biller(bid, b, source, markets) for bid, b in table.items()}
    texts = _need(data, "texts", dict, source)
    needed = sorted({lang for b in billers.values() for lang in markets[b.market].languages})
    for lang in needed:
        block = texts.get(lang)
        if not isinstance(block, dict):
            raise ProfileError(f"{source}:texts: missing language {lang!r}")
        _only(block, set(TEXT_KEYS), f"{source}:texts.{lang}")
        for key, allowed in TEXT_KEYS.items():
            text = _need(block, key, str, f"{source}:texts.{lang}")
            try:
                used = {f for _, f, _, _ in string.Formatter().parse(text) if f}
            except ValueError as e:
                raise ProfileError(f"{source}:texts.{lang}.{key}: {e}") from None
            if used - allowed:
                raise ProfileError(f"{source}:texts.{lang}.{key}: unknown placeholders "
                                   f"{sorted(used - allowed)}; expected some of {sorted(allowed)}")
    return Catalogue(billers, {lang: dict(texts[lang]) for lang in needed})


@lru_cache(maxsize=None)
def load_billers(path: str | None = None) -> Catalogue:
    p = Path(path) if path else BILLERS_FILE
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ProfileError(f"{p.name}: {e}") from None
    return parse_billers(data, p.name)


def biller(biller_id: object, *, market: str | None = None, field: str = "biller") -> Biller:
    """The biller named ``biller_id`` (in ``market`` if given), or an error naming the field."""
    billers = load_billers().billers
    b = billers.get(biller_id.strip().lower()) if isinstance(biller_id, str) else None
    if b is None or (market is not None and b.market != market_of(market).code):
        ours = sorted(k for k, v in billers.items() if market is None or v.market == market_of(market).code)
        where = f" in {market_of(market).code}" if market is not None else ""
        raise InvalidInput(f"{field}: unknown biller {biller_id!r}{where}; expected one of {', '.join(ours)}",
                           field=field)
    return b


def account_key(biller_id: str, account: str) -> str:
    """How an order names the account it pays (``orders.target``)."""
    return f"{biller_id}:{account}"


# -- showing and telling ------------------------------------------------------------------
def show(money: Money, market: str) -> str:
    """An amount as a person of the market reads it ("1,500.00 DZD", Persian digits in IR)."""
    return to_local_digits(money.display(), market_of(market).display_digits)


def show_day(ms: int, market: str) -> str:
    return to_local_digits(datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%d"),
                           market_of(market).display_digits)


def send_text(sms: SmsSender, sender: str, to: str | None, key: str, lang: str | None, **values: object) -> None:
    """Render a biller notice and submit it; a notice never undoes what caused it."""
    if not to:
        return
    try:
        sms.send(to, load_billers().text(key, lang, **values), sender=sender)
    except Exception:
        log.exception("SMS %s to %s not sent", key, to)


# -- calendar ---------------------------------------------------------------------------------
def day_ms(value: object, *, field: str = "due") -> int:
    """Midnight UTC of a date given as ``date`` or "YYYY-MM-DD", in ms."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(to_ascii_digits(value).strip())
        except ValueError:
            value = None
    if not isinstance(value, date):
        raise InvalidInput(f"{field}: expected a date YYYY-MM-DD, e.g. 2026-02-15", field=field)
    return calendar.timegm(value.timetuple()) * 1000


def month_start_ms(at_ms: int, add: int = 0) -> int:
    """Midnight UTC of the first day of the month ``add`` months after the one holding ``at_ms``."""
    d = datetime.fromtimestamp(at_ms / 1000, timezone.utc)
    y, m = divmod(d.year * 12 + d.month - 1 + add, 12)
    return calendar.timegm((y, m + 1, 1, 0, 0, 0)) * 1000


def month_label(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, timezone.utc).strftime("%Y-%m")
