"""Digits as people type them: Latin, Arabic-Indic (٠-٩) and Persian (۰-۹).

Input arrives from Arabic and Persian keyboards and handsets; everything is folded to ASCII
at the edge so the rest of the core only sees ``0-9``.
"""
from __future__ import annotations

_ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"
_PERSIAN = "۰۱۲۳۴۵۶۷۸۹"
_TABLE = {ord(c): str(i) for i, c in enumerate(_ARABIC_INDIC)}
_TABLE.update({ord(c): str(i) for i, c in enumerate(_PERSIAN)})
# Arabic decimal and thousands separators, and the Persian momayyez used as a decimal point.
_TABLE.update({0x066B: ".", 0x066C: ",", 0x060C: ","})


def to_ascii_digits(text: str) -> str:
    """Fold Arabic-Indic and Persian digits (and Arabic separators) to ASCII."""
    if text.isascii():          # nothing to fold; a flag of the string, where translate looks up each character
        return text
    return text.translate(_TABLE)


def to_local_digits(text: str, script: str) -> str:
    """Render ASCII digits in ``script`` ("latn", "arab" or "pers") for display."""
    if script == "latn":
        return text
    digits = {"arab": _ARABIC_INDIC, "pers": _PERSIAN}[script]
    return "".join(digits[ord(c) - 48] if "0" <= c <= "9" else c for c in text)
