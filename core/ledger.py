"""The double-entry ledger: every movement of money is one transfer between two accounts.

A transfer's id names the business event (``capture:<order>``, ``credit:<order>``), so posting
the same event twice is impossible by construction: the second insert changes nothing and
``transfer`` says so. ``conservation_check`` is the invariant every run ends with.

Accounts (balances are credits - debits for liabilities, debits - credits for assets):
    sub:<msisdn>:main / :bonus        what we owe a subscriber (liability)
    gw:<gateway>:<CUR>                 what a card gateway owes us (asset, clearing)
    held:<CUR>                         captured from a card, not yet credited or refunded
    op:<market>:bonus:<CUR>            bonus given away (expense)
    op:<market>:opening:<CUR>          opening balances of provisioned subscribers (equity)
    op:<market>:revenue:<CUR>          airtime used (revenue)
    bank:<CUR>                         the operator's bank account (asset)
    agent:<id>:<CUR>                   a kiosk agent's float (liability); wallet:, bankapp:, postal:
                                       clearing accounts of the other payment methods (assets)

An account's totals (debits, credits) are its row in ``accounts`` plus, for the hot system
accounts that every card payment posts to (``sharded``: gw:, held:, op:<market>:bonus:), the
sum of its rows in ``accounts_shards``. A transaction adds to one shard of those, so concurrent
payments do not queue on one row lock until COMMIT. Subscriber accounts, whose balances drive
decisions (the balance cap), keep one lockable row. SQL readers use the view ``account_totals``.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from core.money import Money
from core.store import Store, Tx
from core.store.base import Row


def sub_main(msisdn: str) -> str:
    return f"sub:{msisdn}:main"


def sub_bonus(msisdn: str) -> str:
    return f"sub:{msisdn}:bonus"


def gateway_clearing(gateway: str, cur: str) -> str:
    return f"gw:{gateway}:{cur}"


def held(cur: str) -> str:
    return f"held:{cur}"


def bonus_expense(market: str, cur: str) -> str:
    return f"op:{market}:bonus:{cur}"


def opening(market: str, cur: str) -> str:
    return f"op:{market}:opening:{cur}"


def bank(cur: str) -> str:
    """The operator's own bank account (asset): float deposits, settlements, payouts."""
    return f"bank:{cur}"


def revenue(market: str, cur: str) -> str:
    return f"op:{market}:revenue:{cur}"


SHARDS = 64
"""Shard rows per sharded account: enough that concurrent transactions rarely meet on one."""


def sharded(account: str) -> bool:
    """Whether an account keeps its totals in shard rows (``accounts_shards``) rather than in
    its own row: the system accounts every card payment posts to, whose balance no decision
    reads. Their names end with their currency (checked when posting)."""
    if account.startswith(("gw:", "held:")):
        return True
    return account.startswith("op:") and account.count(":") == 3 and account.split(":")[2] == "bonus"


def shard_of(tx: Tx, transfer_id: str) -> int:
    """The shard a transaction adds to: chosen once per transaction from its first posted
    transfer's id, so all its postings to sharded accounts land in one shard (two transactions
    then meet on hot rows only when they share a shard, and always in the same order)."""
    shard = getattr(tx, "_ledger_shard", None)
    if shard is None:
        shard = zlib.crc32(transfer_id.encode()) % SHARDS
        tx._ledger_shard = shard      # type: ignore[attr-defined]
    return shard


