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
