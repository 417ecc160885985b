-- Settlement: end-of-day gateway files reconciled against the ledger, and payout batches.
-- A run is keyed by (gateway, business_date), so settling the same day again finds its run
-- and only retries what is still pending. Money columns are BIGINT minor units.

CREATE TABLE settlement_runs (
    gateway         TEXT NOT NULL,
    business_date   TEXT NOT NULL,                 -- YYYY-MM-DD (UTC day)
    file_sha256     TEXT NOT NULL,                 -- of the file's canonical form (files.render)
    source          TEXT NOT NULL,                 -- path, or "emulated"
    line_count      INTEGER NOT NULL,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    PRIMARY KEY (gateway, business_date)
);

-- One row per file line, plus one per credited order the file does not list
-- (item 'line:<n>' or 'order:<id>'), with its class, the action and where the action stands.
CREATE TABLE settlement_lines (
    gateway         TEXT NOT NULL,
    business_date   TEXT NOT NULL,
    item            TEXT NOT NULL,
    line_no         INTEGER,
    reference       TEXT,
    order_number    TEXT,
    order_id        TEXT,
    amount          BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    status          TEXT,                          -- as the file says; NULL when not listed
    captured_at     TEXT,
    classification  TEXT NOT NULL CHECK (classification IN ('matched', 'paid_not_credited',
                        'credited_not_paid', 'amount_mismatch', 'duplicate', 'unknown_reference')),
    action          TEXT NOT NULL CHECK (action IN ('none', 'reconcile', 'reverse', 'review')),
    action_state    TEXT NOT NULL CHECK (action_state IN ('none', 'pending', 'done', 'review')),
    outcome         TEXT NOT NULL DEFAULT '',
    settle_amount   BIGINT NOT NULL DEFAULT 0,     -- what this line adds to the day's payout
    acted_ms        BIGINT,
    PRIMARY KEY (gateway, business_date, item),
    FOREIGN KEY (gateway, business_date) REFERENCES settlement_runs (gateway, business_date)
);
CREATE INDEX settlement_lines_reference ON settlement_lines (gateway, reference);
CREATE INDEX settlement_lines_order ON settlement_lines (order_id);
-- A day's credited card orders of one gateway (those its file does not list are reversed).
CREATE INDEX settlement_orders_paid ON orders (gateway, paid_ms);

-- Credits taken back because the gateway never paid: what came back from the main balance,
-- what became a receivable on the subscriber (money already spent), the bonus withdrawn.
CREATE TABLE settlement_reversals (
    order_id        TEXT PRIMARY KEY,
    gateway         TEXT NOT NULL,
    business_date   TEXT NOT NULL,
    msisdn          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount          BIGINT NOT NULL,
    taken_back      BIGINT NOT NULL,
    receivable      BIGINT NOT NULL,
    bonus_withdrawn BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL
);

-- Payout batches: one per business day; one item per payee and currency, posted once.
CREATE TABLE payout_batches (
    business_date   TEXT PRIMARY KEY,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL
);

CREATE TABLE payout_items (
    business_date   TEXT NOT NULL REFERENCES payout_batches (business_date),
    payee           TEXT NOT NULL,                 -- 'gateway:satim', later 'biller:...'
    direction       TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    currency        TEXT NOT NULL,
    gross           BIGINT NOT NULL CHECK (gross >= 0),
    fee             BIGINT NOT NULL CHECK (fee >= 0),
    net             BIGINT NOT NULL,
    fee_rate_bp     INTEGER NOT NULL,
    lines           INTEGER NOT NULL,
    posted_ms       BIGINT NOT NULL,
    PRIMARY KEY (business_date, payee, currency)
);