class Batch:
    """Transfers posted together. On PostgreSQL in one statement: the transfers' insert (a
    duplicate event is skipped by its id), then, if every one was new, the touched accounts'
    totals: an upsert of plain accounts' rows, then of sharded accounts' shard rows, last, so
    the hot rows are locked for as short a time as the caller allows. A batch with a duplicate
    (a retry of an event already posted) changes no totals in that statement; the totals of its
    new transfers are then added by a second one. On SQLite: up to four statements."""

    def __init__(self, tx: Tx, at_ms: int) -> None:
        self.tx, self.at_ms = tx, at_ms
        self.rows: list[tuple] = []
        self.balances: dict[str, int] = {}
        """After ``post``: credits - debits of each plain account it touched, as the posting
        left them (what a subscriber's main balance now holds, read under the posting's own
        row lock, so a notice needs no read after commit). Sharded accounts are not told."""

    def add(self, transfer_id: str, debit: str, credit: str, amount: Money, *, kind: str,
            order_id: str | None) -> Batch:
        if amount.minor <= 0:
            raise ValueError(f"transfer {transfer_id}: amount must be positive, got {amount}")
        self.rows.append((transfer_id, debit, credit, amount.minor, amount.currency, kind, order_id, self.at_ms))
        return self

    def post(self) -> set[str]:
        """Post what was added; returns the ids actually posted (not seen before)."""
        return self._post(None)[0]

    def post_then(self, sql: str, params: tuple | list) -> Row | None:
        """Post what was added, then run ``sql`` (a data-modifying statement with ``RETURNING``,
        in the batch's transaction) and return its row: on PostgreSQL in the posting's own
        statement, one round trip fewer (the capture's move of its order rides on it). Its
        columns must not be named ``ids``, ``plain``, ``shards``, ``balances``, ``balance_ids``
        or ``then_rows``."""
        return self._post((sql, params))[1]

    def _post(self, then: tuple[str, tuple | list] | None) -> tuple[set[str], Row | None]:
        if not self.rows:
            return set(), (self.tx.one(*then) if then else None)
        rows, self.rows = self.rows, []
        insert = ("INSERT INTO transfers (id, debit_account, credit_account, amount, currency, kind, order_id,"
                  " at_ms) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?)"] * len(rows)) +
                  " ON CONFLICT (id) DO NOTHING RETURNING id")
        params = [v for row in rows for v in row]
        then_row = None
        if self.tx.dialect == "postgresql":
            plain, hot = _totals(rows, {r[0] for r in rows})
            shard = shard_of(self.tx, rows[0][0]) if hot else 0
            ctes, sql, args = _totals_sql(plain, hot, shard, guard="(SELECT COUNT(*) FROM posted) = ?")
            args = params + [a if a is not _ALL else len(rows) for a in args]
            if then is None:
                got = self.tx.one(
                    f"WITH posted AS ({insert}), {ctes} SELECT ARRAY(SELECT id FROM posted) AS ids, {sql}", args)
            else:
                # ``then`` runs whatever the postings find (a duplicate event included), as
                # it did as a statement of its own after them.
                got = self.tx.one(
                    f"WITH posted AS ({insert}), {ctes}, then_ AS ({then[0]}) SELECT then_.*,"
                    f" ARRAY(SELECT id FROM posted) AS ids, {sql}, (SELECT COUNT(*) FROM then_) AS then_rows"
                    " FROM (VALUES (1)) AS one_ LEFT JOIN then_ ON TRUE", args + list(then[1]))
                then_row = got if got["then_rows"] else None
            posted = set(got["ids"])
            if len(posted) == len(rows):
                _check_counts(posted, plain, hot, got)
                self.balances = _balances(got)
                return posted, then_row
        else:
            posted = {r["id"] for r in self.tx.all(insert, params)}
        plain, hot = _totals(rows, posted)
        if plain or hot:
            self._add_totals(posted, plain, hot, shard_of(self.tx, rows[0][0]) if hot else 0)
        if then is not None and self.tx.dialect != "postgresql":
            then_row = self.tx.one(*then)
        return posted, then_row

    def _add_totals(self, posted: set[str], plain: list[tuple], hot: list[tuple], shard: int) -> None:
        tx = self.tx
        if tx.dialect == "postgresql":
            ctes, sql, args = _totals_sql(plain, hot, shard, guard=None)
            got = tx.one(f"WITH {ctes} SELECT {sql}", args)
            _check_counts(posted, plain, hot, got)
            self.balances = _balances(got)
            return
        told = tx.all(_upsert_plain_sql(len(plain)) + " RETURNING id, credits - debits AS b",
                      [v for row in plain for v in row]) if plain else []
        self.balances = {r["id"]: int(r["b"]) for r in told}
        ok = len(told) == len(plain)
        if hot:
            tx.execute(_create_hot_sql(len(hot)), [v for account, cur, _d, _c in hot for v in (account, cur)])
            ok = ok and tx.execute(
                "INSERT INTO accounts_shards (account, shard, currency, debits, credits) VALUES " +
                ", ".join(["(?, ?, ?, ?, ?)"] * len(hot)) + _UPSERT_SHARDS_TAIL,
                [v for account, cur, d, c in hot for v in (account, shard, cur, d, c)]) == len(hot)
        if not ok:
            raise ValueError(f"transfers {sorted(posted)}: an account is not in the transfer's currency")


