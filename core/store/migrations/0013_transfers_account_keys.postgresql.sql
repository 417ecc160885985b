-- A transfer's accounts exist by construction: the statement that posts it also upserts both
-- accounts (core/ledger.py Batch), and conservation_check lists any transfer whose
-- account has no row. The foreign keys only re-checked that at COMMIT, and each check locked
-- the account's row FOR KEY SHARE: four checks per card recharge, two of them on the hot
-- system accounts (gw:, held:) that every capture posts to, where concurrent captures' shared
-- locks become multixacts. Measured: 95 us of server CPU per capture transaction of two
-- transfers (docs/benchmarks.md). SQLite keeps its keys: its writers take turns anyway.
ALTER TABLE transfers DROP CONSTRAINT IF EXISTS transfers_debit_account_fkey;
ALTER TABLE transfers DROP CONSTRAINT IF EXISTS transfers_credit_account_fkey;
-- Migration 0006 indexed the transfers' accounts for those keys (SQLite looks up a new
-- account's waiting children by them). No query reads transfers by account here: the ledger's
-- checks sum whole columns. Four index entries fewer per card recharge.
DROP INDEX IF EXISTS transfers_debit;
DROP INDEX IF EXISTS transfers_credit;
