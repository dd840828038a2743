-- 0.1 (the SyncID map) updates to 0.2 (replication) in place, keeping mappings.
CREATE EXTENSION directus_sync VERSION '0.1';
SELECT directus_sync.create_mapping('flows', 'f-1', 'sync-1');
ALTER EXTENSION directus_sync UPDATE TO '0.2';
SELECT extversion FROM pg_extension WHERE extname = 'directus_sync';
SELECT sync_id FROM directus_sync.get_by_local_id('flows', 'f-1');
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') IS NOT NULL AS replication_works;
-- Nothing the update added is executable or readable by PUBLIC.
SELECT count(*) AS public_functions FROM pg_proc p
 WHERE p.pronamespace = 'directus_sync'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT count(*) AS public_relations FROM pg_class c
 WHERE c.relnamespace = 'directus_sync'::regnamespace AND c.relkind IN ('r', 'v', 'S')
   AND has_table_privilege('public', c.oid, 'SELECT');
DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map;