_ALL = object()      # placeholder argument: how many transfers the batch holds
_UPSERT_SHARDS_TAIL = (
    " ON CONFLICT (account, shard) DO UPDATE SET debits = accounts_shards.debits + excluded.debits,"
    " credits = accounts_shards.credits + excluded.credits WHERE accounts_shards.currency = excluded.currency")


def _upsert_plain_sql(n: int, source: str | None = None) -> str:
    return ("INSERT INTO accounts (id, currency, debits, credits) " +
            (source or "VALUES " + ", ".join(["(?, ?, ?, ?)"] * n)) + " ON CONFLICT (id)"
            " DO UPDATE SET debits = accounts.debits + excluded.debits,"
            " credits = accounts.credits + excluded.credits WHERE accounts.currency = excluded.currency")


def _create_hot_sql(n: int, source: str | None = None) -> str:
    """The sharded accounts' own rows, created once (ON CONFLICT DO NOTHING neither updates
    nor locks an existing row)."""
    return ("INSERT INTO accounts (id, currency) " + (source or "VALUES " + ", ".join(["(?, ?)"] * n)) +
            " ON CONFLICT (id) DO NOTHING")


def _totals(rows: list[tuple], posted: set[str]) -> tuple[list[tuple], list[tuple]]:
    """(account, currency, debits, credits) added by the posted transfers, plain accounts and
    sharded ones apart, each sorted by account (every transaction locks in the same order)."""
    totals: dict[str, list] = {}     # account -> [currency, debits, credits]
    for tid, debit, credit, minor, cur, *_ in rows:
        if tid in posted:
            for account, side in ((debit, 1), (credit, 2)):
                entry = totals.setdefault(account, [cur, 0, 0])
                if entry[0] != cur:
                    raise ValueError(f"transfer {tid}: account {account} is not in {cur}")
                entry[side] += minor
    plain = [(a, *t) for a, t in sorted(totals.items()) if not sharded(a)]
    hot = [(a, *t) for a, t in sorted(totals.items()) if sharded(a)]
    for account, cur, _d, _c in hot:
        if not account.endswith(":" + cur):
            raise ValueError(f"transfers {sorted(posted)}: account {account} is not in {cur}")
    return plain, hot


