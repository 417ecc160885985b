"""Bench commands for STS tokens: verify a vector file, derive a key, encode and decode tokens.

    python -m protocols.sts verify shared/specs/sts-vectors.json
    python -m protocols.sts key dkga02 --vending-key abababababababab --pan 600727000000000009 \\
        --key-type 2 --sgc 123456 --ti 01 --krn 1
    python -m protocols.sts encode electricity --units 25.6 --key e653341f9d5bf36f --issued 2026-11-21T08:30
        (TIDs count from --base-date, 2014 unless given: those from 1993 rolled over in 2024)
    python -m protocols.sts decode "2905 4347 1393 0985 1356" --key 0abc12def3456789 --base-date 1993

Exit status: 0 on success (for decode: the token was accepted), 1 when a vector failed or a
token was refused, 2 on bad input.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime

from . import tokens as t
from .codec import decode, digits_of, encode
from .dkga import dkga02, dkga04
from .errors import DecoderKeyError, StsError
from .fields import tid_of
from .keychange import key_change_tokens
from .keys import Algorithm, DecoderKey
from .verify import VectorFileError, verify_file

# encode TYPE -> (token type, the option that carries its value)
_ENCODE_TYPES = {
    "electricity": (t.TransferElectricityCredit, "units"), "water": (t.TransferWaterCredit, "units"),
    "gas": (t.TransferGasCredit, "units"), "max-power": (t.SetMaximumPowerLimit, "watts"),
    "phase-unbalance": (t.SetMaximumPhasePowerUnbalanceLimit, "watts"),
    "clear-credit": (t.ClearCredit, "register"), "tariff-rate": (t.SetTariffRate, "rate"),
    "clear-tamper": (t.ClearTamperCondition, "pad"), "water-factor": (t.SetWaterMeterFactor, "factor"),
    "test1": (t.InitiateMeterTestOrDisplay1, "control"), "test2": (t.InitiateMeterTestOrDisplay2, "control"),
    "key-change": (None, "new_key"),
}


class UsageError(StsError):
    """A command line that names no usable value."""


def _issued(text: str | None) -> datetime:
    if text is None:
        return datetime.now().replace(second=0, microsecond=0)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"invalid --issued {text!r}: expected an ISO date-time such as 2026-11-21T08:30") from None


def _key(args: argparse.Namespace, required: bool) -> DecoderKey | None:
    if args.key is None:
        if required:
            raise UsageError("this token is encrypted: give the meter's decoder key with --key HEX")
        return None
    return DecoderKey.from_hex(args.key, Algorithm.parse(args.algorithm))


def _need(args: argparse.Namespace, name: str, kind: str) -> object:
    value = getattr(args, name)
    if value is None:
        raise UsageError(f"encode {kind} needs --{name.replace('_', '-')}")
    return value


def _token(args: argparse.Namespace, key: DecoderKey | None) -> t.Token | tuple[t.Token, ...]:
    kind, option = _ENCODE_TYPES[args.type]
    if kind is None:
        new_key = DecoderKey.from_hex(_need(args, "new_key", args.type), key.algorithm)
        return key_change_tokens(new_key, key_type=_need(args, "key_type", args.type),
                                 key_revision=_need(args, "krn", args.type),
                                 tariff_index=_need(args, "ti", args.type),
                                 key_expiry_number=_need(args, "ken", args.type), rollover=args.rollover,
                                 supply_group_code=args.sgc)
    if kind.token_class == t.TokenClass.NON_METER_SPECIFIC:
        return kind(manufacturer_code=args.manufacturer_code, control=_need(args, option, args.type))
    value = getattr(args, option)
    if value is None and option in ("register", "pad"):
        value = 0
    value = _need(args, option, args.type) if value is None else value
    identified = {"tid": tid_of(_issued(args.issued), args.base_date), "rnd": args.rnd}
    if option in ("units", "watts"):
        return kind.of(value, **identified)
    return kind(**{option: value}, **identified)


def _encode(args: argparse.Namespace) -> int:
    kind = _ENCODE_TYPES[args.type][0]
    key = _key(args, required=kind is None or kind.token_class != t.TokenClass.NON_METER_SPECIFIC)
    made = _token(args, key)
    for token in made if isinstance(made, tuple) else (made,):
        digits = encode(token, key, key_expiry_number=args.ken if kind is not None else None)
        print(" ".join(digits[i:i + 4] for i in range(0, 20, 4)) if args.grouped else digits)
    return 0


def _decode(args: argparse.Namespace) -> int:
    digits = digits_of(args.token)
    try:
        decoded = decode(digits, _key(args, required=False), key_expiry_number=args.ken, key_type=args.key_type)
    except DecoderKeyError as exc:
        if args.key is None:
            raise UsageError(f"{exc}: give the meter's decoder key with --key HEX") from None
        raise
    print(f"result: {decoded.result}" + (f" ({decoded.reason})" if decoded.reason else ""))
    token = decoded.token
    if token is not None:
        print(f"type: {type(token).__name__} (class {decoded.token_class}, subclass {token.subclass})")
        for f in fields(token):
            print(f"{f.name}: {getattr(token, f.name)}")
        for derived in ("units", "watts"):
            if hasattr(token, derived):
                print(f"{derived}: {getattr(token, derived)}")
        if decoded.tid is not None:
            print(f"issued: {token.issued(args.base_date).isoformat(timespec='minutes')} "
                  f"(base date {args.base_date})")
    if decoded.crc is not None:
        print(f"crc: 0x{decoded.crc:04x}")
    return 0 if decoded.accepted else 1


def _derive(args: argparse.Namespace) -> int:
    common = {"pan": args.pan, "key_type": args.key_type, "supply_group_code": args.sgc, "tariff_index": args.ti,
                  "key_revision": args.krn}
    if args.recipe == "dkga02":
        key = dkga02(args.vending_key, **common)
    else:
        key = dkga04(args.vending_key, **common, base_date=args.key_base_date,
                     algorithm=Algorithm.parse(args.algorithm))
    print(f"{key.hex()}  ({key.algorithm.label}; the reference prints it as {key.reference_hex()})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    outcomes = verify_file(args.file)
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        print(f"FAIL {outcome.id}: {outcome.reason}")
    print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m protocols.sts", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    verify = commands.add_parser("verify", help="check the codec against a vector file (sts.md schema)")
    verify.add_argument("file")
    verify.set_defaults(run=_verify)

    key = commands.add_parser("key", help="derive a decoder key (DKGA02 or DKGA04)")
    key.add_argument("recipe", choices=("dkga02", "dkga04"))
    key.add_argument("--vending-key", required=True, help="hex: 8 bytes for DKGA02, 20 for DKGA04")
    key.add_argument("--pan", required=True, help="the meter's 18-digit PAN")
    key.add_argument("--key-type", type=int, required=True, help="0 DITK, 1 DDTK, 2 DUTK, 3 DCTK")
    key.add_argument("--sgc", required=True, help="supply group code, 6 digits")
    key.add_argument("--ti", required=True, help="tariff index, 2 digits")
    key.add_argument("--krn", type=int, required=True, help="key revision number, 1-9")
    key.add_argument("--key-base-date", type=int, default=1993, help="DKGA04 only (default 1993)")
    key.add_argument("--algorithm", default="misty1", help="DKGA04 only: sta or misty1 (default misty1)")
    key.set_defaults(run=_derive)

    for name, helptext in (("encode", "make a token"), ("decode", "read a token as a meter would")):
        sub = commands.add_parser(name, help=helptext)
        if name == "encode":
            sub.add_argument("type", choices=sorted(_ENCODE_TYPES))
        else:
            sub.add_argument("token", help="20 digits; spaces, dashes, Arabic-Indic and Persian digits are fine")
        sub.add_argument("--key", help="decoder key, hex in standard byte order (not needed for class 1)")
        sub.add_argument("--algorithm", default="sta", help="sta (EA07, default) or misty1 (EA11)")
        sub.add_argument("--base-date", type=int, default=2014,
                         help="TID base date (default 2014: 1993 TIDs rolled over on 2024-11-24)")
        sub.add_argument("--ken", type=int, help="key expiry number of the meter's key")
        sub.add_argument("--key-type", type=int, help="key type (encode key-change: the new key's; "
                                                      "decode: the meter's)")
        sub.set_defaults(run=_encode if name == "encode" else _decode)
    encode_parser = commands.choices["encode"]
    encode_parser.add_argument("--issued", help="issue time, ISO local time (default: now)")
    encode_parser.add_argument("--rnd", type=int, default=0, help="the 4-bit random number (default 0)")
    encode_parser.add_argument("--units", type=float, help="credit in units (kWh, m3): electricity, water, gas")
    encode_parser.add_argument("--watts", type=int, help="max-power, phase-unbalance")
    for option in ("register", "rate", "pad", "factor", "control"):
        encode_parser.add_argument(f"--{option}", type=int)
    encode_parser.add_argument("--manufacturer-code", type=int, default=0, help="test1, test2 (default 0)")
    encode_parser.add_argument("--new-key", help="key-change: the new key, hex")
    encode_parser.add_argument("--krn", type=int, help="key-change: the new key revision number")
    encode_parser.add_argument("--ti", type=int, help="key-change: the new tariff index")
    encode_parser.add_argument("--rollover", action="store_true", help="key-change: move to the new base date")
    encode_parser.add_argument("--sgc", type=int, help="key-change, MISTY1: the supply group code")
    encode_parser.add_argument("--grouped", action="store_true", help="print digits in groups of 4")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (StsError, VectorFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
