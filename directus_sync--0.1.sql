/* directus_sync--0.1.sql: the SyncID map and the permission clean-up.
 *
 * Two schemas are involved:
 *   @extschema@    the schema Directus uses (CREATE EXTENSION ... SCHEMA; public by
 *                  default). The SyncID map table lives here, under the exact name
 *                  and layout that directus-extension-sync 3.x creates, so the Node
 *                  extension and the directus-sync CLI keep working on the same rows.
 *   directus_sync  the SQL API. Nothing in it is executable by PUBLIC.
 */

\echo Use "CREATE EXTENSION directus_sync" to load this file. \quit

CREATE SCHEMA directus_sync;
REVOKE ALL ON SCHEMA directus_sync FROM PUBLIC;
COMMENT ON SCHEMA directus_sync IS 'directus_sync: SyncID map API, permission clean-up';

/*
 * The map table. Created with the DDL knex emits for directus-extension-sync
 * 3.x on PostgreSQL, so the catalogs end up identical; adopted with all its
 * rows when the Node extension made it first.
 */
DO $install$
DECLARE
    map regclass := to_regclass('@extschema@.directus_sync_id_map');
    expected text[] := ARRAY[
        'id integer not null',
        'table character varying(255) not null',
        'sync_id character varying(255) not null',
        'local_id character varying(255) not null',
        'created_at timestamp with time zone null'];
    actual text[];
    missing_constraints text[];
    other_schemas text;
BEGIN
    IF map IS NULL THEN
        CREATE TABLE @extschema@.directus_sync_id_map (
            id serial PRIMARY KEY,
            "table" varchar(255) NOT NULL,
            sync_id varchar(255) NOT NULL,
            local_id varchar(255) NOT NULL,
            created_at timestamptz DEFAULT CURRENT_TIMESTAMP);
        ALTER TABLE @extschema@.directus_sync_id_map
            ADD CONSTRAINT directus_sync_id_map_table_sync_id_unique UNIQUE ("table", sync_id);
        ALTER TABLE @extschema@.directus_sync_id_map
            ADD CONSTRAINT directus_sync_id_map_table_local_id_unique UNIQUE ("table", local_id);
        CREATE INDEX directus_sync_id_map_created_at_index
            ON @extschema@.directus_sync_id_map (created_at);

        SELECT string_agg(quote_ident(n.nspname), ', ') INTO other_schemas
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = 'directus_sync_id_map' AND c.relkind = 'r'
           AND n.nspname <> '@extschema@';
        IF other_schemas IS NOT NULL THEN
            RAISE WARNING 'created a new, empty directus_sync_id_map in schema %', quote_ident('@extschema@')
                USING DETAIL = format('A directus_sync_id_map table also exists in schema %s.', other_schemas),
                      HINT = 'To adopt that one, drop the extension and run CREATE EXTENSION directus_sync SCHEMA <that schema>.';
        END IF;
        RETURN;
    END IF;

    -- Adoption: the layout must be exactly the Node extension's, or a
    -- pg_dump/restore would not bring the rows back into the table that
    -- CREATE EXTENSION makes.
    SELECT array_agg(format('%s %s %s', a.attname, format_type(a.atttypid, a.atttypmod),
                            CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END)
                     ORDER BY a.attnum)
      INTO actual
      FROM pg_attribute a
     WHERE a.attrelid = map AND a.attnum > 0 AND NOT a.attisdropped;
    IF actual IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'table %.directus_sync_id_map exists but does not have the layout of directus-extension-sync',
                        quote_ident('@extschema@')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Its columns are: %s.', array_to_string(actual, ', ')),
                  HINT = 'Rename or fix the table, then run CREATE EXTENSION again.';
    END IF;

    SELECT array_agg(name) INTO missing_constraints
      FROM unnest(ARRAY['directus_sync_id_map_pkey',
                        'directus_sync_id_map_table_sync_id_unique',
                        'directus_sync_id_map_table_local_id_unique']) AS name
     WHERE NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = map AND conname = name);
    IF missing_constraints IS NOT NULL THEN
        RAISE EXCEPTION 'table %.directus_sync_id_map exists but lacks the constraints of directus-extension-sync',
                        quote_ident('@extschema@')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Missing: %s.', array_to_string(missing_constraints, ', '));
    END IF;
    IF to_regclass('@extschema@.directus_sync_id_map_created_at_index') IS NULL THEN
        CREATE INDEX directus_sync_id_map_created_at_index
            ON @extschema@.directus_sync_id_map (created_at);
    END IF;

    ALTER EXTENSION directus_sync ADD TABLE @extschema@.directus_sync_id_map;
    ALTER EXTENSION directus_sync ADD SEQUENCE @extschema@.directus_sync_id_map_id_seq;
