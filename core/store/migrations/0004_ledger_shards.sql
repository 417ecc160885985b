-- Sharded totals for the ledger's hot system accounts.
--
-- Every card payment posts to the same two system accounts (gw:<gateway>:<CUR> and
-- held:<CUR>), so one totals row each would make every capture and credit in the system
-- queue on the same row lock until COMMIT. Those accounts keep their totals here instead,
-- spread over shard rows: a transaction adds to one shard (chosen from its first transfer's
-- id), so concurrent payments update different rows. An account's totals are always its row
-- in `accounts` plus the sum of its shard rows (none for subscriber accounts, whose balances
-- drive decisions and stay in one lockable row). core.ledger.conservation_check proves that
-- those totals equal the account's transfers.
CREATE TABLE accounts_shards (
    account       TEXT NOT NULL REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED,
    shard         INTEGER NOT NULL CHECK (shard >= 0),
    currency      TEXT NOT NULL,
    debits        BIGINT NOT NULL DEFAULT 0 CHECK (debits >= 0),
    credits       BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    PRIMARY KEY (account, shard)
);

-- Each account's whole totals (its row plus its shards), for SQL readers: read balances here,
-- not from `accounts`, whose row holds only part of a sharded account's totals.
CREATE VIEW account_totals AS
SELECT a.id, a.currency,
       CAST(a.debits + COALESCE(s.debits, 0) AS BIGINT) AS debits,
       CAST(a.credits + COALESCE(s.credits, 0) AS BIGINT) AS credits
FROM accounts a
LEFT JOIN (SELECT account, SUM(debits) AS debits, SUM(credits) AS credits
           FROM accounts_shards GROUP BY account) s ON s.account = a.id;
