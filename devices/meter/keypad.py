"""The keypad of an STS meter: its decoder key, the TIDs it remembers, key changes, lock-out.

``enter`` decides what a typed token is (locked, refused, a key-change section, or a token
to apply); the meter applies a token's effect and then calls ``commit`` so its TID is
remembered only once the credit is really in. Wrong tokens (CRC, authentication, format,
range: what guessing produces) count in a row; ``wrong_to_lockout`` of them lock the keypad
for ``lockout_s``, and each further wrong token after a lock-out locks it for twice as long
as the last time (up to ``lockout_max_s``). A good token resets both.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocols import sts
from protocols.sts.tokens import KEY_CHANGE_TYPES, MISTY1_ONLY

from .codes import FROM_STS, WRONG_TOKENS, ResultCode
from .errors import MeterInputError


def _int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"invalid {what} {value!r}: expected an integer from {low} to {high}")
    return value


@dataclass(frozen=True)
class KeypadEntry:
    code: ResultCode
    token: sts.Token | None = None
    detail: str = ""


class Keypad:
    def __init__(self, decoder_key: sts.DecoderKey, *, key_type: int = 2, key_revision: int = 1,
                 tariff_index: int = 1, key_expiry_number: int = 255, tid_capacity: int = 50,
                 wrong_to_lockout: int = 3, lockout_s: int = 60, lockout_max_s: int = 86_400) -> None:
        if not isinstance(decoder_key, sts.DecoderKey):
            raise ValueError(f"invalid decoder key {decoder_key!r}: expected a protocols.sts.DecoderKey "
                             "(e.g. sts.dkga02(vending_key, pan=..., ...))")
        self.key = decoder_key
        self.key_type = _int(key_type, "key type", 0, 3)
        self.key_revision = _int(key_revision, "key revision", 0, 9)
        self.tariff_index = _int(tariff_index, "tariff index", 0, 99)
        self.key_expiry_number = _int(key_expiry_number, "key expiry number", 0, 255)
        self.supply_group_code: int | None = None
        self.memory = sts.TidMemory(_int(tid_capacity, "TID memory capacity", 1, 10_000))
        self.wrong_to_lockout = _int(wrong_to_lockout, "wrong tokens before lock-out", 1, 100)
        self.lockout_ms = 1000 * _int(lockout_s, "lock-out", 1, 86_400)
        self.lockout_max_ms = 1000 * _int(lockout_max_s, "longest lock-out", lockout_s, 30 * 86_400)
        self.wrong = 0                 # wrong tokens in a row
        self.lockouts = 0              # lock-outs since the last good token
        self.locked_until = 0          # meter elapsed ms
        self._sections: dict[type, sts.Token] = {}

    def locked_ms(self, now_ms: int) -> int:
        return max(0, self.locked_until - now_ms)

    def enter(self, text: str, now_ms: int) -> KeypadEntry:
        if not isinstance(text, str):
            raise MeterInputError(f"invalid token {text!r}: expected the 20 digits as text")
        left = self.locked_ms(now_ms)
        if left:
            return KeypadEntry(ResultCode.LOCKED, detail=f"keypad locked for {-(-left // 1000)} s more")
        try:
            digits = sts.digits_of(text)
        except sts.TokenTextError as exc:
            raise MeterInputError(str(exc)) from None
        decoded = sts.decode(digits, self.key, key_expiry_number=self.key_expiry_number, key_type=self.key_type)
        token = decoded.token
        if not isinstance(token, KEY_CHANGE_TYPES):
            self._sections.clear()
        if not decoded.accepted:
            code = FROM_STS[decoded.result]
            if code in WRONG_TOKENS:
                self._wrong(now_ms)
            return KeypadEntry(code, token, decoded.reason)
        if isinstance(token, KEY_CHANGE_TYPES):
            return self._key_change(token)
        tid = decoded.tid
        verdict = self.memory.check(tid) if tid is not None else sts.TokenResult.ACCEPTED
        if verdict is not sts.TokenResult.ACCEPTED:
            return KeypadEntry(FROM_STS[verdict], token, f"TID {tid}: {verdict}")
        return KeypadEntry(ResultCode.ACCEPTED, token)

    def commit(self, token: sts.Token) -> None:
        """The token took effect: remember its TID; a good token ends any wrong streak."""
        tid = getattr(token, "tid", None)
        if tid is not None:
            self.memory.accept(tid)
        self.wrong = self.lockouts = 0

    def _wrong(self, now_ms: int) -> None:
        self.wrong += 1
        if self.wrong >= self.wrong_to_lockout:
            self.locked_until = now_ms + min(self.lockout_ms << self.lockouts, self.lockout_max_ms)
            self.lockouts += 1

    def _key_change(self, section: sts.Token) -> KeypadEntry:
        needed = 4 if self.key.algorithm is sts.Algorithm.MISTY1 else 2
        self._sections[type(section)] = section
        self.wrong = self.lockouts = 0
        if len(self._sections) < needed:
            return KeypadEntry(ResultCode.KEY_CHANGE_PENDING, section,
                               f"key change: {len(self._sections)} of {needed} sections")
        sections = list(self._sections.values())
        self._sections.clear()
        first = next(s for s in sections if isinstance(s, sts.Set1stSectionDecoderKey))
        second = next(s for s in sections if isinstance(s, sts.Set2ndSectionDecoderKey))
        self.key = sts.new_key_from(sections, self.key.algorithm)
        self.key_type, self.key_revision = first.key_type, first.key_revision
        self.tariff_index = second.tariff_index
        self.key_expiry_number = first.kenho << 4 | second.kenlo
        if needed == 4:
            third, fourth = (next(s for s in sections if isinstance(s, t)) for t in MISTY1_ONLY)
            self.supply_group_code = fourth.sgc_high << 12 | third.sgc_low
        if first.rollover:
            self.memory.clear()        # TIDs now count from the new base date
        return KeypadEntry(ResultCode.ACCEPTED, second,
                           f"new decoder key revision {self.key_revision}, type {self.key_type}")
