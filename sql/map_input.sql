-- Bad input gets a clear error with a proper SQLSTATE, never a crash or a
-- silent truncation: every argument of every function, tried with NULL, an
-- empty string and 256 characters.
\set SHOW_CONTEXT never

-- Runs a call and reports its error; an accepted call is undone, so that no
-- attempt sees another's rows.
CREATE FUNCTION pg_temp.attempt(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE call;
    RAISE EXCEPTION 'accepted' USING ERRCODE = 'P0001';
EXCEPTION WHEN OTHERS THEN
    RETURN CASE WHEN SQLERRM = 'accepted' THEN 'accepted' ELSE SQLSTATE || ' ' || SQLERRM END;
END
$$;

WITH functions(name, args) AS (VALUES
    ('get_by_sync_id',     ARRAY['''roles''', '''s''']),
    ('get_by_local_id',    ARRAY['''roles''', '''l''']),
    ('get_all',            ARRAY['''roles''']),
    ('create_mapping',     ARRAY['''roles''', '''l''', '''s''']),
    ('delete_by_sync_id',  ARRAY['''roles''', '''s''']),
    ('delete_by_local_id', ARRAY['''roles''', '''l'''])),
bad(value) AS (VALUES ('NULL'), (''''''), ('repeat(''é'', 256)')),
calls AS (
    SELECT format('directus_sync.%s(%s)', f.name,
                  array_to_string(f.args[:pos - 1] || b.value || f.args[pos + 1:], ', ')) AS call
      FROM functions f, generate_subscripts(f.args, 1) AS pos, bad b)
SELECT call, pg_temp.attempt('SELECT ' || call) AS result FROM calls ORDER BY call COLLATE "C";

-- The same for the array arguments of the set-based variants.
WITH functions(name, args) AS (VALUES
    ('get_by_local_ids', ARRAY['''roles''', 'ARRAY[''l'']']),
    ('get_by_sync_ids',  ARRAY['''roles''', 'ARRAY[''s'']']),
    ('create_mappings',  ARRAY['''roles''', 'ARRAY[''l'']', 'ARRAY[''s'']'])),
bad(value) AS (VALUES ('NULL'), ('ARRAY[NULL]::text[]'), ('ARRAY['''']'), ('ARRAY[repeat(''x'', 256)]'),
                      ('ARRAY[[''a''], [''b'']]')),
calls AS (
    SELECT format('directus_sync.%s(%s)', f.name,
                  array_to_string(f.args[:pos - 1] || b.value || f.args[pos + 1:], ', ')) AS call
      FROM functions f, generate_subscripts(f.args, 1) AS pos, bad b
     WHERE pos > 1)
SELECT call, pg_temp.attempt('SELECT * FROM ' || call) AS result FROM calls ORDER BY call COLLATE "C";

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

-- The error table of docs/sql-api.md ("Errors of the map functions"), row by
-- row: each documented case with its message, DETAIL and SQLSTATE.
-- NULL argument or array element: 22004.
SELECT directus_sync.create_mapping('roles', NULL, 's');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.create_mappings('roles', ARRAY['a', NULL]);
\echo :LAST_ERROR_SQLSTATE
-- Empty string: 22023.
SELECT * FROM directus_sync.get_by_sync_id('roles', '');
\echo :LAST_ERROR_SQLSTATE
-- Over 255 characters: 22001, the DETAIL gives the length.
SELECT directus_sync.create_mapping('roles', repeat('é', 256));
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.get_by_local_ids('roles', ARRAY['ok', repeat('x', 300)]);
\echo :LAST_ERROR_SQLSTATE
-- Local id already mapped in that table: 23505, the DETAIL names its sync id.
BEGIN;
SELECT directus_sync.create_mapping('regress-errors', '42', 'abc');
SELECT directus_sync.create_mapping('regress-errors', '42', 'other');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- Sync id already used in that table: 23505, the DETAIL names its local id.
BEGIN;
SELECT directus_sync.create_mapping('regress-errors', '42', 'abc');
SELECT directus_sync.create_mapping('regress-errors', '43', 'abc');
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- The same id twice in one create_mappings call: 23505.
SELECT * FROM directus_sync.create_mappings('regress-errors', ARRAY['b8', 'b9', 'b8']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.create_mappings('regress-errors', ARRAY['b8', 'b9'], ARRAY['s', 's']);
\echo :LAST_ERROR_SQLSTATE
-- sync_ids and local_ids of different lengths, a 2-D array: 22023.
SELECT * FROM directus_sync.create_mappings('regress-errors', ARRAY['b8', 'b9'], ARRAY['s8']);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.create_mappings('regress-errors', ARRAY[['b8'], ['b9']]);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.create_mappings('regress-errors', ARRAY['b8', 'b9'], ARRAY[['s8'], ['s9']]);
\echo :LAST_ERROR_SQLSTATE
-- keep not first/last: 22023.
SELECT * FROM directus_sync.remove_permission_duplicates(keep => 'newest');
\echo :LAST_ERROR_SQLSTATE
-- No directus_permissions table: 42P01.
SELECT to_regclass('public.directus_permissions') IS NULL AS no_permissions_table;
SELECT * FROM directus_sync.remove_permission_duplicates();
\echo :LAST_ERROR_SQLSTATE
-- No privilege: 42501, for a map function and for the clean-up.
CREATE ROLE regress_dsync_nobody;
SET ROLE regress_dsync_nobody;
SELECT * FROM directus_sync.get_all('roles');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM directus_sync.remove_permission_duplicates(dry_run => true);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_dsync_nobody;
-- Nothing of the above was left behind.
SELECT count(*) AS nothing_left FROM directus_sync_id_map WHERE "table" IN ('regress-errors', 'roles') AND local_id IN ('42', '43', 'a', 'b8', 'b9');
