-- Review 6: tombstones are purged (_trim_history) once every enabled remote
-- has had some delivery since the delete and nothing of the item is in the
-- OUTBOX; a delete that became a DEAD LETTER is not looked at. The remote
-- never acknowledged that delete (it still has the item), yet the tombstone
-- goes after directus_sync.tombstone_retention; replay then renders the
-- delete from the (gone) tombstone and queues it WITHOUT its clock (payload
-- NULL), and an older change from that remote brings the item back here.
-- The issue (deliver 4): "Tombstones are purged only after every remote
-- has acknowledged past them".
-- Correct: a tombstone with a dead letter of its item is kept (as one with
-- a queued row is), and the replayed delete carries its clock.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_tomb;
\c regress_rv6_tomb
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
INSERT INTO articles (id, title) VALUES (1, 'one');
TRUNCATE directus_sync.outbox;
DELETE FROM articles WHERE id = 1;
SELECT op, payload::jsonb->'directus_sync_meta' ? 'd' AS delete_has_clock FROM directus_sync.outbox;
-- the delete fails until it is a dead letter (as _record moves it), b takes
-- other changes since, and the retention has passed
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status)
SELECT id, remote_id, collection, item_key, op, payload, queued_at, 500 FROM directus_sync.outbox;
TRUNCATE directus_sync.outbox;
INSERT INTO directus_sync.remote_state (remote_id, last_success_at)
SELECT id, now() + interval '1 second' FROM directus_sync.remote
ON CONFLICT (remote_id) DO UPDATE SET last_success_at = EXCLUDED.last_success_at;
UPDATE directus_sync.tombstone SET deleted_at = now() - interval '8 days';
SELECT count(*) AS dead_letters FROM directus_sync.dead_letter;
SELECT directus_sync._trim_history();
-- WRONG today: 0 (correct: 1, b never took the delete)
SELECT count(*) AS tombstones FROM directus_sync.tombstone;
SELECT directus_sync.replay('b');
-- WRONG today: the replayed delete has no clock (correct: true)
SELECT op, coalesce(payload::jsonb->'directus_sync_meta' ? 'd', false) AS delete_has_clock
  FROM directus_sync.outbox;
-- and b's older change of the item (made before our delete, still queued
-- there) now brings it back here
BEGIN;
INSERT INTO articles (id, title, directus_sync_meta)
VALUES (1, 'old edit of b',
        jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                           'b', '0000000000000001@00000000-0000-0000-0000-0000000000b0',
                           'f', jsonb_build_object('title', '0000000000000002@00000000-0000-0000-0000-0000000000b0')));
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
-- WRONG today: the deleted item is back (correct: no row)
SELECT id, title FROM articles;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_tomb;
