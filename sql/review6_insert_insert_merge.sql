-- Review 6: insert/insert ("the one born later keeps the key, whole;
-- nothing is merged", docs/replication.md). When the later-born item wins
-- through a sync that carries only some fields (the sender ships fewer
-- fields than we do, or a forwarded change carries only the fields that
-- changed at the forwarder), the losing item's other fields must not
-- survive with their clocks (as _merge drops the loser's registers):
-- write_field (src/clock_row.c, reset_field) puts them to the column's
-- default (NULL here) with no clock, so the winner's values of those
-- fields win when they come, and nothing of the loser ships under the
-- winner's born clock. Before the fix the row kept the loser's body and
-- its clock, which then beat the winner's body and shipped: two items
-- merged. The loser's whole row stays in the conflict log.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_ii;
\c regress_rv6_ii
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, body text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'], key_series => false);
CREATE FUNCTION b_clock() RETURNS text LANGUAGE sql
AS $$ SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' $$;
-- our item 3; then b creates its item 3 (its born clock, which its fields
-- share); then our user edits our item's body (a later clock)
INSERT INTO articles (id, title, body) VALUES (3, 'ours', 'our body');
CREATE TABLE b_born AS SELECT b_clock() AS clock;
UPDATE articles SET body = 'our body, edited';
TRUNCATE directus_sync.outbox;
-- b's item 3 (born after ours) comes with its title only
BEGIN;
UPDATE articles SET title = 'theirs',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                               'b', (SELECT clock FROM b_born),
                                               'f', jsonb_build_object('title', (SELECT clock FROM b_born)))
 WHERE id = 3;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '3');
COMMIT;
SELECT kind, winner FROM directus_sync.conflict;
-- b's title; our body and its clock are gone with our item (body NULL, no clock)
SELECT id, title, body,
       directus_sync_meta->>'b' LIKE '%@00000000-0000-0000-0000-0000000000b0' AS born_of_b,
       directus_sync_meta->'f'->>'body' LIKE '%@' || directus_sync._node_id() AS loser_body_clock_kept
  FROM articles;
-- b's body then comes (with the clock of b's create) and is taken: the
-- row is b's item alone, and nothing goes back out under b's born clock
BEGIN;
UPDATE articles SET body = 'their body',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                               'b', (SELECT clock FROM b_born),
                                               'f', jsonb_build_object('body', (SELECT clock FROM b_born)))
 WHERE id = 3;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '3');
COMMIT;
-- 'their body', the winner's
SELECT title, body FROM articles;
SELECT kind, winner, remote_value IS NOT NULL AND local_value::jsonb->>'body' = 'our body, edited' AS loser_logged_whole
  FROM directus_sync.conflict;
SELECT op, payload::jsonb->>'body' AS body,
       payload::jsonb->'directus_sync_meta'->>'b' = (SELECT clock FROM b_born) AS under_b_born
  FROM directus_sync.outbox ORDER BY id;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_ii;
