-- Review 6: a delete removes ANOTHER item that got the same key. Items 5
-- created on two instances at the same moment (no key series): ours born
-- first, b's born later. Our user deletes our item 5. By the insert/insert
-- rule b's item, born later, is the item of key 5 everywhere, and our
-- delete was of the other item. The merge model agrees: _merge keeps the
-- later-born state whole, without our delete, and _exists says it exists.
-- But a tombstone and a replicated delete carry only the delete's clock,
-- not which item it deleted (its born clock): here b's create meets our
-- tombstone and is SKIPPED (and the delete goes again to every remote,
-- where it deletes b's item too: on b, a sync's delete later than every
-- field's clock removes the item whatever its born clock). b's item, never
-- seen by our user, is gone everywhere.
-- Correct: as _merge says: the tombstone (and the delete it ships) keeps
-- the born clock of the item deleted, and an item born later survives it.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_del;
\c regress_rv6_del
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
CREATE FUNCTION b_clock() RETURNS text LANGUAGE sql
AS $$ SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' $$;
-- our item 5, then b's item 5 (born later, at b), then our delete of ours
INSERT INTO articles (id, title) VALUES (5, 'ours');
CREATE TABLE ours AS SELECT directus_sync_meta->>'b' AS born FROM articles;
CREATE TABLE theirs AS SELECT b_clock() AS born;
DELETE FROM articles WHERE id = 5;
SELECT (SELECT born FROM ours) < (SELECT born FROM theirs) COLLATE "C" AS theirs_born_later,
       (SELECT deleted FROM directus_sync.tombstone) > (SELECT born FROM theirs) COLLATE "C" AS delete_later;
-- the model: our state (deleted) merged with b's (born later): it exists
SELECT directus_sync._exists(directus_sync._merge(
         jsonb_build_object('b', (SELECT born FROM ours), 'd', (SELECT deleted FROM directus_sync.tombstone),
                            'f', jsonb_build_object('title', jsonb_build_object('c', (SELECT born FROM ours), 'v', 'ours'))),
         jsonb_build_object('b', (SELECT born FROM theirs),
                            'f', jsonb_build_object('title', jsonb_build_object('c', (SELECT born FROM theirs), 'v', 'theirs')))))
       AS model_says_exists;
-- b's create arrives
TRUNCATE directus_sync.outbox;
BEGIN;
INSERT INTO articles (id, title, directus_sync_meta)
VALUES (5, 'theirs', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                        'b', (SELECT born FROM theirs),
                                        'f', jsonb_build_object('title', (SELECT born FROM theirs))));
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', '5');
COMMIT;
-- WRONG today: no row (correct: b's item 5, 'theirs')
SELECT id, title FROM articles;
-- and our delete goes (again) to b, without a word of which item it deleted
SELECT op, payload::jsonb->'directus_sync_meta' ? 'b' AS says_which_item FROM directus_sync.outbox;

-- The other side, as b sees it: b's item 6 (born after ours) meets our
-- delete of our item 6 (born before b's): it is deleted.
INSERT INTO articles (id, title) VALUES (6, 'b''s item');  -- here: b's item, born later
CREATE TABLE del6 AS SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' AS clock;
BEGIN;
UPDATE articles SET directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                                            'd', (SELECT clock FROM del6))
 WHERE id = 6;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '6');
COMMIT;
-- WRONG today: no row (correct: the item born later stays, 'b''s item')
SELECT id, title FROM articles WHERE id = 6;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_del;
