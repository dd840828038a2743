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
 *
 * An adopted table passes to the extension's owner: the SECURITY DEFINER API
 * runs as that owner, so the table must carry nothing that another role could
 * make run code (triggers, rules, row security, expression indexes, defaults,
 * check constraints). Its layout must therefore match the one created here
 * exactly, which also guarantees that pg_dump's rows fit the table a restore's
 * CREATE EXTENSION makes.
 */
DO $install$
DECLARE
    ext_schema oid := (SELECT extnamespace FROM pg_extension WHERE extname = 'directus_sync');
    map regclass := to_regclass('@extschema@.directus_sync_id_map');
    -- What the DDL below (and knex) produces, in "C" order. Read with the
    -- script's search_path, so the sequence name is unqualified.
    expected text[] := ARRAY[
        'column created_at timestamp with time zone default CURRENT_TIMESTAMP',
        'column id integer not null default nextval(''directus_sync_id_map_id_seq''::regclass)',
        'column local_id character varying(255) not null',
        'column sync_id character varying(255) not null',
        'column table character varying(255) not null',
        'constraint directus_sync_id_map_pkey PRIMARY KEY (id)',
        'constraint directus_sync_id_map_table_local_id_unique UNIQUE ("table", local_id)',
        'constraint directus_sync_id_map_table_sync_id_unique UNIQUE ("table", sync_id)',
        'index directus_sync_id_map_created_at_index btree (created_at)',
        'index directus_sync_id_map_pkey unique btree (id)',
        'index directus_sync_id_map_table_local_id_unique unique btree (table, local_id)',
        'index directus_sync_id_map_table_sync_id_unique unique btree (table, sync_id)'];
    found text[];
    other_schemas text;
    former_owner name;
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

        SELECT string_agg(format('%I', n.nspname), ', ') INTO other_schemas
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relname = 'directus_sync_id_map' AND c.relkind = 'r' AND n.oid <> ext_schema;
        IF other_schemas IS NOT NULL THEN
            RAISE WARNING 'created a new, empty directus_sync_id_map in schema %', '@extschema@'
                USING DETAIL = format('A directus_sync_id_map table also exists in schema %s.', other_schemas),
                      HINT = 'To adopt that one, drop the extension and run CREATE EXTENSION directus_sync SCHEMA <that schema>.';
        END IF;
        RETURN;
    END IF;

    /*
     * Adoption. The table passes to the extension's owner, as whom the
     * SECURITY DEFINER API runs, so it must carry nothing through which its
     * old owner could make that API run code (triggers, rules, row security,
     * expression indexes, other defaults or constraints). It must also fit
     * the rows pg_dump writes into the table a restore's CREATE EXTENSION
     * makes. Hence: exactly the expected layout, nothing more.
     */
    SELECT array_agg(item ORDER BY item COLLATE "C") INTO found FROM (
        SELECT format('column %s %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                      CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                      coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''))
          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = map AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint
         WHERE conrelid = map AND contype <> 'n'   -- PostgreSQL 18's NOT NULL: in the column lines
        UNION ALL
        SELECT format('index %s%s %s (%s)%s', ic.relname, CASE WHEN i.indisunique THEN ' unique' ELSE '' END,
                      am.amname,
                      (SELECT string_agg(coalesce(a.attname, 'expression'), ', ' ORDER BY k.ord)
                         FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
                         LEFT JOIN pg_attribute a ON a.attrelid = map AND a.attnum = k.attnum),
                      CASE WHEN i.indpred IS NOT NULL THEN ' partial' ELSE '' END)
          FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
         WHERE i.indrelid = map
        UNION ALL
        SELECT format('trigger %s', tgname) FROM pg_trigger WHERE tgrelid = map AND NOT tgisinternal
        UNION ALL
        SELECT format('rule %s', rulename) FROM pg_rewrite WHERE ev_class = map
        UNION ALL
        SELECT format('policy %s', polname) FROM pg_policy WHERE polrelid = map
        UNION ALL
        SELECT 'row security' FROM pg_class WHERE oid = map AND relrowsecurity
        UNION ALL
        SELECT format('relkind %s', relkind) FROM pg_class WHERE oid = map AND relkind <> 'r'
        UNION ALL
        SELECT 'inheritance' FROM pg_inherits WHERE inhrelid = map OR inhparent = map
    ) AS items(item);

    IF found IS DISTINCT FROM expected THEN
        RAISE EXCEPTION 'table %.directus_sync_id_map exists but is not the one directus-extension-sync creates',
                        '@extschema@'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Unexpected: %s. Missing: %s.',
                      coalesce(nullif(array_to_string(ARRAY(SELECT unnest(found) EXCEPT SELECT unnest(expected) ORDER BY 1), '; '), ''), 'nothing'),
                      coalesce(nullif(array_to_string(ARRAY(SELECT unnest(expected) EXCEPT SELECT unnest(found) ORDER BY 1), '; '), ''), 'nothing')),
                  HINT = 'Rename or fix the table, then run CREATE EXTENSION again.';
    END IF;

    SELECT pg_get_userbyid(relowner) INTO former_owner FROM pg_class WHERE oid = map;
    IF former_owner <> current_user THEN
        RAISE WARNING 'table % now belongs to the owner of extension directus_sync', map
            USING DETAIL = format('Role %I, its owner until now, has no access to it any more.', former_owner),
                  HINT = format('To let directus-extension-sync running as %1$I use it: GRANT SELECT, INSERT, DELETE ON %2$s TO %1$I; GRANT USAGE ON SEQUENCE %2$s_id_seq TO %1$I;',
                                former_owner, map);
    END IF;
    EXECUTE format('ALTER TABLE %s OWNER TO %I', map, current_user);
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
            USING ERRCODE = 'invalid_parameter_value';
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

