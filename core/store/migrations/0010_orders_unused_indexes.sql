-- No query reads orders by payer or by (purpose, target): these two indexes were only written.
-- Every state move of an order rewrites all of its index entries (the state is indexed, so
-- the update is never HOT): two fewer make each move and each new order cheaper.
DROP INDEX IF EXISTS orders_payer;
DROP INDEX IF EXISTS orders_target;