def _totals_sql(plain: list[tuple], hot: list[tuple], shard: int, *, guard: str | None
                ) -> tuple[str, str, list]:
    """PostgreSQL CTEs adding ``plain`` and ``hot`` totals, the select list that counts the
    rows they touched (``plain``, ``shards``), and their arguments. The plain upsert runs
    first (the shards' insert waits on its count), then the shard rows; the sharded accounts'
    own rows are created on the way. With ``guard`` (an SQL condition), nothing is added
    unless it holds; its argument is ``_ALL``."""
    ctes, args, where = [], [], []
    if plain:
        source = ("SELECT * FROM (VALUES " + ", ".join(["(?, ?, ?, ?)"] * len(plain)) +
                  ") AS v (id, currency, debits, credits)" + (f" WHERE {guard}" if guard else ""))
        ctes.append(f"plain AS ({_upsert_plain_sql(len(plain), source)} RETURNING id, credits - debits AS b)")
        args += [v for row in plain for v in row] + ([_ALL] if guard else [])
        where.append("(SELECT COUNT(*) FROM plain) = ?")
    if hot:
        source = ("SELECT * FROM (VALUES " + ", ".join(["(?, ?)"] * len(hot)) + ") AS v (id, currency)" +
                  (f" WHERE {guard}" if guard else ""))
        ctes.append(f"base AS ({_create_hot_sql(len(hot), source)})")
        args += [v for account, cur, _d, _c in hot for v in (account, cur)] + ([_ALL] if guard else [])
        if guard:
            where.append(guard)
        ctes.append(
            "shards AS (INSERT INTO accounts_shards (account, shard, currency, debits, credits)"
            " SELECT * FROM (VALUES " + ", ".join(["(?, ?, ?, ?, ?)"] * len(hot)) +
            ") AS v (account, shard, currency, debits, credits)" +
            (" WHERE " + " AND ".join(where) if where else "") + _UPSERT_SHARDS_TAIL + " RETURNING 1)")
        args += [v for account, cur, d, c in hot for v in (account, shard, cur, d, c)]
        args += [len(plain)] if plain else []
        args += [_ALL] if guard else []
    counts = ", ".join([f"(SELECT COUNT(*) FROM {name}) AS {name}" for name, rows in
                        (("plain", plain), ("shards", hot)) if rows] or ["0 AS none"])
    if plain:
        counts += (", ARRAY(SELECT id FROM plain ORDER BY id) AS balance_ids,"
                   " ARRAY(SELECT b FROM plain ORDER BY id) AS balances")
    return ", ".join(ctes), counts, args


def _balances(got: dict) -> dict[str, int]:
    """Two arrays in the same order, not a JSON object: psycopg loads arrays in C, JSON
    through ``json.loads``."""
    return {account: int(b) for account, b in zip(got.get("balance_ids") or (), got.get("balances") or ())}


def _check_counts(posted: set[str], plain: list[tuple], hot: list[tuple], got: dict) -> None:
    """An upsert skips a row whose account is in another currency: the counts say so."""
    if (plain and got["plain"] != len(plain)) or (hot and got["shards"] != len(hot)):
        raise ValueError(f"transfers {sorted(posted)}: an account is not in the transfer's currency")


def transfer(tx: Tx, transfer_id: str, debit: str, credit: str, amount: Money, *,
             kind: str, order_id: str | None, at_ms: int) -> bool:
    """Post ``amount`` from ``debit`` to ``credit`` once; False if this event was posted already."""
    return bool(Batch(tx, at_ms).add(transfer_id, debit, credit, amount, kind=kind, order_id=order_id).post())


_BALANCE_PLAIN = "SELECT credits - debits AS b FROM accounts WHERE id = ?"
_BALANCE = ("SELECT CAST(a.credits - a.debits + COALESCE((SELECT SUM(s.credits - s.debits)"
            " FROM accounts_shards s WHERE s.account = a.id), 0) AS BIGINT) AS b FROM accounts a WHERE a.id = ?")


def balance_sql(tx: Tx, account: str) -> str:
    """The locked read of a plain account's balance (its one parameter: the account), for a
    caller that runs it inside a statement of its own and hands the value to ``read_ahead``."""
    if sharded(account):
        raise ValueError(f"account {account} is sharded: its balance cannot be locked for a decision")
    return _BALANCE_PLAIN + tx.for_update


def read_ahead(tx: Tx, account: str | None, balance: int | None = None) -> None:
    """``account``'s balance as ``balance_sql`` just read and locked it in ``tx``: the next
    ``liability_balance(tx, ...)`` takes it, if it asks for that account, instead of a round
    trip of its own. None (no row yet) is a balance of 0 with nothing to lock, as that read
    would find. ``account=None`` forgets it."""
    tx._read_ahead = None if account is None else (account, int(balance or 0))   # type: ignore[attr-defined]


