-- The settlement index (gateway, paid_ms) also matched the callback lookup
-- "WHERE gateway = ? AND gateway_ref = ?" on its first column. A prepared statement's generic
-- plan, made while the table was small, tied on cost and could pick it: every callback then
-- scanned all of a gateway's orders (0.5 ms per call at 4,000 orders, 5 ms at 20,000, measured
-- with pg_stat_statements in docs/benchmarks.md). Made partial, it serves only queries that
-- bound paid_ms (settlement's "paid_ms >= ? AND paid_ms < ?" implies NOT NULL), so the lookup
-- by reference has one index to choose: the unique one.
DROP INDEX IF EXISTS settlement_orders_paid;
CREATE INDEX settlement_orders_paid ON orders (gateway, paid_ms) WHERE paid_ms IS NOT NULL;
