-- enable_clocks(..., delete_wins => true): a delete beats every write of the
-- item it deleted, whatever their clocks; an item born after the delete is
-- another item. Deletes say which rule they were made under, and an
-- instance with the other rule refuses them. No worker runs for this
-- database; clocks depend on the time, so only their order is shown.
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE docs (id integer PRIMARY KEY, title text, body text);
CREATE TABLE notes (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b', forward_inbound => true) IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'docs', ARRAY['title', 'body'], clocks => false);
SELECT directus_sync.subscribe('c', 'docs', ARRAY['title', 'body']);
SELECT directus_sync.subscribe('b', 'notes', ARRAY['title'], clocks => false);

-- The rule is the collection's: false at first, kept when not given.
SELECT directus_sync.enable_clocks('notes', key_series => false);
SELECT directus_sync.enable_clocks('docs', key_series => false, delete_wins => true);
SELECT directus_sync.enable_clocks('docs', key_series => false);
SELECT * FROM directus_sync.clocked_collection ORDER BY collection;
-- configuration: kept by pg_dump
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) x JOIN pg_class c ON c.oid = x
 WHERE e.extname = 'directus_sync' AND c.relname = 'clocked_collection';
-- not readable by ordinary roles
SELECT has_table_privilege('public', 'directus_sync.clocked_collection', 'SELECT') AS public_reads;

-- A clock of node ...b0 (the remote b): now, or long ago.
CREATE FUNCTION b_clock() RETURNS text LANGUAGE sql
AS $$ SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' $$;
CREATE FUNCTION b_old(n integer) RETURNS text LANGUAGE sql
AS $$ SELECT lpad(to_hex(n), 16, '0') || '@00000000-0000-0000-0000-0000000000b0' $$;
-- b's delete of an item, made under rule w (NULL: a delete that says nothing)
CREATE FUNCTION sync_delete(tab text, item integer, clock text, w boolean) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I SET directus_sync_meta = $1 WHERE id = $2', tab)
      USING jsonb_strip_nulls(jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'd', clock, 'w', w)), item;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', tab, item::text);
END $$;
-- b's create of an item born at born, its title written at clock
CREATE FUNCTION sync_create(item integer, title text, born text, clock text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO docs (id, title, directus_sync_meta)
    VALUES (item, title, jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', born,
                                            'f', jsonb_build_object('title', clock)));
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'docs', item::text);
END $$;
CREATE VIEW queue AS
SELECT r.name AS remote, o.op, o.item_key, o.payload::jsonb->'directus_sync_meta'->'w' AS w,
       o.payload::jsonb->'directus_sync_meta' ? 'd' AS has_delete_clock
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;

-- A local delete says it was made under delete_wins.
INSERT INTO docs VALUES (1, 'one', 'x');
DELETE FROM docs WHERE id = 1;
SELECT * FROM queue WHERE op = 'd';
TRUNCATE directus_sync.outbox;

-- A sync's delete later than the item's creation removes it, even when a
-- field was written after the delete (by default the item would stay).
INSERT INTO docs VALUES (2, 'two', 'x');
UPDATE docs SET title = 'edited after b deleted it';
CREATE TABLE born AS SELECT directus_sync_meta->>'b' AS born FROM docs WHERE id = 2;
SELECT sync_delete('docs', 2, b_clock(), true);
SELECT count(*) AS left FROM docs WHERE id = 2;
SELECT greatest(deleted, swept) > (SELECT born FROM born) COLLATE "C" AS later_than_born
  FROM directus_sync.tombstone WHERE collection = 'docs' AND item_key = '2';
-- forwarded with its rule (to c: b sent it)
SELECT * FROM queue WHERE op = 'd';
TRUNCATE directus_sync.outbox;

-- A sync's create of the deleted item with a field written after the delete
-- (an edit made before the delete reached its instance) stays deleted, and
-- the delete goes to every remote again.
SELECT sync_create(2, 'zombie', (SELECT born FROM born), b_clock());
SELECT count(*) AS left FROM docs WHERE id = 2;
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;
-- an item born after the delete is another item: it stays
SELECT sync_create(2, 'reborn', b_clock(), b_clock());
SELECT title FROM docs WHERE id = 2;
TRUNCATE directus_sync.outbox;

-- A sync's delete older than the item's creation (a delete of an earlier
-- item with that key) leaves it, as a conflict the delete lost.
SELECT sync_delete('docs', 2, b_old(1), true);
SELECT title FROM docs WHERE id = 2;
-- (the zombie lost to the delete, the reborn item won, this delete lost)
SELECT kind, winner FROM directus_sync.conflict WHERE collection = 'docs' AND item_key = '2' ORDER BY id;
TRUNCATE directus_sync.outbox;

