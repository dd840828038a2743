-- What capture cannot follow is refused at configuration time, and changes of
-- a subscribed table's shape never stop replication silently.
CREATE EXTENSION directus_sync;
\set SHOW_CONTEXT never
\set VERBOSITY default
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;

-- Table inheritance: a child's changes fire the child's triggers only.
CREATE TABLE parent_items (id integer PRIMARY KEY, title text);
CREATE TABLE child_items (id integer PRIMARY KEY, title text) INHERITS (parent_items);
SELECT directus_sync.subscribe('b', 'parent_items', ARRAY['title']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'child_items', ARRAY['title']);
\echo :LAST_ERROR_SQLSTATE

-- A generated column is computed on each instance and cannot be written.
CREATE TABLE priced (id integer PRIMARY KEY, net numeric, gross numeric GENERATED ALWAYS AS (net * 1.2) STORED);
SELECT directus_sync.subscribe('b', 'priced', ARRAY['net', 'gross']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'priced', ARRAY['net']);

-- TRUNCATE of a subscribed table is refused; of another table it works.
INSERT INTO priced (id, net) VALUES (1, 10);
TRUNCATE priced;
\echo :LAST_ERROR_SQLSTATE
SET session_replication_role = replica;
TRUNCATE priced;
\echo :LAST_ERROR_SQLSTATE
RESET session_replication_role;
SELECT count(*) AS rows_kept FROM priced;
TRUNCATE parent_items, child_items;

-- A renamed key column is followed: the worker names it to Directus.
ALTER TABLE priced RENAME COLUMN id TO priced_id;
SELECT key_column FROM directus_sync.subscription WHERE collection = 'priced';
UPDATE priced SET net = 11 WHERE priced_id = 1;
SELECT item_key, op, payload FROM directus_sync.outbox WHERE collection = 'priced' ORDER BY id;

-- The primary key cannot move to another column: the remotes know the items
-- by it. Dropped (pg_restore --clean does so before it drops the table), the
-- table refuses writes until it has one again. A key column that changes
-- type is written as its new type.
CREATE UNIQUE INDEX priced_net ON priced (net);
BEGIN;
ALTER TABLE priced DROP CONSTRAINT priced_pkey;
UPDATE priced SET net = 12;
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
ALTER TABLE priced DROP CONSTRAINT priced_pkey, ADD PRIMARY KEY (net);
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE priced DROP CONSTRAINT priced_pkey, ADD PRIMARY KEY (priced_id);
SELECT key_column, key_is_number FROM directus_sync.subscription WHERE collection = 'priced';
ALTER TABLE priced ALTER COLUMN priced_id TYPE text;
SELECT key_column, key_is_number FROM directus_sync.subscription WHERE collection = 'priced';

-- A dropped table takes its subscriptions along, with a warning and the
-- reason in remote_status.
DROP TABLE priced;
SELECT count(*) AS subscriptions_left FROM directus_sync.subscription WHERE collection = 'priced';
SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b';

-- A collection Directus does not track (accountability off) cannot be
-- replicated with a remote that writes to us: the loop guard needs the
-- activity rows Directus writes.
CREATE TABLE directus_collections (collection varchar(64) PRIMARY KEY, singleton boolean DEFAULT false,
    accountability varchar(255) DEFAULT 'all');
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45) NOT NULL, "user" uuid,
    collection varchar(64) NOT NULL, item varchar(255) NOT NULL);
CREATE TABLE tracked (id integer PRIMARY KEY, title text);
CREATE TABLE untracked (id integer PRIMARY KEY, title text);
INSERT INTO directus_collections VALUES ('tracked', false, 'all'), ('untracked', false, NULL);
SELECT directus_sync.subscribe('b', 'untracked', ARRAY['title'], clocks => false);
SELECT directus_sync.alter_remote('b', inbound_user => 'aaaaaaaa-0000-4000-8000-000000000001');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.unsubscribe('b', 'untracked');
SELECT directus_sync.alter_remote('b', inbound_user => 'aaaaaaaa-0000-4000-8000-000000000001');
SELECT directus_sync.subscribe('b', 'tracked', ARRAY['title'], clocks => false);
SELECT directus_sync.subscribe('b', 'untracked', ARRAY['title'], clocks => false);
\echo :LAST_ERROR_SQLSTATE
UPDATE directus_collections SET accountability = 'activity' WHERE collection = 'untracked';
SELECT directus_sync.subscribe('b', 'untracked', ARRAY['title'], clocks => false);
-- Tracking turned off in Directus later: the other settings of the remote
-- (a new token, say) can still be changed; setting the inbound user is refused.
UPDATE directus_collections SET accountability = NULL WHERE collection = 'untracked';
SELECT directus_sync.alter_remote('b', token => 'rotated');
SELECT directus_sync.alter_remote('b', inbound_user => 'aaaaaaaa-0000-4000-8000-000000000002');
\echo :LAST_ERROR_SQLSTATE

-- DROP EXTENSION removes the triggers on subscribed tables first, also when
-- it takes the map along (as pg_restore --clean has it).
SET directus_sync.keep_map_on_drop = off;
DROP EXTENSION directus_sync;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'directus_sync%';
SELECT to_regclass('directus_sync_id_map') IS NULL AS map_dropped;
TRUNCATE tracked;
DROP TABLE parent_items, child_items, directus_collections, directus_activity, tracked, untracked;
