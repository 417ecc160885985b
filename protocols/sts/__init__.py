"""STS prepaid-meter tokens (IEC 62055-41), as the reference behind ``shared/specs/sts.md`` makes them.

A token is a dataclass of wire fields; ``encode`` turns it into the 20 digits a customer types,
``decode`` reads them back as a meter would and says what the meter answers::

    from datetime import datetime
    from protocols.sts import (DecoderKey, TidMemory, TokenResult, TransferElectricityCredit,
                               decode, dkga02, encode, tid_of)

    key = dkga02("abababababababab", pan="600727000000000009", key_type=2,
                 supply_group_code="123456", tariff_index="01", key_revision=1)
    tid = tid_of(datetime(2026, 11, 21, 8, 30), base_date=2014)   # 1993 TIDs rolled over in 2024
    token = TransferElectricityCredit.of(25.6, tid=tid, rnd=5)
    digits = encode(token, key)                  # '....................' (20 digits)
    decoded = decode(digits, key)                # Decoded(result=ACCEPTED, token=..., ...)
    memory = TidMemory(capacity=50)              # a meter model keeps one of these
    verdict = memory.accept(decoded.tid)         # ACCEPTED, then USED for the same token again

Modules: ``tokens`` (types and data block), ``keychange`` (key-change sections), ``codec`` (20 digits, encode/decode), ``fields``
(CRC, TID, amounts), ``sta`` (EA07), ``misty1`` (EA11), ``des`` and ``dkga`` (key generation),
``keys`` (DecoderKey), ``results`` (TokenResult, TidMemory), ``verify`` (vector files).
``python -m protocols.sts --help`` gives the bench commands (verify, key, encode, decode).
"""
from __future__ import annotations

from .codec import Decoded, decode, digits_of, encode, encode_block, key_expired
from .dkga import BASE_DATES, KeyType, MeterPan, dkga02, dkga04
from .errors import DecoderKeyError, FieldError, KeyExpiredError, StsError, TidRangeError, TokenTextError
from .fields import (
    AMOUNT_MAX, DECODER_BASE_DATE, TID_MAX, amount_field, amount_value, credit_tenths, issued_at, rollover,
    tid_of, token_crc,
)
from .keychange import key_change_tokens, new_key_from
from .keys import Algorithm, DecoderKey
from .results import TidMemory, TokenResult
from .tokens import (
    TOKEN_TYPES, ClearCredit, ClearTamperCondition, InitiateMeterTestOrDisplay1, InitiateMeterTestOrDisplay2,
    Set1stSectionDecoderKey, Set2ndSectionDecoderKey, Set3rdSectionDecoderKey, Set4thSectionDecoderKey,
    SetMaximumPhasePowerUnbalanceLimit, SetMaximumPowerLimit, SetTariffRate, SetWaterMeterFactor, Token,
    TokenClass, TransferElectricityCredit, TransferGasCredit, TransferWaterCredit,
)

__all__ = [
    "AMOUNT_MAX", "BASE_DATES", "DECODER_BASE_DATE", "TID_MAX", "TOKEN_TYPES",
    "Algorithm", "ClearCredit", "ClearTamperCondition", "Decoded", "DecoderKey", "DecoderKeyError",
    "FieldError", "InitiateMeterTestOrDisplay1", "InitiateMeterTestOrDisplay2", "KeyExpiredError", "KeyType",
    "MeterPan", "Set1stSectionDecoderKey", "Set2ndSectionDecoderKey", "Set3rdSectionDecoderKey",
    "Set4thSectionDecoderKey", "SetMaximumPhasePowerUnbalanceLimit", "SetMaximumPowerLimit", "SetTariffRate",
    "SetWaterMeterFactor", "StsError", "TidMemory", "TidRangeError", "Token", "TokenClass", "TokenResult",
    "TokenTextError", "TransferElectricityCredit", "TransferGasCredit", "TransferWaterCredit",
    "amount_field", "amount_value", "credit_tenths", "decode", "digits_of", "dkga02", "dkga04", "encode",
    "encode_block", "issued_at", "key_change_tokens", "key_expired", "new_key_from", "rollover", "tid_of",
    "token_crc",
]