END
$install$;

-- The rows are user data: pg_dump writes them out although the table belongs
-- to the extension, and restores them into the table CREATE EXTENSION makes.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.directus_sync_id_map', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.directus_sync_id_map_id_seq', '');

COMMENT ON TABLE @extschema@.directus_sync_id_map IS
    'SyncID map shared with directus-extension-sync: links a stable sync_id to each instance''s local_id';


/* ---------------------------------------------------------------------------
 * Input checks shared by the API. Called from SECURITY DEFINER functions only.
 * ------------------------------------------------------------------------- */

-- A map key (table, sync id or local id) must fit the varchar(255) columns
-- exactly: never NULL, never empty, never silently cut.
CREATE FUNCTION directus_sync._check_key(val text, what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF val IS NULL THEN
        RAISE EXCEPTION '% must not be null', what USING ERRCODE = 'null_value_not_allowed';
    ELSIF val = '' THEN
        RAISE EXCEPTION '% must not be empty', what USING ERRCODE = 'invalid_parameter_value';
    ELSIF length(val) > 255 THEN
        RAISE EXCEPTION '% is too long', what
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = format('It has %s characters; the limit is 255.', length(val));
    END IF;
END
$$;

-- The same for every element of an array, set-based so that checking 1,000 ids
-- costs one scan, not 1,000 calls.
CREATE FUNCTION directus_sync._check_keys(vals text[], what text) RETURNS void
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad record;
BEGIN
    IF vals IS NULL THEN
        RAISE EXCEPTION '% must not be null', what USING ERRCODE = 'null_value_not_allowed';
    ELSIF array_ndims(vals) > 1 THEN
        RAISE EXCEPTION '% must be a one-dimensional array', what
            USING ERRCODE = 'array_subscript_error';
    END IF;
    SELECT v, pos INTO bad
      FROM unnest(vals) WITH ORDINALITY AS u(v, pos)
     WHERE v IS NULL OR v = '' OR length(v) > 255
     LIMIT 1;
    IF FOUND THEN
        PERFORM directus_sync._check_key(bad.v, format('%s[%s]', what, bad.pos));
    END IF;
END
$$;

-- Raised when an insert into the map met an existing row: says which of the
-- two unique keys it was, as the REST endpoint's 409 did for local ids.
CREATE FUNCTION directus_sync._raise_duplicate(map_table text, local_id text, sync_id text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m @extschema@.directus_sync_id_map := NULL;
BEGIN
    SELECT * INTO m FROM @extschema@.directus_sync_id_map t
     WHERE t."table" = map_table AND t.local_id = _raise_duplicate.local_id;
    IF FOUND THEN
        RAISE EXCEPTION 'local id "%" already exists in table "%"', local_id, map_table
            USING ERRCODE = 'unique_violation',
                  CONSTRAINT = 'directus_sync_id_map_table_local_id_unique',
                  DETAIL = format('It is mapped to sync id "%s".', m.sync_id);
    END IF;
    SELECT * INTO m FROM @extschema@.directus_sync_id_map t
     WHERE t."table" = map_table AND t.sync_id = _raise_duplicate.sync_id;
    IF FOUND THEN
        RAISE EXCEPTION 'sync id "%" already exists in table "%"', sync_id, map_table
            USING ERRCODE = 'unique_violation',
                  CONSTRAINT = 'directus_sync_id_map_table_sync_id_unique',
                  DETAIL = format('It is mapped to local id "%s".', m.local_id);
    END IF;
    -- Only reachable when the conflicting row is invisible to this snapshot
    -- (a concurrent insert under REPEATABLE READ).
    RAISE EXCEPTION 'mapping of local id "%" in table "%" conflicts with a concurrent insert',
        local_id, map_table
        USING ERRCODE = 'unique_violation';
END
$$;


/* ---------------------------------------------------------------------------
 * The SyncID API: one function per REST endpoint of directus-extension-sync,
 * plus set-based variants. SECURITY DEFINER, so a role needs EXECUTE on them
 * and no privilege on the table itself (README: "Access").
 * ------------------------------------------------------------------------- */

CREATE FUNCTION directus_sync.get_by_sync_id(table_name text, sync_id text)
RETURNS SETOF @extschema@.directus_sync_id_map
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_key(sync_id, 'sync_id');
    RETURN QUERY SELECT * FROM @extschema@.directus_sync_id_map m
                  WHERE m."table" = table_name AND m.sync_id = get_by_sync_id.sync_id;
END
$$;
COMMENT ON FUNCTION directus_sync.get_by_sync_id(text, text) IS
    'The mapping of a sync id in a table, or no row (REST: GET table/:table/sync_id/:sync_id)';

CREATE FUNCTION directus_sync.get_by_local_id(table_name text, local_id text)
RETURNS SETOF @extschema@.directus_sync_id_map
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_key(local_id, 'local_id');
    RETURN QUERY SELECT * FROM @extschema@.directus_sync_id_map m
                  WHERE m."table" = table_name AND m.local_id = get_by_local_id.local_id;
END
$$;
COMMENT ON FUNCTION directus_sync.get_by_local_id(text, text) IS
    'The mapping of a local id in a table, or no row (REST: GET table/:table/local_id/:local_id)';

CREATE FUNCTION directus_sync.get_all(table_name text)
RETURNS SETOF @extschema@.directus_sync_id_map
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    RETURN QUERY SELECT * FROM @extschema@.directus_sync_id_map m
                  WHERE m."table" = table_name ORDER BY m.id;
END
$$;
COMMENT ON FUNCTION directus_sync.get_all(text) IS
    'Every mapping of a table, ordered by id (REST: GET table/:table)';

CREATE FUNCTION directus_sync.create_mapping(table_name text, local_id text, sync_id text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_sync_id text := coalesce(sync_id, gen_random_uuid()::text);
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_key(local_id, 'local_id');
    PERFORM directus_sync._check_key(new_sync_id, 'sync_id');
    -- ON CONFLICT instead of an exception block: no subtransaction per call.
    INSERT INTO @extschema@.directus_sync_id_map AS m ("table", sync_id, local_id)
    VALUES (table_name, new_sync_id, local_id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        PERFORM directus_sync._raise_duplicate(table_name, local_id, new_sync_id);
    END IF;
    RETURN new_sync_id;
END
$$;
COMMENT ON FUNCTION directus_sync.create_mapping(text, text, text) IS
    'Maps a local id to a sync id (a random uuid when none is given) and returns the sync id (REST: POST table/:table)';

CREATE FUNCTION directus_sync.delete_by_sync_id(table_name text, sync_id text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed bigint;
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_key(sync_id, 'sync_id');
    DELETE FROM @extschema@.directus_sync_id_map m
     WHERE m."table" = table_name AND m.sync_id = delete_by_sync_id.sync_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION directus_sync.delete_by_sync_id(text, text) IS
    'Removes the mapping of a sync id; returns how many rows went, 0 or 1 (REST: DELETE table/:table/sync_id/:sync_id)';

CREATE FUNCTION directus_sync.delete_by_local_id(table_name text, local_id text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed bigint;
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_key(local_id, 'local_id');
    DELETE FROM @extschema@.directus_sync_id_map m
     WHERE m."table" = table_name AND m.local_id = delete_by_local_id.local_id;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION directus_sync.delete_by_local_id(text, text) IS
    'Removes the mapping of a local id; returns how many rows went, 0 or 1 (REST: DELETE table/:table/local_id/:local_id)';

-- Set-based variants: the CLI paid one HTTP round trip per id.

CREATE FUNCTION directus_sync.get_by_local_ids(table_name text, local_ids text[])
RETURNS SETOF @extschema@.directus_sync_id_map
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_keys(local_ids, 'local_ids');
    RETURN QUERY SELECT m.* FROM unnest(local_ids) WITH ORDINALITY AS wanted(local_id, pos)
                   JOIN @extschema@.directus_sync_id_map m
                     ON m."table" = table_name AND m.local_id = wanted.local_id
                  ORDER BY wanted.pos;
END
$$;
COMMENT ON FUNCTION directus_sync.get_by_local_ids(text, text[]) IS
    'The mappings of many local ids of a table, in the order asked; ids without a mapping give no row';

CREATE FUNCTION directus_sync.get_by_sync_ids(table_name text, sync_ids text[])
RETURNS SETOF @extschema@.directus_sync_id_map
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_keys(sync_ids, 'sync_ids');
    RETURN QUERY SELECT m.* FROM unnest(sync_ids) WITH ORDINALITY AS wanted(sync_id, pos)
                   JOIN @extschema@.directus_sync_id_map m
                     ON m."table" = table_name AND m.sync_id = wanted.sync_id
                  ORDER BY wanted.pos;
END
$$;
COMMENT ON FUNCTION directus_sync.get_by_sync_ids(text, text[]) IS
    'The mappings of many sync ids of a table, in the order asked; ids without a mapping give no row';

CREATE FUNCTION directus_sync.create_mappings(table_name text, local_ids text[], sync_ids text[] DEFAULT NULL)
RETURNS TABLE (local_id text, sync_id text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dup record;
BEGIN
    PERFORM directus_sync._check_key(table_name, 'table_name');
    PERFORM directus_sync._check_keys(local_ids, 'local_ids');
    IF sync_ids IS NOT NULL AND cardinality(sync_ids) <> cardinality(local_ids) THEN
        RAISE EXCEPTION 'sync ids and local ids differ in length'
            USING ERRCODE = 'array_subscript_error',
                  DETAIL = format('There are %s local ids and %s sync ids.',
                                  cardinality(local_ids), cardinality(sync_ids)),
                  HINT = 'Pass NULL, or NULL elements, for the sync ids to generate.';
    END IF;
    -- A NULL sync id means "generate one", as in create_mapping.
    sync_ids := ARRAY(SELECT coalesce(u.s, gen_random_uuid()::text)
                        FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
                       ORDER BY u.pos);
    PERFORM directus_sync._check_keys(sync_ids, 'sync_ids');

    FOR dup IN
        SELECT 'local id' AS what, l AS val FROM unnest(local_ids) AS l GROUP BY l HAVING count(*) > 1
        UNION ALL
        SELECT 'sync id', s FROM unnest(sync_ids) AS s GROUP BY s HAVING count(*) > 1
        LIMIT 1
    LOOP
        RAISE EXCEPTION '% "%" appears more than once in the input', dup.what, dup.val
            USING ERRCODE = 'unique_violation';
    END LOOP;

    -- Name the first input row whose key is taken. A concurrent insert that
    -- slips in after this check still fails the INSERT below with 23505.
    FOR dup IN
        SELECT u.l, u.s FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
         WHERE EXISTS (SELECT FROM @extschema@.directus_sync_id_map m
                        WHERE m."table" = table_name AND (m.local_id = u.l OR m.sync_id = u.s))
         ORDER BY u.pos LIMIT 1
    LOOP
        PERFORM directus_sync._raise_duplicate(table_name, dup.l, dup.s);
    END LOOP;

    INSERT INTO @extschema@.directus_sync_id_map ("table", sync_id, local_id)
    SELECT table_name, u.s, u.l FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
     ORDER BY u.pos;
    RETURN QUERY SELECT u.l, u.s FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
                  ORDER BY u.pos;
END
$$;
COMMENT ON FUNCTION directus_sync.create_mappings(text, text[], text[]) IS
    'Maps many local ids of a table at once, all or nothing; returns each local id with its sync id, in input order';


/* ---------------------------------------------------------------------------
 * Permission clean-up (REST: DELETE helpers/permissions/duplicates)
 * ------------------------------------------------------------------------- */

CREATE FUNCTION directus_sync.remove_permission_duplicates(keep text DEFAULT 'last', dry_run boolean DEFAULT false)
RETURNS TABLE (policy uuid, role uuid, collection text, action text, kept_id integer, deleted_ids integer[])
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    permissions regclass := to_regclass('@extschema@.directus_permissions');
    owner_column text;
BEGIN
    IF keep IS NULL THEN
        RAISE EXCEPTION 'keep must not be null' USING ERRCODE = 'null_value_not_allowed';
    ELSIF keep NOT IN ('first', 'last') THEN
        RAISE EXCEPTION 'invalid value for keep: "%"', keep
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use ''last'' to keep the highest id of each group or ''first'' to keep the lowest.';
    ELSIF dry_run IS NULL THEN
        RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = 'null_value_not_allowed';
    ELSIF permissions IS NULL THEN
        RAISE EXCEPTION 'table %.directus_permissions does not exist', quote_ident('@extschema@')
            USING ERRCODE = 'undefined_table',
                  HINT = 'Install directus_sync in the schema of a Directus database (CREATE EXTENSION directus_sync SCHEMA ...).';
    END IF;

    -- Directus 11+ groups permissions by policy, Directus 10 by role.
    SELECT a.attname INTO owner_column FROM pg_attribute a
     WHERE a.attrelid = permissions AND a.attname IN ('policy', 'role') AND NOT a.attisdropped
     ORDER BY a.attname = 'policy' DESC LIMIT 1;
    IF owner_column IS NULL THEN
        RAISE EXCEPTION 'table % has neither a policy nor a role column', permissions
            USING ERRCODE = 'undefined_column';
    END IF;

    -- One statement: the deletes and the report come from the same snapshot,
    -- and the report lists only what was really deleted.
    RETURN QUERY EXECUTE format($q$
        WITH ranked AS (
            SELECT p.id, p.%1$I::uuid AS owner, p.collection::text AS collection, p.action::text AS action,
                   first_value(p.id) OVER (PARTITION BY p.%1$I, p.collection, p.action
                                           ORDER BY p.id %2$s) AS kept_id
              FROM %3$s p
        ), doomed AS (
            SELECT * FROM ranked WHERE id <> kept_id
        ), deleted AS (
            DELETE FROM %3$s p USING doomed d WHERE p.id = d.id AND NOT $1
            RETURNING d.*
        ), reported AS (
            SELECT * FROM deleted WHERE NOT $1
            UNION ALL
            SELECT * FROM doomed WHERE $1
        )
        SELECT %4$s, %5$s, collection, action, kept_id, array_agg(id ORDER BY id)
          FROM reported
         GROUP BY owner, collection, action, kept_id
         ORDER BY owner, collection, action$q$,
        owner_column,
        CASE keep WHEN 'last' THEN 'DESC' ELSE 'ASC' END,
        permissions,
        CASE owner_column WHEN 'policy' THEN 'owner' ELSE 'NULL::uuid' END,
        CASE owner_column WHEN 'role' THEN 'owner' ELSE 'NULL::uuid' END)
    USING dry_run;
END
$$;
COMMENT ON FUNCTION directus_sync.remove_permission_duplicates(text, boolean) IS
    'Deletes duplicated directus_permissions rows (same policy, or role on Directus 10, collection and action), keeping the last or first id of each group; one row per group';


/* ---------------------------------------------------------------------------
 * DROP EXTENSION keeps the mappings: an event trigger detaches the map table
 * from the extension before the drop, so the table stays with every row and a
 * later CREATE EXTENSION adopts it again.
 * ------------------------------------------------------------------------- */

CREATE FUNCTION directus_sync._detach_map() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    map regclass := to_regclass('@extschema@.directus_sync_id_map');
BEGIN
    IF map IS NULL OR NOT EXISTS (
        SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
         WHERE d.classid = 'pg_class'::regclass AND d.objid = map AND d.deptype = 'e'
           AND e.extname = 'directus_sync') THEN
        RETURN;
    END IF;
    ALTER EXTENSION directus_sync DROP TABLE @extschema@.directus_sync_id_map;
    ALTER EXTENSION directus_sync DROP SEQUENCE @extschema@.directus_sync_id_map_id_seq;
    RAISE NOTICE 'table % keeps its % mappings after DROP EXTENSION directus_sync', map,
        (SELECT count(*) FROM @extschema@.directus_sync_id_map)
        USING HINT = 'CREATE EXTENSION directus_sync adopts it again; DROP TABLE removes it for good.';
END
$$;

CREATE FUNCTION directus_sync._keep_map_on_drop() RETURNS event_trigger
AS 'MODULE_PATHNAME', 'directus_sync_keep_map_on_drop'
LANGUAGE C;

CREATE EVENT TRIGGER directus_sync_keep_map_on_drop ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION directus_sync._keep_map_on_drop();
-- Fire in replica sessions too, so session_replication_role cannot bypass it.
ALTER EVENT TRIGGER directus_sync_keep_map_on_drop ENABLE ALWAYS;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA directus_sync FROM PUBLIC;
