"""Values in a scenario: ``${...}`` templates, variables and captures, seeded Faker data,
the market's own texts as patterns, and durations.

    ${order}                 a variable or a capture (``${order.id}``: a field of one)
    ${faker:name}            seeded Faker data in the market's locale; ${faker:msisdn} is a valid
                             mobile number from this pytest worker's range; ${faker:digits:12}
    ${text:sms_otp}          the market's SMS/USSD text as a regular expression whose
                             placeholders are named groups: capture the OTP with group otp
    ${text:fr:sms_topup_ok}  the same text in another of the market's languages
    ${market.currency}       facts of the market profile (see MARKET_FACTS)
    ${local:friend}          a variable with its digits in the market's script (۰۹۳۵..., ٠١٠...)
    ${wrong:otp}             a code as long as ${otp} that differs from it in every digit
    ${e164:friend}           a phone number in E.164 digits (989351234567), as the API shows it

A string that is one template keeps the value's type (a number stays a number); otherwise the
values are put into the text. Durations are seconds or text like ``90s``, ``2m + 1s``, ``24h``.
"""
from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from typing import Any

from core.digits import to_ascii_digits, to_local_digits
from core.market import TEXT_KEYS, Market
from core.msisdn import normalise
from protocols.luhn import check_digit

TEMPLATE = re.compile(r"\$\{([^{}]+)\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION_TERM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
FAKER_LOCALES = {"DZ": "fr_FR", "IR": "fa_IR", "EG": "ar_EG"}
FAKER_SIMPLE = ("name", "first_name", "last_name", "email", "company", "city")
FAKER_OURS = ("msisdn", "national", "meter_number", "card_serial", "digits")
CONVERSIONS = ("local", "wrong", "e164")
MARKET_FACTS = {
    "code": lambda m: m.code, "currency": lambda m: m.currency, "language": lambda m: m.languages[0],
    "service_code": lambda m: m.ussd.service_code, "balance_cap": lambda m: m.balance_cap.major_str(),
    "otp_validity_s": lambda m: m.otp.validity_s, "otp_attempts": lambda m: m.otp.max_attempts,
    "otp_resends": lambda m: m.otp.max_resends, "ussd_answer_timeout_s": lambda m: m.ussd.answer_timeout_s,
    "ussd_session_timeout_s": lambda m: m.ussd.session_timeout_s, "verify_window_s": lambda m: m.verify_window_s,
    "web_gateway": lambda m: m.web_gateway, "ussd_gateway": lambda m: m.ussd_gateway,
    "country_code": lambda m: m.numbering.country_code,
}
_PLACEHOLDER_PATTERNS = {"otp": r"[0-9]+", "order": r"\S+", "msisdn": r"\S+", "payer": r"\S+", "minutes": r"\S+"}


class TemplateError(ValueError):
    """A template or duration that cannot be used; the message says what was expected."""


def parse_duration(value: Any) -> float:
    """Seconds from a number or text like ``90s``, ``2m + 1s``, ``24h``, ``1.5d``, ``250ms``."""
    if isinstance(value, bool):
        raise TemplateError(f"{value!r} is not a duration; expected seconds or text like 90s, 2m, 24h")
    if isinstance(value, (int, float)):
        if value < 0:
            raise TemplateError(f"{value!r} is negative; expected a duration >= 0")
        return float(value)
    if isinstance(value, str):
        total = 0.0
        for term in value.split("+"):
            m = _DURATION_TERM.match(term)
            if m is None:
                raise TemplateError(f"{value!r} is not a duration; expected seconds or text like 90s, 2m + 1s, 24h, 1d")
            total += float(m.group(1)) * _UNITS[m.group(2)]
        return total
    raise TemplateError(f"{value!r} is not a duration; expected seconds or text like 90s, 2m, 24h")


def text_pattern(market: Market, key: str, lang: str | None = None) -> str:
    """The market's text ``key`` as a regular expression; placeholders become named groups."""
    if key not in TEXT_KEYS:
        raise TemplateError(f"text:{key}: not a text of the market profiles; expected one of "
                            f"{', '.join(sorted(TEXT_KEYS))}")
    lang = lang or market.languages[0]
    if lang not in market.texts:
        raise TemplateError(f"text:{lang}:{key}: {market.code} has no language {lang!r}; expected one of "
                          f"{', '.join(market.languages)}")
    template, out, seen = market.texts[lang][key], [], set()
    for literal, field, _spec, _conv in string.Formatter().parse(template):
        out.append(re.escape(literal))
        if field:
            pattern = _PLACEHOLDER_PATTERNS.get(field, r".+?")
            out.append(f"(?P<{field}>{pattern})" if field not in seen else pattern)
            seen.add(field)
    return "".join(out)


class NumberSource:
    """Valid mobile numbers from this worker's block, never the same one twice in a story.

    National form: 0, an operator prefix of the market, two digits of the pytest-xdist worker,
    then random digits: two workers never draw the same number, even against a shared core.
    """

    def __init__(self, rng: random.Random, worker: int) -> None:
        self.rng, self.worker = rng, worker % 100
        self.used: set[str] = set()

    def national(self, market: Market) -> str:
        plan = market.numbering
        prefix = min(plan.operators)
        rest = plan.national_length - len(prefix) - 2
        while True:
            number = f"0{prefix}{self.worker:02d}{self.rng.randrange(10 ** rest):0{rest}d}"
            if number not in self.used:
                self.used.add(number)
                return number


luhn_digit = check_digit


class Context:
    """Variables and captures of one story run, and the functions templates may call."""

    def __init__(self, market: Market, rng: random.Random, *, worker: int = 0, seed: int = 0,
                 faker: Any = None) -> None:
        self.market, self.rng, self.seed = market, rng, seed
        self.values: dict[str, Any] = {"seed": seed, "worker": worker}
        self.numbers = NumberSource(rng, worker)
        self._faker = faker
        self._faker_seed = rng.randrange(2 ** 32)

    @property
    def faker(self) -> Any:
        if self._faker is None:
            from faker import Faker
            self._faker = Faker(FAKER_LOCALES.get(self.market.code, "en_US"))
            self._faker.seed_instance(self._faker_seed)
        return self._faker

    def set(self, name: str, value: Any) -> None:
        self.values[name] = value

    def resolve(self, expr: str) -> Any:
        expr = expr.strip()
        if expr.startswith("faker:"):
            return self._fake(expr[6:])
        if expr.startswith("text:"):
            parts = expr[5:].split(":")
            return text_pattern(self.market, parts[-1], parts[0] if len(parts) == 2 else None)
        fn, colon, name = expr.partition(":")
        if colon and fn in CONVERSIONS:
            value = str(self.resolve(name))
            if fn == "local":
                return to_local_digits(value, self.market.display_digits)
            if fn == "e164":
                return normalise(value, self.market.numbering).e164
            return "".join(str((int(ch) + 1) % 10) if ch.isdigit() else ch for ch in to_ascii_digits(value))
        if expr.startswith("market."):
            fact = MARKET_FACTS.get(expr[7:])
            if fact is None:
                raise TemplateError(f"${{{expr}}}: unknown market fact; expected one of "
                                  f"{', '.join('market.' + k for k in MARKET_FACTS)}")
            return fact(self.market)
        head, *path = expr.split(".")
        if head not in self.values:
            raise TemplateError(f"${{{expr}}}: {head!r} is not set; expected a variable, a capture or a "
                              f"given name ({', '.join(sorted(self.values)) or 'none yet'})")
        value = self.values[head]
        for part in path:
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and re.fullmatch(r"-?\d+", part) and -len(value) <= int(part) < len(value):
                value = value[int(part)]
            else:
                raise TemplateError(f"${{{expr}}}: no field {part!r} in {head}")
        return value

    def _fake(self, what: str) -> Any:
        name, _, arg = what.partition(":")
        if name == "msisdn":
            return self.numbers.national(self.market)
        if name == "digits":
            n = int(arg or 10)
            return "".join(str(self.rng.randrange(10)) for _ in range(n))
        if name == "meter_number":
            body = f"{self.rng.randrange(1, 10)}" + "".join(str(self.rng.randrange(10)) for _ in range(9))
            return body + luhn_digit(body)
        if name == "card_serial":
            return "04" + "".join(self.rng.choice("0123456789ABCDEF") for _ in range(14))
        if name in FAKER_SIMPLE:
            return str(getattr(self.faker, name)())
        known = ", ".join("faker:" + n for n in FAKER_SIMPLE + FAKER_OURS)
        raise TemplateError(f"${{faker:{what}}}: expected one of {known}")

    def render(self, value: Any) -> Any:
        """``value`` with every ``${...}`` replaced (recursively through lists and mappings)."""
        if isinstance(value, str):
            whole = TEMPLATE.fullmatch(value)
            if whole:
                return self.resolve(whole.group(1))
            return TEMPLATE.sub(lambda m: _text(self.resolve(m.group(1))), value)
        if isinstance(value, list):
            return [self.render(v) for v in value]
        if isinstance(value, dict):
            return {k: self.render(v) for k, v in value.items()}
        return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def references(value: Any) -> list[str]:
    """The variable names a value's templates use (not faker:, text: or market.; the name
    under local: and wrong:)."""
    out: list[str] = []
    if isinstance(value, str):
        for m in TEMPLATE.finditer(value):
            expr = m.group(1).strip()
            fn, colon, name = expr.partition(":")
            if colon and fn in CONVERSIONS:
                expr = name
            if not expr.startswith(("faker:", "text:", "market.")):
                out.append(expr.split(".")[0])
    elif isinstance(value, list):
        for v in value:
            out += references(v)
    elif isinstance(value, dict):
        for v in value.values():
            out += references(v)
    return out


def check_static(value: Any, check: Callable[[str], None]) -> None:
    """Call ``check`` on every template expression of ``value`` that can be checked before a run."""
    if isinstance(value, str):
        for m in TEMPLATE.finditer(value):
            check(m.group(1).strip())
    elif isinstance(value, list):
        for v in value:
            check_static(v, check)
    elif isinstance(value, dict):
        for v in value.values():
            check_static(v, check)