def liability_balance(tx: Tx, account: str, *, lock: bool = False) -> int:
    """credits - debits of an account (0 if it has never been used): its row plus its shards.

    ``lock`` locks the account's row until the transaction ends, so that a decision taken on
    the balance (the balance cap, a kiosk float) holds. Only a plain account can be locked: a
    posting to a sharded one adds to a shard row and takes no lock on the account's own row,
    so no decision may rest on a sharded account's balance (none does: see ``sharded``)."""
    ahead = getattr(tx, "_read_ahead", None)
    if ahead is not None:
        tx._read_ahead = None        # type: ignore[attr-defined]  # good for one read: a posting may follow
        if ahead[0] == account and lock:
            return ahead[1]
    if not sharded(account):       # its row alone: no look at the shards (a subscriber's balance)
        row = tx.one(_BALANCE_PLAIN + (tx.for_update if lock else ""), (account,))
        return int(row["b"]) if row else 0
    if lock:
        raise ValueError(f"account {account} is sharded: its balance is for reports, it cannot be "
                         "locked for a decision")
    row = tx.one(_BALANCE, (account,))
    return int(row["b"]) if row else 0


@dataclass
class ConservationReport:
    """What the ledger says at the end of a run; ``ok`` is the verdict, ``errors`` the why."""

    errors: list[str] = field(default_factory=list)
    captured: dict[str, int] = field(default_factory=dict)
    credited: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    transfers: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.ok:
            parts = [f"{c}: captured {self.captured.get(c, 0)} = credited {self.credited.get(c, 0)}"
                     f" + refunded {self.refunded.get(c, 0)} + held {self.held.get(c, 0)}"
                     for c in sorted(set(self.captured) | set(self.held))]
            return f"conservation OK over {self.transfers} transfers; " + ("; ".join(parts) or "no money moved")
        return "conservation FAILED: " + "; ".join(self.errors)


