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
CREATE TABLE clocks AS
SELECT n, left(directus_sync.clock_now(), 11) || lpad(to_hex(n), 5, '0')
          || '@00000000-0000-0000-0000-0000000000b0' AS clock
  FROM generate_series(1, 10) n;
CREATE FUNCTION c(n int) RETURNS text LANGUAGE sql AS $$ SELECT clock FROM clocks WHERE clocks.n = c.n $$;
-- a sync's message of key k, as Directus writes it: a create when the item
-- is not here, else an update
CREATE FUNCTION deliver(k int, meta jsonb, title text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    action text := 'update';
BEGIN
    meta := meta || '{"s": "00000000-0000-0000-0000-0000000000b0"}';
    UPDATE articles SET title = coalesce(deliver.title, articles.title), directus_sync_meta = meta WHERE id = k;
    IF NOT FOUND THEN
        INSERT INTO articles (id, title, directus_sync_meta) VALUES (k, deliver.title, meta);
        action := 'create';
    END IF;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES (action, '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
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