-- Raises 23505 when the local id or the sync id is already mapped in the
-- table, saying which (the REST endpoint answered 409 for a local id).
CREATE FUNCTION directus_sync._check_not_mapped(map_table text, local_id text, sync_id text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other text;
BEGIN
    SELECT m.sync_id INTO other FROM @extschema@.directus_sync_id_map m
     WHERE m."table" = map_table AND m.local_id = _check_not_mapped.local_id;
    IF FOUND THEN
        RAISE EXCEPTION 'local id "%" already exists in table "%"', local_id, map_table
            USING ERRCODE = 'unique_violation',
                  CONSTRAINT = 'directus_sync_id_map_table_local_id_unique',
                  DETAIL = format('It is mapped to sync id "%s".', other);
    END IF;
    SELECT m.local_id INTO other FROM @extschema@.directus_sync_id_map m
     WHERE m."table" = map_table AND m.sync_id = _check_not_mapped.sync_id;
    IF FOUND THEN
        RAISE EXCEPTION 'sync id "%" already exists in table "%"', sync_id, map_table
            USING ERRCODE = 'unique_violation',
                  CONSTRAINT = 'directus_sync_id_map_table_sync_id_unique',
                  DETAIL = format('It is mapped to local id "%s".', other);
    END IF;
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
    -- A check, not an exception block: no subtransaction per call. A
    -- concurrent insert of the same ids that slips in after the check still
    -- fails the INSERT with 23505, from the unique constraint itself.
    PERFORM directus_sync._check_not_mapped(table_name, local_id, new_sync_id);
    INSERT INTO @extschema@.directus_sync_id_map ("table", sync_id, local_id)
    VALUES (table_name, new_sync_id, local_id);
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
    IF array_ndims(sync_ids) > 1 THEN
        RAISE EXCEPTION 'sync_ids must be a one-dimensional array' USING ERRCODE = 'invalid_parameter_value';
    ELSIF sync_ids IS NOT NULL AND cardinality(sync_ids) <> cardinality(local_ids) THEN
        RAISE EXCEPTION 'sync_ids and local_ids differ in length'
            USING ERRCODE = 'invalid_parameter_value',
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
        PERFORM directus_sync._check_not_mapped(table_name, dup.l, dup.s);
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

-- SECURITY INVOKER: directus_permissions belongs to Directus's role, and
-- the caller needs its own right to delete from it.
CREATE FUNCTION directus_sync.remove_permission_duplicates(keep text DEFAULT 'last', dry_run boolean DEFAULT false)
RETURNS TABLE (policy uuid, role uuid, collection text, action text, kept_id integer, deleted_ids integer[])
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    permissions regclass := to_regclass('@extschema@.directus_permissions');
    owner_column text;
    duplicates text;
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
        RAISE EXCEPTION 'table %.directus_permissions does not exist', '@extschema@'
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

    -- Every row but the kept one of each (owner, collection, action) group.
    duplicates := format($q$
        SELECT id, owner, collection, action, kept_id FROM (
            SELECT p.id, p.%1$I::uuid AS owner, p.collection::text AS collection, p.action::text AS action,
                   first_value(p.id) OVER (PARTITION BY p.%1$I, p.collection, p.action ORDER BY p.id %2$s) AS kept_id
              FROM %3$s p) AS ranked
         WHERE id <> kept_id$q$,
        owner_column, CASE keep WHEN 'last' THEN 'DESC' ELSE 'ASC' END, permissions);

    IF NOT dry_run THEN
        -- Nobody may delete a kept row, or add a duplicate, between the
        -- choice and the delete; readers are not blocked.
        EXECUTE format('LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE', permissions);
        duplicates := format('WITH doomed AS (%s) DELETE FROM %s p USING doomed d WHERE p.id = d.id RETURNING d.*',
                             duplicates, permissions);
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH reported AS (%s)
        SELECT %s, %s, collection, action, kept_id, array_agg(id ORDER BY id)
          FROM reported GROUP BY owner, collection, action, kept_id
         ORDER BY owner, collection, action$q$,
        duplicates,
        CASE owner_column WHEN 'policy' THEN 'owner' ELSE 'NULL::uuid' END,
        CASE owner_column WHEN 'role' THEN 'owner' ELSE 'NULL::uuid' END);
