-- Review 12: a subscribed column dropped at the sender (a schema change that
-- reaches the instances one by one). Its clock stays in the item's stored
-- "f" and "p", and _payload_select, which renders the payload of resync,
-- replay and the worker's recreate of an item the remote lacks, keeps the
-- clocks of every field the subscription lists (s.fields) while it leaves
-- the dropped column's value out (it joins pg_attribute): the payload clocks
-- "status" without its value. The capture trigger's own payloads clock
-- only the fields they ship. Since review 11 a sync's create in full form
-- that clocks a field its INSERT leaves out is refused (55000) at a remote
-- that still has the column: the item can never be created there (the
-- sender will never send the value), and ends a dead letter.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv12_drop_a;
CREATE DATABASE regress_rv12_drop_b;
\c regress_rv12_drop_a
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, status text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'status'], key_series => false);
INSERT INTO articles VALUES (1, 'one', 'draft');
UPDATE articles SET status = 'final' WHERE id = 1;
ALTER TABLE articles DROP COLUMN status;
-- the payload the remote lacking item 1 is sent
SELECT payload::jsonb AS payload FROM directus_sync._current_rows(
       (SELECT id FROM directus_sync.remote WHERE name = 'b'), 'articles', ARRAY['1']) \gset
SELECT NOT EXISTS (SELECT FROM jsonb_object_keys(:'payload'::jsonb->'directus_sync_meta'->'f') k
                    WHERE NOT :'payload'::jsonb ? k)
   AND NOT EXISTS (SELECT FROM jsonb_object_keys(coalesce(:'payload'::jsonb->'directus_sync_meta'->'p', '{}')) k
                    WHERE NOT :'payload'::jsonb ? k) AS clocks_only_fields_sent;
-- the payload still clocks the field it carries, and the item's alive clock
-- ("a") is the dropped column's later write: a delete is decided against it
SELECT m->'f' ? 'title' AS title_clocked, m ? 'f' AND NOT m->'f' ? 'status' AS status_not_clocked,
       m->>'a' = (SELECT directus_sync_meta->'f'->>'status' FROM articles WHERE id = 1) AS alive_is_status_write
  FROM (SELECT :'payload'::jsonb->'directus_sync_meta' AS m) x;
-- resync(..., sender_wins) gives each field a new clock: only the fields sent
-- (never an empty "f" left out either: {"s", "b"} alone is every column at "b")
SELECT directus_sync.resync('b', 'articles', true);
SELECT directus_sync._resync_step((SELECT id FROM directus_sync.remote WHERE name = 'b'), 'articles', 100);
SELECT array(SELECT jsonb_object_keys(payload::jsonb->'directus_sync_meta'->'f')) AS fresh_clocked,
       array(SELECT jsonb_object_keys(payload::jsonb) ORDER BY 1) AS fresh_sent
  FROM directus_sync.outbox WHERE item_key = '1' ORDER BY id DESC LIMIT 1;
-- capture's own payloads clock only the fields they ship: an update of item
-- 1 clocks "title" alone, and a create after the drop goes compact ({"s",
-- "b"}: every column the sender has, and at the remote every column the
-- INSERT lists, at "b")
UPDATE articles SET title = 'one again' WHERE id = 1;
SELECT array(SELECT jsonb_object_keys(payload::jsonb->'directus_sync_meta'->'f')) AS update_clocked
  FROM directus_sync.outbox WHERE item_key = '1' ORDER BY id DESC LIMIT 1;
INSERT INTO articles VALUES (2, 'two');
SELECT payload::jsonb AS payload2 FROM directus_sync.outbox WHERE item_key = '2' ORDER BY id DESC LIMIT 1 \gset
SELECT array(SELECT jsonb_object_keys(:'payload2'::jsonb->'directus_sync_meta') ORDER BY 1) AS create_meta;
-- the remote, which still has the column: Directus inserts the payload's fields
\c regress_rv12_drop_b
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, status text);
SELECT directus_sync.add_remote('a', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000a') IS NOT NULL AS added;
SELECT directus_sync.subscribe('a', 'articles', ARRAY['title', 'status'], key_series => false);
BEGIN;
INSERT INTO articles (id, title, directus_sync_meta)
SELECT (p->>'id')::int, p->>'title', p->'directus_sync_meta' FROM (SELECT :'payload'::jsonb AS p) x;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000a', 'articles', '1');
COMMIT;
-- and item 2, compact: "status", which the INSERT leaves out, takes no "b"
BEGIN;
INSERT INTO articles (id, title, directus_sync_meta)
SELECT (p->>'id')::int, p->>'title', p->'directus_sync_meta' FROM (SELECT :'payload2'::jsonb AS p) x;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000a', 'articles', '2');
COMMIT;
-- both are created, "status" without a clock (a later write of it anywhere beats it)
SELECT id, title, status FROM articles ORDER BY id;
SELECT id, directus_sync_meta->'f' ? 'title' AS title_clocked, directus_sync_meta->'f' ? 'status' AS status_clocked
  FROM articles ORDER BY id;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv12_drop_a;
DROP DATABASE regress_rv12_drop_b;
