-- 0.1 (the SyncID map) updates to 0.2 (replication) and on to 0.3 in place,
-- keeping mappings; replication then works as after a fresh install.
\set SHOW_CONTEXT never

SELECT source, target, path FROM pg_extension_update_paths('directus_sync')
 WHERE path IS NOT NULL ORDER BY source, target;

CREATE EXTENSION directus_sync VERSION '0.1';
SELECT directus_sync.create_mapping('flows', 'f-1', 'sync-1');
ALTER EXTENSION directus_sync UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'directus_sync';
SELECT sync_id FROM directus_sync.get_by_local_id('flows', 'f-1');
-- Under 0.2 a subscribed table could be dropped and leave its subscription
-- behind; the update to 0.3 removes it.
CREATE TABLE dropped_under_02 (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('old', 'http://127.0.0.1:9', 't') IS NOT NULL AS remote_added;
SELECT directus_sync.subscribe('old', 'dropped_under_02', ARRAY['title']);
DROP TABLE dropped_under_02;
SELECT count(*) AS subscriptions_before FROM directus_sync.subscription;
ALTER EXTENSION directus_sync UPDATE;
SELECT count(*) AS subscriptions_after FROM directus_sync.subscription;
SELECT directus_sync.remove_remote('old');
SELECT extversion FROM pg_extension WHERE extname = 'directus_sync';
SELECT sync_id FROM directus_sync.get_by_local_id('flows', 'f-1');

-- Replication works: a remote added now is listed with its URL, a
-- subscription installs the capture trigger, and a change is queued.
-- (No worker runs for this database: the outbox stays as written.)
CREATE TABLE upgrade_articles (id integer PRIMARY KEY, title text, secret text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9/', 't') IS NOT NULL AS remote_added;
SELECT name, url, subscriptions FROM directus_sync.remotes;
SELECT directus_sync.subscribe('b', 'upgrade_articles', ARRAY['title']);
SELECT name, subscriptions FROM directus_sync.remotes;
INSERT INTO upgrade_articles VALUES (1, 'after the upgrade', 'not shipped');
SELECT r.name AS remote, o.collection, o.item_key, o.op, o.payload
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;
-- subscribe's checks, now in helpers, still answer as before.
SELECT directus_sync.subscribe('b', 'upgrade_articles', ARRAY['title', 'nope']);
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT directus_sync.subscribe('b', 'missing', ARRAY['title']);
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
SELECT directus_sync.unsubscribe('b', 'upgrade_articles');
SELECT directus_sync.remove_remote('b');
DROP TABLE upgrade_articles;

-- Nothing the updates added is executable or readable by PUBLIC.
SELECT count(*) AS public_functions FROM pg_proc p
 WHERE p.pronamespace = 'directus_sync'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT count(*) AS public_relations FROM pg_class c
 WHERE c.relnamespace = 'directus_sync'::regnamespace AND c.relkind IN ('r', 'v', 'S')
   AND has_table_privilege('public', c.oid, 'SELECT');
DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map;
