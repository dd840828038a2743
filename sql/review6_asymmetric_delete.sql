-- Review 6: update against delete, with a field replicated to one remote
-- only. A ships title to b, and title and notes to c; B ships title to A.
-- B deletes the item; A's user edits notes after that (concurrently). Both
-- decide on the item's alive clock, the latest write of the item anywhere:
-- on A the notes edit is later than the delete, so the item stays and goes
-- back to every remote; to b that is title alone, older than the delete,
-- but the write-back carries the alive clock as "a" (the notes edit), so B
-- takes the item back too (it had been decided on B's fields alone, and A
-- and B sent each other the write-back and the delete for ever). B keeps
-- "a": a later delete of B's user beats it, and removes the item on A too.
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
SELECT directus_sync_meta->'f'->>'notes' AS notes_clock FROM articles \gset
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
-- to b it carries the notes edit's clock as "a": later than its title's
SELECT (payload::jsonb->'directus_sync_meta'->>'a') = left(:'notes_clock', 16) AS a_is_notes_edit,
       (payload::jsonb->'directus_sync_meta'->>'a') COLLATE "C" > payload::jsonb->'directus_sync_meta'->'f'->>'title'
       AS later_than_title
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id WHERE r.name = 'b';
-- to c, which gets notes itself, no "a"
SELECT payload::jsonb->'directus_sync_meta' ? 'a' AS a_to_c
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id WHERE r.name = 'c';
-- B: A's item comes back (as a create: B lacks it): later than the delete
-- by its alive clock, B takes it back, with its title as A has it
\c regress_rv6_asym_b
SET client_min_messages = warning;
SELECT sync_create(:'a_write_back');
SELECT id, title FROM articles;
SELECT directus_sync_meta->>'a' = :'notes_clock' AS keeps_alive_clock FROM articles;
SELECT kind, winner FROM directus_sync.conflict;
-- and sends nothing back: no delete again
SELECT count(*) AS b_queued FROM directus_sync.outbox;
-- the same write-back again (a retry, which Directus turns into an update
-- of the item it has): nothing changes, nothing goes back
SELECT directus_sync_meta AS b_meta FROM articles \gset
BEGIN;
UPDATE articles SET title = :'a_write_back'::jsonb->>'title',
                    directus_sync_meta = :'a_write_back'::jsonb->'directus_sync_meta' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000a', 'articles', '1');
COMMIT;
SELECT count(*) AS b_items, bool_and(directus_sync_meta = :'b_meta') AS same_clocks,
       (SELECT count(*) FROM directus_sync.outbox) AS b_queued FROM articles;
-- B's user deletes the item now: the delete is later than the alive clock
TRUNCATE directus_sync.outbox;
DELETE FROM articles WHERE id = 1;
SELECT payload::jsonb->'directus_sync_meta'->>'d' COLLATE "C" > left(:'notes_clock', 16) AS delete_later,
       payload::jsonb->'directus_sync_meta' AS b_delete_after FROM directus_sync.outbox \gset
SELECT :'delete_later' AS delete_later_than_alive;
-- and removes the item on A too: A and B end alike
\c regress_rv6_asym_a
SET client_min_messages = warning;
TRUNCATE directus_sync.outbox;
BEGIN;
UPDATE articles SET directus_sync_meta = :'b_delete_after' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
SELECT count(*) AS a_has_it FROM articles;
-- the delete goes on to c (not back to b)
SELECT r.name, o.op FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY r.name;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_asym_a;
DROP DATABASE regress_rv6_asym_b;
