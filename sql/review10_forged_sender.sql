-- Review 10: a sync's "s" (the sender's node) decides ties (clock_row.c
-- sync_wins_tie: the sender's value wins when the sender made the clock,
-- ours when we did, and ours then goes back to it) and completes the
-- sender's own clocks. Remote b's sync user sends a value of our item under
-- OUR clock with "s" set to OUR node id: taken, it would replace our write
-- under its own clock, nothing would go back to b, and every other instance
-- would keep our real value under that clock for good. Legitimately "s" is
-- never this node (a change of ours that comes back is sent by another
-- instance, which names itself), so the trigger refuses such a sync (42501):
-- the item keeps our value and clock, and nothing is queued.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv10_forged;
\c regress_rv10_forged
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, status text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'status'], key_series => false);
INSERT INTO articles (id, title, status) VALUES (6, 'our item', 'published');
CREATE TABLE our_clock AS SELECT directus_sync_meta->'f'->>'status' AS clock FROM articles;
TRUNCATE directus_sync.outbox;
BEGIN;
UPDATE articles SET status = 'forged',
       directus_sync_meta = jsonb_build_object('s', directus_sync._node_id(),
                                               'f', jsonb_build_object('status', (SELECT clock FROM our_clock)))
 WHERE id = 6;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '6');
COMMIT;
-- refused: our value under our clock, nothing queued
SELECT status, directus_sync_meta->'f'->>'status' = (SELECT clock FROM our_clock) AS same_clock FROM articles;
SELECT count(*) AS queued_back FROM directus_sync.outbox;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv10_forged;
