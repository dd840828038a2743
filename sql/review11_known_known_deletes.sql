-- Two deletes of two known items of one key, and a create, in every order.
-- Item A (born c1) lost its key to item B (born c2, insert/insert: the item
-- born later keeps it); B was deleted at c3, A at c6 on an instance that
-- still had it; a sync's create of A carries its title at c4. The model
-- (_merge) lets the state born later win whole: B's delete, so A is gone
-- whatever its clocks. Before the fix the tombstone kept B's delete alone
-- once both had come (the delete of the item born later), and A's create,
-- later than c3, came back in the orders where it arrived after both
-- deletes (keys 1 and 2 below), not in the others. Key 6 has A when B's
-- delete comes: a sync's delete of an item born later than the one here
-- removes it too.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv11_known;
\c regress_rv11_known
\ir sql/clock_peer_b.psql
\ir sql/clock_messages.psql
CREATE FUNCTION delete_a(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('b', c(1), 'd', c(6)), NULL) $$;
CREATE FUNCTION delete_b(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('b', c(2), 'd', c(3)), NULL) $$;
CREATE FUNCTION create_a(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(4))), 'A') $$;
SELECT delete_a(1), delete_b(1), create_a(1);
SELECT delete_b(2), delete_a(2), create_a(2);
SELECT delete_a(3), create_a(3), delete_b(3);
SELECT delete_b(4), create_a(4), delete_a(4);
SELECT create_a(5), delete_a(5), delete_b(5);
SELECT create_a(6), delete_b(6), delete_a(6);
-- no order keeps A (before the fix keys 1 and 2 did)
SELECT id, title FROM articles ORDER BY id;
-- the tombstones agree: B's delete
SELECT item_key, deleted = c(3) AS deleted_c3, born = c(2) AS born_b, swept IS NULL AS no_sweep
  FROM directus_sync.tombstone ORDER BY item_key;
-- the model agrees: A is gone
SELECT directus_sync._exists(directus_sync._merge(directus_sync._merge(
           jsonb_build_object('b', c(1), 'd', c(6)), jsonb_build_object('b', c(2), 'd', c(3))),
           jsonb_build_object('b', c(1), 'f', jsonb_build_object('title',
                              jsonb_build_object('c', c(4), 'v', 'A'))))) AS model_exists;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv11_known;
