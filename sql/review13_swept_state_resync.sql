-- Review 13 #1: a sweep (a delete of unknown born) that lost to a live item
-- stays in the item's tombstone and still removes every item older than it
-- that takes the key. A resync, a replay, or a create for a remote that
-- lacked the item sent the live item without it: the remote then kept an
-- item born later and older than the sweep, which the sender removes, for
-- good. The item now carries the sweep as "u" in directus_sync_meta
-- (_with_sweep), and the receiver keeps it in its tombstone, with no
-- conflict and no write-back.
--  * sender: item X from b (born c1, title at c5), then a sweep {d: c4}
--    from b, which loses to X and is kept.
--  * receiver: X as the sender queues it now, then item B from c (born
--    c2, later than X, title at c2): B takes the key whole and the sweep
--    kills it, at the receiver as at the sender.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv13_swept;
\c regress_rv13_swept
\ir sql/clock_peer_b.psql
\ir sql/clock_peer_c.psql
\ir sql/clock_messages.psql
SELECT deliver('b', 1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5))), 'X');
SELECT deliver('b', 1, jsonb_build_object('d', c(4)), NULL);
SELECT item_key, born IS NULL AS no_born, swept = c(4) AS sweep_kept FROM directus_sync.tombstone;
DELETE FROM directus_sync.outbox;
-- a resync (and one where the sender's values win) and a replay queue X with the sweep
SELECT directus_sync._queue_current(s, ARRAY['1']) FROM directus_sync.subscription s WHERE s.remote_id = 2;
SELECT directus_sync._queue_current(s, ARRAY['1'], directus_sync.clock_now())
  FROM directus_sync.subscription s WHERE s.remote_id = 2;
SELECT op, payload->>'title' AS title, payload->'directus_sync_meta'->>'u' = c(4) AS carries_sweep,
       payload->'directus_sync_meta'->'f'->>'title' = c(5) AS stored_clock
  FROM directus_sync.outbox ORDER BY id;
-- as does the create for a remote that answered that it lacks the item
SELECT item_key, payload->>'title' AS title, payload->'directus_sync_meta'->>'u' = c(4) AS carries_sweep
  FROM directus_sync._current_rows(2, 'articles', ARRAY['1']);
-- a value PostgreSQL cannot de-escape goes as written, without the sweep (review 14)
SELECT directus_sync._with_sweep('{"id":1,"t":"a\u0000b","directus_sync_meta":{"s":"x"}}', c(4)) AS as_written,
       directus_sync._with_sweep('{"id":1,"t":"ab","directus_sync_meta":{"s":"x"}}', 'y') AS with_sweep;
-- what the receiver gets: the first payload
SELECT payload AS sent, left(c(1), 11) AS second FROM directus_sync.outbox ORDER BY id LIMIT 1 \gset
-- B from c: it takes the key whole, and the sweep kills it
SELECT deliver('c', 1, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'B');
SELECT id, title FROM articles ORDER BY id;

CREATE DATABASE regress_rv13_swept_recv;
\c regress_rv13_swept_recv
\ir sql/clock_peer_b.psql
\ir sql/clock_peer_c.psql
\ir sql/clock_messages.psql
-- the sender's clocks
UPDATE clocks SET clock = :'second' || substr(clock, 12);
SELECT deliver('b', 1, ((:'sent'::jsonb)->'directus_sync_meta') - 's', :'sent'::jsonb->>'title');
-- the sweep is kept, with no conflict and no write-back to b; the item goes on to c
SELECT id, title FROM articles ORDER BY id;
SELECT item_key, born IS NULL AS no_born, swept = c(4) AS sweep_kept FROM directus_sync.tombstone;
SELECT count(*) AS conflicts FROM directus_sync.conflict;
SELECT r.name, o.op FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;
-- sent again (a retry, another resync): nothing new
DELETE FROM directus_sync.outbox;
SELECT deliver('b', 1, ((:'sent'::jsonb)->'directus_sync_meta') - 's', :'sent'::jsonb->>'title');
SELECT count(*) AS conflicts FROM directus_sync.conflict;
SELECT count(*) AS queued FROM directus_sync.outbox WHERE remote_id = 1;
-- B from c: killed as at the sender (before the fix: kept here for good)
SELECT deliver('c', 1, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'B');
SELECT id, title FROM articles ORDER BY id;
-- key 2: an item of ours born later than the sender's (c3) and older than
-- the sweep beside it keeps the key and meets the sweep: it goes, and its
-- delete goes to b as well, which has the other item
SELECT deliver('c', 2, jsonb_build_object('b', c(3), 'f', jsonb_build_object('title', c(3))), 'Y');
DELETE FROM directus_sync.outbox;
SELECT deliver('b', 2, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5)), 'u', c(4)), 'X');
SELECT id, title FROM articles ORDER BY id;
SELECT r.name, o.op, o.payload->'directus_sync_meta'->>'b' = c(3) AS names_y
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id WHERE o.item_key = '2' ORDER BY o.id;
-- key 3: a create whose sweep is later than the item itself is the item's delete
SELECT deliver('b', 3, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2)), 'u', c(4)), 'Z');
SELECT id, title FROM articles ORDER BY id;
-- a sweep must be a clock
SELECT deliver('b', 4, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2)), 'u', 'x'), 'Z');
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv13_swept;
DROP DATABASE regress_rv13_swept_recv;
