-- Bills (F3), instalment plans for debt, ADSL recharges and postal-account mandates (F2).
-- Money columns are BIGINT minor units of the biller's currency; times are BIGINT ms of the
-- core's Clock. Biller rules are data (core/profiles/billers/billers.toml), not rows.

-- An account a biller serves: known once a bill is issued to it or it is enrolled.
CREATE TABLE biller_accounts (
    biller        TEXT NOT NULL,
    account       TEXT NOT NULL,
    market        TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    PRIMARY KEY (biller, account)
);

-- One bill per biller, account and billing period (the period starts a cycle: "2026-03").
--   open -> part_paid -> paid;  open | part_paid -> in_plan -> paid (plan paid off)
--   in_plan -> open | part_paid (plan defaulted: what is left is owed again)
CREATE TABLE bills (
    id            TEXT PRIMARY KEY,                -- "<biller>/<account>/<period>"
    biller        TEXT NOT NULL,
    account       TEXT NOT NULL,
    period        TEXT NOT NULL,
    market        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    paid          BIGINT NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= amount),
    state         TEXT NOT NULL CHECK (state IN ('open', 'part_paid', 'paid', 'in_plan')),
    plan_id       TEXT,
    issued_ms     BIGINT NOT NULL,
    due_ms        BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    UNIQUE (biller, account, period),
    FOREIGN KEY (biller, account) REFERENCES biller_accounts (biller, account)
);
CREATE INDEX bills_account ON bills (biller, account, state, due_ms);
CREATE INDEX bills_due ON bills (state, due_ms);

-- Instalment plans: active <-> late (an instalment missed and not yet paid) -> defaulted,
-- or -> paid when every instalment is paid (early payoff included). One live plan per account.
CREATE TABLE instalment_plans (
    id            TEXT PRIMARY KEY,
    biller        TEXT NOT NULL,
    account       TEXT NOT NULL,
    market        TEXT NOT NULL,
    currency      TEXT NOT NULL,
    debt          BIGINT NOT NULL CHECK (debt > 0),
    monthly       BIGINT NOT NULL CHECK (monthly > 0),
    months        INTEGER NOT NULL CHECK (months > 0),
    paid          BIGINT NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= debt),
    missed        INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL CHECK (state IN ('active', 'late', 'defaulted', 'paid')),
    customer      TEXT,                            -- E.164 number for notices
    language      TEXT NOT NULL,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL,
    closed_ms     BIGINT
);
CREATE UNIQUE INDEX plans_one_live ON instalment_plans (biller, account) WHERE state IN ('active', 'late');

CREATE TABLE instalments (
    plan_id       TEXT NOT NULL REFERENCES instalment_plans (id),
    seq           INTEGER NOT NULL,
    due_ms        BIGINT NOT NULL,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    paid          BIGINT NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= amount),
    state         TEXT NOT NULL CHECK (state IN ('due', 'part_paid', 'paid', 'missed')),
    was_missed    INTEGER NOT NULL DEFAULT 0,
    paid_ms       BIGINT,
    PRIMARY KEY (plan_id, seq)
);
CREATE INDEX instalments_due ON instalments (state, due_ms);

-- Where each credited bill payment went: an instalment of a plan, or a bill.
CREATE TABLE bill_allocations (
    order_id      TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    bill_id       TEXT,
    plan_id       TEXT,
    instalment    INTEGER,
    amount        BIGINT NOT NULL CHECK (amount > 0),
    currency      TEXT NOT NULL,
    at_ms         BIGINT NOT NULL,
    PRIMARY KEY (order_id, seq),
    CHECK ((bill_id IS NULL) <> (plan_id IS NULL))
);
CREATE INDEX bill_allocations_bill ON bill_allocations (bill_id);

-- ADSL recharges applied: the access is valid from..until (recharges queue one after another).
CREATE TABLE adsl_recharges (
    order_id      TEXT PRIMARY KEY,
    biller        TEXT NOT NULL,
    account       TEXT NOT NULL,
    product       TEXT NOT NULL,
    months        INTEGER NOT NULL,
    valid_from_ms BIGINT NOT NULL,
    valid_until_ms BIGINT NOT NULL,
    at_ms         BIGINT NOT NULL
);
CREATE INDEX adsl_recharges_account ON adsl_recharges (biller, account, valid_until_ms);

-- Standing mandates on a postal (CCP) account: requested -> active (access code) -> revoked;
-- requested -> blocked after too many wrong codes. Only the code's hash is kept.
CREATE TABLE mandates (
    id            TEXT PRIMARY KEY,
    market        TEXT NOT NULL,
    biller        TEXT NOT NULL,
    account       TEXT NOT NULL,
    ccp           TEXT NOT NULL,
    customer      TEXT NOT NULL,                   -- E.164 number: notices and reports
    language      TEXT NOT NULL,
    product       TEXT,                            -- ADSL recharge bought every period, if any
    state         TEXT NOT NULL CHECK (state IN ('requested', 'active', 'revoked', 'blocked')),
    code_hash     TEXT NOT NULL,
    code_fails    INTEGER NOT NULL DEFAULT 0,
    created_ms    BIGINT NOT NULL,
    activated_ms  BIGINT,
    revoked_ms    BIGINT,
    updated_ms    BIGINT NOT NULL,
    run_token     TEXT,                            -- a debit run working on this mandate holds it
    run_until_ms  BIGINT                           -- until then (a crashed run's lease expires)
);
CREATE UNIQUE INDEX mandates_one_live ON mandates (biller, account) WHERE state IN ('requested', 'active');
CREATE INDEX mandates_state ON mandates (state);

-- One row per item a mandate pays per period: "mandate:<id>:<bill, instalment or product>:<period>".
--   pending | insufficient | reversed -> debited (the post took the money) -> paid (order credited)
--   debited -> reversed (not deliverable: the post gave it back; tried again next run if still due)
--   insufficient | reversed -> failed after max attempts; pending -> failed (the post refused: closed...)
--   pending | insufficient | reversed -> cancelled (no longer due, or the mandate ended; nothing taken)
-- attempts counts the tries that did not pay; the post's reference of the next try is <id>#<attempts+1>.
-- A debit takes what is due through its item, oldest first: normally the item alone.
CREATE TABLE mandate_debits (
    id            TEXT PRIMARY KEY,
    mandate_id    TEXT NOT NULL REFERENCES mandates (id),
    kind          TEXT NOT NULL CHECK (kind IN ('bill', 'instalment', 'recharge')),
    item          TEXT NOT NULL,
    period        TEXT NOT NULL,
    amount        BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'insufficient', 'debited', 'paid', 'reversed',
                                                 'failed', 'cancelled')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    ref           TEXT,                            -- the postal bank's reference of the debit
    order_id      TEXT,
    reason        TEXT,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);
CREATE INDEX mandate_debits_mandate ON mandate_debits (mandate_id, state);
