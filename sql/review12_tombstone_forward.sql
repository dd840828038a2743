-- Review 12: a delete travels with both parts of its sender's tombstone
-- ("b"+"d": the delete of the item it names; "u": the sweep, the latest
-- delete of unknown born), and an instance that passes it on (to its other
-- remotes) passes both: a third instance that got one part would decide a
-- later create unlike the first two. Here A (this database) gets deletes
-- from b and forwards them to c; "c" is played by other keys of this
-- table, which get what A queued for c.
--  * key 1 (A lacks the item): {b: c2, d: c3, u: c5} comes as a create; A
--    keeps both and forwards both; key 2 gets the forward. Item X (born c1,
--    title at c6) then comes to both: gone (lost the key to B, born c2).
--  * key 3 (A lacks the item): {b: c1, d: c6, u: c3}, forwarded to key 4.
--    Item Y (born c2, title at c2) then comes to both: gone (the sweep c3
--    is later than all of Y, born later than B though it is).
--  * key 5 (A has item Z, born c4, title at c4): {b: c3, d: c6, u: c5}
--    comes as a sync's delete (an update): Z was born later than the item
--    the delete names, but the sweep c5 is later than all of Z: gone. A's
--    tombstone keeps Z's born clock (killed by the sweep: deleted '') and
--    the sweep, and the delete goes on to c as Z's at the sweep's clock
--    ({b: c4, d: c5, u: c5}, which decides every item as A's tombstone
--    does); key 6 gets it, then Z and V (born c3, title at c7): gone on
--    both (V lost the key to Z).
--  * a tombstone that keeps a swept item's born clock without its delete
--    (keys 3 and 5: deleted '') is sent as that item's delete at the
--    sweep's clock ("d" is never "").
--  * the sweep "u" is a clock, and only a sync user brings it. A live
--    item carries it too since review 13 (the sweep that lost to it at
--    the sender): one later than the item removes it, as _merge says.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv12_forward;
\c regress_rv12_forward
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000c') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title'], key_series => false);
UPDATE directus_sync.remote SET paused = true;
CREATE TABLE clocks AS
SELECT n, left(directus_sync.clock_now(), 11) || lpad(to_hex(n), 5, '0')
          || '@00000000-0000-0000-0000-0000000000b0' AS clock
  FROM generate_series(1, 10) n;
CREATE FUNCTION c(n int) RETURNS text LANGUAGE sql AS $$ SELECT clock FROM clocks WHERE clocks.n = c.n $$;
CREATE FUNCTION n(clock text) RETURNS text LANGUAGE sql AS $$ SELECT 'c' || n FROM clocks WHERE clocks.clock = n.clock $$;
-- a sync's message of key k from b, as Directus writes it: a create when
-- the item is not here, else an update (as sql/review12_tombstone_payload.sql)
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
-- the delete A queued for c of key k (its last), as c reads its clocks
CREATE FUNCTION forwarded(k text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT (o.payload::jsonb->'directus_sync_meta') - 's' - 'w'
      FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
     WHERE r.name = 'c' AND o.item_key = k AND o.op = 'd' ORDER BY o.id DESC LIMIT 1
$$;
CREATE FUNCTION parts(m jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT format('b=%s d=%s u=%s', n(m->>'b'), n(m->>'d'), n(m->>'u'))
$$;
CREATE FUNCTION stone(k text) RETURNS text LANGUAGE sql AS $$
    SELECT format('born=%s deleted=%s swept=%s', n(born), n(deleted), n(swept))
      FROM directus_sync.tombstone WHERE collection = 'articles' AND item_key = k
$$;
-- key 1, forwarded to key 2
SELECT deliver(1, jsonb_build_object('b', c(2), 'd', c(3), 'u', c(5)), NULL);
SELECT stone('1') AS a_keeps, parts(forwarded('1')) AS a_forwards;
SELECT deliver(2, forwarded('1'), NULL);
SELECT stone('2') AS c_keeps;
SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(6))), 'X');
SELECT deliver(2, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(6))), 'X');
-- key 3, forwarded to key 4
SELECT deliver(3, jsonb_build_object('b', c(1), 'd', c(6), 'u', c(3)), NULL);
SELECT stone('3') AS a_keeps, parts(forwarded('3')) AS a_forwards;
SELECT deliver(4, forwarded('3'), NULL);
SELECT deliver(3, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'Y');
SELECT deliver(4, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'Y');
-- key 5: the delete meets Z here; forwarded to key 6
SELECT deliver(5, jsonb_build_object('b', c(4), 'f', jsonb_build_object('title', c(4))), 'Z');
SELECT deliver(5, jsonb_build_object('b', c(3), 'd', c(6), 'u', c(5)), NULL);
SELECT stone('5') AS a_keeps, parts(forwarded('5')) AS a_forwards;
SELECT deliver(6, forwarded('5'), NULL);
SELECT deliver(6, jsonb_build_object('b', c(4), 'f', jsonb_build_object('title', c(4))), 'Z');
-- item V (born c3, as the item the delete names; title at c7, later than
-- its delete c6) lost the key to Z (born c4): gone on A and on c alike
SELECT deliver(5, jsonb_build_object('b', c(3), 'f', jsonb_build_object('title', c(7))), 'V');
SELECT deliver(6, jsonb_build_object('b', c(3), 'f', jsonb_build_object('title', c(7))), 'V');
-- no item is left, on A (keys 1, 3, 5) or on c (keys 2, 4, 6)
SELECT id, title FROM articles ORDER BY id;
-- what resync, replay and recreate send of each tombstone: both parts
SELECT k, parts((directus_sync._tombstone_payload(s, k)->'directus_sync_meta')::jsonb) AS payload
  FROM directus_sync.subscription s, unnest(ARRAY['1', '2', '3', '4', '5', '6']) AS k
 WHERE s.collection = 'articles' AND s.remote_id = (SELECT id FROM directus_sync.remote WHERE name = 'c')
 ORDER BY k;
-- "u" is a clock; beside a live item later than it, it removes the item
-- (W, born c2, a sweep at c3), which does not come back without it, nor
-- does V (title at c4) beside a later sweep (c5)
SELECT deliver(7, jsonb_build_object('b', c(2), 'd', c(3), 'u', 'soon'), NULL);
SELECT deliver(7, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2)), 'u', c(3)), 'W');
SELECT deliver(7, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'W');
SELECT deliver(7, jsonb_build_object('f', jsonb_build_object('title', c(4)), 'u', c(5)), 'V');
SELECT id, title FROM articles ORDER BY id;
-- only a sync user may bring it (a write without the sync's activity row)
INSERT INTO articles (id, directus_sync_meta)
VALUES (8, jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', c(2), 'd', c(3), 'u', c(5)));
SELECT count(*) AS tombstones_of_8 FROM directus_sync.tombstone WHERE item_key = '8';
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv12_forward;
