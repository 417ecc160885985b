-- The reservation serialises one payer's codes with a transaction-scoped advisory lock on the
-- payer's MSISDN instead of the otp_guard row. The row lock was an upsert that wrote a new
-- version of the row for every code entered (a lock, an update and later a prune in the WAL);
-- an advisory lock lives in the lock manager only and ends with the transaction, like the row
-- lock did. Two payers whose MSISDNs hash alike merely wait for each other. The two-key form
-- (7243502, hash) keeps clear of the migration lock's single key. Otherwise as 0011: the count
-- runs after the lock is held (its own snapshot), and the commit does not wait for the flush.
CREATE OR REPLACE FUNCTION otp_reserve(p_msisdn TEXT, p_attempt TEXT, p_order TEXT, p_now BIGINT,
                                       p_since BIGINT, p_limit INTEGER)
RETURNS TABLE (n BIGINT, first BIGINT) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_advisory_xact_lock(7243502, hashtext(p_msisdn));
    SELECT COUNT(*), MIN(a.at_ms) INTO n, first FROM otp_attempts a
        WHERE a.msisdn = p_msisdn AND a.at_ms > p_since;
    IF n < p_limit THEN
        INSERT INTO otp_attempts (id, msisdn, order_id, at_ms) VALUES (p_attempt, p_msisdn, p_order, p_now);
    END IF;
    RETURN NEXT;
END $$;
