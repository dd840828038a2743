-- Review 6: a delete removes only the item it deleted, not another item
-- that got the same key. Items 5 created on two instances at the same
-- moment (no key series): ours born first, b's born later. Our user deletes
-- our item 5. By the insert/insert rule b's item, born later, is the item
-- of key 5 everywhere, and our delete was of the other item; the merge
-- model agrees (_merge keeps the later-born state whole, without our
-- delete, and _exists says it exists). So the tombstone and the delete it
-- ships keep the born clock of the item deleted ("b"): b's create, born
-- later, meets our tombstone and is taken; and on the other side, b's item
-- 6 meets our delete of our item 6 (born before b's): it stays, and the
-- delete is logged as a conflict. A delete that does not say which item it
-- deleted (from before this) deletes as before. Before the fix the
-- tombstone and the delete carried no born clock, and b's item, never seen
-- by our user, was gone everywhere.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_del;
\c regress_rv6_del
\ir sql/clock_peer_b.psql
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
-- b's item 5, 'theirs'
SELECT id, title FROM articles;
-- and our delete does not go again to b (it was not of b's item)
SELECT op, payload::jsonb->'directus_sync_meta' ? 'b' AS says_which_item FROM directus_sync.outbox;
-- the tombstone names the item it deleted: ours
SELECT born = (SELECT born FROM ours) AS tombstone_names_ours FROM directus_sync.tombstone WHERE item_key = '5';
-- our delete of another item, as capture renders it: it says which item
TRUNCATE directus_sync.outbox;
INSERT INTO articles (id, title) VALUES (8, 'ours, deleted');
DELETE FROM articles WHERE id = 8;
-- (a clock of this instance as its 16 hex digits alone, as every clock capture sends)
SELECT op, payload::jsonb->'directus_sync_meta'->>'b' = (SELECT left(born, 16) FROM directus_sync.tombstone WHERE item_key = '8')
       AS says_which_item
  FROM directus_sync.outbox WHERE op = 'd';

-- The other side, as b sees it: b's item 6 (born after ours) meets our
-- delete of our item 6 (born before b's): it is deleted.
INSERT INTO articles (id, title) VALUES (6, 'b''s item');  -- here: b's item, born later
CREATE TABLE del6 AS SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' AS clock;
BEGIN;
UPDATE articles SET directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                                            'b', left((SELECT born FROM ours), 17) || '00000000-0000-0000-0000-0000000000b0',
                                                            'd', (SELECT clock FROM del6))
 WHERE id = 6;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '6');
COMMIT;
-- the item born later stays, 'b''s item', and the delete is logged as a conflict
SELECT id, title FROM articles WHERE id = 6;
SELECT kind, winner FROM directus_sync.conflict WHERE item_key = '6';
-- a delete that does not say which item (from before this): as before, it
-- deletes an item older than it
INSERT INTO articles (id, title) VALUES (7, 'deleted by an old delete');
CREATE TABLE del7 AS SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' AS clock;
BEGIN;
UPDATE articles SET directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                                            'd', (SELECT clock FROM del7))
 WHERE id = 7;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '7');
COMMIT;
SELECT id, title FROM articles WHERE id = 7;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_del;
