-- The OTP guard's reservation commits without waiting for its WAL to reach the disk
-- (synchronous_commit off for its own transaction only, as PostgreSQL's documentation suggests
-- for the less important writes of a mixed workload). A crash can lose the attempts counted in
-- the last moments before it (at most about three wal_writer_delay, 0.6 s by default): a few
-- wrong codes that do not count towards the payer's hourly limit, once, after a crash the
-- attacker does not choose. The gateway still allows 3 wrong codes per payment. Nothing about
-- money or orders changes: every order and ledger write still waits for the flush, and the
-- next one of them (the capture) flushes this reservation with it. It saves one WAL flush per
-- code entered, the only one a recharge had outside its orders and its ledger.
-- set_config(..., true) lasts until the end of the transaction: the caller's single
-- statement, or the caller's transaction if it opened one (then all of it is asynchronous:
-- core/otp_guard.py calls this on its own).
CREATE OR REPLACE FUNCTION otp_reserve(p_msisdn TEXT, p_attempt TEXT, p_order TEXT, p_now BIGINT,
                                       p_since BIGINT, p_limit INTEGER)
RETURNS TABLE (n BIGINT, first BIGINT) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO otp_guard (msisdn) VALUES (p_msisdn)
        ON CONFLICT (msisdn) DO UPDATE SET msisdn = excluded.msisdn;
    SELECT COUNT(*), MIN(a.at_ms) INTO n, first FROM otp_attempts a
        WHERE a.msisdn = p_msisdn AND a.at_ms > p_since;
    IF n < p_limit THEN
        INSERT INTO otp_attempts (id, msisdn, order_id, at_ms) VALUES (p_attempt, p_msisdn, p_order, p_now);
    END IF;
    RETURN NEXT;
END $$;
