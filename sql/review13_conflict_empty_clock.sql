-- Review 13: a tombstone that keeps a swept item's born clock (1ad3f6c,
-- tombstone_keep_swept_born) has deleted = '' (no delete of that item was
-- made). create_survives_delete logs the create that meets it with the
-- tombstone's deleted as the local clock: when the create survives (born
-- later than the swept item, and later than the sweep) the conflict log
-- gets an update_delete whose local clock is '' instead of the sweep it
-- beat. Item X (born c2, title at c2), a sweep {d: c4} that kills it, then
-- item B (born c3, title at c6): B lives; its conflict must name the sweep.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv13_conflict;
\c regress_rv13_conflict
\ir sql/clock_peer_b.psql
CREATE TABLE clocks AS
SELECT n, left(directus_sync.clock_now(), 11) || lpad(to_hex(n), 5, '0')
          || '@00000000-0000-0000-0000-0000000000b0' AS clock
  FROM generate_series(1, 10) n;
CREATE FUNCTION c(n int) RETURNS text LANGUAGE sql AS $$ SELECT clock FROM clocks WHERE clocks.n = c.n $$;
-- a sync's message of key k, as Directus writes it: a create when the item
-- is not here, else an update (as sql/review11_known_known_deletes.sql)
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
SELECT deliver(1, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'X');
SELECT deliver(1, jsonb_build_object('d', c(4)), NULL);
SELECT deleted = '' AS deleted_empty, born = c(2) AS keeps_x_born, swept = c(4) AS keeps_sweep
  FROM directus_sync.tombstone WHERE item_key = '1';
SELECT deliver(1, jsonb_build_object('b', c(3), 'f', jsonb_build_object('title', c(6))), 'B');
SELECT id, title FROM articles ORDER BY id;
-- the local clock is the sweep c4 (before the fix: '', empty)
SELECT kind, winner, local_clock = c(4) AS local_is_the_sweep, local_clock <> '' AS local_not_empty,
       remote_clock = c(6) AS remote_is_b
  FROM directus_sync.conflict WHERE item_key = '1' AND kind = 'update_delete' AND winner = 'remote';
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv13_conflict;
