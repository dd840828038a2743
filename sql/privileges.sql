-- Nothing is executable by PUBLIC; a role needs the documented GRANT, and
-- with it needs no privilege on the table itself.
\set SHOW_CONTEXT never

SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p WHERE p.pronamespace = 'directus_sync'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT has_schema_privilege('public', 'directus_sync', 'USAGE') AS public_schema_usage;
SELECT has_table_privilege('public', 'public.directus_sync_id_map', 'SELECT') AS public_select;

-- Every SECURITY DEFINER function pins its search_path.
SELECT p.oid::regprocedure AS definer_without_search_path
  FROM pg_proc p WHERE p.pronamespace = 'directus_sync'::regnamespace AND p.prosecdef
   AND NOT coalesce(p.proconfig, '{}') @> ARRAY['search_path=pg_catalog, pg_temp'];

CREATE ROLE regress_dsync_nogrant;
CREATE ROLE regress_dsync_cli;
-- The GRANT that README documents for the CLI's role.
GRANT USAGE ON SCHEMA directus_sync TO regress_dsync_cli;
GRANT EXECUTE ON FUNCTION
    directus_sync.get_by_sync_id(text, text), directus_sync.get_by_local_id(text, text),
    directus_sync.get_all(text), directus_sync.create_mapping(text, text, text),
    directus_sync.delete_by_sync_id(text, text), directus_sync.delete_by_local_id(text, text),
    directus_sync.get_by_local_ids(text, text[]), directus_sync.get_by_sync_ids(text, text[]),
    directus_sync.create_mappings(text, text[], text[])
  TO regress_dsync_cli;

SET ROLE regress_dsync_nogrant;
SELECT * FROM directus_sync.get_all('roles');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.create_mapping('roles', 'intruder');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM public.directus_sync_id_map;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

SET ROLE regress_dsync_cli;
SELECT directus_sync.create_mapping('presets', 'p1', 'preset-sync-1');
SELECT "table", sync_id, local_id FROM directus_sync.get_by_local_id('presets', 'p1');
SELECT directus_sync.delete_by_sync_id('presets', 'preset-sync-1');
-- The grant covers the API, not the table, nor the permission clean-up.
SELECT count(*) FROM public.directus_sync_id_map;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.remove_permission_duplicates();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA directus_sync FROM regress_dsync_cli;
REVOKE ALL ON SCHEMA directus_sync FROM regress_dsync_cli;
DROP ROLE regress_dsync_cli;
DROP ROLE regress_dsync_nogrant;
