-- The OTP guard's reservation (core/otp_guard.py) in one round trip: lock the payer's row,
-- count the hour's attempts, and count this one if the limit allows. Each statement of a
-- VOLATILE function takes its own snapshot under READ COMMITTED, so the count runs after the
-- lock is held and sees every attempt committed before it: concurrent codes of one payer
-- cannot both take the hour's last attempt. The limit is the caller's (the market's rule);
-- the function returns the count and the oldest attempt before this one, so the caller can
-- say when to try again. Sent as BEGIN, three statements and COMMIT it cost five round trips
-- per code entered (docs/benchmarks.md). SQLite, whose writers are serialised anyway, runs the
-- same three statements from Python.
CREATE FUNCTION otp_reserve(p_msisdn TEXT, p_attempt TEXT, p_order TEXT, p_now BIGINT,
                            p_since BIGINT, p_limit INTEGER)
RETURNS TABLE (n BIGINT, first BIGINT) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO otp_guard (msisdn) VALUES (p_msisdn)
        ON CONFLICT (msisdn) DO UPDATE SET msisdn = excluded.msisdn;
    SELECT COUNT(*), MIN(a.at_ms) INTO n, first FROM otp_attempts a
        WHERE a.msisdn = p_msisdn AND a.at_ms > p_since;
    IF n < p_limit THEN
        INSERT INTO otp_attempts (id, msisdn, order_id, at_ms) VALUES (p_attempt, p_msisdn, p_order, p_now);
    END IF;
    RETURN NEXT;
END $$;
