-- Review 12: a tombstone that holds two deletes (a known item's delete and
-- a sweep, the latest delete of unknown born: src/tombstone.c) is sent as
-- ONE of them by _tombstone_payload, which resync (its deletes pass),
-- replay and the worker's recreate of an item the remote lacks ship. The
-- remote that gets it kept a tombstone that decided a later create unlike
-- the sender's (and the model's); now the payload carries both ("u": the
-- sweep beside "b" and "d"):
--  * key 1: B's delete {b: c2, d: c3} and a sweep {d: c5}; item X (born c1,
--    so it lost the key to B; its title written at c6) then comes: gone
--    (X was born earlier than B: B's delete removes it; the model agrees).
--    The payload is {d: c5} alone: key 2, which gets that payload and then
--    X, keeps X (c6 is later than the sweep, and B's delete is lost).
--  * key 3: a sweep {d: c3} and B's delete {b: c1, d: c6}; item Y (born
--    c2, later than B, its title at c2) then comes: gone (the sweep c3 is
--    later than all of Y). The payload is {b: c1, d: c6} alone: key 4,
--    which gets that payload and then Y, keeps Y (born later than B, and
--    the sweep is lost).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv12_payload;
\c regress_rv12_payload
\ir sql/clock_peer_b.psql
\ir sql/clock_messages.psql
-- a state of the model (_merge, _exists) of a create: born b, title at clock t
CREATE FUNCTION st(b text, t text, v text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object('b', b)) || jsonb_build_object('f', jsonb_build_object('title', jsonb_build_object('c', t, 'v', v)))
$$;
CREATE FUNCTION payload_meta(k text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT (directus_sync._tombstone_payload(s, k)->'directus_sync_meta')::jsonb - 's'
      FROM directus_sync.subscription s WHERE s.collection = 'articles'
$$;
-- key 1: B's delete, the sweep; key 2: what resync sends of key 1
SELECT deliver(1, jsonb_build_object('b', c(2), 'd', c(3)), NULL);
SELECT deliver(1, jsonb_build_object('d', c(5)), NULL);
SELECT deliver(2, payload_meta('1'), NULL);
SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(6))), 'X');
SELECT deliver(2, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(6))), 'X');
-- key 3: the sweep, B's delete; key 4: what resync sends of key 3
SELECT deliver(3, jsonb_build_object('d', c(3)), NULL);
SELECT deliver(3, jsonb_build_object('b', c(1), 'd', c(6)), NULL);
SELECT deliver(4, payload_meta('3'), NULL);
SELECT deliver(3, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'Y');
SELECT deliver(4, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'Y');
-- keys 2 and 4 (the payload carries both deletes) decide X and Y as the
-- instance that sent the tombstone (keys 1 and 3) and the model: no rows
SELECT id, title FROM articles ORDER BY id;
SELECT directus_sync._exists(directus_sync._merge(directus_sync._merge(
           jsonb_build_object('b', c(2), 'd', c(3)), jsonb_build_object('d', c(5))), st(c(1), c(6), 'X'))) AS model_x,
       directus_sync._exists(directus_sync._merge(directus_sync._merge(
           jsonb_build_object('d', c(3)), jsonb_build_object('b', c(1), 'd', c(6))), st(c(2), c(2), 'Y'))) AS model_y;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv12_payload;
