-- Review 13: the tombstone state that 1ad3f6c (review 12 #2-#4) adds never
-- leaves the instance through resync, replay or the re-create of an item a
-- remote lacks (_current_rows, _queue_current, _tombstone_payload), so an
-- instance brought up to date that way decides a later create unlike the
-- sender (and the model):
--  * key 1: item X (born c2, title at c2), then a sweep {d: c4}: X goes and
--    the tombstone keeps X's born clock with deleted '' (swept c4). What
--    resync sends of key 1 is the sweep {d: c4} alone (X's born cannot go:
--    deleted is '', no clock). Key 2 gets that payload. Item Y (born c1,
--    earlier than X, title at c6) then comes to both: key 1 skips it (Y lost
--    the key to X, which the sweep killed; the model agrees), key 2 keeps Y
--    (c6 is later than the sweep).
--  * key 3: item X (born c1, title at c5), then a sweep {d: c4} that loses
--    to it: X stays, and the tombstone keeps the sweep. What resync sends
--    of key 3 is the item as it is (_current_rows); no delete goes. Key 4
--    gets that payload. Item B (born c2, later than X, title at c3) then
--    comes to both: key 3 deletes it (the sweep c4 is later than all of B;
--    the model agrees), key 4 keeps B.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv13_swept;
\c regress_rv13_swept
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
-- a state of the model (_merge, _exists) of a create: born b, title at clock t
CREATE FUNCTION st(b text, t text, v text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object('b', b)) || jsonb_build_object('f', jsonb_build_object('title', jsonb_build_object('c', t, 'v', v)))
$$;
-- what resync (and replay, and the re-create of an item the remote lacks)
-- sends of key k: the item as it is, else its tombstone's delete
CREATE FUNCTION sent(k text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT r.payload::jsonb FROM directus_sync.subscription s,
           directus_sync._current_rows(s.remote_id, s.collection, ARRAY[k]) r
     WHERE s.collection = 'articles'
$$;
CREATE FUNCTION deliver_sent(k int, payload jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT deliver(k, (payload->'directus_sync_meta') - 's', payload->>'title')
$$;
-- key 1: X, the sweep (X goes); key 2: what resync sends of key 1
SELECT deliver(1, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'X');
SELECT deliver(1, jsonb_build_object('d', c(4)), NULL);
SELECT born = c(2) AS keeps_x_born, swept = c(4) AS keeps_sweep FROM directus_sync.tombstone WHERE item_key = '1';
SELECT deliver_sent(2, sent('1'));
SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(6))), 'Y');
SELECT deliver(2, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(6))), 'Y');
-- key 3: X, the sweep that loses to it (X stays); key 4: what resync sends of key 3
SELECT deliver(3, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5))), 'X');
SELECT deliver(3, jsonb_build_object('d', c(4)), NULL);
SELECT deliver_sent(4, sent('3'));
SELECT id, title FROM articles ORDER BY id;
SELECT deliver(3, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(3))), 'B');
SELECT deliver(4, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(3))), 'B');
-- WRONG today: key 2 holds Y and key 4 holds B; the instance that sent
-- them (keys 1 and 3) and the model have neither: no rows
SELECT id, title FROM articles ORDER BY id;
SELECT directus_sync._exists(directus_sync._merge(directus_sync._merge(
           st(c(2), c(2), 'X'), jsonb_build_object('d', c(4))), st(c(1), c(6), 'Y'))) AS model_y,
       directus_sync._exists(directus_sync._merge(directus_sync._merge(
           st(c(1), c(5), 'X'), jsonb_build_object('d', c(4))), st(c(2), c(3), 'B'))) AS model_b;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv13_swept;
