-- Security controls: replayed gateway callbacks, and OTP attempts per MSISDN per hour.

-- Signatures of accepted gateway callbacks, kept for twice the timestamp tolerance: the same
-- signature again is a replay (core/adapters/callback_signature.py).
CREATE TABLE callback_replays (
    gateway       TEXT NOT NULL,
    signature     TEXT NOT NULL,
    seen_ms       BIGINT NOT NULL,
    PRIMARY KEY (gateway, signature)
);
CREATE INDEX callback_replays_seen ON callback_replays (seen_ms);

-- One row per MSISDN that entered an OTP: locked while an attempt is counted, so two
-- concurrent attempts cannot both take the last one of the hour (core/otp_guard.py).
CREATE TABLE otp_guard (
    msisdn        TEXT PRIMARY KEY
);

-- OTP attempts that did not pay, per payer MSISDN; those of the last hour count.
CREATE TABLE otp_attempts (
    id            TEXT PRIMARY KEY,
    msisdn        TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    at_ms         BIGINT NOT NULL
);
CREATE INDEX otp_attempts_msisdn ON otp_attempts (msisdn, at_ms);
