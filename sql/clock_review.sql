-- Adversarial review of clocks (docs/replication.md#clocks): each section is
-- a sequence after which the clocks guarantee is broken on the current code.
-- The expected output is the behaviour the documentation promises.
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, body text, secret text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b', forward_inbound => true) IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'], clocks => false);
SELECT directus_sync.enable_clocks('articles');
-- A write by the remote b's sync user: the item's columns and clock column,
-- and b's activity row, in one transaction (as Directus does).
CREATE FUNCTION sync_update(item integer, sets text, meta jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- a sync of the item carries its born clock "b" (an update of the same item)
    EXECUTE format('UPDATE articles SET %s, directus_sync_meta = CASE WHEN $1 ? ''d'' THEN $1'
                   ' ELSE jsonb_strip_nulls(jsonb_build_object(''b'', directus_sync_meta->''b'')) || $1 END'
                   ' WHERE id = $2', sets) USING meta, item;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', item::text);
END $$;
CREATE FUNCTION b_clock(stamp text) RETURNS text LANGUAGE sql
AS $$ SELECT stamp || '@00000000-0000-0000-0000-0000000000b0' $$;

-- 1. Forged clocks: an activity row of the sync user inserted in a savepoint
-- that rolls back still counts at commit. Nothing in directus_activity says
-- a sync wrote the item, yet its clock (of node b0) is kept.
INSERT INTO articles VALUES (1, 'a', 'x', 's');
BEGIN;
UPDATE articles SET title = 'forged',
       directus_sync_meta = jsonb_build_object('s', 'x', 'b', directus_sync_meta->'b', 'f', jsonb_build_object('title',
           left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0'))
 WHERE id = 1;
SAVEPOINT s;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
ROLLBACK TO SAVEPOINT s;
COMMIT;
-- expected: the commit fails (42501) and the title stays 'a'
SELECT title, (SELECT count(*) FROM directus_activity) AS activity_rows FROM articles WHERE id = 1;

-- 2. Disabling a remote (the only one here) wipes every field clock of a
-- row at its next write, even of a column nobody replicates: afterwards
-- any stale sync value wins (here one of 1970).
INSERT INTO articles VALUES (2, 'ours', 'x', 's');
SELECT directus_sync.alter_remote('b', enabled => false);
UPDATE articles SET secret = 'unrelated' WHERE id = 2;
SELECT jsonb_object_keys(directus_sync_meta->'f') AS clocked_after_disable FROM articles WHERE id = 2 ORDER BY 1;
SELECT directus_sync.alter_remote('b', enabled => true);
SELECT sync_update(2, 'title = ''stale from b''',
                   jsonb_build_object('s', 'b', 'f', jsonb_build_object('title', b_clock('0000000000000001'))));
-- expected: 'ours' (the local title is far later than b's)
SELECT title FROM articles WHERE id = 2;

-- 3. A key changed by UPDATE onto a key deleted earlier: the create of the
-- new key carries the old item's clocks, older than the delete of that key.
-- Every instance that has the tombstone skips it and sends the delete again;
-- applied here, it removes the renamed item: the rename, a later action than
-- the delete, loses, and the item is gone everywhere.
INSERT INTO articles VALUES (31, 'keep me', 'x', 's');
INSERT INTO articles VALUES (32, 'old 32', 'y', 's');
DELETE FROM articles WHERE id = 32;
SELECT deleted AS d32 FROM directus_sync.tombstone WHERE collection = 'articles' AND item_key = '32' \gset
UPDATE articles SET id = 32 WHERE id = 31;
-- expected: t (the create of 32 beats the earlier delete of 32)
SELECT (SELECT max(v) COLLATE "C" FROM jsonb_each_text(directus_sync_meta->'f') AS e(k, v)) > :'d32' COLLATE "C"
       AS create_beats_tombstone
  FROM articles WHERE id = 32;
-- b, which has the same tombstone, sends the delete of 32 again
SELECT sync_update(32, 'title = title', jsonb_build_object('s', 'b', 'd', :'d32'::text));
-- expected: 1 (the renamed item is still there)
SELECT count(*) AS items FROM articles WHERE id = 32;

-- 4. A field this instance ships to no remote ("secret", replicated one
-- way from b) has no clock here: a late duplicate of an older write of b
-- overwrites a newer one.
INSERT INTO articles VALUES (4, 't', 'x', 's');
SELECT sync_update(4, 'secret = ''new''',
                   jsonb_build_object('s', 'b', 'f', jsonb_build_object('secret', b_clock('0000000000000200'))));
SELECT sync_update(4, 'secret = ''old''',
                   jsonb_build_object('s', 'b', 'f', jsonb_build_object('secret', b_clock('0000000000000100'))));
-- expected: 'new'
SELECT secret FROM articles WHERE id = 4;

-- 5. Items from before enable_clocks have no born clock; shipped to two new
-- instances (resync), each stamped a born clock of its own on the sync's
-- create. A later edit from one of them carried its born clock to the
-- other, which took it for another item created with the same key
-- (insert_insert) and rejected the edit whole: the third instance kept
-- 'B edit', this one never got it. Neither stamps one now, so B's edit
-- comes without "b" and is taken field by field. (A sync's item WITH a
-- born clock meeting ours without one is another item, born later: it
-- takes the key whole, as _merge ranks a missing born the oldest; review
-- 11, t/089.)
BEGIN;
INSERT INTO articles (id, title, body, directus_sync_meta)
VALUES (5, 'pre-clock', 'x', '{"s": "00000000-0000-0000-0000-0000000000a0", "f": {}, "p": {}}');
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', '5');
COMMIT;
-- expected: no born clock of our own for an item whose sender had none
SELECT directus_sync_meta ? 'b' AS born_stamped_here FROM articles WHERE id = 5;
SELECT sync_update(5, 'title = ''B edit''',
                   jsonb_build_object('s', 'b',
                                      'f', jsonb_build_object('title', b_clock(left(directus_sync.clock_now(), 16)))));
-- expected: 'B edit', no conflict
SELECT title FROM articles WHERE id = 5;
SELECT kind, winner FROM directus_sync.conflict WHERE item_key = '5';
