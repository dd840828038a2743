-- Review 6: insert/insert ("the one born later keeps the key, whole;
-- nothing is merged", docs/replication.md). When the later-born item wins
-- through a sync that carries only some fields (the sender ships fewer
-- fields than we do, or a forwarded change carries only the fields that
-- changed at the forwarder), write_field (src/clock_row.c) keeps, for every
-- field the sync does not carry, the LOSING item's value and its clock:
-- the row becomes the winner's title with the loser's body, and the
-- loser's body, with its clock, then ships to the other instances under the
-- winner's born clock, where it beats the winner's own body. Two items
-- merged, which the issue (deliver 5) forbids.
-- Correct: a whole win drops the loser's clocks for the fields the sync
-- does not carry (they are older than the item's birth), so the winner's
-- values of those fields win when they come; the row is never shipped
-- with the loser's body under the winner's born clock.
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
-- WRONG today: b's title with our body, and our body keeps our clock under
-- b's born clock (correct: our body's clock is gone with our item)
SELECT id, title, body,
       directus_sync_meta->>'b' LIKE '%@00000000-0000-0000-0000-0000000000b0' AS born_of_b,
       directus_sync_meta->'f'->>'body' LIKE '%@' || directus_sync._node_id() AS loser_body_clock_kept
  FROM articles;
-- b's body then comes (with the clock of b's create) and loses to our
-- item's edited body: the two items are merged (and our body goes to b
-- under b's born clock, where it beats b's own)
BEGIN;
UPDATE articles SET body = 'their body',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                               'b', (SELECT clock FROM b_born),
                                               'f', jsonb_build_object('body', (SELECT clock FROM b_born)))
 WHERE id = 3;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '3');
COMMIT;
-- WRONG today: 'our body, edited' (correct: 'their body', the winner's)
SELECT title, body FROM articles;
SELECT op, payload::jsonb->>'body' AS body,
       payload::jsonb->'directus_sync_meta'->>'b' = (SELECT clock FROM b_born) AS under_b_born
  FROM directus_sync.outbox ORDER BY id;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_ii;
