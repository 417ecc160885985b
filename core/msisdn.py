"""MSISDN normalisation per market: ``+213``/``00213``/national ``0`` forms, operator by prefix.

The canonical form is E.164 digits without the plus ("213551234567"). Number plans are data
in the market profiles (:mod:`core.market`); this module only applies them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from core.digits import to_ascii_digits
from core.errors import InvalidInput

_SEPARATORS = re.compile(r"[\s\-().\u200e\u200f\u202a-\u202e]")


@dataclass(frozen=True)
class NumberPlan:
    country: str                 # ISO 3166 alpha-2, "DZ"
    country_code: str            # "213"
    national_length: int         # digits after the country code (national significant number)
    operators: dict[str, str]    # national-significant prefix ("55", "91") -> operator name

    def operator_of(self, nsn: str) -> str | None:
        for prefix in sorted(self.operators, key=len, reverse=True):
            if nsn.startswith(prefix):
                return self.operators[prefix]
        return None


@dataclass(frozen=True)
class Msisdn:
    e164: str        # "213551234567"
    country: str
    operator: str
    national: str    # "0551234567"

    def __str__(self) -> str:
        return self.e164


def normalise(text: object, plan: NumberPlan, *, field: str = "msisdn") -> Msisdn:
    """Parse a mobile number typed in any usual form; refuse with a precise reason."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: expected a phone number string, got {type(text).__name__}",
                           field=field)
    raw = text
    s = _SEPARATORS.sub("", to_ascii_digits(text))
    cc, n = plan.country_code, plan.national_length
    example = f"+{cc} followed by {n} digits, or 0 followed by {n} digits"
    if not s:
        raise InvalidInput(f"{field}: is empty; expected {example}", field=field)
    if s.startswith("+"):
        s = s[1:]
        if not s.startswith(cc):
            raise InvalidInput(f"{field}: {raw!r} is not a number in {plan.country}; expected {example}",
                               field=field)
        nsn = s[len(cc):]
    elif s.startswith("00"):
        if not s[2:].startswith(cc):
            raise InvalidInput(f"{field}: {raw!r} is not a number in {plan.country}; expected {example}",
                               field=field)
        nsn = s[2 + len(cc):]
    elif s.startswith("0"):
        nsn = s[1:]
    elif s.startswith(cc) and len(s) == len(cc) + n:
        nsn = s[len(cc):]
    else:
        nsn = s
    if not nsn.isdigit() or not nsn.isascii():
        raise InvalidInput(f"{field}: {raw!r} contains characters that are not digits; expected {example}",
                           field=field)
    if len(nsn) != n:
        raise InvalidInput(f"{field}: {raw!r} has {len(nsn)} digits after the prefix; expected {n} "
                           f"({example})", field=field)
    operator = plan.operator_of(nsn)
    if operator is None:
        prefixes = ", ".join("0" + p for p in sorted(plan.operators))
        raise InvalidInput(f"{field}: {raw!r} is not a mobile number of a {plan.country} operator; "
                           f"expected a prefix among {prefixes}", field=field)
    return Msisdn(e164=cc + nsn, country=plan.country, operator=operator, national="0" + nsn)