-- A delete made under the other rule is refused, both ways: the sender
-- tries again until the rules agree.
INSERT INTO docs VALUES (3, 'three', 'x');
SELECT sync_delete('docs', 3, b_clock(), NULL);
SELECT sync_delete('docs', 3, b_clock(), false);
SELECT count(*) AS left FROM docs WHERE id = 3;
INSERT INTO notes VALUES (1, 'one');
SELECT sync_delete('notes', 1, b_clock(), true);
SELECT count(*) AS left FROM notes WHERE id = 1;
-- with the default rule a delete says nothing of it
DELETE FROM notes WHERE id = 1;
SELECT * FROM queue WHERE op = 'd';
TRUNCATE directus_sync.outbox;

-- A delete rule that is not a boolean is refused.
UPDATE docs SET directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'd', b_clock(), 'w', 'true')
 WHERE id = 3;

-- A collection whose name PostgreSQL shortens for its table is refused.
DO $$ BEGIN EXECUTE format('CREATE TABLE %I (id integer PRIMARY KEY)', repeat('ä', 40)); END $$;
SELECT directus_sync.enable_clocks(repeat('ä', 40));
DO $$ BEGIN EXECUTE format('DROP TABLE %I', repeat('ä', 40)); END $$;

-- A sync's create that carries a delete alone (the sender's answer to a
-- remote that lacks the item): no row, the delete kept as a tombstone and,
-- being news, passed on to c (not back to b, which sent it).
CREATE FUNCTION sync_tombstone(item integer, clock text, user_id uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO docs (id, directus_sync_meta)
    VALUES (item, jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'd', clock, 'w', true));
    INSERT INTO directus_activity (action, "user", collection, item) VALUES ('create', user_id, 'docs', item::text);
END $$;
TRUNCATE directus_sync.outbox;
CREATE TABLE tomb AS SELECT b_clock() AS clock;
SELECT sync_tombstone(5, (SELECT clock FROM tomb), '00000000-0000-0000-0000-00000000000b');
SELECT count(*) AS rows FROM docs WHERE id = 5;
SELECT deleted = (SELECT clock FROM tomb) AS kept FROM directus_sync.tombstone WHERE collection = 'docs' AND item_key = '5';
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;
-- again, or an older one: not news, nothing passed on
SELECT sync_tombstone(5, (SELECT clock FROM tomb), '00000000-0000-0000-0000-00000000000b');
SELECT sync_tombstone(5, b_old(2), '00000000-0000-0000-0000-00000000000b');
SELECT count(*) AS queued FROM directus_sync.outbox;
SELECT deleted = (SELECT clock FROM tomb) AS kept FROM directus_sync.tombstone WHERE collection = 'docs' AND item_key = '5';
-- from a user who is not a sync user: refused at commit
SELECT sync_tombstone(6, b_clock(), '00000000-0000-0000-0000-0000000000ff');
SELECT count(*) AS tombstones FROM directus_sync.tombstone WHERE collection = 'docs' AND item_key = '6';
-- of an item this instance has after all: the insert meets its key
INSERT INTO docs VALUES (7, 'seven', 'x');
SELECT sync_tombstone(7, b_clock(), '00000000-0000-0000-0000-00000000000b');
SELECT title FROM docs WHERE id = 7;
-- a sync's update that changes the key and carries a delete alone is not
-- taken for one (review: it was skipped, and the new key got a tombstone)
INSERT INTO docs VALUES (10, 'ten', 'x');
BEGIN;
UPDATE docs SET id = 11, directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'd', b_clock(), 'w', true)
 WHERE id = 10;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'docs', '10'), ('update', '00000000-0000-0000-0000-00000000000b', 'docs', '11');
COMMIT;
SELECT id FROM docs WHERE id IN (10, 11);
SELECT count(*) AS tombstones_of_11 FROM directus_sync.tombstone WHERE collection = 'docs' AND item_key = '11';

-- Resync sends deletes with their rule.
DELETE FROM docs WHERE id = 3;
TRUNCATE directus_sync.outbox;
SELECT directus_sync._queue_current(s, ARRAY['3']) FROM directus_sync.subscription s
 WHERE collection = 'docs' AND remote_id = (SELECT id FROM directus_sync.remote WHERE name = 'c');
SELECT * FROM queue;

-- Changing the rule takes effect at once (every backend rebuilds its cache),
-- and deletes queued under the old rule are queued again under the new one
-- (remotes that have it would refuse them).
SELECT directus_sync.enable_clocks('docs', key_series => false, delete_wins => false);
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;
INSERT INTO docs VALUES (4, 'four', 'x');
DELETE FROM docs WHERE id = 4;
SELECT * FROM queue WHERE op = 'd';

DROP VIEW queue;
DROP EXTENSION directus_sync;
-- leave the database as found, for the next test
DROP TABLE docs, notes, directus_activity, born, tomb;
DROP FUNCTION b_clock(), b_old(integer), sync_delete(text, integer, text, boolean),
     sync_create(integer, text, text, text), sync_tombstone(integer, text, uuid);
