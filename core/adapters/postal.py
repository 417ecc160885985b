"""The emulated postal bank behind standing mandates (F2, seed 001): CCP accounts at the post.

The customer signs a mandate form at the post office, which hands out an access code
(``sign_mandate``); from then on the post transfers money from the CCP account to the biller
when asked (``debit``), as long as the mandate is not revoked. Every debit carries the caller's
reference and is applied at most once per reference: asking again returns the first answer,
so a retry after a lost answer never debits twice; ``status`` tells what was done under a
reference without doing anything. ``reverse`` gives a debit back, once.

Balances live in memory like the card issuer's (:mod:`core.adapters.issuer`); faults for tests:
``unavailable`` (no answer, nothing done) and ``lose_answers`` (done, but the answer is lost).
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

from core.clock import Clock
from core.money import Money


class PostalUnavailable(Exception):
    """The post did not answer: the debit may or may not have been done; ask again, same ref."""


@dataclass
class CcpAccount:
    ccp: str                                   # "0012345678-90": account and key
    holder: str
    balances: dict[str, int] = field(default_factory=dict)   # minor units
    closed: bool = False


@dataclass(frozen=True)
class PostalDebit:
    ok: bool
    ref: str
    ccp: str
    amount: Money
    code: str | None = None        # insufficient_funds | unknown_account | closed | no_mandate
    reason: str | None = None


@dataclass
class _Mandate:
    reference: str
    ccp: str
    payee: str
    code: str = field(repr=False)
    revoked: bool = False


class PostalBank:
    """CCP accounts, signed mandates and idempotent debits of one emulated post (thread-safe)."""

    def __init__(self, clock: Clock, rng: random.Random, *, code_digits: int = 8) -> None:
        self.clock, self.rng, self.code_digits = clock, rng, code_digits
        self._lock = threading.Lock()
        self._accounts: dict[str, CcpAccount] = {}
        self._mandates: dict[str, _Mandate] = {}
        self._debits: dict[str, PostalDebit] = {}
        self._reversed: set[str] = set()
        self.unavailable = False
        self.lose_answers = 0

    # -- accounts ------------------------------------------------------------------------------
    def open_account(self, ccp: str, holder: str, balance: Money | None = None) -> CcpAccount:
        with self._lock:
            if ccp in self._accounts:
                raise ValueError(f"ccp {ccp} is already open")
            acct = self._accounts[ccp] = CcpAccount(ccp, holder, {balance.currency: balance.minor} if balance else {})
            return acct

    def deposit(self, ccp: str, amount: Money) -> Money:
        with self._lock:
            acct = self._accounts[ccp]
            acct.balances[amount.currency] = acct.balances.get(amount.currency, 0) + amount.minor
            return Money(acct.balances[amount.currency], amount.currency)

    def balance(self, ccp: str, currency: str) -> Money:
        with self._lock:
            return Money(self._accounts[ccp].balances.get(currency, 0), currency)

    def close_account(self, ccp: str) -> None:
        with self._lock:
            self._accounts[ccp].closed = True

    def has_account(self, ccp: str) -> bool:
        with self._lock:
            acct = self._accounts.get(ccp)
            return acct is not None and not acct.closed

    # -- mandates ------------------------------------------------------------------------------
    def sign_mandate(self, reference: str, ccp: str, payee: str) -> str:
        """The form signed at the counter: returns the access code the clerk hands out (the
        same code if the same form is signed again)."""
        with self._lock:
            acct = self._accounts.get(ccp)
            if acct is None or acct.closed:
                raise KeyError(ccp)
            known = self._mandates.get(reference)
            if known is not None:
                return known.code
            code = "".join(str(self.rng.randrange(10)) for _ in range(self.code_digits))
            self._mandates[reference] = _Mandate(reference, ccp, payee, code)
            return code

    def handed_out(self, reference: str) -> str:
        """Emulator only: the code the customer holds on paper after signing."""
        with self._lock:
            return self._mandates[reference].code

    def revoke_mandate(self, reference: str) -> None:
        with self._lock:
            if reference in self._mandates:
                self._mandates[reference].revoked = True

    # -- money ---------------------------------------------------------------------------------
    def debit(self, ccp: str, amount: Money, ref: str, *, mandate: str) -> PostalDebit:
        """Transfer ``amount`` from the CCP account under ``mandate``, once per ``ref``."""
        with self._lock:
            if self.unavailable:
                raise PostalUnavailable("the postal bank did not answer")
            done = self._debits.get(ref)
            if done is None:
                done = self._debits[ref] = self._apply(ccp, amount, ref, mandate)
            if self.lose_answers > 0 and done.ok:
                self.lose_answers -= 1
                raise PostalUnavailable("the postal bank's answer was lost")
            return done

    def _apply(self, ccp: str, amount: Money, ref: str, mandate: str) -> PostalDebit:
        acct = self._accounts.get(ccp)
        m = self._mandates.get(mandate)
        if acct is None:
            return PostalDebit(False, ref, ccp, amount, "unknown_account", "no such CCP account")
        if acct.closed:
            return PostalDebit(False, ref, ccp, amount, "closed", "CCP account closed")
        if m is None or m.revoked or m.ccp != ccp:
            return PostalDebit(False, ref, ccp, amount, "no_mandate", "no signed mandate on this CCP account")
        have = acct.balances.get(amount.currency, 0)
        if have < amount.minor:
            return PostalDebit(False, ref, ccp, amount, "insufficient_funds", "insufficient funds")
        acct.balances[amount.currency] = have - amount.minor
        return PostalDebit(True, ref, ccp, amount)

    def status(self, ref: str) -> PostalDebit | None:
        """The answer given to ``ref``, or None if the post never applied a debit under it."""
        with self._lock:
            if self.unavailable:
                raise PostalUnavailable("the postal bank did not answer")
            return self._debits.get(ref)

    def reverse(self, ref: str) -> bool:
        """Give a successful debit back to its account, once; False if there is nothing to give."""
        with self._lock:
            if self.unavailable:
                raise PostalUnavailable("the postal bank did not answer")
            done = self._debits.get(ref)
            if done is None or not done.ok or ref in self._reversed:
                return False
            acct = self._accounts[done.ccp]
            acct.balances[done.amount.currency] = acct.balances.get(done.amount.currency, 0) + done.amount.minor
            self._reversed.add(ref)
            return True

    def net_debited(self) -> dict[str, int]:
        """What the post transferred out net of reversals, per currency (for conservation checks)."""
        with self._lock:
            out: dict[str, int] = {}
            for ref, d in self._debits.items():
                if d.ok and ref not in self._reversed:
                    out[d.amount.currency] = out.get(d.amount.currency, 0) + d.amount.minor
            return out