END
$$;
COMMENT ON FUNCTION directus_sync.remove_permission_duplicates(text, boolean) IS
    'Deletes duplicated directus_permissions rows (same policy, or role on Directus 10, collection and action), keeping the last or first id of each group; one row per group';


/* ---------------------------------------------------------------------------
 * DROP EXTENSION keeps the mappings: an event trigger detaches the map table
 * from the extension before the drop, so the table stays with every row and a
 * later CREATE EXTENSION adopts it again.
 * ------------------------------------------------------------------------- */

-- Found through pg_depend, not by name: a renamed or moved table is kept too.
CREATE FUNCTION directus_sync._detach_map() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    member record;
    mappings bigint;
BEGIN
    FOR member IN
        SELECT c.oid::regclass AS rel, c.relkind
          FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
          JOIN pg_class c ON c.oid = d.objid
         WHERE e.extname = 'directus_sync' AND d.classid = 'pg_class'::regclass
           AND d.deptype = 'e' AND c.relkind IN ('r', 'S')
    LOOP
        EXECUTE format('ALTER EXTENSION directus_sync DROP %s %s',
                       CASE member.relkind WHEN 'r' THEN 'TABLE' ELSE 'SEQUENCE' END, member.rel);
        IF member.relkind = 'r' THEN
            EXECUTE format('SELECT count(*) FROM %s', member.rel) INTO mappings;
            RAISE NOTICE 'table % keeps its % mappings after DROP EXTENSION directus_sync', member.rel, mappings
                USING HINT = 'CREATE EXTENSION directus_sync adopts it again; DROP TABLE removes it for good.';
        END IF;
    END LOOP;
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
