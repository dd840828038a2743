-- Review 11 #3: a create decided under a tombstone is decided the same in
-- every order of the deletes. Three messages of key k reach an instance
-- that lacks the item (keys 5 and 6 stand for two instances, keys 7 and 8
-- for two more that have the item when the first delete comes):
--   T_old: a delete of the item made before the clocks (born unknown), X4
--   T_new: a delete of item B (born B), X1
--   C:     a sync's create of item B (born B), its title at S, X1 < S < X4
-- A delete without "b" deletes whatever item is older than it
-- (docs/replication.md#deletes), so B is dead in every order. The tombstone
-- keeps the delete of the item born latest (X1, B) and, apart, its sweep:
-- the latest delete of unknown born (X4), which T_new no longer replaces.
-- Before the fix the tombstone was one (born, deleted) pair: key 5
-- (T_old, C, T_new) skipped C under ("", X4) and ended without B, key 6
-- (T_old, T_new, C) took C under (B, X1) and kept B. The model (_merge)
-- agrees: its sweep "u" keeps X4 whoever wins the key, and _exists says B
-- is gone. Keys 7 and 8: a sync's delete without "b" of an item here is
-- kept as it was made (a sweep), not as a delete of the item it met, so
-- all four tombstones end equal.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv11_tomb;
\c regress_rv11_tomb
\ir sql/clock_peer_b.psql
CREATE TABLE clocks AS
SELECT n, left(directus_sync.clock_now(), 11) || lpad(to_hex(n), 5, '0')
          || '@00000000-0000-0000-0000-0000000000b0' AS clock
  FROM generate_series(1, 10) n;
CREATE FUNCTION c(n int) RETURNS text LANGUAGE sql AS $$ SELECT clock FROM clocks WHERE clocks.n = c.n $$;
CREATE FUNCTION tomb(k int, deleted text, born text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles (id, directus_sync_meta)
    VALUES (k, jsonb_strip_nulls(jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                                    'd', deleted, 'b', born)));
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
CREATE FUNCTION tomb_update(k int, deleted text, born text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles SET directus_sync_meta = jsonb_strip_nulls(jsonb_build_object(
               's', '00000000-0000-0000-0000-0000000000b0', 'd', deleted, 'b', born))
     WHERE id = k;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
CREATE FUNCTION sync_create(k int, born text, s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles (id, title, directus_sync_meta)
    VALUES (k, 'B', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', born,
                                       'f', jsonb_build_object('title', s)));
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
-- B = c(1), X1 = c(2), S = c(3), X4 = c(4)
-- key 5: T_old, C, T_new
SELECT tomb(5, c(4), NULL);
SELECT sync_create(5, c(1), c(3));
SELECT tomb(5, c(2), c(1));
-- key 6: T_old, T_new, C
SELECT tomb(6, c(4), NULL);
SELECT tomb(6, c(2), c(1));
SELECT sync_create(6, c(1), c(3));
-- key 7: C, T_old (an update of the item here), T_new
SELECT sync_create(7, c(1), c(3));
SELECT tomb_update(7, c(4), NULL);
SELECT tomb(7, c(2), c(1));
-- key 8: T_new, C, T_old (an update of the item here)
SELECT tomb(8, c(2), c(1));
SELECT sync_create(8, c(1), c(3));
SELECT tomb_update(8, c(4), NULL);
-- the tombstones agree: the delete of item B at X1, the sweep at X4
SELECT item_key, deleted = c(2) AS deleted_x1, born = c(1) AS born_b, swept = c(4) AS swept_x4
  FROM directus_sync.tombstone ORDER BY item_key;
-- the model: B's state wins the key, with the sweep: B is gone
WITH m AS (
    SELECT directus_sync._merge(directus_sync._merge(
               jsonb_build_object('b', '', 'd', c(4), 'f', '{}'::jsonb),
               jsonb_build_object('b', c(1), 'd', c(2), 'f', '{}'::jsonb)),
               jsonb_build_object('b', c(1), 'f', jsonb_build_object('title',
                                  jsonb_build_object('c', c(3), 'v', 'B')))) AS state)
SELECT state->'f'->'title'->>'v' AS model_title, state->>'d' = c(2) AS model_deleted_x1,
       state->>'u' = c(4) AS model_swept_x4, directus_sync._exists(state) AS model_exists
  FROM m;
-- no order keeps B (before the fix key 6 kept it)
SELECT count(*) IN (0, 4) AS same_in_every_order, count(*) AS rows FROM articles;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv11_tomb;
