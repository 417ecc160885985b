-- Only what the sweep and the settlement sums look for, not every order and every transfer.
--
-- orders_state (state, updated_ms) held an entry for every version of every order: each write
-- of an order added one, credited orders (nearly all of them) included. The sweep only wants
-- card orders still waiting for an outcome: a partial index of the waiting states holds just
-- those, and an order leaves it when it is credited, refunded or failed. Its list must stay
-- the one of core/payments.py WAITING, word for word, for SQLite to use it.
DROP INDEX IF EXISTS orders_state;
CREATE INDEX IF NOT EXISTS orders_waiting ON orders (updated_ms)
    WHERE state IN ('pending_payment', 'otp_pending', 'authorised', 'paid', 'refund_pending');
-- transfers_kind (kind, currency) took an entry for each of a recharge's transfers, for
-- whole-ledger checks that read every transfer anyway; the only narrow reader is the sum of
-- what the gateways paid out, which wants settlement transfers alone.
DROP INDEX IF EXISTS transfers_kind;
CREATE INDEX IF NOT EXISTS transfers_settlement ON transfers (credit_account)
    WHERE kind IN ('settlement', 'settlement_fee');
