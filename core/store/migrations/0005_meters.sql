-- Prepaid meters (F5 card meters, F6 STS keypad meters), their utility cards, and vends.

CREATE TABLE meters (
    number          TEXT PRIMARY KEY,          -- 11 digits with a Luhn check digit
    market          TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('sts', 'card')),
    tariff          TEXT NOT NULL,
    supply_group    TEXT NOT NULL,             -- STS supply group code, 6 digits
    tariff_index    TEXT NOT NULL,             -- STS tariff index, 2 digits
    key_revision    INTEGER NOT NULL,
    key_ref         TEXT NOT NULL,             -- the vending key's name in the key store
    customer        TEXT NOT NULL,
    last_tid        BIGINT NOT NULL DEFAULT 0, -- STS: TIDs must grow per meter
    purchase_count  BIGINT NOT NULL DEFAULT 0, -- card: the next record carries count + 1
    card_serial     TEXT,                      -- card: the card that now works with the meter
    card_activation INTEGER NOT NULL DEFAULT 0, -- card: the next record activates card_serial
    created_ms      BIGINT NOT NULL
);

CREATE TABLE meter_cards (
    serial          TEXT PRIMARY KEY,
    meter           TEXT NOT NULL REFERENCES meters (number),
    state           TEXT NOT NULL CHECK (state IN ('active', 'lost', 'damaged', 'replaced')),
    issued_ms       BIGINT NOT NULL,
    replaced_by     TEXT
);

-- One row per delivered vend; the token or record is kept so a retried vend returns it.
CREATE TABLE vends (
    order_id        TEXT PRIMARY KEY,
    meter           TEXT NOT NULL REFERENCES meters (number),
    kind            TEXT NOT NULL,             -- sts | card | activation
    month           TEXT NOT NULL,             -- "2026-11": the band and fee month
    paid            BIGINT NOT NULL,
    fee             BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    energy_tenths   BIGINT NOT NULL,
    token           TEXT,                      -- STS: 20 digits
    record          TEXT,                      -- card: the credit record's text form
    tid             BIGINT,
    purchase_count  BIGINT,
    card_serial     TEXT,
    at_ms           BIGINT NOT NULL
);
CREATE INDEX vends_meter_month ON vends (meter, month);

-- A card replacement waits for its fee: the card switches in the transaction that takes it.
CREATE TABLE card_replacements (
    order_id        TEXT PRIMARY KEY,
    meter           TEXT NOT NULL REFERENCES meters (number),
    serial          TEXT NOT NULL UNIQUE,
    reason          TEXT NOT NULL CHECK (reason IN ('lost', 'damaged'))
);
