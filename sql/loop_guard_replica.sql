-- The loop guard fires wherever the capture trigger does: both are ENABLE
-- ALWAYS, so under session_replication_role = replica (logical replication
-- applying, pg_restore --disable-triggers, some tools) a change of a
-- remote's inbound user is captured and then removed again, never shipped
-- back. No worker runs for this database: the outbox stays as written.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS directus_sync;
DROP TABLE IF EXISTS directus_sync_id_map;
CREATE EXTENSION directus_sync;
\set SHOW_CONTEXT never

CREATE TABLE lg_articles (id integer PRIMARY KEY, title text);
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45) NOT NULL, "user" uuid,
    timestamp timestamptz DEFAULT now(), collection varchar(64) NOT NULL, item varchar(255) NOT NULL);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't', forward_inbound => false,
                                inbound_user => '11111111-1111-1111-1111-111111111111') IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'lg_articles', ARRAY['title'], clocks => false);
SELECT directus_sync.subscribe('c', 'lg_articles', ARRAY['title'], clocks => false);
INSERT INTO lg_articles VALUES (1, 'one');
TRUNCATE directus_sync.outbox;

CREATE VIEW lg_queue AS
SELECT r.name AS remote, o.item_key, o.op, o.payload
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;

SELECT tgrelid::regclass AS on_table, tgname, tgenabled FROM pg_trigger
 WHERE tgname LIKE 'directus_sync%' ORDER BY 1, 2;

-- b's sync user writes, in a replica session: captured, then removed again
-- for every remote (b does not forward).
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE lg_articles SET title = 'from b' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'lg_articles', '1');
COMMIT;
SELECT count(*) AS queued_for_inbound_change FROM directus_sync.outbox;

-- An editor, in a replica session: captured for both (the test is not vacuous).
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE lg_articles SET title = 'by an editor' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '22222222-2222-2222-2222-222222222222', 'lg_articles', '1');
COMMIT;
SELECT * FROM lg_queue;
TRUNCATE directus_sync.outbox;

-- b forwards: under replica too, shipped to c and still not back to b.
SELECT directus_sync.alter_remote('b', forward_inbound => true);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgname = 'directus_sync_loop_guard';
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE lg_articles SET title = 'from b again' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'lg_articles', '1');
COMMIT;
SELECT * FROM lg_queue;
TRUNCATE directus_sync.outbox;

-- The guard goes with the last inbound user and comes back ENABLE ALWAYS.
SELECT directus_sync.alter_remote('b', clear_inbound_user => true);
SELECT count(*) AS loop_guard_triggers FROM pg_trigger WHERE tgname = 'directus_sync_loop_guard';
SELECT directus_sync.alter_remote('c', inbound_user => '33333333-3333-3333-3333-333333333333');
SELECT tgname, tgenabled FROM pg_trigger WHERE tgname = 'directus_sync_loop_guard';

DROP VIEW lg_queue;
DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map, lg_articles;

-- An update from 0.2 turns the loop guard that 0.2 made (ENABLE, origin
-- and local sessions only) into ENABLE ALWAYS.
CREATE EXTENSION directus_sync VERSION '0.2';
CREATE TABLE lg_articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
                                inbound_user => '11111111-1111-1111-1111-111111111111') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'lg_articles', ARRAY['title']);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE 'directus_sync%' ORDER BY 1;
ALTER EXTENSION directus_sync UPDATE TO '0.3';
SELECT tgname, tgenabled FROM pg_trigger WHERE tgname LIKE 'directus_sync%' ORDER BY 1;
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO lg_articles VALUES (2, 'from b');
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '11111111-1111-1111-1111-111111111111', 'lg_articles', '2');
COMMIT;
SELECT count(*) AS queued_for_inbound_change FROM directus_sync.outbox;

DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map, lg_articles, directus_activity;
