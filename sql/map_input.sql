-- Bad input gets a clear error with a proper SQLSTATE, never a crash or a
-- silent truncation.
\set SHOW_CONTEXT never

-- NULL: 22004
SELECT directus_sync.create_mapping(NULL, '1');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.create_mapping('roles', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.get_by_sync_id('roles', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.get_by_local_id(NULL, 'x');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.get_all(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.delete_by_sync_id('roles', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.delete_by_local_id(NULL, '1');
\echo :LAST_ERROR_SQLSTATE

-- Empty: 22023
SELECT directus_sync.create_mapping('', '1');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.create_mapping('roles', '');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.create_mapping('roles', '1', '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.get_by_sync_id('roles', '');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.get_all('');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.delete_by_local_id('roles', '');
\echo :LAST_ERROR_SQLSTATE

-- Over 255 characters: 22001, never cut to fit.
SELECT directus_sync.create_mapping('roles', repeat('x', 256));
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.create_mapping('roles', '1', repeat('é', 256));
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.create_mapping(repeat('t', 300), '1');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.get_by_local_id('roles', repeat('x', 256));
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.delete_by_sync_id('roles', repeat('x', 256));
\echo :LAST_ERROR_SQLSTATE

-- None of the failed calls left a row behind.
SELECT count(*) FROM directus_sync.get_all('roles') WHERE local_id IN ('1', repeat('x', 256));

-- remove_permission_duplicates: keep must be 'first' or 'last'.
SELECT * FROM directus_sync.remove_permission_duplicates('newest');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.remove_permission_duplicates(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.remove_permission_duplicates('last', NULL);
\echo :LAST_ERROR_SQLSTATE

-- The event trigger function refuses a direct call.
SELECT directus_sync._keep_map_on_drop();
\echo :LAST_ERROR_SQLSTATE
