"""Money: an integer count of minor units with its ISO 4217 currency. Never a float.

``Money.parse`` is the edge: it accepts what a person types (Latin, Arabic-Indic or Persian
digits, a decimal point or the Arabic decimal separator) and refuses anything it would have to
round, guess or clamp.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.digits import to_ascii_digits
from core.errors import InvalidInput


@dataclass(frozen=True)
class Currency:
    code: str          # ISO 4217 alpha
    numeric: str       # ISO 4217 numeric, as card gateways want it ("012" for DZD)
    exponent: int      # digits after the decimal point of the minor unit


CURRENCIES: dict[str, Currency] = {
    "DZD": Currency("DZD", "012", 2),
    "IRR": Currency("IRR", "364", 0),   # no minor unit in practice; 1 toman = 10 rial
    "EGP": Currency("EGP", "818", 2),
}

# At most 15 significant digits: far above any real top-up or bill, far below int64.
_MAX_DIGITS = 15
_AMOUNT = re.compile(r"^(?P<int>\d+)(?:\.(?P<frac>\d+))?$")


def currency(code: str, *, field: str = "currency") -> Currency:
    if not isinstance(code, str):
        raise InvalidInput(f"{field}: expected a currency code string, got {type(code).__name__}",
                           field=field)
    c = CURRENCIES.get(code.strip().upper())
    if c is None:
        raise InvalidInput(f"{field}: unknown currency {code!r}; expected one of "
                           f"{', '.join(sorted(CURRENCIES))}", field=field)
    return c


@dataclass(frozen=True, order=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        if type(self.minor) is not int:
            raise TypeError(f"Money.minor must be int, got {type(self.minor).__name__}")
        if self.currency not in CURRENCIES:      # the common case costs one dict lookup
            currency(self.currency)

    @classmethod
    def parse(cls, text: str | int, currency_code: str, *, field: str = "amount") -> "Money":
        """Parse a major-unit amount as typed ("1500", "1500.50", "١٥٠٠", "۱۵۰۰٫۵")."""
        cur = currency(currency_code)
        if isinstance(text, bool) or not isinstance(text, (str, int)):
            raise InvalidInput(f"{field}: expected the amount as a string of digits such as "
                               f"\"1500\" or \"1500.50\", got {type(text).__name__}", field=field)
        raw = str(text)
        s = to_ascii_digits(raw).strip().replace(" ", "").replace("\u00a0", "")
        if s.startswith("-"):
            raise InvalidInput(f"{field}: {raw!r} is negative; expected a positive amount",
                               field=field)
        m = _AMOUNT.match(s)
        if not m:
            raise InvalidInput(f"{field}: {raw!r} is not an amount; expected digits with an "
                               f"optional decimal point, e.g. \"1500\" or \"1500.50\"", field=field)
        frac = (m.group("frac") or "").rstrip("0")
        if len(frac) > cur.exponent:
            raise InvalidInput(
                f"{field}: {raw!r} has more decimals than {cur.code} allows "
                f"(at most {cur.exponent})", field=field)
        digits = m.group("int").lstrip("0") or "0"
        if len(digits) > _MAX_DIGITS:
            raise InvalidInput(f"{field}: {raw!r} is too large", field=field)
        minor = int(digits) * 10 ** cur.exponent + (int(frac.ljust(cur.exponent, "0")) if frac else 0)
        if minor <= 0:
            raise InvalidInput(f"{field}: {raw!r} is zero; expected a positive amount", field=field)
        return cls(minor, cur.code)

    @classmethod
    def zero(cls, currency_code: str) -> "Money":
        return cls(0, currency(currency_code).code)

    def _same(self, other: "Money") -> None:
        if not isinstance(other, Money) or other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {getattr(other, 'currency', other)!r}")

    def __add__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: "Money") -> "Money":
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> "Money":
        return Money(-self.minor, self.currency)

    def major_str(self) -> str:
        """The amount in major units with exactly the currency's decimals ("1500.00")."""
        exp = CURRENCIES[self.currency].exponent
        sign = "-" if self.minor < 0 else ""
        q, r = divmod(abs(self.minor), 10 ** exp) if exp else (abs(self.minor), 0)
        return f"{sign}{q}.{r:0{exp}d}" if exp else f"{sign}{q}"

    def display(self) -> str:
        """Grouped for people: "1,500.00 DZD"."""
        s = self.major_str()
        whole, _, frac = s.lstrip("-").partition(".")
        grouped = f"{int(whole):,}" + (f".{frac}" if frac else "")
        return f"{'-' if self.minor < 0 else ''}{grouped} {self.currency}"

    def __str__(self) -> str:
        return f"{self.major_str()} {self.currency}"
