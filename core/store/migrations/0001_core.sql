-- The recharge core: subscribers, the double-entry ledger, orders, idempotency, USSD sessions.
-- Portable SQL for SQLite >= 3.35 and PostgreSQL >= 13. Money columns are BIGINT minor units;
-- times are BIGINT milliseconds since the epoch of the core's Clock.

CREATE TABLE subscribers (
    msisdn        TEXT PRIMARY KEY,
    market        TEXT NOT NULL,
    operator      TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('prepaid', 'postpaid')),
    language      TEXT NOT NULL,
    email         TEXT,
    created_ms    BIGINT NOT NULL
);

-- Ledger accounts, TigerBeetle-style: totals of debits and credits posted, both >= 0.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,
    currency      TEXT NOT NULL,
    debits        BIGINT NOT NULL DEFAULT 0 CHECK (debits >= 0),
    credits       BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0)
);

-- One row per double-entry transfer. The id names the business event ("credit:<order>"),
-- so the primary key itself makes every event post at most once. The account references are
-- checked at commit: the transfer row goes first, so a duplicate event touches no account.
CREATE TABLE transfers (
    id              TEXT PRIMARY KEY,
    debit_account   TEXT NOT NULL REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED,
    credit_account  TEXT NOT NULL REFERENCES accounts (id) DEFERRABLE INITIALLY DEFERRED,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    kind            TEXT NOT NULL,
    order_id        TEXT,
    at_ms           BIGINT NOT NULL
);
CREATE INDEX transfers_order ON transfers (order_id);
CREATE INDEX transfers_kind ON transfers (kind, currency);

CREATE TABLE bonus_buckets (
    order_id      TEXT PRIMARY KEY,
    msisdn        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    remaining     BIGINT NOT NULL,
    granted_ms    BIGINT NOT NULL,
    expires_ms    BIGINT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'expired', 'used'))
);
CREATE INDEX bonus_due ON bonus_buckets (state, expires_ms);
CREATE INDEX bonus_owner ON bonus_buckets (msisdn);

CREATE TABLE saved_recipients (
    owner         TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    saved_ms      BIGINT NOT NULL,
    PRIMARY KEY (owner, recipient)
);

-- An order pays for one thing (purpose: a top-up, a bill, a meter vend; target names it) by
-- one method (a card through a gateway, or cash at a kiosk, a wallet, a bank app, a mandate).
CREATE TABLE orders (
    id              TEXT PRIMARY KEY,
    market          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    purpose         TEXT NOT NULL DEFAULT 'topup',
    target          TEXT,
    method          TEXT NOT NULL DEFAULT 'card',
    method_account  TEXT,
    kind            TEXT CHECK (kind IN ('self', 'gift')),
    product         TEXT CHECK (product IN ('normal', 'amazing')),
    payer           TEXT,
    recipient       TEXT,
    amount          BIGINT NOT NULL CHECK (amount > 0),
    currency        TEXT NOT NULL,
    bonus           BIGINT NOT NULL DEFAULT 0,
    bonus_hours     INTEGER NOT NULL DEFAULT 0,
    gateway         TEXT NOT NULL,
    gateway_ref     TEXT,
    form_url        TEXT,
    state           TEXT NOT NULL,
    reason          TEXT,
    masked_pan      TEXT,
    save_recipient  INTEGER NOT NULL DEFAULT 0,
    language        TEXT NOT NULL,
    email           TEXT,
    created_ms      BIGINT NOT NULL,
    updated_ms      BIGINT NOT NULL,
    paid_ms         BIGINT,
    credited_ms     BIGINT
);
CREATE UNIQUE INDEX orders_gateway_ref ON orders (gateway, gateway_ref);
CREATE INDEX orders_state ON orders (state, updated_ms);
CREATE INDEX orders_payer ON orders (payer, created_ms);
CREATE INDEX orders_target ON orders (purpose, target);

-- Stripe-style idempotency: same scope + key + request hash -> the stored answer.
CREATE TABLE idempotency (
    scope         TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    status        INTEGER,
    body          TEXT,
    created_ms    BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

CREATE TABLE ussd_sessions (
    session_id    TEXT PRIMARY KEY,
    msisdn        TEXT NOT NULL,
    market        TEXT NOT NULL,
    service_code  TEXT NOT NULL,
    data          TEXT NOT NULL,
    is_open       INTEGER NOT NULL,
    started_ms    BIGINT NOT NULL,
    last_ms       BIGINT NOT NULL,
    end_reason    TEXT
);
CREATE UNIQUE INDEX ussd_one_open ON ussd_sessions (msisdn) WHERE is_open = 1;
