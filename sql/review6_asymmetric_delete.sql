-- Review 6: update against delete decided on different fields on different
-- instances. Whether a replicated delete removes an item depends on the
-- clocks of the fields THIS instance keeps clocks for: those of every
-- subscription of its table. A field replicated to one remote only (notes
-- to c, here; b gets title alone) is in A's decision and not in B's. B
-- deletes the item; A's user edited notes after that (concurrently): on A
-- the edit is later than the delete, the item stays, and A sends it back
-- whole to every remote; to b that is title alone, whose clock is older
-- than the delete, so B skips it and sends its delete again; on A it loses
-- again, and so on: A keeps the item, B does not, for good, and the two
-- send each other the same two changes for ever.
-- Correct: one decision everywhere. E.g. the survival of an item against a
-- delete is decided on clocks every instance has (the born clock and the
-- fields replicated between the two), or the item's "latest" clock travels
-- with it (a write-back carries the clock it survived by), so that B takes
-- the item back too.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_asym_a;
CREATE DATABASE regress_rv6_asym_b;
-- A: b gets title, c gets title and notes
\c regress_rv6_asym_a
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, notes text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000c') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'notes'], key_series => false);
INSERT INTO articles (id, title, notes) VALUES (1, 'title', 'notes');
SELECT payload::jsonb AS a_create FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE r.name = 'b' \gset
TRUNCATE directus_sync.outbox;
-- B: a gets title; the item comes from A
\c regress_rv6_asym_b
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, notes text);
SELECT directus_sync.add_remote('a', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000a') IS NOT NULL AS added;
SELECT directus_sync.subscribe('a', 'articles', ARRAY['title'], key_series => false);
CREATE FUNCTION sync_create(p jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles (id, title, directus_sync_meta)
    VALUES ((p->>'id')::integer, p->>'title', p->'directus_sync_meta');
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('create', '00000000-0000-0000-0000-00000000000a', 'articles', p->>'id');
END $$;
SELECT sync_create(:'a_create');
-- B's user deletes it
TRUNCATE directus_sync.outbox;
DELETE FROM articles WHERE id = 1;
SELECT payload::jsonb->'directus_sync_meta' AS b_delete FROM directus_sync.outbox \gset
TRUNCATE directus_sync.outbox;
SELECT pg_sleep(0.01);
-- A's user edits notes (after B's delete, before it arrives); then it arrives
\c regress_rv6_asym_a
SET client_min_messages = warning;
UPDATE articles SET notes = 'notes, edited';
TRUNCATE directus_sync.outbox;
BEGIN;
UPDATE articles SET directus_sync_meta = :'b_delete' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
-- on A the edit wins: the item stays and goes back to every remote
SELECT id, title, notes FROM articles;
SELECT kind, winner FROM directus_sync.conflict;
SELECT r.name, o.op, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(o.payload::jsonb - 'directus_sync_meta') k) AS fields
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY r.name;
SELECT payload::jsonb AS a_write_back FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE r.name = 'b' \gset
-- B: A's item comes back (as a create: B lacks it)
\c regress_rv6_asym_b
SET client_min_messages = warning;
SELECT sync_create(:'a_write_back');
-- WRONG today: B skips it (correct: B has the item again, as A does)
SELECT id, title FROM articles;
-- and sends its delete to A again, where it loses again: for ever
SELECT op, payload::jsonb->'directus_sync_meta' ? 'd' AS delete_again FROM directus_sync.outbox;
SELECT payload::jsonb->'directus_sync_meta' AS b_delete_again FROM directus_sync.outbox \gset
\c regress_rv6_asym_a
SET client_min_messages = warning;
TRUNCATE directus_sync.outbox;
BEGIN;
UPDATE articles SET directus_sync_meta = :'b_delete_again' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
-- WRONG today: on A it loses again and the item goes back to b again
SELECT count(*) AS a_has_it FROM articles;
SELECT r.name, o.op FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY r.name;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_asym_a;
DROP DATABASE regress_rv6_asym_b;