def conservation_check(store: Store, gateway_net: dict[tuple[str, str], int] | None = None) -> ConservationReport:
    """Check the ledger's invariants; ``gateway_net`` maps (gateway, currency) to what the
    gateway itself says it captured net of refunds and reversals, to compare with clearing."""
    r = ConservationReport()
    with store.transaction() as tx:
        # Every account's totals (its row plus its shards) against the sums of its transfers.
        accounts = tx.all(
            "SELECT a.id, a.currency, a.debits + COALESCE(s.d, 0) AS debits, a.credits + COALESCE(s.c, 0) AS credits,"
            " COALESCE(td.s, 0) AS d, COALESCE(tc.s, 0) AS c"
            " FROM accounts a"
            " LEFT JOIN (SELECT account, SUM(debits) AS d, SUM(credits) AS c FROM accounts_shards"
            "            GROUP BY account) s ON s.account = a.id"
            " LEFT JOIN (SELECT debit_account AS id, SUM(amount) AS s FROM transfers"
            "            GROUP BY debit_account) td ON td.id = a.id"
            " LEFT JOIN (SELECT credit_account AS id, SUM(amount) AS s FROM transfers"
            "            GROUP BY credit_account) tc ON tc.id = a.id")
        by_currency: dict[str, list[int]] = {}
        balances: dict[str, int] = {}                 # account -> debits - credits
        for row in accounts:
            debits, credits = int(row["debits"]), int(row["credits"])
            if debits != int(row["d"]) or credits != int(row["c"]):
                r.errors.append(f"account {row['id']}: totals {debits}/{credits} "
                                f"differ from its transfers {row['d']}/{row['c']}")
            both = by_currency.setdefault(row["currency"], [0, 0])
            both[0] += debits
            both[1] += credits
            balances[row["id"]] = debits - credits
        for cur, (debits, credits) in sorted(by_currency.items()):
            if debits != credits:
                r.errors.append(f"{cur}: debits {debits} != credits {credits}")
        for row in tx.all("SELECT s.account, s.shard, s.currency, a.currency AS account_currency"
                          " FROM accounts_shards s LEFT JOIN accounts a ON a.id = s.account"
                          " WHERE a.id IS NULL OR a.currency <> s.currency"):
            r.errors.append(f"shard {row['shard']} of account {row['account']} is in {row['currency']}, "
                            f"its account in {row['account_currency'] or 'no account'}")
        # On PostgreSQL no foreign key stands behind this (migration 0013): the posting
        # statement creates both accounts, and this is where a transfer without one shows.
        for row in tx.all("SELECT t.id, t.debit_account, t.credit_account FROM transfers t WHERE"
                          " NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.debit_account) OR"
                          " NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = t.credit_account)"):
            r.errors.append(f"transfer {row['id']} ({row['debit_account']} -> {row['credit_account']}) "
                            "names an account that does not exist")
        for row in tx.all("SELECT t.id, t.currency, a.currency AS account_currency FROM transfers t"
                          " JOIN accounts a ON a.id IN (t.debit_account, t.credit_account)"
                          " WHERE a.currency <> t.currency"):
            r.errors.append(f"transfer {row['id']} in {row['currency']} touches an account in "
                            f"{row['account_currency']}")
        for row in tx.all("SELECT kind, currency, SUM(amount) AS s, COUNT(*) AS n FROM transfers"
                          " GROUP BY kind, currency"):
            bucket = {"capture": r.captured, "credit": r.credited, "refund": r.refunded}.get(row["kind"])
            if bucket is not None:
                bucket[row["currency"]] = int(row["s"])
            r.transfers += int(row["n"])
        for row in accounts:
            if row["id"].startswith("held:"):
                r.held[row["currency"]] = -balances[row["id"]]
        for cur in set(r.captured) | set(r.credited) | set(r.refunded) | set(r.held):
            cap, cred, ref, hel = (r.captured.get(cur, 0), r.credited.get(cur, 0),
                                   r.refunded.get(cur, 0), r.held.get(cur, 0))
            if cap != cred + ref + hel:
                r.errors.append(f"{cur}: captured {cap} != credited {cred} + refunded {ref} + held {hel}")
        pending = tx.one("SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS s FROM orders"
                         " WHERE state IN ('paid', 'refund_pending')")
        if sum(r.held.values()) != int(pending["s"]):
            r.errors.append(f"held {sum(r.held.values())} != amount of the {pending['n']} orders "
                            f"captured but not yet credited or refunded ({pending['s']})")
        for row in tx.all(
                "SELECT o.id, o.state, o.amount,"
                " (SELECT COUNT(*) FROM transfers t WHERE t.id = 'credit:' || o.id) AS credits,"
                " (SELECT COUNT(*) FROM transfers t WHERE t.id = 'capture:' || o.id) AS captures"
                " FROM orders o WHERE o.state = 'credited' OR EXISTS"
                " (SELECT 1 FROM transfers t WHERE t.order_id = o.id AND t.kind IN ('credit', 'capture'))"):
            want_credit = 1 if row["state"] == "credited" else 0
            if int(row["credits"]) != want_credit:
                r.errors.append(f"order {row['id']} ({row['state']}) has {row['credits']} credits, "
                                f"expected {want_credit}")
            if int(row["captures"]) != 1:
                r.errors.append(f"order {row['id']} ({row['state']}) has {row['captures']} captures, expected 1")
        for account, balance in sorted(balances.items()):
            if account.startswith("sub:") and balance > 0:
                r.errors.append(f"account {account} is negative ({-balance})")
        if gateway_net is not None:
            # What a gateway already paid us out (settlement net and its fee) left its clearing
            # account, yet still counts as captured by that gateway.
            paid_out = {row["credit_account"]: int(row["s"]) for row in tx.all(
                "SELECT credit_account, SUM(amount) AS s FROM transfers WHERE kind IN"
                " ('settlement', 'settlement_fee') AND credit_account LIKE 'gw:%' GROUP BY credit_account")}
            for (gw, cur), net in sorted(gateway_net.items()):
                account = gateway_clearing(gw, cur)
                ours = balances.get(account, 0) + paid_out.get(account, 0)
                if ours != net:
                    r.errors.append(f"gateway {gw} says it captured {net} {cur} net; our clearing says {ours}")
    return r
