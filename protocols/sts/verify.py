"""Check the codec against a vector file in the schema of sts.md (``sts-vectors.json``).

Each vector is one assertion of the reference's tests: a decoder key derived, a token encoded,
a token decoded, or an encoding refused. Encode vectors are also decoded back, so every
expected token is read by the decoder too. ``verify_file`` returns one ``Outcome`` per vector.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .codec import decode, encode
from .dkga import dkga02, dkga04
from .errors import KeyExpiredError, StsError
from .fields import amount_field, amount_value, credit_tenths, issued_at, tid_of
from .keychange import key_change_tokens
from .keys import Algorithm, DecoderKey
from .results import TokenResult
from .tokens import TOKEN_TYPES, Token

Vector = dict[str, Any]
_TYPES_BY_NAME = {cls.__name__: cls for cls in TOKEN_TYPES.values()}
_EXPECTED_ERRORS = {"InvalidVendingOrDecoderKeyException": KeyExpiredError}


class VectorFileError(Exception):
    """The vector file cannot be read or is not a list of vectors."""


@dataclass(frozen=True)
class Outcome:
    id: object
    passed: bool
    reason: str = ""


def load_vectors(path: str | Path) -> list[Vector]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise VectorFileError(f"cannot read vector file {str(path)!r}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise VectorFileError(f"vector file {str(path)!r} is not JSON: {exc}") from exc
    if not isinstance(data, list) or not all(isinstance(v, dict) and "id" in v and "direction" in v for v in data):
        raise VectorFileError(f"vector file {str(path)!r}: expected a JSON list of objects with 'id' and 'direction'")
    return data


def key_of(spec: Vector) -> DecoderKey | None:
    """The decoder key a vector (or its ``new_decoder_key``) describes, None for class 1 tokens."""
    dkga = str(spec.get("dkga", ""))
    common = {"pan": spec.get("meter_pan"), "key_type": spec.get("key_type"),
                  "supply_group_code": spec.get("supply_group_code"), "tariff_index": spec.get("tariff_index"),
                  "key_revision": spec.get("key_revision_number")}
    if dkga == "02":
        return dkga02(spec["vending_key_hex"], **common)
    if dkga == "04":
        return dkga04(spec["vending_key_hex"], **common, base_date=spec["dkga04_base_date"],
                      algorithm=Algorithm.parse(spec["dkga04_encryption_algorithm_code"]))
    if "decoder_key_hex" in spec:
        algorithm = Algorithm.MISTY1 if spec.get("algorithm") == "MISTY1" else Algorithm.STA
        return DecoderKey.from_hex(spec["decoder_key_hex"], algorithm)
    return None


def token_of(v: Vector) -> Token:
    """The token an encode vector asks for."""
    kind = _TYPES_BY_NAME[v["token_type"]]
    identified: dict[str, int] = {}
    if "issue_datetime" in v:
        identified = {"tid": tid_of(datetime.fromisoformat(v["issue_datetime"]), v["base_date"]),
                          "rnd": v["random_no"]}
    if "amount" in v:
        return kind.of(v["amount"], **identified)
    if "maximum_power_limit" in v:
        return kind.of(v["maximum_power_limit"], **identified)
    if "maximum_phase_power_unbalance_limit" in v:
        return kind.of(v["maximum_phase_power_unbalance_limit"], **identified)
    for name, field in (("register", "register"), ("tariff_rate", "rate"), ("pad", "pad"),
                        ("water_meter_factor", "factor")):
        if name in v:
            return kind(**{field: v[name]}, **identified)
    if "control" in v:
        return kind(manufacturer_code=v["manufacturer_code"]["value"], control=v["control"]["value"])
    kct, new_key = v["kct_fields"], key_of(v["new_decoder_key"])
    if kct.get("res_3kct", 0):
        raise ValueError("the vector sets res_3kct, which key_change_tokens always leaves 0")
    ken = kct.get("kenho", 0) << 4 | kct.get("kenlo", 0)
    sections = key_change_tokens(new_key, key_type=kct.get("key_type", 0),
                                 key_revision=kct.get("key_revision_number", 1),
                                 tariff_index=int(kct.get("tariff_index", "0")), key_expiry_number=ken,
                                 rollover=bool(kct.get("rollover", 0)),
                                 supply_group_code=int(kct.get("supply_group_code", "0")))
    return next(s for s in sections if isinstance(s, kind))


def _check_decoder_key(v: Vector) -> str | None:
    key = key_of(v)
    if key.hex() != v["expected_decoder_key_standard_order_hex_derived"]:
        return f"decoder key {key.hex()}, expected {v['expected_decoder_key_standard_order_hex_derived']}"
    if key.reference_hex() != v["expected_decoder_key_hex"]:
        return f"reference-order key {key.reference_hex()}, expected {v['expected_decoder_key_hex']}"
    return None


def _check_encode(v: Vector) -> str | None:
    token, key = token_of(v), key_of(v)
    got = encode(token, key, key_expiry_number=v.get("key_expiry_number"))
    if got != v["expected_token"]:
        return f"encoded {got}, expected {v['expected_token']}"
    back = decode(got, key)
    if back.result is not TokenResult.ACCEPTED or back.token != token:
        return f"decoding {got} gave {back.result} {back.token}, expected {token}"
    return None


def _expectations(token: Token, decoded_class: int, crc: int) -> dict[str, Callable[[Any], bool]]:
    sub = token.subclass
    get = token.__dict__.get
    issued = issued_at(get("tid", 0)).isoformat()
    quantised = (lambda a: amount_value(amount_field(credit_tenths(a))) / 10 == getattr(token, "units", None))
    return {
        "type": lambda e: e.endswith(f"_{decoded_class}{sub}"),
        "token_class": lambda e: e == decoded_class,
        "token_subclass": lambda e: e == sub,
        "token_class_bits": lambda e: e == f"{decoded_class:02b}",
        "token_subclass_bits": lambda e: e == f"{sub:04b}",
        "random_no_bits": lambda e: e == f"{get('rnd', -1):04b}",
        "crc_bits": lambda e: e == f"{crc:016b}",
        "issue_datetime_prefix": lambda e: "tid" in token.__dict__ and issued.startswith(e),
        "issue_datetime_tostring": lambda e: "tid" in token.__dict__ and e[:19] == issued[:19],
        "amount": quantised,
        "amount_tolerance": lambda e: True,          # the exact quantised amount is checked instead
        "amount_tolerance_expr": lambda e: True,
        "manufacturer_code_string": lambda e: e == f"{get('manufacturer_code', -1):0{8 + 8 * sub}b}",
        "control_value": lambda e: e == get("control"),
        "maximum_power_limit_field": lambda e: e == get("limit_field"),
        "mppul_field": lambda e: e == get("limit_field"),
        "rate_bits": lambda e: e == f"{get('rate', -1):016b}",
        "pad_bits_no_leading_zeros": lambda e: e == f"{get('pad', -1):b}",
        "res_3kct_bits": lambda e: e == f"{get('res', -1):b}",
        "kenho_bits": lambda e: e == f"{get('kenho', -1):04b}",
        "key_revision_number": lambda e: e == get("key_revision"),
        "key_type": lambda e: e == get("key_type"),
        "rollover": lambda e: e == get("rollover"),
        "nkho_bits_no_leading_zeros": lambda e: e == f"{get('nkho', -1):b}",
    }


def _check_decode(v: Vector) -> str | None:
    decoded = decode(v["input_token"], key_of(v))
    if decoded.result is not TokenResult.ACCEPTED:
        return f"decoded as {decoded.result}: {decoded.reason}"
    checks = _expectations(decoded.token, decoded.token_class, decoded.crc)
    for name, expected in v["expected_decoded"].items():
        if name not in checks:
            return f"unknown expectation {name!r}"
        if not checks[name](expected):
            return f"{name}: expected {expected!r}, decoded {decoded.token} crc {decoded.crc:016b}"
    return None


def _check_error(v: Vector) -> str | None:
    name = next((n for n in _EXPECTED_ERRORS if n in v["expected_error"]), None)
    if name is None:
        return f"unknown expected error {v['expected_error']!r}"
    try:
        got = encode(token_of(v), key_of(v), key_expiry_number=v.get("key_expiry_number"))
    except _EXPECTED_ERRORS[name]:
        return None
    return f"encoded {got}, expected {_EXPECTED_ERRORS[name].__name__}"


_CHECKS = {"decoder_key": _check_decoder_key, "encode": _check_encode, "decode": _check_decode,
           "expected_error": _check_error}


def check(v: Vector) -> Outcome:
    """Run one vector; any exception is a failure with its message as the reason."""
    run = _CHECKS.get(v["direction"])
    if run is None:
        return Outcome(v["id"], False, f"unknown direction {v['direction']!r}")
    try:
        reason = run(v)
    except (StsError, KeyError, TypeError, ValueError) as exc:
        what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        return Outcome(v["id"], False, f"{type(exc).__name__}: {what}")
    return Outcome(v["id"], reason is None, reason or "")


def verify_file(path: str | Path) -> list[Outcome]:
    return [check(v) for v in load_vectors(path)]
