/* directus_sync--0.3.sql: the whole extension, version 0.3.
 *
 * The full install script: CREATE EXTENSION directus_sync runs this file alone.
 * directus_sync--0.1.sql, --0.1--0.2.sql and --0.2--0.3.sql are kept as the
 * upgrade path of existing installations, and must end with exactly the
 * objects this file creates (t/003_install_paths.pl compares the two).
 *
 * Two schemas are involved:
 *   @extschema@    the schema Directus uses (CREATE EXTENSION ... SCHEMA; public by
 *                  default). The SyncID map table lives here, under the exact name
 *                  and layout that directus-extension-sync 3.x creates, so the Node
 *                  extension and the directus-sync CLI keep working on the same rows.
 *   directus_sync  the SQL API and everything replication keeps: remotes (Directus
 *                  instances to ship to), subscriptions (which fields of which
 *                  collection go to which remote), the outbox the capture trigger
 *                  fills, the dead letters, and the functions to configure and
 *                  operate all of it. Nothing in it is usable by PUBLIC. Tokens sit
 *                  in directus_sync.remote, which no other role can read; every
 *                  view leaves them out.
 *
 * The background worker (src/worker.c) drains the outbox; everything it does in
 * the database goes through the functions below whose names start with _.
 *
 * Sections:
 *    1. The SyncID map table: create or adopt
 *    2. The SyncID API
 *    3. Permission clean-up
 *    4. DROP EXTENSION keeps the mappings
 *    5. Replication configuration
 *    6. Queue
 *    7. C entry points
 *    8. Configuration API
 *    9. Operations
 *   10. The worker's bookkeeping
 *   11. Views
 *   12. Status in the Directus app
 *   13. Privileges
 */

\echo Use "CREATE EXTENSION directus_sync" to load this file. \quit

CREATE SCHEMA directus_sync;
REVOKE ALL ON SCHEMA directus_sync FROM PUBLIC;
COMMENT ON SCHEMA directus_sync IS 'directus_sync: SyncID map API, permission clean-up, item replication';


/* ---------------------------------------------------------------------------
 * 1. The SyncID map table: create or adopt
 * ------------------------------------------------------------------------- */

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
 * 2. The SyncID API: one function per REST endpoint of directus-extension-sync,
 * plus set-based variants. SECURITY DEFINER, so a role needs EXECUTE on them
 * and no privilege on the table itself (README: "Access").
 * ------------------------------------------------------------------------- */

-- Input checks shared by the API. Called from SECURITY DEFINER functions only.

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
    -- Checks, not an exception block: no subtransaction per call. The first
    -- check spares a sequence value in the common case; a concurrent insert
    -- of the same ids that slips in after it is waited for by ON CONFLICT,
    -- and the second check names what it took.
    PERFORM directus_sync._check_not_mapped(table_name, local_id, new_sync_id);
    -- Above READ COMMITTED, ON CONFLICT meets a row committed after the
    -- snapshot with 40001: the constraint's 23505 is the better answer.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        INSERT INTO @extschema@.directus_sync_id_map ("table", sync_id, local_id)
        VALUES (table_name, new_sync_id, local_id);
        RETURN new_sync_id;
    END IF;
    INSERT INTO @extschema@.directus_sync_id_map ("table", sync_id, local_id)
    VALUES (table_name, new_sync_id, local_id)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        PERFORM directus_sync._check_not_mapped(table_name, local_id, new_sync_id);
        -- the other row went again meanwhile: insert, or fail on the constraint
        INSERT INTO @extschema@.directus_sync_id_map ("table", sync_id, local_id)
        VALUES (table_name, new_sync_id, local_id);
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
    added text[];
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

    -- Name the first input row whose key is taken.
    FOR dup IN
        SELECT u.l, u.s FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
         WHERE EXISTS (SELECT FROM @extschema@.directus_sync_id_map m
                        WHERE m."table" = table_name AND (m.local_id = u.l OR m.sync_id = u.s))
         ORDER BY u.pos LIMIT 1
    LOOP
        PERFORM directus_sync._check_not_mapped(table_name, dup.l, dup.s);
    END LOOP;

    -- Above READ COMMITTED, ON CONFLICT meets a row committed after the
    -- snapshot with 40001: the constraint's 23505 is the better answer.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        INSERT INTO @extschema@.directus_sync_id_map ("table", sync_id, local_id)
        SELECT table_name, u.s, u.l FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
         ORDER BY u.pos;
        RETURN QUERY SELECT u.l, u.s FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
                      ORDER BY u.pos;
        RETURN;
    END IF;

    -- A concurrent create of some of the same ids that slips in after the
    -- check is waited for by ON CONFLICT; the first input row it took is
    -- then named as above (the rows added here cannot be what it meets: the
    -- input holds no id twice). If that row went again meanwhile, the rest
    -- is inserted, or fails on the constraint.
    WITH a AS (
        INSERT INTO @extschema@.directus_sync_id_map AS m ("table", sync_id, local_id)
        SELECT table_name, u.s, u.l FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
         ORDER BY u.pos
        ON CONFLICT DO NOTHING
        RETURNING m.local_id)
    SELECT coalesce(array_agg(a.local_id), '{}') INTO added FROM a;
    IF cardinality(added) < cardinality(local_ids) THEN
        FOR dup IN
            SELECT u.l, u.s FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
             WHERE u.l <> ALL (added) ORDER BY u.pos LIMIT 1
        LOOP
            PERFORM directus_sync._check_not_mapped(table_name, dup.l, dup.s);
        END LOOP;
        INSERT INTO @extschema@.directus_sync_id_map ("table", sync_id, local_id)
        SELECT table_name, u.s, u.l FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
         WHERE u.l <> ALL (added) ORDER BY u.pos;
    END IF;
    RETURN QUERY SELECT u.l, u.s FROM unnest(local_ids, sync_ids) WITH ORDINALITY AS u(l, s, pos)
                  ORDER BY u.pos;
END
$$;
COMMENT ON FUNCTION directus_sync.create_mappings(text, text[], text[]) IS
    'Maps many local ids of a table at once, all or nothing; returns each local id with its sync id, in input order';


/* ---------------------------------------------------------------------------
 * 3. Permission clean-up (REST: DELETE helpers/permissions/duplicates)
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
 * 4. DROP EXTENSION keeps the mappings: an event trigger detaches the map
 * table from the extension before the drop, so the table stays with every row
 * and a later CREATE EXTENSION adopts it again. The capture and loop guard
 * triggers on Directus's tables go first: they depend on our functions.
 * ------------------------------------------------------------------------- */

-- Found through pg_depend, not by name: a renamed or moved table is kept too.
-- (_capture and _activity, section 7, are looked up when it runs.)
/*
 * The triggers directus_sync put on Directus's tables depend on its
 * functions: DROP EXTENSION removes them first (src/map_guard.c calls this,
 * whatever directus_sync.keep_map_on_drop says).
 */
CREATE FUNCTION directus_sync._drop_triggers() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    member record;
BEGIN
    -- The app status goes with the extension: its tables mean nothing
    -- without it. Should Directus's tables be beyond repair, the tables stay,
    -- without their read-only triggers (below), and a warning says so.
    -- The app config too (the remotes and subscriptions go with the extension anyway).
    IF EXISTS (SELECT FROM unnest(ARRAY['sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions']) t
                WHERE directus_sync._app_table(t, 'config') IS NOT NULL) THEN
        BEGIN
            PERFORM directus_sync.disable_app_config();
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'could not remove the app config: %', SQLERRM
                USING HINT = 'directus_sync.disable_app_config() removes it; with the extension gone, drop tables sync_subscriptions, sync_remotes_notify_users and sync_remotes and their rows in directus_collections, directus_fields and directus_relations by hand.';
        END;
    END IF;
    IF EXISTS (SELECT FROM unnest(ARRAY['sync_remotes_status', 'sync_remotes_history',
                                        'sync_dead_letters', 'sync_conflicts']) t
                WHERE directus_sync._app_table(t, 'status') IS NOT NULL) THEN
        BEGIN
            PERFORM directus_sync.disable_app_status();
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'could not remove the app status: %', SQLERRM
                USING HINT = 'directus_sync.disable_app_status() removes it; with the extension gone, drop tables sync_remotes_status, sync_remotes_history, sync_dead_letters and sync_conflicts and their rows in directus_collections, directus_fields and directus_presets by hand.';
        END;
    END IF;
    FOR member IN
        SELECT t.tgname, t.tgrelid::regclass AS rel FROM pg_trigger t
         WHERE t.tgfoid IN (SELECT p.oid FROM pg_proc p
                             WHERE p.pronamespace = 'directus_sync'::regnamespace
                               AND p.proname IN ('_capture', '_activity', '_refuse_truncate', '_app_status_guard',
                                                 '_app_config_remote_prepare', '_app_config_remote_write',
                                                 '_app_config_notify_write', '_app_config_subscription_write',
                                                 '_app_config_subscription_check', '_app_config_remote_check'))
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', member.tgname, member.rel);
    END LOOP;
END
$$;

CREATE FUNCTION directus_sync._detach_map() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    member record;
    mappings bigint;
BEGIN
    PERFORM directus_sync._drop_triggers();

    -- The map table and its sequence: the extension's members outside its own schema.
    FOR member IN
        SELECT c.oid::regclass AS rel, c.relkind
          FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
          JOIN pg_class c ON c.oid = d.objid
         WHERE e.extname = 'directus_sync' AND d.classid = 'pg_class'::regclass
           AND d.deptype = 'e' AND c.relkind IN ('r', 'S')
           AND c.relnamespace <> 'directus_sync'::regnamespace
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


/* ---------------------------------------------------------------------------
 * 5. Replication configuration
 * ------------------------------------------------------------------------- */

/*
 * This database as a replication node: an id made at CREATE EXTENSION, with
 * the database it was made in. pg_dump does not copy it (a restore makes a
 * new one) and a database cloned with CREATE DATABASE ... TEMPLATE makes a
 * new one at its first use (its oid differs), while pg_upgrade and a
 * promoted standby keep it. One row.
 */
CREATE TABLE directus_sync.node (
    node_id      uuid NOT NULL,
    database_oid oid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    instance     integer,                      -- set_instance: this database's number (key series),
    instances    integer                       -- of how many
);
CREATE UNIQUE INDEX node_one_row ON directus_sync.node ((true));
INSERT INTO directus_sync.node (node_id, database_oid)
SELECT gen_random_uuid(), oid FROM pg_database WHERE datname = current_database();

/* This node's id; a clone's first call gives it one of its own. */
CREATE FUNCTION directus_sync._node_id() RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    here oid := (SELECT oid FROM pg_database WHERE datname = current_database());
    id uuid;
BEGIN
    SELECT n.node_id INTO id FROM directus_sync.node n WHERE n.database_oid = here;
    IF id IS NULL THEN
        DELETE FROM directus_sync.node;
        INSERT INTO directus_sync.node (node_id, database_oid) VALUES (gen_random_uuid(), here)
        RETURNING node_id INTO id;
    END IF;
    RETURN id;
END
$$;

/* ---------------------------------------------------------------------------
 * Clocks (src/clock.c) and the merge of an item's states. The groundwork of
 * convergent replication: nothing ships clocks yet (docs/replication.md#clocks).
 * ------------------------------------------------------------------------- */

/* A new stamp of this server's hybrid logical clock, as 16 hex digits. */
CREATE FUNCTION directus_sync._clock_tick() RETURNS text
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'directus_sync_clock_tick';

/*
 * Observes another instance's clock: this server's next stamps are later.
 * False, and the clock left alone, when it is more than
 * directus_sync.max_clock_skew ahead.
 */
CREATE FUNCTION directus_sync._clock_observe(clock text) RETURNS boolean
LANGUAGE c VOLATILE STRICT
AS 'MODULE_PATHNAME', 'directus_sync_clock_observe';

-- SECURITY DEFINER: a role granted it needs no right on the internals it calls.
CREATE FUNCTION directus_sync.clock_now() RETURNS text
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT directus_sync._clock_tick() || '@' || directus_sync._node_id() $$;
COMMENT ON FUNCTION directus_sync.clock_now() IS
    'A new clock of this node: later than every clock it gave or observed; clocks order as text (COLLATE "C")';

CREATE FUNCTION directus_sync.clock_time(clock text) RETURNS timestamptz
LANGUAGE c IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'directus_sync_clock_time';
COMMENT ON FUNCTION directus_sync.clock_time(text) IS
    'The wall-clock time of a clock (to the millisecond)';

/*
 * Of two registers of one field ({"c": clock, "v": value}), the later. On
 * equal clocks the writer's value wins: a register marked "w": true is its
 * clock's writer's value (the row trigger knows it as the value of the
 * instance that made the clock, ours or the sender's, or as a value that is
 * not the column's DEFAULT, clock_row.c); between two unmarked ones (copies:
 * a create stripped of the field gave them the DEFAULT) a value over null,
 * then the larger value's text, so that the choice never depends on which
 * came first. A missing register loses. The result is in normal form and
 * keeps the winner's mark: it is the max of a total order (clock, mark,
 * value over null, text), so the merge is commutative, associative and
 * idempotent (an unmarked result would lose to the next copy that sorts
 * higher: the merge would depend on grouping).
 */
CREATE FUNCTION directus_sync._later(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ca text := coalesce(a->>'c', '');
    cb text := coalesce(b->>'c', '');
    wa boolean := coalesce(a->'w' = 'true', false);
    wb boolean := coalesce(b->'w' = 'true', false);
    winner jsonb;
BEGIN
    IF a IS NULL OR b IS NULL THEN
        winner := coalesce(a, b);
    ELSIF ca COLLATE "C" <> cb THEN
        winner := CASE WHEN ca COLLATE "C" > cb THEN a ELSE b END;
    ELSIF wa <> wb THEN
        winner := CASE WHEN wa THEN a ELSE b END;
    ELSIF coalesce(a->'v', 'null') = 'null' AND coalesce(b->'v', 'null') <> 'null' THEN
        winner := b;
    ELSIF coalesce(b->'v', 'null') = 'null' THEN
        winner := a;
    ELSE
        winner := CASE WHEN (a->'v')::text COLLATE "C" >= (b->'v')::text
                       THEN a ELSE b END;
    END IF;
    RETURN jsonb_build_object('c', coalesce(winner->>'c', ''), 'v', coalesce(winner->'v', 'null'))
        || CASE WHEN winner->'w' = 'true' THEN '{"w": true}'::jsonb ELSE '{}'::jsonb END;
END
$$;

/*
 * The merge of two states of one item: {"b": its creation's clock, "d": its
 * delete's clock or null, "f": {field: register}, "a": its alive clock};
 * a missing or empty clock is older than every clock. "a" is the latest
 * write of the item the state knows of, also of fields it does not hold (an
 * instance that is sent fewer fields than another): the row and a payload
 * carry it when it is later than their fields' clocks. The state with the
 * later creation wins whole (the other was another item that got the same
 * key); for the same creation each field keeps its later register (_later),
 * the delete clock is the later one, and "a" the latest of both "a" and of
 * every field's clock. A delete of an item of unknown creation (a state
 * whose "b" is missing or empty and that has a "d") deletes whatever item
 * is older than it, whoever wins the key: "u", the sweep, keeps the latest
 * such delete of both states, whichever wins (_exists counts it; the
 * tombstone keeps it as its sweep, src/tombstone.c). Commutative,
 * associative and idempotent, so instances that merge the same states in
 * any order, any number of times, end equal (sql/clock_merge.sql). The
 * result is in normal form: all four keys, "u" when there is a sweep,
 * registers with both of theirs (and the writer's mark "w").
 */
CREATE FUNCTION directus_sync._merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    born_a text := coalesce(a->>'b', '');
    born_b text := coalesce(b->>'b', '');
    fields jsonb := '{}';
    name text;
    -- the sweep: of both states, before the one born later wins whole
    swept text := greatest(a->>'u' COLLATE "C", b->>'u' COLLATE "C",
                           CASE WHEN born_a = '' THEN a->>'d' END COLLATE "C",
                           CASE WHEN born_b = '' THEN b->>'d' END COLLATE "C");
BEGIN
    IF a IS NULL OR b IS NULL THEN
        a := coalesce(a, b);
        b := a;
    ELSIF born_a COLLATE "C" > born_b THEN
        b := a;
    ELSIF born_a COLLATE "C" < born_b THEN
        a := b;
    END IF;
    IF a IS NULL THEN
        RETURN NULL;
    END IF;
    FOR name IN SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(a->'f') = 'object' THEN a->'f' ELSE '{}' END)
                UNION SELECT jsonb_object_keys(CASE WHEN jsonb_typeof(b->'f') = 'object' THEN b->'f' ELSE '{}' END)
    LOOP
        fields := fields || jsonb_build_object(name, directus_sync._later(a->'f'->name, b->'f'->name));
    END LOOP;
    RETURN jsonb_build_object('b', coalesce(a->>'b', ''),
                              'd', greatest(a->>'d' COLLATE "C", b->>'d' COLLATE "C"),
                              'f', fields,
                              'a', nullif(greatest(a->>'a' COLLATE "C", b->>'a' COLLATE "C",
                                                   (SELECT max(r.value->>'c' COLLATE "C") FROM jsonb_each(fields) r)), ''))
        || CASE WHEN swept IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('u', swept) END;
END
$$;

/*
 * Whether the item of a state exists: not deleted, or (unless the delete
 * wins) written after its delete, by its creation, a field, or a write its
 * alive clock "a" tells of: the answer does not depend on which fields the
 * state holds. And not swept: written after the sweep "u" (a delete of an
 * item of unknown creation, which deletes whatever item is older), or,
 * when the delete wins, created after it.
 */
CREATE FUNCTION directus_sync._exists(state jsonb, delete_wins boolean DEFAULT false) RETURNS boolean
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (state->>'d' IS NULL
            OR (NOT delete_wins AND w.latest > state->>'d' COLLATE "C"))
       AND (state->>'u' IS NULL
            OR CASE WHEN delete_wins THEN coalesce(state->>'b', '') COLLATE "C" > state->>'u' COLLATE "C"
                    ELSE w.latest > state->>'u' COLLATE "C" END)
      FROM (SELECT greatest(coalesce(state->>'b', '') COLLATE "C", state->>'a' COLLATE "C",
                            (SELECT max(r.value->>'c' COLLATE "C")
                               FROM jsonb_each(CASE WHEN jsonb_typeof(state->'f') = 'object' THEN state->'f'
                                                    ELSE '{}' END) r)) AS latest) w
$$;

CREATE TABLE directus_sync.remote (
    id                 serial PRIMARY KEY,
    name               text NOT NULL UNIQUE,
    url                text NOT NULL,          -- base URL, no trailing slash
    token              text NOT NULL,          -- static token of a user on the remote
    enabled            boolean NOT NULL DEFAULT true,   -- false: changes are not even captured
    paused             boolean NOT NULL DEFAULT false,  -- true: captured, not shipped
    notify_users       uuid[] NOT NULL DEFAULT '{}',
    inbound_user       uuid,                   -- the Directus user this remote writes to us as
    forward_inbound    boolean NOT NULL DEFAULT true,
    connect_timeout_ms integer NOT NULL DEFAULT 5000,
    request_timeout_ms integer NOT NULL DEFAULT 30000,
    batch_max_items    integer NOT NULL DEFAULT 500,
    batch_max_bytes    integer NOT NULL DEFAULT 1000000,
    verify_tls         boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- the node this remote was configured on: restored or cloned elsewhere,
    -- it is paused until resumed there (see _pause_strangers)
    home               uuid DEFAULT directus_sync._node_id()
);

CREATE TABLE directus_sync.subscription (
    remote_id   integer NOT NULL REFERENCES directus_sync.remote ON DELETE CASCADE,
    collection  text NOT NULL,                 -- Directus collection = table name in @extschema@
    relid       regclass NOT NULL,
    key_column  name NOT NULL,
    key_is_number boolean NOT NULL,            -- how a key is written in a JSON array of keys
    fields      text[] NOT NULL,
    singleton   boolean NOT NULL DEFAULT false,
    clocks      boolean,                       -- subscribe's clocks => (NULL: the default, see subscribe)
    PRIMARY KEY (remote_id, collection)
);
CREATE INDEX subscription_relid_idx ON directus_sync.subscription (relid);

/*
 * Worker's view of each remote: counters and the backoff state. Kept apart
 * from remote so that the worker's frequent updates never touch the rows the
 * DBA edits, and the counters survive restarts.
 */
CREATE TABLE directus_sync.remote_state (
    remote_id            integer PRIMARY KEY REFERENCES directus_sync.remote ON DELETE CASCADE,
    in_flight            integer NOT NULL DEFAULT 0,
    delivered            bigint NOT NULL DEFAULT 0,
    failed               bigint NOT NULL DEFAULT 0,   -- failed attempts, transient ones included
    consecutive_failures integer NOT NULL DEFAULT 0,
    retry_at             timestamptz,                 -- backoff: nothing is sent before this
    last_success_at      timestamptz,
    last_error           text,
    last_error_at        timestamptz,
    last_notified_at     timestamptz,
    unnotified_failures  integer NOT NULL DEFAULT 0,
    clock_offset_ms      bigint,                      -- the remote's clock minus ours (its Date header)
    held                 integer NOT NULL DEFAULT 0,  -- changes the last window held back for their clocks
    held_reason          text,                        -- why, while held > 0
    held_since           timestamptz,                 -- changes have been held back since then
    hold_probe_at        timestamptz,                 -- one may go then, as a probe of the estimate
    date_refuted_below_ms bigint                      -- a probe it took refutes its Date while clock_offset_ms is below this
);


/* ---------------------------------------------------------------------------
 * 6. Queue
 * ------------------------------------------------------------------------- */

/*
 * One row per change and subscribed remote, written by the capture trigger
 * in the changing transaction (straight into heap and indexes: no triggers,
 * rules, defaults or constraints beyond NOT NULL apply to what it writes),
 * and deleted once delivered. The worker reads
 * it in id order per remote, so the primary key leads with remote_id. The
 * aggressive autovacuum settings keep a drained queue small: a vacuum after
 * the last delete truncates the empty pages.
 */
CREATE TABLE directus_sync.outbox (
    id              bigserial,
    remote_id       integer NOT NULL,
    collection      text NOT NULL,
    item_key        text NOT NULL,
    op              "char" NOT NULL,           -- 'c' create, 'u' update, 'd' delete
    payload         json,                      -- key and fields; NULL for deletes
    queued_at       timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    retry_at        timestamptz,               -- backoff of this item alone
    last_error      text,
    sent_at         timestamptz,               -- a create on its way: it may have arrived
    PRIMARY KEY (remote_id, id)
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_cost_delay = 0, fillfactor = 90);

-- An item's queued rows in queue order: for the worker to gather every row of
-- the items of a window (so that a backlog ships one request per item), and
-- for the loop guard to find our changes still on their way to a remote.
CREATE INDEX outbox_item_idx ON directus_sync.outbox (remote_id, collection, item_key, id);
-- The rows of items in trouble (_record counts an attempt on an item's first
-- row): for the worker to leave out the items that back off, to take first
-- those due again, and to wake when the next backoff ends. Small, whatever
-- the backlog; the capture trigger's rows (attempts 0) are not in it.
CREATE INDEX outbox_retry_idx ON directus_sync.outbox (remote_id, retry_at) WHERE attempts > 0;
-- Most queued rows are of distinct items: the planner estimates an item's
-- rows as few whatever ANALYZE last saw (the queue of one hot item, say).
ALTER TABLE directus_sync.outbox ALTER COLUMN item_key SET (n_distinct = -1);

CREATE TABLE directus_sync.dead_letter (
    id              bigint PRIMARY KEY,        -- the outbox id it had
    remote_id       integer NOT NULL REFERENCES directus_sync.remote ON DELETE CASCADE,
    collection      text NOT NULL,
    item_key        text NOT NULL,
    op              "char" NOT NULL,
    payload         json,
    queued_at       timestamptz NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now(),
    http_status     integer,
    error_code      text,
    error_message   text
);

/*
 * The dead letters of an item: _trim_history keeps the tombstone of an item
 * that has one.
 */
CREATE INDEX dead_letter_item_idx ON directus_sync.dead_letter (collection, item_key);

/*
 * Deleted items of tables with clocks (src/tombstone.c): the clock of each
 * item's delete, so that an older change arriving later does not bring the
 * item back. Not configuration: not dumped.
 */
CREATE TABLE directus_sync.tombstone (
    collection  text NOT NULL,
    item_key    text NOT NULL,
    deleted     text COLLATE "C" NOT NULL,      -- the delete's clock ('' when a sweep killed the item born
                                                -- at born: tombstone_keep_swept_born)
    deleted_at  timestamptz NOT NULL DEFAULT now(),
    born        text COLLATE "C",               -- the born clock of the item deleted (NULL unknown)
    swept       text COLLATE "C",               -- the latest delete of unknown born (NULL none):
                                                -- it deletes whatever item is older (src/tombstone.c)
    PRIMARY KEY (collection, item_key)
);

/*
 * Collections whose items carry clocks (enable_clocks), with their rule for
 * a delete that meets an update: by default the later of the two wins;
 * with delete_wins, a delete beats every write of the item it deleted.
 * Every instance must have the same rule (a sync's delete says which it
 * was made under, and one made under another is refused). Configuration:
 * dumped.
 */
CREATE TABLE directus_sync.clocked_collection (
    collection  text PRIMARY KEY,
    delete_wins boolean NOT NULL DEFAULT false
);

/*
 * The Directus users that remotes write to this instance as, made by
 * create_sync_user: one per peer (the name of the remote here), with the
 * policy (Directus 11 and later) or role (Directus 10) that grants it its
 * collections. Their tokens are not kept here: Directus keeps them, in
 * directus_users.token. Configuration: dumped.
 */
CREATE TABLE directus_sync.sync_user (
    peer       text PRIMARY KEY,
    user_id    uuid NOT NULL,          -- directus_users.id
    access_id  uuid NOT NULL,          -- directus_policies.id, or directus_roles.id on Directus 10
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE directus_sync.resync_job (
    remote_id   integer NOT NULL REFERENCES directus_sync.remote ON DELETE CASCADE,
    collection  text NOT NULL,
    last_key    text,                          -- rows up to this key are queued
    rows_done   bigint NOT NULL DEFAULT 0,
    rows_total  bigint NOT NULL,               -- estimate taken when the job started
    started_at  timestamptz NOT NULL DEFAULT now(),
    sender_wins boolean NOT NULL DEFAULT false,   -- resync(..., sender_wins): fields go with new clocks
    deletes     boolean NOT NULL DEFAULT false,   -- the rows are queued, now the tombstones' deletes (last_key: a tombstone's)
    PRIMARY KEY (remote_id, collection)
);

/*
 * Concurrent edits of one field on both sides, one row per field: what each
 * side had, and which value both sides keep (see _resolve_conflicts).
 */
CREATE TABLE directus_sync.conflict (
    id           bigserial PRIMARY KEY,
    remote_id    integer,                      -- no foreign key: written in Directus's transactions,
                                               -- which must not lock remote rows (remove_remote cleans up);
                                               -- NULL: a write skipped, whose sender is not known
    collection   text NOT NULL,
    item_key     text NOT NULL,
    field        text,                         -- NULL: the whole item (update_delete, insert_insert)
    local_value  jsonb,                        -- ours
    remote_value jsonb,                        -- what the remote's inbound user wrote
    winner       text NOT NULL CHECK (winner IN ('local', 'remote')),
    detected_at  timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL DEFAULT 'update_update'
                 CHECK (kind IN ('update_update', 'update_delete', 'insert_insert')),
    local_clock  text,                         -- tables with clocks: the clocks that met
    remote_clock text
);
CREATE INDEX conflict_remote_idx ON directus_sync.conflict (remote_id, detected_at);
CREATE INDEX conflict_item_idx ON directus_sync.conflict (collection, item_key);
-- A sync's change that comes twice meets the same clocks: logged once, also
-- when the two copies arrive in overlapping transactions (directly and
-- forwarded). Rows without clocks (tables without them, 0.2's) are not kept
-- apart.
CREATE UNIQUE INDEX conflict_clocks_idx ON directus_sync.conflict
    (collection, item_key, field, local_clock, remote_clock) NULLS NOT DISTINCT
    WHERE local_clock IS NOT NULL AND remote_clock IS NOT NULL;

-- Configuration survives pg_dump; queue, state and dead letters do not.
-- (After the map table's two, in the order the upgrade path marks them: the
-- order shows in pg_extension.extconfig.)
SELECT pg_catalog.pg_extension_config_dump('directus_sync.remote', '');
SELECT pg_catalog.pg_extension_config_dump('directus_sync.remote_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('directus_sync.subscription', '');
SELECT pg_catalog.pg_extension_config_dump('directus_sync.clocked_collection', '');
SELECT pg_catalog.pg_extension_config_dump('directus_sync.sync_user', '');


/* ---------------------------------------------------------------------------
 * 7. C entry points
 * ------------------------------------------------------------------------- */

CREATE FUNCTION directus_sync._capture() RETURNS trigger
AS 'MODULE_PATHNAME', 'directus_sync_capture' LANGUAGE C;

CREATE FUNCTION directus_sync._activity() RETURNS trigger
AS 'MODULE_PATHNAME', 'directus_sync_activity' LANGUAGE C;

/*
 * Runs a statement that returns rows (a SELECT, an INSERT ... RETURNING) with
 * args as $1, as the owner of rel and as a security-restricted operation
 * (src/owner_query.c). Every query over a table of Directus's goes through
 * it: code that table's owner controls (a domain's check, a cast, an
 * operator, a view's function, a trigger) never runs with our rights.
 */
CREATE FUNCTION directus_sync._query_as_owner(rel regclass, query text, args text[]) RETURNS SETOF record
AS 'MODULE_PATHNAME', 'directus_sync_query_as_owner' LANGUAGE C;

-- Makes every backend rebuild its cached subscriptions of that table at its
-- next change of it (a relcache invalidation, sent at commit).
CREATE FUNCTION directus_sync._invalidate(rel regclass) RETURNS void
AS 'MODULE_PATHNAME', 'directus_sync_invalidate' LANGUAGE C STRICT;

-- Wakes this database's worker when the calling transaction commits.
CREATE FUNCTION directus_sync._wake_at_commit() RETURNS void
AS 'MODULE_PATHNAME', 'directus_sync_wake_at_commit' LANGUAGE C;

CREATE FUNCTION directus_sync.wake() RETURNS boolean
AS 'MODULE_PATHNAME', 'directus_sync_wake' LANGUAGE C;
COMMENT ON FUNCTION directus_sync.wake() IS
    'Wakes this database''s replication worker now; false when no worker runs for this database';


/* ---------------------------------------------------------------------------
 * 8. Configuration API
 * ------------------------------------------------------------------------- */

-- Input checks and look-ups.

CREATE FUNCTION directus_sync._remote_id(remote_name text) RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found integer;
BEGIN
    IF remote_name IS NULL THEN
        RAISE EXCEPTION 'remote name must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT id INTO found FROM directus_sync.remote WHERE name = remote_name;
    IF found IS NULL THEN
        RAISE EXCEPTION 'remote "%" does not exist', remote_name
            USING ERRCODE = 'undefined_object',
                  HINT = 'Remotes are listed in directus_sync.remotes.';
    END IF;
    RETURN found;
END
$$;

/*
 * Lock order: a remote's state row before the remote itself. The worker
 * updates the state row and, through the foreign keys of dead_letter and
 * remote_state, share-locks the remote; configuration that locks the remote
 * first would deadlock with it.
 */
CREATE FUNCTION directus_sync._lock_state(rid integer) RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$ SELECT FROM directus_sync.remote_state WHERE remote_id = rid FOR UPDATE $$;

/*
 * Checks the settings of a remote as stored. No message, DETAIL or HINT shows
 * the token, nor the URL (it may hold a password, or be the token given in
 * the wrong place). Every setting is checked for NULL first: a NULL reaching
 * the INSERT would fail NOT NULL with a DETAIL showing the row, token and all.
 */
CREATE FUNCTION directus_sync._check_remote(r directus_sync.remote) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    null_setting text := CASE WHEN r.name IS NULL THEN 'name'
                              WHEN r.url IS NULL THEN 'url'
                              WHEN r.token IS NULL THEN 'token'
                              WHEN r.enabled IS NULL THEN 'enabled'
                              WHEN r.paused IS NULL THEN 'paused'
                              WHEN r.notify_users IS NULL THEN 'notify_users'
                              WHEN r.forward_inbound IS NULL THEN 'forward_inbound'
                              WHEN r.connect_timeout_ms IS NULL THEN 'connect_timeout_ms'
                              WHEN r.request_timeout_ms IS NULL THEN 'request_timeout_ms'
                              WHEN r.batch_max_items IS NULL THEN 'batch_max_items'
                              WHEN r.batch_max_bytes IS NULL THEN 'batch_max_bytes'
                              WHEN r.verify_tls IS NULL THEN 'verify_tls' END;
BEGIN
    IF null_setting = 'name' THEN
        RAISE EXCEPTION 'remote name must not be null' USING ERRCODE = 'null_value_not_allowed';
    ELSIF null_setting IS NOT NULL THEN
        RAISE EXCEPTION '% of remote "%" must not be null', null_setting, r.name
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF r.name = '' OR length(r.name) > 63 THEN
        RAISE EXCEPTION 'remote name must be 1 to 63 characters long'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.url !~* '^https?://[^/?#\s@]+(/[^?#\s]*)?$' THEN
        RAISE EXCEPTION 'URL of remote "%" must be an http or https URL without query, fragment or credentials', r.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN r.url !~* '^https?://' THEN 'It does not start with http:// or https://.'
                                WHEN r.url ~ '^[^/]*//[^/?#]*@' THEN 'It holds credentials.'
                                WHEN r.url ~ '[?#]' THEN 'It has a query or a fragment.'
                                WHEN r.url ~ '\s' THEN 'It contains whitespace.'
                                ELSE 'It has no host.' END,
                  HINT = 'Give the base URL of the Directus instance, such as https://cms.example.com.';
    END IF;
    IF r.token = '' OR r.token ~ '[\s\x01-\x1f]' THEN
        RAISE EXCEPTION 'token of remote "%" must be a non-empty string without whitespace or control characters', r.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_position(r.notify_users, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'users to notify of remote "%" must not contain null', r.name
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF r.connect_timeout_ms NOT BETWEEN 1 AND 600000 OR r.request_timeout_ms NOT BETWEEN 1 AND 3600000 THEN
        RAISE EXCEPTION 'timeouts of remote "%" must be between 1 ms and 10 minutes (connect) or 1 hour (request)', r.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.batch_max_items NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'batch_max_items of remote "%" must be between 1 and 10000', r.name
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF r.batch_max_bytes NOT BETWEEN 1024 AND 104857600 THEN
        RAISE EXCEPTION 'batch_max_bytes of remote "%" must be between 1024 and 104857600', r.name
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Directus refuses bodies over its MAX_PAYLOAD_SIZE, 1 MB by default.';
    END IF;
END
$$;

/*
 * Brings the triggers in line with the configuration: the capture trigger on
 * every subscribed table and on no other, the activity trigger on
 * directus_activity while some remote names its inbound user; then makes the
 * backends reload their cached subscriptions of the given tables.
 */
CREATE FUNCTION directus_sync._apply_config(touched regclass[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    activity regclass := to_regclass('@extschema@.directus_activity');
    has_activity_trigger boolean;
    has_clocks boolean;
    wanted boolean;
BEGIN
    FOREACH rel IN ARRAY touched LOOP
        CONTINUE WHEN to_regclass(rel::text) IS NULL;
        -- A table with clocks (enable_clocks) keeps its triggers while not
        -- subscribed too: what syncs write to it is still decided by clocks.
        has_clocks := EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = 'directus_sync_meta'
                                                       AND atttypid = 'jsonb'::regtype AND NOT attisdropped);
        wanted := has_clocks OR EXISTS (SELECT FROM directus_sync.subscription WHERE relid = rel);
        IF wanted AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = 'directus_sync_capture') THEN
            EXECUTE format('CREATE TRIGGER directus_sync_capture AFTER INSERT OR UPDATE OR DELETE ON %s
                            FOR EACH ROW EXECUTE FUNCTION directus_sync._capture()', rel);
            -- Capture also what logical replication applies on this server.
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_capture', rel);
        ELSIF NOT wanted THEN
            EXECUTE format('DROP TRIGGER IF EXISTS directus_sync_capture ON %s', rel);
        END IF;
        -- ... and stamps and applies clocks before each write.
        IF has_clocks AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = 'directus_sync_clock') THEN
            EXECUTE format('CREATE TRIGGER directus_sync_clock BEFORE INSERT OR UPDATE ON %s
                            FOR EACH ROW EXECUTE FUNCTION directus_sync._capture()', rel);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_clock', rel);
        ELSIF NOT has_clocks AND EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = 'directus_sync_clock') THEN
            EXECUTE format('DROP TRIGGER directus_sync_clock ON %s', rel);
        END IF;
        IF EXISTS (SELECT FROM directus_sync.subscription WHERE relid = rel)
           AND NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = rel AND tgname = 'directus_sync_truncate') THEN
            EXECUTE format('CREATE TRIGGER directus_sync_truncate BEFORE TRUNCATE ON %s
                            FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._refuse_truncate()', rel);
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_truncate', rel);
        ELSIF NOT EXISTS (SELECT FROM directus_sync.subscription WHERE relid = rel) THEN
            EXECUTE format('DROP TRIGGER IF EXISTS directus_sync_truncate ON %s', rel);
        END IF;
        PERFORM directus_sync._invalidate(rel);
    END LOOP;

    IF activity IS NOT NULL THEN
        has_activity_trigger := EXISTS (SELECT FROM pg_trigger
                                        WHERE tgrelid = activity AND tgname = 'directus_sync_loop_guard');
        IF EXISTS (SELECT FROM directus_sync.remote WHERE inbound_user IS NOT NULL) THEN
            IF NOT has_activity_trigger THEN
                EXECUTE format('CREATE TRIGGER directus_sync_loop_guard AFTER INSERT ON %s
                                FOR EACH ROW WHEN (NEW."user" IS NOT NULL)
                                EXECUTE FUNCTION directus_sync._activity()', activity);
                -- Wherever the capture trigger fires (replica sessions too), the
                -- guard must fire, or an inbound change would be shipped back.
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_loop_guard', activity);
            END IF;
            PERFORM directus_sync._invalidate(activity);
        ELSIF has_activity_trigger THEN
            EXECUTE format('DROP TRIGGER directus_sync_loop_guard ON %s', activity);
        END IF;
    ELSIF EXISTS (SELECT FROM directus_sync.remote WHERE inbound_user IS NOT NULL) THEN
        RAISE EXCEPTION 'loop prevention needs table %.directus_activity', '@extschema@'
            USING ERRCODE = 'undefined_table',
                  HINT = 'Set inbound_user only in a Directus database, after Directus has created its tables.';
    END IF;
END
$$;

/*
 * TRUNCATE fires no row triggers: the remotes would keep every row. A
 * subscribed table refuses it.
 */
CREATE FUNCTION directus_sync._refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'cannot truncate %, which directus_sync replicates', TG_RELID::regclass
        USING ERRCODE = 'feature_not_supported',
              DETAIL = 'TRUNCATE is not captured: the remotes would keep every row.',
              HINT = 'Use DELETE, or unsubscribe the collection first.';
END
$$;

/*
 * Replication must not stop silently when a subscribed table changes shape:
 * a renamed key column is followed (the worker names the key to Directus),
 * a move of the primary key to another column is refused, and a dropped
 * table takes its subscriptions along, with a WARNING and the reason in
 * remote_status.last_error. SECURITY DEFINER: it fires for the
 * DDL of any role, which may not read the subscriptions.
 */
CREATE FUNCTION directus_sync._follow_table_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sub record;
    key_name name;
    key_type oid;
BEGIN
    IF to_regclass('directus_sync.subscription') IS NULL THEN
        RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
        FOR sub IN DELETE FROM directus_sync.subscription s
                    USING pg_event_trigger_dropped_objects() d
                    WHERE d.object_type = 'table' AND d.objid = s.relid
                   RETURNING s.remote_id, s.collection LOOP
            RAISE WARNING 'collection "%" is no longer replicated: its table was dropped', sub.collection;
            UPDATE directus_sync.remote_state
               SET last_error = format('subscription to collection %s removed: its table was dropped', sub.collection),
                   last_error_at = now()
             WHERE remote_id = sub.remote_id;
        END LOOP;
        RETURN;
    END IF;
    FOR sub IN SELECT DISTINCT s.relid, s.key_column
                 FROM directus_sync.subscription s JOIN pg_event_trigger_ddl_commands() c ON c.objid = s.relid LOOP
        SELECT a.attname, a.atttypid INTO key_name, key_type
          FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
         WHERE k.conrelid = sub.relid AND k.contype = 'p' AND cardinality(k.conkey) = 1;
        -- A renamed key column is followed. A primary key moved to another
        -- column would address other items on the remotes. (One dropped is
        -- let go: pg_restore --clean drops constraints before their tables,
        -- and capture refuses writes to a table without one.)
        CONTINUE WHEN key_name IS NULL;
        IF key_name <> sub.key_column
           AND EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = sub.relid
                          AND a.attname = sub.key_column AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'the primary key of %, which directus_sync replicates, must stay on column "%"',
                            sub.relid::regclass, sub.key_column
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'The remotes know its items by that key.',
                      HINT = 'Unsubscribe the collection first, change the key, then subscribe and resync.';
        END IF;
        UPDATE directus_sync.subscription s
           SET key_column = key_name,
               key_is_number = key_type IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype,
                                            'float4'::regtype, 'float8'::regtype)
         WHERE s.relid = sub.relid;
    END LOOP;
END
$$;

CREATE EVENT TRIGGER directus_sync_follow_table_drop ON sql_drop
    EXECUTE FUNCTION directus_sync._follow_table_ddl();
ALTER EVENT TRIGGER directus_sync_follow_table_drop ENABLE ALWAYS;
CREATE EVENT TRIGGER directus_sync_follow_table_alter ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION directus_sync._follow_table_ddl();
ALTER EVENT TRIGGER directus_sync_follow_table_alter ENABLE ALWAYS;

CREATE FUNCTION directus_sync._tables_of(rid integer) RETURNS regclass[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(array_agg(relid), '{}') FROM directus_sync.subscription WHERE remote_id = rid $$;

-- Every subscribed table: a remote's inbound user changes what all of them track.
CREATE FUNCTION directus_sync._all_tables() RETURNS regclass[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT coalesce(array_agg(DISTINCT relid), '{}') FROM directus_sync.subscription $$;

-- The API.

-- The body, called by the C function of the same name without the underscore
-- (src/token_calls.c), which keeps the call's statement, token and all, out of
-- the server log when it fails.
CREATE FUNCTION directus_sync._add_remote(
    name text, url text, token text,
    enabled boolean DEFAULT true,
    notify_users uuid[] DEFAULT '{}',
    inbound_user uuid DEFAULT NULL,
    forward_inbound boolean DEFAULT true,
    connect_timeout_ms integer DEFAULT 5000,
    request_timeout_ms integer DEFAULT 30000,
    batch_max_items integer DEFAULT 500,
    batch_max_bytes integer DEFAULT 1000000,
    verify_tls boolean DEFAULT true)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r directus_sync.remote;
BEGIN
    r.name := _add_remote.name;
    r.url := rtrim(_add_remote.url, '/');
    r.token := _add_remote.token;
    r.enabled := _add_remote.enabled;
    r.paused := false;
    r.notify_users := _add_remote.notify_users;
    -- By default, the sync user create_sync_user made for this peer.
    r.inbound_user := coalesce(_add_remote.inbound_user,
                               (SELECT s.user_id FROM directus_sync.sync_user s WHERE s.peer = _add_remote.name));
    r.forward_inbound := _add_remote.forward_inbound;
    r.connect_timeout_ms := _add_remote.connect_timeout_ms;
    r.request_timeout_ms := _add_remote.request_timeout_ms;
    r.batch_max_items := _add_remote.batch_max_items;
    r.batch_max_bytes := _add_remote.batch_max_bytes;
    r.verify_tls := _add_remote.verify_tls;
    PERFORM directus_sync._check_remote(r);
    PERFORM directus_sync._check_inbound_user(NULL, r.inbound_user);
    IF EXISTS (SELECT FROM directus_sync.remote x WHERE x.name = r.name) THEN
        RAISE EXCEPTION 'remote "%" already exists', r.name
            USING ERRCODE = 'unique_violation',
                  HINT = 'Use directus_sync.alter_remote to change it.';
    END IF;
    -- A remote added in the Directus app takes the id its row already has
    -- (directus_sync.app_config_remote_id, set by the app's trigger only).
    r.id := coalesce(nullif(current_setting('directus_sync.app_config_remote_id', true), '0')::integer,
                     nextval(pg_get_serial_sequence('directus_sync.remote', 'id')));
    INSERT INTO directus_sync.remote (id, name, url, token, enabled, notify_users, inbound_user,
                                      forward_inbound, connect_timeout_ms, request_timeout_ms,
                                      batch_max_items, batch_max_bytes, verify_tls)
    VALUES (r.id, r.name, r.url, r.token, r.enabled, r.notify_users, r.inbound_user,
            r.forward_inbound, r.connect_timeout_ms, r.request_timeout_ms,
            r.batch_max_items, r.batch_max_bytes, r.verify_tls);
    INSERT INTO directus_sync.remote_state (remote_id) VALUES (r.id);
    PERFORM directus_sync._apply_config(directus_sync._all_tables());
    RETURN r.id;
END
$$;

CREATE FUNCTION directus_sync.add_remote(
    name text, url text, token text,
    enabled boolean DEFAULT true,
    notify_users uuid[] DEFAULT '{}',
    inbound_user uuid DEFAULT NULL,
    forward_inbound boolean DEFAULT true,
    connect_timeout_ms integer DEFAULT 5000,
    request_timeout_ms integer DEFAULT 30000,
    batch_max_items integer DEFAULT 500,
    batch_max_bytes integer DEFAULT 1000000,
    verify_tls boolean DEFAULT true)
RETURNS integer
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'directus_sync_hiding_statement';
COMMENT ON FUNCTION directus_sync.add_remote(text, text, text, boolean, uuid[], uuid, boolean, integer, integer, integer, integer, boolean) IS
    'Adds a Directus instance to ship changes to; returns its id';

-- NULL leaves a setting as it is; clear_inbound_user removes the inbound user.
-- The body, called by the C function of the same name without the underscore
-- (src/token_calls.c), which keeps the call's statement, token and all, out of
-- the server log when it fails.
CREATE FUNCTION directus_sync._alter_remote(
    name text,
    url text DEFAULT NULL, token text DEFAULT NULL,
    enabled boolean DEFAULT NULL,
    notify_users uuid[] DEFAULT NULL,
    inbound_user uuid DEFAULT NULL,
    forward_inbound boolean DEFAULT NULL,
    connect_timeout_ms integer DEFAULT NULL,
    request_timeout_ms integer DEFAULT NULL,
    batch_max_items integer DEFAULT NULL,
    batch_max_bytes integer DEFAULT NULL,
    verify_tls boolean DEFAULT NULL,
    new_name text DEFAULT NULL,
    clear_inbound_user boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := directus_sync._remote_id(_alter_remote.name);
    r directus_sync.remote;
    coll text;
BEGIN
    PERFORM directus_sync._lock_state(rid);
    SELECT * INTO r FROM directus_sync.remote x WHERE x.id = rid FOR NO KEY UPDATE;
    r.name := coalesce(new_name, r.name);
    r.url := coalesce(rtrim(_alter_remote.url, '/'), r.url);
    r.token := coalesce(_alter_remote.token, r.token);
    r.enabled := coalesce(_alter_remote.enabled, r.enabled);
    r.notify_users := coalesce(_alter_remote.notify_users, r.notify_users);
    r.inbound_user := CASE WHEN clear_inbound_user THEN NULL
                           ELSE coalesce(_alter_remote.inbound_user, r.inbound_user) END;
    r.forward_inbound := coalesce(_alter_remote.forward_inbound, r.forward_inbound);
    r.connect_timeout_ms := coalesce(_alter_remote.connect_timeout_ms, r.connect_timeout_ms);
    r.request_timeout_ms := coalesce(_alter_remote.request_timeout_ms, r.request_timeout_ms);
    r.batch_max_items := coalesce(_alter_remote.batch_max_items, r.batch_max_items);
    r.batch_max_bytes := coalesce(_alter_remote.batch_max_bytes, r.batch_max_bytes);
    r.verify_tls := coalesce(_alter_remote.verify_tls, r.verify_tls);
    PERFORM directus_sync._check_remote(r);
    PERFORM directus_sync._check_inbound_user(r.id, r.inbound_user);
    IF _alter_remote.url IS NOT NULL AND _alter_remote.token IS NULL
       AND r.url <> (SELECT x.url FROM directus_sync.remote x WHERE x.id = r.id) THEN
        RAISE EXCEPTION 'a new URL for remote "%" needs its token too', r.name
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'The stored token is not sent to another address.',
                  HINT = 'Pass token => ... with url => ... .';
    END IF;
    IF new_name IS NOT NULL AND EXISTS (SELECT FROM directus_sync.remote x WHERE x.name = new_name AND x.id <> r.id) THEN
        RAISE EXCEPTION 'remote "%" already exists', new_name USING ERRCODE = 'unique_violation';
    END IF;
    UPDATE directus_sync.remote x SET name = r.name, url = r.url, token = r.token, enabled = r.enabled,
           notify_users = r.notify_users, inbound_user = r.inbound_user,
           forward_inbound = r.forward_inbound, connect_timeout_ms = r.connect_timeout_ms,
           request_timeout_ms = r.request_timeout_ms, batch_max_items = r.batch_max_items,
           batch_max_bytes = r.batch_max_bytes, verify_tls = r.verify_tls
     WHERE x.id = r.id;
    IF _alter_remote.inbound_user IS NOT NULL THEN
        -- the remote writes here now: what it ships with subscribe's defaults
        -- gets clocks, as subscribe would have given them
        FOR coll IN SELECT s.collection FROM directus_sync.subscription s
                     WHERE s.remote_id = r.id AND s.clocks IS NULL
                       AND NOT EXISTS (SELECT FROM directus_sync.clocked_collection c
                                        WHERE c.collection = s.collection)
                     ORDER BY 1 LOOP
            PERFORM directus_sync._check_one_way_subscribers(r.id, coll);
            PERFORM directus_sync.enable_clocks(coll, true);
        END LOOP;
        PERFORM directus_sync._check_tracked(r.id);
    END IF;
    -- A new URL or token may be what a backed-off remote was waiting for.
    UPDATE directus_sync.remote_state SET retry_at = NULL, consecutive_failures = 0 WHERE remote_id = r.id;
    PERFORM directus_sync._apply_config(directus_sync._all_tables());
    PERFORM directus_sync._wake_at_commit();
END
$$;

CREATE FUNCTION directus_sync.alter_remote(
    name text,
    url text DEFAULT NULL, token text DEFAULT NULL,
    enabled boolean DEFAULT NULL,
    notify_users uuid[] DEFAULT NULL,
    inbound_user uuid DEFAULT NULL,
    forward_inbound boolean DEFAULT NULL,
    connect_timeout_ms integer DEFAULT NULL,
    request_timeout_ms integer DEFAULT NULL,
    batch_max_items integer DEFAULT NULL,
    batch_max_bytes integer DEFAULT NULL,
    verify_tls boolean DEFAULT NULL,
    new_name text DEFAULT NULL,
    clear_inbound_user boolean DEFAULT false)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'directus_sync_hiding_statement';
COMMENT ON FUNCTION directus_sync.alter_remote(text, text, text, boolean, uuid[], uuid, boolean, integer, integer, integer, integer, boolean, text, boolean) IS
    'Changes the settings of a remote; NULL arguments leave a setting unchanged';

CREATE FUNCTION directus_sync.remove_remote(name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := directus_sync._remote_id(remove_remote.name);
    tables regclass[] := directus_sync._tables_of(rid);
    discarded bigint;
    late bigint;
BEGIN
    PERFORM directus_sync._lock_state(rid);
    DELETE FROM directus_sync.outbox WHERE remote_id = rid;
    GET DIAGNOSTICS discarded = ROW_COUNT;
    DELETE FROM directus_sync.conflict WHERE remote_id = rid;
    DELETE FROM directus_sync.remote WHERE id = rid;
    PERFORM directus_sync._apply_config(tables || directus_sync._all_tables());
    -- A writer whose cached subscriptions still listed the remote may have
    -- queued changes for it since the DELETE above: dropping a capture
    -- trigger waited for the writers of that table, and what they committed
    -- is seen now. (Writers of a table another remote still subscribes are
    -- not waited for: what they leave, _remove_orphans removes later.)
    DELETE FROM directus_sync.outbox WHERE remote_id = rid;
    GET DIAGNOSTICS late = ROW_COUNT;
    discarded := discarded + late;
    PERFORM directus_sync._remove_orphans();
    IF discarded > 0 THEN
        RAISE NOTICE 'discarded % undelivered changes for remote "%"', discarded, remove_remote.name;
    END IF;
    RETURN discarded;
END
$$;
COMMENT ON FUNCTION directus_sync.remove_remote(text) IS
    'Removes a remote with its subscriptions, queued changes and dead letters; returns the number of undelivered changes discarded';

/*
 * The table a collection names, as subscribe needs it: a plain table in
 * @extschema@ with a primary key of one column. Returns the table, its key
 * column, and whether a key is written as a JSON number.
 */
CREATE FUNCTION directus_sync._subscribable_table(
    collection text, OUT rel regclass, OUT key_column name, OUT key_is_number boolean)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_attnum smallint[];
    key_type oid;
BEGIN
    IF collection IS NULL OR collection = '' THEN
        RAISE EXCEPTION 'collection must not be null or empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- @extschema@ is substituted as an identifier, already quoted when it
    -- needs to be ("Cms"): used as it is, never quoted again.
    rel := to_regclass(format('%s.%I', '@extschema@', collection));
    IF (SELECT relkind FROM pg_class WHERE oid = rel) = 'p' THEN
        RAISE EXCEPTION 'table % is partitioned', rel
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'directus_sync captures changes of plain tables only.';
    END IF;
    IF rel IS NULL OR (SELECT relkind FROM pg_class WHERE oid = rel) <> 'r' THEN
        RAISE EXCEPTION 'collection "%" has no table in schema %', collection, '@extschema@'
            USING ERRCODE = 'undefined_table',
                  HINT = 'A Directus collection is a table of the same name in the schema directus_sync was installed in.';
    END IF;
    IF directus_sync._own_app_table(rel) OR rel = to_regclass(format('%s.%I', '@extschema@', 'directus_sync_id_map')) THEN
        RAISE EXCEPTION 'table % is directus_sync''s own', rel
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each instance keeps its own; replicated, the status would change with every delivery and ship forever.';
    END IF;
    -- Directus's sessions are keyed by the refresh token itself (kept in
    -- clear, looked up by it); its OAuth codes and tokens are logins too.
    IF collection IN ('directus_sessions', 'directus_oauth_codes', 'directus_oauth_tokens') THEN
        RAISE EXCEPTION 'collection "%" holds credentials', collection
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'Its rows are logins of this instance''s users: shipped, a remote would hold them.';
    END IF;
    IF EXISTS (SELECT FROM pg_inherits WHERE inhrelid = rel OR inhparent = rel) THEN
        RAISE EXCEPTION 'table % takes part in table inheritance', rel
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'A change of a child table fires the child''s triggers only: the capture trigger would miss it.';
    END IF;
    SELECT conkey INTO key_attnum FROM pg_constraint WHERE conrelid = rel AND contype = 'p';
    IF key_attnum IS NULL OR cardinality(key_attnum) <> 1 THEN
        RAISE EXCEPTION 'table % has no single-column primary key', rel
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Directus addresses items by a primary key of one column.';
    END IF;
    SELECT attname, atttypid INTO key_column, key_type FROM pg_attribute
     WHERE attrelid = rel AND attnum = key_attnum[1];
    key_is_number := key_type IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype,
                                  'float4'::regtype, 'float8'::regtype);
END
$$;

/*
 * Whether rel is one of the tables directus_sync makes in Directus's schema
 * (the app's status and configuration, enable_app_status and
 * enable_app_config): owned by the extension's owner, with their comment.
 * Never replicated, never granted to a sync user: a peer could rewrite
 * this instance's replication, and a refresh captured would ship forever.
 */
CREATE FUNCTION directus_sync._own_app_table(rel regclass) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT c.relowner = (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'directus_sync')
                            AND starts_with(coalesce(obj_description(c.oid, 'pg_class'), ''), 'directus_sync app ')
                       FROM pg_class c WHERE c.oid = rel), false)
$$;

/*
 * The fields subscribe is given: at least one, each a column of the table,
 * none twice, and none that each Directus instance sets itself.
 */
CREATE FUNCTION directus_sync._check_fields(rel regclass, collection text, fields text[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    f text;
BEGIN
    IF fields IS NULL OR cardinality(fields) = 0 THEN
        RAISE EXCEPTION 'fields must list at least one column' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF array_ndims(fields) <> 1 THEN
        RAISE EXCEPTION 'fields must be a one-dimensional array' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH f IN ARRAY fields LOOP
        IF f IS NULL THEN
            RAISE EXCEPTION 'fields must not contain null' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = f
                                                  AND attnum > 0 AND NOT attisdropped) THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', f, rel
                USING ERRCODE = 'undefined_column';
        END IF;
    END LOOP;
    IF (SELECT count(DISTINCT x) FROM unnest(fields) x) <> cardinality(fields) THEN
        RAISE EXCEPTION 'fields must not repeat a column' USING ERRCODE = 'duplicate_column';
    END IF;
    -- Directus's system fields that hold passwords, keys and tokens (of its
    -- versions 10 to 12; docs/security.md lists them)
    SELECT min(u.x) INTO f FROM unnest(fields) AS u(x)
     WHERE (_check_fields.collection, u.x) IN (
               ('directus_users', 'password'), ('directus_users', 'token'),
               ('directus_users', 'tfa_secret'), ('directus_users', 'auth_data'),
               ('directus_shares', 'password'),
               ('directus_settings', 'mapbox_key'), ('directus_settings', 'license_key'),
               ('directus_settings', 'license_token'), ('directus_settings', 'ai_openai_api_key'),
               ('directus_settings', 'ai_anthropic_api_key'), ('directus_settings', 'ai_google_api_key'),
               ('directus_settings', 'ai_openai_compatible_api_key'),
               ('directus_settings', 'ai_openai_compatible_headers'),
               ('directus_operations', 'options'), ('directus_webhooks', 'headers'),
               ('directus_deployments', 'credentials'), ('directus_deployments', 'webhook_secret'),
               ('directus_oauth_clients', 'client_secret_hash'));
    IF f IS NOT NULL THEN
        RAISE EXCEPTION 'field "%" of collection "%" holds credentials', f, collection
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = CASE collection WHEN 'directus_users' THEN 'Shipped, a remote would hold working logins of this instance.'
                                           ELSE 'Shipped, a remote would hold this instance''s passwords, keys or tokens.' END;
    END IF;
    IF 'directus_sync_meta' = ANY (fields) THEN
        RAISE EXCEPTION 'column "directus_sync_meta" cannot be shipped as a field'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'It holds the clocks of the item''s fields, which go with every change.';
    END IF;
    SELECT min(attname) INTO f FROM pg_attribute
     WHERE attrelid = rel AND attname = ANY (fields) AND attgenerated <> '';
    IF f IS NOT NULL THEN
        RAISE EXCEPTION 'column "%" of relation % is a generated column', f, rel
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Each instance computes a generated column itself; it cannot be written.',
                  HINT = 'Leave it out of the fields to ship.';
    END IF;
    -- Each instance's Directus sets these itself on every write: shipped, they
    -- would differ on arrival, look like conflicts and travel back and forth.
    IF to_regclass('@extschema@.directus_fields') IS NOT NULL THEN
        SELECT r.field INTO f
          FROM directus_sync._query_as_owner('@extschema@.directus_fields',
                   'SELECT min(field)::text FROM @extschema@.directus_fields
                     WHERE collection = $1[1] AND field = ANY ($1[2:])
                       AND string_to_array(special, '','') && ARRAY[''date-created'', ''date-updated'',
                           ''user-created'', ''user-updated'', ''hash'']',
                   ARRAY[_check_fields.collection] || fields) AS r(field text);
        IF f IS NOT NULL THEN
            RAISE EXCEPTION 'field "%" of collection "%" is set by each Directus instance itself', f, collection
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Directus fills date-created, date-updated, user-created, user-updated and hash fields on every instance.',
                      HINT = 'Leave it out of the fields to ship.';
        END IF;
    END IF;
END
$$;

/*
 * Whether Directus tracks no activity for collection coll (its
 * accountability is off): only there does a signature tell a sync's write
 * (src/sync_signature.c); elsewhere Directus's activity row does, and a
 * signed directus_sync_meta, kept in its revisions, could be replayed.
 * False without Directus's tables.
 */
CREATE FUNCTION directus_sync._accountability_off(coll text) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    off boolean;
BEGIN
    IF to_regclass('@extschema@.directus_collections') IS NULL THEN
        RETURN false;
    END IF;
    SELECT r.off INTO off
      FROM directus_sync._query_as_owner('@extschema@.directus_collections',
               'SELECT accountability IS NULL FROM @extschema@.directus_collections WHERE collection = $1[1]',
               ARRAY[coll]) AS r(off boolean);
    RETURN coalesce(off, false);
END
$$;

/*
 * An inbound user belongs to one remote: its writes (and the signatures
 * made with its token) name the remote they came from.
 */
CREATE FUNCTION directus_sync._check_inbound_user(rid integer, inbound uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    other text;
BEGIN
    SELECT min(x.name) INTO other FROM directus_sync.remote x
     WHERE x.inbound_user = inbound AND x.id IS DISTINCT FROM rid;
    IF other IS NOT NULL THEN
        RAISE EXCEPTION 'user % is the inbound user of remote "%" already', inbound, other
            USING ERRCODE = 'unique_violation',
                  HINT = 'Each remote writes here as a sync user of its own.';
    END IF;
END
$$;

/*
 * The static tokens of the remotes' inbound users (directus_users.token,
 * read as that table's owner): the keys that sign a sync's clocks
 * (src/sync_signature.c). Only the extension's owner may run it.
 */
CREATE FUNCTION directus_sync._inbound_tokens(OUT remote_id integer, OUT token text) RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('@extschema@.directus_users') IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT r.id, u.token
          FROM directus_sync.remote r
          JOIN directus_sync._query_as_owner('@extschema@.directus_users',
                   'SELECT id::text, token::text FROM @extschema@.directus_users
                     WHERE id::text = ANY ($1) AND token IS NOT NULL',
                   ARRAY(SELECT x.inbound_user::text FROM directus_sync.remote x
                          WHERE x.inbound_user IS NOT NULL)) AS u(id text, token text)
            ON u.id = r.inbound_user::text;
END
$$;

/*
 * A remote that writes to us (it has an inbound user) needs the loop guard,
 * and the loop guard needs the directus_activity row Directus writes with
 * each change: none is written for a collection whose accountability is
 * off, so such a collection cannot be replicated both ways without clocks
 * (with them a sync signs its writes: src/sync_signature.c). Checks the
 * remote's subscriptions without clocks (or the one to coll).
 */
CREATE FUNCTION directus_sync._check_tracked(rid integer, coll text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    untracked text;
BEGIN
    IF to_regclass('@extschema@.directus_collections') IS NULL
       OR NOT EXISTS (SELECT FROM directus_sync.remote WHERE id = rid AND inbound_user IS NOT NULL) THEN
        RETURN;
    END IF;
    SELECT r.collection INTO untracked
      FROM directus_sync._query_as_owner('@extschema@.directus_collections',
               'SELECT min(collection)::text FROM @extschema@.directus_collections
                 WHERE collection = ANY ($1) AND accountability IS NULL',
               ARRAY(SELECT s.collection FROM directus_sync.subscription s
                      WHERE s.remote_id = rid AND (coll IS NULL OR s.collection = coll)
                        AND NOT EXISTS (SELECT FROM directus_sync.clocked_collection c
                                         WHERE c.collection = s.collection)))
           AS r(collection text);
    IF untracked IS NOT NULL THEN
        RAISE EXCEPTION 'collection "%" is not tracked by Directus, and remote "%" writes to it',
                        untracked, (SELECT name FROM directus_sync.remote WHERE id = rid)
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Directus writes no activity for a collection whose accountability is off, and without it the remote''s own changes would be shipped back to it.',
                  HINT = 'Turn on activity tracking for the collection in Directus, give it clocks (subscribe without clocks => false), or replicate one way only (a remote without inbound_user).';
    END IF;
END
$$;

/*
 * Before subscribe's or alter_remote's defaults give collection coll
 * clocks: refuses when a remote that does not write here (no inbound user)
 * ships it without having asked for clocks (subscribe's clocks => true).
 * Every change of a collection with clocks carries them, and a Directus
 * without directus_sync refuses them: that whole remote would fail.
 */
CREATE FUNCTION directus_sync._check_one_way_subscribers(rid integer, coll text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    one_way text;
BEGIN
    SELECT min(r.name) INTO one_way
      FROM directus_sync.subscription s JOIN directus_sync.remote r ON r.id = s.remote_id
     WHERE s.collection = coll AND s.remote_id <> rid AND r.inbound_user IS NULL AND s.clocks IS NOT TRUE;
    IF one_way IS NOT NULL THEN
        RAISE EXCEPTION 'collection "%" would get clocks, and remote "%" ships it without them', coll, one_way
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Every change of a collection with clocks carries them; a Directus without directus_sync refuses them.',
                  HINT = format('Subscribe remote "%s" with clocks => true once it has directus_sync with enable_clocks, or use clocks => false here.', one_way);
    END IF;
END
$$;

/*
 * Ships the listed fields of a collection to a remote. clocks: NULL turns
 * the collection's clocks on (enable_clocks) when the remote writes here
 * too (it has an inbound user), since edits made on both sides converge
 * only with them; a one-way remote, such as a Directus without
 * directus_sync, needs none. key_series goes to enable_clocks when this
 * call turns clocks on: by default a two-way integer key gets this
 * instance's key series (set_instance first), false opts out.
 */
CREATE FUNCTION directus_sync.subscribe(remote text, collection text, fields text[],
                                        singleton boolean DEFAULT NULL,
                                        clocks boolean DEFAULT NULL,
                                        key_series boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := directus_sync._remote_id(remote);
    rel regclass;
    key_name name;
    numeric_key boolean;
    is_singleton boolean := singleton;
    two_way boolean;
    has_clocks boolean;
    want_clocks boolean;
BEGIN
    SELECT t.rel, t.key_column, t.key_is_number INTO rel, key_name, numeric_key
      FROM directus_sync._subscribable_table(subscribe.collection) t;
    PERFORM directus_sync._check_fields(rel, subscribe.collection, fields);

    IF is_singleton IS NULL THEN
        is_singleton := false;
        IF to_regclass('@extschema@.directus_collections') IS NOT NULL THEN
            SELECT r.singleton INTO is_singleton
              FROM directus_sync._query_as_owner('@extschema@.directus_collections',
                       'SELECT coalesce(bool_or(singleton), false) FROM @extschema@.directus_collections
                         WHERE collection = $1[1]',
                       ARRAY[subscribe.collection]) AS r(singleton boolean);
        END IF;
    END IF;

    two_way := (SELECT r.inbound_user IS NOT NULL FROM directus_sync.remote r WHERE r.id = rid);
    has_clocks := EXISTS (SELECT FROM directus_sync.clocked_collection c WHERE c.collection = subscribe.collection)
                  AND EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = 'directus_sync_meta'
                                                         AND NOT attisdropped);
    want_clocks := coalesce(clocks, has_clocks OR two_way);
    IF NOT want_clocks AND has_clocks THEN
        RAISE EXCEPTION 'collection "%" has clocks', subscribe.collection
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = 'Every change of an item with clocks carries them; a remote without clocks refuses it.',
                  HINT = 'Leave out clocks => false, and run directus_sync.enable_clocks on the remote too.';
    END IF;
    IF NOT want_clocks AND subscribe.key_series IS NOT NULL THEN
        RAISE EXCEPTION 'key_series needs clocks'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Key series come with the clocks of a collection (enable_clocks).';
    END IF;

    IF clocks IS NULL AND want_clocks AND NOT has_clocks THEN
        PERFORM directus_sync._check_one_way_subscribers(rid, subscribe.collection);
    END IF;
    IF clocks IS NULL AND has_clocks AND NOT two_way THEN
        RAISE WARNING 'remote "%" gets the clocks of collection "%"', remote, subscribe.collection
            USING DETAIL = 'Every change of a collection with clocks carries them; a Directus without directus_sync refuses them.',
                  HINT = 'Run enable_clocks in the remote''s database too.';
    END IF;

    INSERT INTO directus_sync.subscription AS s (remote_id, collection, relid, key_column, key_is_number, fields,
                                                 singleton, clocks)
    VALUES (rid, subscribe.collection, rel, key_name, numeric_key,
            ARRAY(SELECT x FROM unnest(fields) WITH ORDINALITY AS u(x, n) ORDER BY n), is_singleton, clocks)
    ON CONFLICT ON CONSTRAINT subscription_pkey DO UPDATE
       SET relid = EXCLUDED.relid, key_column = EXCLUDED.key_column,
           key_is_number = EXCLUDED.key_is_number, fields = EXCLUDED.fields, singleton = EXCLUDED.singleton,
           clocks = EXCLUDED.clocks;
    -- (with clocks, a sync is known by its signature: no activity needed)
    IF NOT want_clocks THEN
        PERFORM directus_sync._check_tracked(rid, subscribe.collection);
    END IF;
    IF want_clocks AND (NOT has_clocks OR subscribe.key_series IS NOT NULL) THEN
        PERFORM directus_sync.enable_clocks(subscribe.collection,
                    coalesce(subscribe.key_series, CASE WHEN clocks IS NULL AND two_way AND NOT has_clocks THEN true END));
    END IF;
    PERFORM directus_sync._apply_config(ARRAY[rel]);
END
$$;
COMMENT ON FUNCTION directus_sync.subscribe(text, text, text[], boolean, boolean, boolean) IS
    'Ships changes of the listed fields of a collection to a remote from now on (installs the capture trigger; gives the collection clocks when the remote writes here too); again with other fields replaces the list';

/*
 * Gives the items of a collection clocks (docs/replication.md#clocks): a
 * jsonb column directus_sync_meta, a hidden read-only json field to
 * Directus, that holds the clock of each replicated field and goes with
 * every change, so that every instance keeps the later write of each field.
 * Run it on every instance that replicates the collection, with the same
 * delete_wins (NULL keeps the collection's rule; at first, false: the later
 * of a delete and an update wins).
 */
CREATE FUNCTION directus_sync.enable_clocks(collection text, key_series boolean DEFAULT NULL,
                                             delete_wins boolean DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    key_name name;
    s directus_sync.subscription;
    keys text[];
    had_column boolean;
    old_rule boolean;
    new_rule boolean;
BEGIN
    SELECT t.rel, t.key_column INTO rel, key_name FROM directus_sync._subscribable_table(enable_clocks.collection) t;
    IF octet_length(enable_clocks.collection) >= 64 THEN
        RAISE EXCEPTION 'collection name "%" is longer than 63 bytes', enable_clocks.collection
            USING ERRCODE = 'name_too_long',
                  DETAIL = 'PostgreSQL shortens the name of its table, and the clocks keep deletes and rules by that name.',
                  HINT = 'Give the collection a shorter name.';
    END IF;
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = 'directus_sync_meta'
                                          AND NOT attisdropped AND atttypid <> 'jsonb'::regtype) THEN
        RAISE EXCEPTION 'column "directus_sync_meta" of relation % is not of type jsonb', rel
            USING ERRCODE = 'datatype_mismatch',
                  HINT = 'Drop the column, or change its type to jsonb.';
    END IF;
    had_column := EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attname = 'directus_sync_meta'
                                                     AND NOT attisdropped);
    EXECUTE format('ALTER TABLE %s ADD COLUMN IF NOT EXISTS directus_sync_meta jsonb', rel);
    -- Every write of a wide item rewrites its clocks, over 2 kB at 40 fields:
    -- lz4 compresses them many times faster than the default pglz. (Only on
    -- the column made here: a compression chosen since stays.)
    IF NOT had_column THEN
        BEGIN
            EXECUTE format('ALTER TABLE %s ALTER COLUMN directus_sync_meta SET COMPRESSION lz4', rel);
        EXCEPTION WHEN feature_not_supported THEN
            NULL;  -- a server built without lz4 keeps pglz
        END;
    END IF;
    IF to_regclass('@extschema@.directus_fields') IS NOT NULL THEN
        PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_fields',
            'INSERT INTO @extschema@.directus_fields (collection, field, special, interface, readonly, hidden, note)
             SELECT $1[1], ''directus_sync_meta'', ''cast-json'', ''input-code'', true, true,
                    ''directus_sync: the clocks of this item''''s fields''
              WHERE NOT EXISTS (SELECT FROM @extschema@.directus_fields
                                 WHERE collection = $1[1] AND field = ''directus_sync_meta'')
             RETURNING 1',
            ARRAY[enable_clocks.collection]) AS r(one integer);
    END IF;
    PERFORM directus_sync._key_series(rel, key_name, key_series);
    SELECT c.delete_wins INTO old_rule FROM directus_sync.clocked_collection c
     WHERE c.collection = enable_clocks.collection FOR UPDATE;
    new_rule := coalesce(enable_clocks.delete_wins, old_rule, false);
    INSERT INTO directus_sync.clocked_collection AS c (collection, delete_wins)
    VALUES (enable_clocks.collection, new_rule)
    ON CONFLICT ON CONSTRAINT clocked_collection_pkey DO UPDATE SET delete_wins = new_rule;
    PERFORM directus_sync._apply_config(ARRAY[rel]);
    -- Changes queued before carry no clocks, which remotes with clocks refuse;
    -- deletes queued under the other rule say so, and remotes with this one
    -- refuse them: they go again as the items are now, with their clocks.
    FOR s IN SELECT * FROM directus_sync.subscription x WHERE x.relid = rel LOOP
        WITH gone AS (DELETE FROM directus_sync.outbox o
                       WHERE o.remote_id = s.remote_id AND o.collection = s.collection
                         AND (strpos(coalesce(o.payload::text, ''), '"directus_sync_meta"') = 0
                              OR (o.op = 'd' AND new_rule IS DISTINCT FROM coalesce(old_rule, false)))
                      RETURNING o.item_key)
        SELECT array_agg(DISTINCT item_key) INTO keys FROM gone;
        IF keys IS NOT NULL THEN
            PERFORM directus_sync._queue_current(s, keys);
        END IF;
    END LOOP;
    -- Directus reads its fields once and keeps them: until it reads them
    -- again it refuses or drops the new field in every sync.
    IF NOT had_column AND to_regclass('@extschema@.directus_fields') IS NOT NULL THEN
        RAISE NOTICE 'Directus must reload its schema to see field "directus_sync_meta" of collection "%"', enable_clocks.collection
            USING HINT = 'POST /utils/cache/clear?system=true as an admin of this Directus, or restart it.';
    END IF;
END
$$;
COMMENT ON FUNCTION directus_sync.enable_clocks(text, boolean, boolean) IS
    'Gives a collection''s items per-field clocks (a hidden directus_sync_meta field), so that every instance keeps the later write of each field; integer keys made here come from this instance''s own series; delete_wins: a delete beats every write of the item it deleted';

/*
 * This database's place among the instances that create items of the same
 * collections: number (1 to count) of count. Integer keys made here then
 * come from a series of its own (enable_clocks): number, number + count,
 * number + 2 count, ... so two instances never make the same key. A
 * database cloned or restored from a dump has no number until told.
 * Series of two counts can meet, so changing the count (an instance joins
 * or leaves) warns: the safe way is to pause creates everywhere, drain, and
 * renumber every instance (each series restarts above every key so far).
 */
CREATE FUNCTION directus_sync.set_instance(number integer, count integer) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    series record;
    old_count integer;
    warned boolean := false;
BEGIN
    IF count IS NULL OR count < 1 OR count > 1000 THEN
        RAISE EXCEPTION 'count must be from 1 to 1000, not %', coalesce(count::text, 'null')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF number IS NULL OR number < 1 OR number > count THEN
        RAISE EXCEPTION 'number must be from 1 to %, not %', count, coalesce(number::text, 'null')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM directus_sync._node_id();   -- a clone gets a row of its own first
    SELECT n.instances INTO old_count FROM directus_sync.node n;
    UPDATE directus_sync.node SET instance = number, instances = count;
    -- the key series made so far follow the new number, above every key here
    FOR series IN
        SELECT d.adrelid::regclass AS rel, a.attname
          FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
          JOIN pg_constraint c ON c.conrelid = d.adrelid AND c.contype = 'p' AND c.conkey = ARRAY[d.adnum]
         WHERE pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%directus_sync_keys''::regclass)'
    LOOP
        -- series of two counts can meet: an instance still on the other count,
        -- or one that restarted before this one's latest keys reached it
        IF old_count IS DISTINCT FROM count AND old_count IS NOT NULL AND NOT warned THEN
            RAISE WARNING 'the number of instances changed from % to %: key series of the two counts can hand out the same keys',
                          old_count, count
                USING DETAIL = 'Until every instance has the new count and has seen every key made so far, an item created here and one created on another instance can get one key: the one created later keeps it, the other is kept only in directus_sync.conflict.',
                      HINT = 'Pause creating items on every instance, let every queue drain, run set_instance with the new count on every instance, then resume (docs/replication.md, "Changing the number of instances").';
            warned := true;
        END IF;
        PERFORM directus_sync._key_series(series.rel, series.attname, true);
    END LOOP;
END
$$;
COMMENT ON FUNCTION directus_sync.set_instance(integer, integer) IS
    'Numbers this database among the instances that create items (1 to count), so that their integer keys come from series that never meet';

/*
 * Integer keys of rel made here from this instance's series: a sequence
 * <table>_directus_sync_keys that the column does not own, so that
 * Directus's setval(max(key)) after a create with an explicit key
 * (pg_get_serial_sequence) leaves it alone, stepping by the number of
 * instances from this instance's number above every key so far (and 0).
 * It belongs to the table's owner; the roles that may insert into the
 * table may use it. wanted: true (an error without set_instance), false
 * (none), NULL (when set_instance was run; else a warning). Other key
 * types need none.
 */
CREATE FUNCTION directus_sync._key_series(rel regclass, key_column name, wanted boolean) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n directus_sync.node;
    key_type regtype;
    identity "char";
    nsp name := (SELECT nspname FROM pg_namespace WHERE oid = (SELECT relnamespace FROM pg_class WHERE oid = rel));
    seq_name text;
    seq text;
    seq_oid oid;
    top bigint;
    grantee oid;
BEGIN
    SELECT a.atttypid::regtype, a.attidentity INTO key_type, identity
      FROM pg_attribute a WHERE a.attrelid = rel AND a.attname = key_column;
    IF key_type NOT IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) OR wanted IS FALSE THEN
        RETURN;
    END IF;
    PERFORM directus_sync._node_id();
    SELECT * INTO n FROM directus_sync.node;
    IF n.instances IS NULL THEN
        IF wanted THEN
            RAISE EXCEPTION 'this database has no instance number for key series'
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Run SELECT directus_sync.set_instance(number, count) in each database that creates items, or turn key series off (key_series => false).';
        END IF;
        RAISE WARNING 'integer keys of % made here and on another instance at the same moment can collide', rel
            USING DETAIL = 'The item created later then keeps the key and the other one is only in directus_sync.conflict.',
                  HINT = 'Number the instances with directus_sync.set_instance(number, count) and run enable_clocks again, or use uuid keys.';
        RETURN;
    END IF;
    IF identity <> '' THEN
        RAISE EXCEPTION 'key column "%" of % is an identity column', key_column, rel
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Its sequence belongs to the column, and Directus moves it to the highest key after every replicated create.',
                  HINT = 'Use a serial column (Directus makes one), or enable_clocks(collection, key_series => false).';
    END IF;
    seq_name := left((SELECT relname FROM pg_class WHERE oid = rel), 44) || '_directus_sync_keys';
    seq := format('%I.%I', nsp, seq_name);
    seq_oid := to_regclass(seq);
    -- a relation of that name that is not already this key's series is someone else's
    IF seq_oid IS NOT NULL AND (NOT EXISTS (
           SELECT FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
             JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
            WHERE d.adrelid = rel AND a.attname = key_column AND dep.refobjid = seq_oid)
       OR (SELECT relkind <> 'S' OR relowner <> (SELECT relowner FROM pg_class WHERE oid = rel)
             FROM pg_class WHERE oid = seq_oid)) THEN
        RAISE EXCEPTION 'relation % exists and is not the key series of %', seq, rel
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Rename or drop it, or enable_clocks(collection, key_series => false).';
    END IF;
    SELECT r.top INTO top
      FROM directus_sync._query_as_owner(rel, format('SELECT max(%I)::bigint FROM %s', key_column, rel), '{}')
           AS r(top bigint);
    top := greatest(coalesce(top, 0), 0);
    IF top > 9223372036854775807 - 2 * n.instances THEN
        RAISE WARNING 'no room above the keys of % for a key series', rel;
        RETURN;
    END IF;
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %s AS bigint', seq);
    -- every property set, whatever the sequence had: the first key of this
    -- instance's series above every key so far; no cache, for the clock
    -- trigger passes the series past a key written by value under the
    -- sequence's page lock (src/key_series.c), which cached keys escape
    EXECUTE format('ALTER SEQUENCE %s AS bigint INCREMENT BY %s MINVALUE 1 MAXVALUE 9223372036854775807 NO CYCLE CACHE 1'
                   ' RESTART WITH %s OWNED BY NONE', seq, n.instances,
                   top + 1 + (((n.instance - (top + 1)) % n.instances) + n.instances) % n.instances);
    EXECUTE format('ALTER SEQUENCE %s SET LOGGED', seq);
    EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', seq, (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = rel));
    FOR grantee IN SELECT DISTINCT a.grantee FROM aclexplode((SELECT relacl FROM pg_class WHERE oid = rel)) a
                    WHERE a.privilege_type = 'INSERT' LOOP
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %s', seq,
                       CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(grantee)) END);
    END LOOP;
    EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT nextval(%L::regclass)', rel, key_column, seq);
END
$$;

/*
 * The major version of the Directus whose tables are in @extschema@: 10, 11
 * or 12, told by the last migration Directus applied (10.0.0 brought
 * 20230401A, 11.0.0 20240806A, 12.0 20260217A; 12.4.0's last is 20260909A).
 * Anything else is refused: create_sync_user writes Directus's tables and
 * knows their layouts for those versions only. The tables it writes must
 * have that version's layout, too.
 */
CREATE FUNCTION directus_sync._directus_major() RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    latest text;
    major integer;
    missing text;
BEGIN
    IF to_regclass('@extschema@.directus_migrations') IS NULL OR to_regclass('@extschema@.directus_users') IS NULL THEN
        RAISE EXCEPTION 'schema % holds no Directus tables', '@extschema@'
            USING ERRCODE = 'undefined_table',
                  HINT = 'Install directus_sync in the schema of a Directus database (CREATE EXTENSION directus_sync SCHEMA ...), and let Directus make its tables first.';
    END IF;
    SELECT r.version INTO latest
      FROM directus_sync._query_as_owner('@extschema@.directus_migrations',
               'SELECT max(version)::text FROM @extschema@.directus_migrations', NULL) AS r(version text);
    major := CASE WHEN latest COLLATE "C" < '20230401A' THEN NULL
                  WHEN latest COLLATE "C" <= '20240716A' THEN 10
                  WHEN latest COLLATE "C" <= '20260211A' THEN 11
                  WHEN latest COLLATE "C" <= '20260909A' THEN 12 END;
    IF major IS NULL THEN
        RAISE EXCEPTION 'the Directus of schema % is not a version directus_sync knows', '@extschema@'
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = format('Its last migration is %s; directus_sync knows the system tables of Directus 10 (from 10.0.0, migration 20230401A) to 12.4 (migration 20260909A).',
                                  coalesce(latest, 'none')),
                  HINT = 'Create the sync user in Directus itself (docs/replication.md), or use a directus_sync that knows this Directus.';
    END IF;
    -- The columns create_sync_user writes, as that version has them.
    SELECT min(t.name) INTO missing
      FROM unnest(CASE WHEN major = 10
                       THEN ARRAY['directus_roles.admin_access', 'directus_roles.app_access', 'directus_permissions.role']
                       ELSE ARRAY['directus_policies.admin_access', 'directus_policies.app_access',
                                  'directus_permissions.policy', 'directus_access.user', 'directus_access.policy'] END
                  || ARRAY['directus_users.token', 'directus_users.role', 'directus_users.status',
                           'directus_users.email_notifications', 'directus_permissions.collection',
                           'directus_permissions.action', 'directus_permissions.fields',
                           'directus_collections.collection']) AS t(name)
     WHERE NOT EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = to_regclass(format('%s.%I', '@extschema@', split_part(t.name, '.', 1)))
                          AND a.attname = split_part(t.name, '.', 2) AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'the Directus tables of schema % do not have the layout of Directus %', '@extschema@', major
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('%s is missing (the last migration is %s).', missing, latest);
    END IF;
    RETURN major;
END
$$;

/*
 * Makes, in this instance's Directus, the user that remote peer writes to
 * us as: a Directus user with a static token, and a policy (Directus 11 and
 * 12, linked to the user in directus_access) or a role (Directus 10) with
 * create, read, update and delete on the collections, all fields (the
 * clocks' directus_sync_meta included). Returns the token, once: Directus
 * keeps it in directus_users.token, and nothing else does. Again for the
 * same peer: adds the collections not granted yet and keeps user, policy
 * and token (returns NULL), unless rotate_token. Sets the user as inbound
 * user of remote peer when it exists; add_remote takes it later.
 *
 * Every write of Directus's tables runs as their owner (_query_as_owner).
 * The token is made inside the statement that stores it (from two
 * gen_random_uuid(), PostgreSQL's strong random source), so it is never in
 * a statement text or parameter, and an error of that statement is raised
 * again without its DETAIL (a unique violation's would show it).
 */
CREATE FUNCTION directus_sync.create_sync_user(peer text, collections text[], rotate_token boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    major integer;
    owner_column text;
    access_table text;
    known directus_sync.sync_user;
    uid uuid;
    aid uuid;
    c text;
    new_token text;
    old_inbound uuid;
    rid integer;
    added bigint;
    description text := format('Remote "%s" of directus_sync writes to this instance as this user (directus_sync.create_sync_user).', peer);
BEGIN
    IF peer IS NULL THEN
        RAISE EXCEPTION 'peer must not be null' USING ERRCODE = 'null_value_not_allowed';
    ELSIF peer = '' OR length(peer) > 63 THEN
        RAISE EXCEPTION 'peer must be 1 to 63 characters long'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'It is the name this instance gives, or will give, the remote in add_remote.';
    ELSIF rotate_token IS NULL THEN
        RAISE EXCEPTION 'rotate_token must not be null' USING ERRCODE = 'null_value_not_allowed';
    ELSIF collections IS NULL OR cardinality(collections) = 0 THEN
        RAISE EXCEPTION 'collections must list at least one collection' USING ERRCODE = 'invalid_parameter_value';
    ELSIF array_ndims(collections) <> 1 THEN
        RAISE EXCEPTION 'collections must be a one-dimensional array' USING ERRCODE = 'invalid_parameter_value';
    ELSIF array_position(collections, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'collections must not contain null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- from 1 up, whatever bounds it came with: the queries below take
    -- $1[1] for an id and $1[2:] for the collections
    collections := ARRAY(SELECT x FROM unnest(collections) WITH ORDINALITY AS u(x, n) ORDER BY n);
    SELECT x INTO c FROM unnest(collections) x GROUP BY x HAVING count(*) > 1 ORDER BY x LIMIT 1;
    IF c IS NOT NULL THEN
        RAISE EXCEPTION 'collection "%" is listed twice', c USING ERRCODE = 'duplicate_object';
    END IF;
    SELECT min(x) INTO c FROM unnest(collections) x
     WHERE x = '' OR starts_with(x, 'directus_')
        OR directus_sync._own_app_table(to_regclass(format('%s.%I', '@extschema@', x)));
    IF c IS NOT NULL THEN
        RAISE EXCEPTION 'collection "%" cannot be granted to a sync user', c
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN c = '' THEN 'The name is empty.'
                                WHEN starts_with(c, 'directus_') THEN 'Collections whose names start with directus_ are Directus''s own.'
                                ELSE 'It is directus_sync''s own: who may write it configures this instance''s replication.' END;
    END IF;

    major := directus_sync._directus_major();
    owner_column := CASE WHEN major = 10 THEN 'role' ELSE 'policy' END;
    access_table := CASE WHEN major = 10 THEN 'directus_roles' ELSE 'directus_policies' END;

    -- Each collection is one of Directus's, or a table it would show as one.
    SELECT min(x) INTO c FROM unnest(collections) x
     WHERE (SELECT relkind FROM pg_class WHERE oid = to_regclass(format('%s.%I', '@extschema@', x))) IS DISTINCT FROM 'r'
       AND x NOT IN (SELECT r.collection
                       FROM directus_sync._query_as_owner('@extschema@.directus_collections',
                                'SELECT collection::text FROM @extschema@.directus_collections WHERE collection = ANY ($1)',
                                collections) AS r(collection text));
    IF c IS NOT NULL THEN
        RAISE EXCEPTION 'collection "%" does not exist', c
            USING ERRCODE = 'undefined_table',
                  HINT = format('A collection is a row of directus_collections or a table in schema %s.', '@extschema@');
    END IF;

    -- One call at a time: two for one peer would make two users.
    LOCK TABLE directus_sync.sync_user IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO known FROM directus_sync.sync_user s WHERE s.peer = create_sync_user.peer;

    -- What is left of the user and policy (or role) made before: an
    -- administrator may have deleted them in Directus.
    IF known.peer IS NOT NULL THEN
        SELECT r.id INTO uid
          FROM directus_sync._query_as_owner('@extschema@.directus_users',
                   'SELECT id FROM @extschema@.directus_users WHERE id = $1[1]::uuid',
                   ARRAY[known.user_id::text]) AS r(id uuid);
        SELECT r.id INTO aid
          FROM directus_sync._query_as_owner(format('%s.%I', '@extschema@', access_table)::regclass,
                   format('SELECT id FROM %s.%I WHERE id = $1[1]::uuid', '@extschema@', access_table),
                   ARRAY[known.access_id::text]) AS r(id uuid);
    END IF;

    IF aid IS NULL THEN
        SELECT r.id INTO aid
          FROM directus_sync._query_as_owner(format('%s.%I', '@extschema@', access_table)::regclass,
                   format('INSERT INTO %s.%I (id, name, icon, description, admin_access, app_access, enforce_tfa)
                           VALUES (gen_random_uuid(), $1[1], ''sync'', $1[2], false, false, false)
                           RETURNING id', '@extschema@', access_table),
                   ARRAY['directus_sync: ' || peer, description]) AS r(id uuid);
    END IF;

    IF uid IS NULL THEN
        SELECT r.id INTO uid
          FROM directus_sync._query_as_owner('@extschema@.directus_users',
                   'INSERT INTO @extschema@.directus_users (id, first_name, last_name, description, status, role, email_notifications)
                    VALUES (gen_random_uuid(), ''Sync from'', left($1[1], 50), $1[2], ''active'', $1[3]::uuid, false)
                    RETURNING id',
                   ARRAY[peer, description, CASE WHEN major = 10 THEN aid::text END]) AS r(id uuid);
    END IF;

    -- The user holds the policy (role), once.
    IF major = 10 THEN
        PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_users',
            'UPDATE @extschema@.directus_users SET role = $1[2]::uuid
              WHERE id = $1[1]::uuid AND role IS DISTINCT FROM $1[2]::uuid RETURNING 1',
            ARRAY[uid::text, aid::text]) AS r(one integer);
    ELSE
        PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_access',
            'INSERT INTO @extschema@.directus_access (id, "user", policy, sort)
             SELECT gen_random_uuid(), $1[1]::uuid, $1[2]::uuid,
                    (SELECT coalesce(max(sort), 0) + 1 FROM @extschema@.directus_access WHERE "user" = $1[1]::uuid)
              WHERE NOT EXISTS (SELECT FROM @extschema@.directus_access
                                 WHERE "user" = $1[1]::uuid AND policy = $1[2]::uuid)
             RETURNING 1',
            ARRAY[uid::text, aid::text]) AS r(one integer);
    END IF;

    -- Create, read, update and delete of every field of each collection, the
    -- ones granted already left as they are.
    SELECT count(*) INTO added FROM directus_sync._query_as_owner('@extschema@.directus_permissions',
        format('INSERT INTO @extschema@.directus_permissions (%1$I, collection, action, permissions, validation, fields)
                SELECT $1[1]::uuid, c.name, a.action, ''{}''::json, ''{}''::json, ''*''
                  FROM unnest($1[2:]) WITH ORDINALITY AS c(name, n)
                 CROSS JOIN unnest(ARRAY[''create'', ''read'', ''update'', ''delete'']) WITH ORDINALITY AS a(action, m)
                 WHERE NOT EXISTS (SELECT FROM @extschema@.directus_permissions p
                                    WHERE p.%1$I = $1[1]::uuid AND p.collection = c.name AND p.action = a.action)
                 ORDER BY c.n, a.m
                RETURNING 1', owner_column),
        ARRAY[aid::text] || collections) AS r(one integer);
    -- Directus caches what an existing user may do (11 and 12 always, 10
    -- with CACHE_ENABLED); a new user it has never seen.
    IF uid = known.user_id AND (added > 0 OR aid IS DISTINCT FROM known.access_id) THEN
        RAISE NOTICE 'Directus sees what was granted to the sync user of "%" once its caches are cleared', peer
            USING HINT = 'POST /utils/cache/clear?system=true as an admin of Directus, or restart Directus.';
    END IF;

    -- A new user, or a new token asked for: made where it is stored.
    IF known.peer IS NULL OR known.user_id IS DISTINCT FROM uid OR rotate_token THEN
        BEGIN
            SELECT r.token INTO new_token
              FROM directus_sync._query_as_owner('@extschema@.directus_users',
                       'UPDATE @extschema@.directus_users
                           SET token = ''ds_'' || translate(gen_random_uuid()::text || gen_random_uuid()::text, ''-'', '''')
                         WHERE id = $1[1]::uuid
                        RETURNING token::text',
                       ARRAY[uid::text]) AS r(token text);
        EXCEPTION WHEN OTHERS THEN
            -- Raised again without DETAIL, HINT and CONTEXT: they could show the token.
            RAISE EXCEPTION 'could not set the token of the sync user of "%": %', peer, SQLERRM
                USING ERRCODE = SQLSTATE;
        END;
    ELSE
        RAISE NOTICE 'the sync user of "%" exists: its token is kept, and not shown again', peer
            USING HINT = 'rotate_token => true gives it a new one (the old one stops working at once).';
    END IF;

    INSERT INTO directus_sync.sync_user AS s (peer, user_id, access_id)
    VALUES (create_sync_user.peer, uid, aid)
    ON CONFLICT ON CONSTRAINT sync_user_pkey DO UPDATE SET user_id = EXCLUDED.user_id, access_id = EXCLUDED.access_id;

    -- The remote peer, if there is one already, is told who writes as it.
    SELECT x.id, x.inbound_user INTO rid, old_inbound FROM directus_sync.remote x WHERE x.name = create_sync_user.peer;
    IF rid IS NOT NULL AND old_inbound IS DISTINCT FROM uid THEN
        IF old_inbound IS NOT NULL THEN
            RAISE NOTICE 'remote "%" had another inbound user; it is now the sync user made here', peer;
        END IF;
        PERFORM directus_sync._alter_remote(create_sync_user.peer, inbound_user => uid);
    END IF;
    RETURN new_token;
END
$$;
COMMENT ON FUNCTION directus_sync.create_sync_user(text, text[], boolean) IS
    'Makes in this instance''s Directus the user that remote peer writes as, with create, read, update and delete on the collections and a static token; returns the token once; again: adds collections, keeps the token unless rotate_token';

CREATE FUNCTION directus_sync.unsubscribe(remote text, collection text) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := directus_sync._remote_id(remote);
    rel regclass;
    discarded bigint;
BEGIN
    PERFORM directus_sync._lock_state(rid);
    DELETE FROM directus_sync.subscription s WHERE s.remote_id = rid AND s.collection = unsubscribe.collection
    RETURNING relid INTO rel;
    IF rel IS NULL THEN
        RAISE EXCEPTION 'remote "%" has no subscription to collection "%"', remote, collection
            USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM directus_sync.outbox o WHERE o.remote_id = rid AND o.collection = unsubscribe.collection;
    GET DIAGNOSTICS discarded = ROW_COUNT;
    DELETE FROM directus_sync.resync_job j WHERE j.remote_id = rid AND j.collection = unsubscribe.collection;
    PERFORM directus_sync._apply_config(ARRAY[rel]);
    RETURN discarded;
END
$$;
COMMENT ON FUNCTION directus_sync.unsubscribe(text, text) IS
    'Stops shipping a collection to a remote (the last unsubscribe removes the capture trigger); returns the number of undelivered changes discarded';


/* ---------------------------------------------------------------------------
 * 9. Operations
 * ------------------------------------------------------------------------- */

CREATE FUNCTION directus_sync.pause(remote text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := directus_sync._remote_id(pause.remote);
BEGIN
    PERFORM directus_sync._lock_state(rid);
    UPDATE directus_sync.remote SET paused = true WHERE id = rid;
    -- capture stops waking the worker for this remote
    PERFORM directus_sync._apply_config(directus_sync._tables_of(rid));
END
$$;
COMMENT ON FUNCTION directus_sync.pause(text) IS
    'Stops shipping to a remote; changes are still queued';

CREATE FUNCTION directus_sync.resume(remote text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := directus_sync._remote_id(remote);
BEGIN
    PERFORM directus_sync._lock_state(rid);
    UPDATE directus_sync.remote SET paused = false, home = directus_sync._node_id() WHERE id = rid;
    PERFORM directus_sync._apply_config(directus_sync._tables_of(rid));
    UPDATE directus_sync.remote_state SET retry_at = NULL, consecutive_failures = 0 WHERE remote_id = rid;
    UPDATE directus_sync.outbox SET retry_at = NULL WHERE remote_id = rid AND retry_at IS NOT NULL;
    PERFORM directus_sync._wake_at_commit();
END
$$;
COMMENT ON FUNCTION directus_sync.resume(text) IS
    'Ships to a paused or backed-off remote again, at once; a remote restored or cloned from another database ships from this one from now on';

/*
 * For the worker, before it claims: remotes configured on another node (this
 * database was restored from a dump, or cloned) are paused, so that a
 * staging copy of production never ships to production's remotes on its
 * own. resume() confirms them. Returns the names paused now.
 */
CREATE FUNCTION directus_sync._pause_strangers() RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    here uuid;
    stranger record;
BEGIN
    IF NOT EXISTS (SELECT FROM directus_sync.remote WHERE NOT paused) THEN
        RETURN;
    END IF;
    here := directus_sync._node_id();
    FOR stranger IN UPDATE directus_sync.remote SET paused = true
                     WHERE NOT paused AND home IS DISTINCT FROM here RETURNING id, name LOOP
        INSERT INTO directus_sync.remote_state (remote_id) VALUES (stranger.id) ON CONFLICT DO NOTHING;
        UPDATE directus_sync.remote_state
           SET last_error = 'configured in another database (restored from a dump, or cloned): paused until directus_sync.resume()',
               last_error_at = now()
         WHERE remote_id = stranger.id;
        RETURN NEXT stranger.name;
    END LOOP;
END
$$;

/*
 * The JSON expression of a column's value (col, SQL text) as the capture
 * trigger renders it (src/capture.c, append_field): a bigint or numeric
 * with more than 15 significant digits as a string (Directus reads numbers
 * as doubles), a JSON string in a json or jsonb column as the string of its
 * JSON text (Directus hands a string given for a json field to PostgreSQL as
 * the field's JSON text), anything else by to_json. Domains count as their
 * base type.
 */
CREATE FUNCTION directus_sync._render_expr(col text, typ oid) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE chain(t) AS (
        SELECT typ
        UNION ALL
        SELECT y.typbasetype FROM pg_type y JOIN chain c ON y.oid = c.t WHERE y.typtype = 'd')
    SELECT CASE
             WHEN b.t IN ('int8'::regtype, 'numeric'::regtype) THEN
               format('CASE WHEN length(ltrim(regexp_replace(%1$s::text, ''[^0-9]'', '''', ''g''), ''0'')) > 15'
                      ' THEN to_json(%1$s::text) ELSE to_json(%1$s) END', col)
             WHEN b.t IN ('json'::regtype, 'jsonb'::regtype) THEN
               format('CASE WHEN json_typeof(to_json(%1$s)) = ''string'' THEN to_json(to_json(%1$s)::text)'
                      ' ELSE to_json(%1$s) END', col)
             ELSE format('to_json(%s)', col)
           END
      FROM chain b JOIN pg_type y ON y.oid = b.t
     WHERE y.typtype <> 'd'
$$;

/*
 * A query giving item_key and payload of each row of the subscribed table as
 * the capture trigger writes them on insert: the key and the subscribed
 * fields (no key for a singleton), each value rendered as there
 * (_render_expr). Used by resync, replay and the worker's current rows.
 * With clocks, the item's stored clocks of the fields whose values go, and
 * of those alone (a clock never goes without its value): a column dropped
 * since subscribe keeps its clocks in the stored meta.
 */
CREATE FUNCTION directus_sync._payload_select(s directus_sync.subscription, fresh_clock text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH cols AS (
        SELECT u.f, u.ord, a.atttypid
          FROM unnest(CASE WHEN s.singleton OR s.key_column = ANY (s.fields) THEN s.fields
                           ELSE s.key_column || s.fields END) WITH ORDINALITY AS u(f, ord)
          -- a dropped or renamed column is left out, as the capture trigger does
          JOIN pg_attribute a ON a.attrelid = s.relid AND a.attname = u.f AND a.attnum > 0 AND NOT a.attisdropped),
    -- the subscribed fields whose values go: only their clocks go, as capture's do (the
    -- stored meta keeps the clocks of a column dropped since, whose value cannot go, and
    -- a remote that has the column refuses a create clocking it without its value)
    sent(fields) AS (SELECT coalesce(array_agg(f ORDER BY ord) FILTER (WHERE f = ANY (s.fields)), '{}') FROM cols)
    SELECT format('SELECT t.%1$I::text AS item_key, (SELECT row_to_json(x) FROM (SELECT %2$s%4$s) x) AS payload FROM %3$s t',
                  s.key_column,
                  string_agg(format('%s AS %I', directus_sync._render_expr(format('t.%I', c.f), c.atttypid), c.f),
                             ', ' ORDER BY ord),
                  s.relid,
                  -- a table with clocks: the stored clocks of the fields, as capture sends them
                  CASE WHEN EXISTS (SELECT FROM pg_attribute m WHERE m.attrelid = s.relid AND m.attname = 'directus_sync_meta'
                                                             AND m.atttypid = 'jsonb'::regtype AND NOT m.attisdropped)
                  THEN format(', json_strip_nulls(json_build_object(''s'', %1$L, ''b'', t.directus_sync_meta->''b'','
                              ' ''f'', %3$s,'
                              ' ''p'', coalesce((SELECT jsonb_object_agg(c.key, c.value) FROM jsonb_each(t.directus_sync_meta->''p'') c'
                              ' WHERE c.key = ANY (%2$L::text[])), ''{}''), ''a'', %4$s)) AS directus_sync_meta',
                              directus_sync._node_id(), (SELECT fields FROM sent),
                              -- resync(..., sender_wins): every field sent with a new clock of ours, later than any
                              CASE WHEN fresh_clock IS NULL
                                   THEN format('coalesce((SELECT jsonb_object_agg(c.key, c.value) FROM jsonb_each(t.directus_sync_meta->''f'') c'
                                               ' WHERE c.key = ANY (%L::text[])), ''{}'')', (SELECT fields FROM sent))
                                   -- never no "f": {"s", "b"} alone is the compact form, every column at "b"
                                   ELSE format('coalesce((SELECT jsonb_object_agg(f, %L::jsonb) FROM unnest(%L::text[]) f), ''{}'')',
                                               to_jsonb(fresh_clock), (SELECT fields FROM sent)) END,
                              -- the item's alive clock (its "a" and every field's clock), when later than what
                              -- goes: a field the remote does not get was written later (a new clock is later)
                              CASE WHEN fresh_clock IS NULL
                                   THEN format('(SELECT v.c FROM (SELECT max(w.c COLLATE "C") AS c FROM (SELECT t.directus_sync_meta->>''a'''
                                               ' UNION ALL SELECT value FROM jsonb_each_text(t.directus_sync_meta->''f'')) w(c)) v'
                                               ' WHERE v.c COLLATE "C" > coalesce(greatest(t.directus_sync_meta->>''b'' COLLATE "C",'
                                               ' (SELECT max(c.value COLLATE "C") FROM jsonb_each_text(t.directus_sync_meta->''f'') c'
                                               ' WHERE c.key = ANY (%L::text[]))), ''''))', (SELECT fields FROM sent))
                                   ELSE 'NULL' END)
                  ELSE '' END)
      FROM cols c
$$;

/*
 * The payload query restricted to the keys in $1 (text[]), compared as the
 * key's type. Locking, it waits for a writer of those rows and reads what it
 * committed: queued behind that writer's change, a resync or replay never
 * ships an older state after a newer one.
 */
CREATE FUNCTION directus_sync._current_rows_query(s directus_sync.subscription, locking boolean,
                                                     fresh_clock text DEFAULT NULL) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%s WHERE t.%I = ANY ($1::%s[])%s', directus_sync._payload_select(s, fresh_clock), s.key_column,
                  format_type(a.atttypid, a.atttypmod), CASE WHEN locking THEN ' FOR SHARE OF t NOWAIT' ELSE '' END)
      FROM pg_attribute a WHERE a.attrelid = s.relid AND a.attname = s.key_column
$$;

/*
 * The payload of an item's delete as capture sends it, from its tombstone
 * (NULL: none, or a singleton): the key, the rule, and both deletes the
 * tombstone keeps: that of the item it names ("b": its born clock, an item
 * born later with that key survives it; "d": the delete's clock) and the
 * sweep ("u": the latest delete of unknown born, which removes every item
 * older than it). A tombstone of unknown born is a sweep alone ({"d"}).
 * Sending one of the two made a remote decide a later create unlike the
 * sender (review 12).
 */
CREATE FUNCTION directus_sync._tombstone_payload(s directus_sync.subscription, k text) RETURNS json
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT json_build_object(s.key_column, CASE WHEN s.key_is_number THEN to_json(k::numeric) ELSE to_json(k) END,
                             'directus_sync_meta',
                             CASE WHEN t.born IS NULL
                                  THEN json_build_object('s', directus_sync._node_id(),
                                                         'd', greatest(t.deleted, t.swept),
                                                         'w', coalesce(r.delete_wins, false))
                                  WHEN t.swept IS NULL
                                  THEN json_build_object('s', directus_sync._node_id(), 'b', t.born, 'd', t.deleted,
                                                         'w', coalesce(r.delete_wins, false))
                                  -- deleted '': the born clock of an item the sweep killed, without
                                  -- a delete of it (tombstone_keep_swept_born): sent as its delete at
                                  -- the sweep's clock, which decides every item alike ("d" is never "")
                                  ELSE json_build_object('s', directus_sync._node_id(), 'b', t.born,
                                                         'd', coalesce(nullif(t.deleted, ''), t.swept),
                                                         'u', t.swept, 'w', coalesce(r.delete_wins, false)) END)
      FROM directus_sync.tombstone t
      LEFT JOIN directus_sync.clocked_collection r ON r.collection = s.collection
     WHERE t.collection = s.collection AND t.item_key = k AND NOT s.singleton
       AND coalesce(nullif(t.deleted, ''), t.swept) IS NOT NULL
$$;

/*
 * An item's payload with the sweep its tombstone keeps ("u" in
 * directus_sync_meta; the payload as it is when swept is NULL or it has no
 * meta). A live item can have one: a sweep (a delete of unknown born) that
 * lost to it, which still removes every item older than it that takes the
 * key. Sent without it (a resync, a replay, a create for a remote that
 * lacked the item), the remote kept such an item where this instance
 * deletes it (review 13). The receiver keeps "u" in its tombstone (clock_row.c).
 * The meta is ours (clocks and field names) and goes through jsonb; the
 * other members are copied as written.
 */
CREATE FUNCTION directus_sync._with_sweep(payload json, swept text) RETURNS json
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF swept IS NULL OR json_typeof(payload) IS DISTINCT FROM 'object' THEN
        RETURN payload;
    END IF;
    -- (a block of its own: the subtransaction only for an item with a sweep)
    BEGIN
        RETURN CASE WHEN json_typeof(payload->'directus_sync_meta') IS DISTINCT FROM 'object' THEN payload
                    ELSE (SELECT json_object_agg(e.key, CASE WHEN e.key = 'directus_sync_meta'
                                                             THEN (e.value::jsonb || jsonb_build_object('u', swept))::json
                                                             ELSE e.value END ORDER BY e.ord)
                            FROM json_each(payload) WITH ORDINALITY AS e(key, value, ord)) END;
    EXCEPTION WHEN untranslatable_character OR invalid_text_representation THEN
        -- a value PostgreSQL cannot de-escape ("\u0000", a lone surrogate), which
        -- Directus takes: the item goes without its sweep, as before review 13
        RETURN payload;
    END;
END
$$;

-- For the worker: the payloads of items as they are now (absent: gone).
CREATE FUNCTION directus_sync._current_rows(rid integer, coll text, keys text[])
RETURNS TABLE (item_key text, payload json)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s directus_sync.subscription;
BEGIN
    SELECT * INTO s FROM directus_sync.subscription x WHERE x.remote_id = rid AND x.collection = coll;
    IF FOUND THEN
        -- a deleted item of a table with clocks: its delete, which the remote
        -- that lacks the item keeps (and passes on) as a tombstone
        RETURN QUERY
        WITH cur AS (SELECT * FROM directus_sync._query_as_owner(s.relid,
                                       directus_sync._current_rows_query(s, false), keys)
                                       AS r(item_key text, payload json))
        SELECT cur.item_key, directus_sync._with_sweep(cur.payload, t.swept)
          FROM cur LEFT JOIN directus_sync.tombstone t
            ON t.collection = s.collection AND t.item_key = cur.item_key AND NOT s.singleton
        UNION ALL
        SELECT k, t.payload FROM unnest(keys) AS u(k), directus_sync._tombstone_payload(s, k) AS t(payload)
         WHERE NOT EXISTS (SELECT FROM cur WHERE cur.item_key = k) AND t.payload IS NOT NULL;
    END IF;
END
$$;

/*
 * Queues the current state of some items for a remote: an upsert ('c') of
 * every item that exists, a delete of every key that no longer does.
 */
CREATE FUNCTION directus_sync._queue_current(s directus_sync.subscription, keys text[],
                                                fresh_clock text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    queued bigint;
BEGIN
    WITH cur AS (SELECT * FROM directus_sync._query_as_owner(s.relid, directus_sync._current_rows_query(s, true, fresh_clock), keys)
                               AS r(item_key text, payload json))
    INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
    SELECT s.remote_id, s.collection, k, CASE WHEN cur.item_key IS NULL THEN 'd' ELSE 'c' END,
           -- a deleted item of a table with clocks: its delete's clock, as capture sends it
           coalesce(directus_sync._with_sweep(cur.payload, t.swept), directus_sync._tombstone_payload(s, k))
      FROM unnest(keys) WITH ORDINALITY AS u(k, ord) LEFT JOIN cur ON cur.item_key = k
      LEFT JOIN directus_sync.tombstone t
        ON t.collection = s.collection AND t.item_key = cur.item_key AND NOT s.singleton
     ORDER BY ord;
    GET DIAGNOSTICS queued = ROW_COUNT;
    RETURN queued;
END
$$;

CREATE FUNCTION directus_sync.resync(remote text, collection text, sender_wins boolean) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s directus_sync.subscription;
    total bigint;
BEGIN
    SELECT * INTO s FROM directus_sync.subscription x
     WHERE x.remote_id = directus_sync._remote_id(remote) AND x.collection = resync.collection;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'remote "%" has no subscription to collection "%"', remote, collection
            USING ERRCODE = 'undefined_object',
                  HINT = 'Subscribe first: directus_sync.subscribe(remote, collection, fields).';
    END IF;
    SELECT r.total INTO total
      FROM directus_sync._query_as_owner(s.relid, format('SELECT count(*) FROM %s', s.relid), NULL)
           AS r(total bigint);
    -- and the deletes it knows of (tables with clocks), which go after the rows
    total := total + (SELECT count(*) FROM directus_sync.tombstone t
                       WHERE t.collection = s.collection AND NOT s.singleton);
    IF sender_wins IS NULL THEN
        RAISE EXCEPTION 'sender_wins must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO directus_sync.resync_job (remote_id, collection, rows_total, sender_wins)
    VALUES (s.remote_id, s.collection, total, resync.sender_wins)
    ON CONFLICT ON CONSTRAINT resync_job_pkey DO UPDATE
       SET last_key = NULL, rows_done = 0, rows_total = EXCLUDED.rows_total, started_at = now(),
           sender_wins = EXCLUDED.sender_wins, deletes = false;
    PERFORM directus_sync._wake_at_commit();
    RETURN total;
END
$$;

CREATE FUNCTION directus_sync.resync(remote text, collection text) RETURNS bigint
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT directus_sync.resync(remote, collection, false) $$;
COMMENT ON FUNCTION directus_sync.resync(text, text) IS
    'Queues every current item of a collection as an upsert to a remote, and every delete it holds a tombstone of with its clock, in chunks the worker takes; returns the number of items and deletes; progress in directus_sync.remote_status';
COMMENT ON FUNCTION directus_sync.resync(text, text, boolean) IS
    'resync(remote, collection), and with sender_wins every field goes with a new clock, so that the values here win on the remote (tables with clocks)';

/*
 * One chunk of a resync job, in key order: first the rows of the table,
 * then (resync_job.deletes) the keys of the collection's tombstones, each
 * as a delete with its clock; called by the worker in a transaction of its
 * own. Returns false when the job is finished.
 */
CREATE FUNCTION directus_sync._resync_step(rid integer, coll text, chunk integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s directus_sync.subscription;
    job directus_sync.resync_job;
    key_type text;
    keys text[];
BEGIN
    SELECT * INTO job FROM directus_sync.resync_job WHERE remote_id = rid AND collection = coll FOR UPDATE;
    SELECT * INTO s FROM directus_sync.subscription WHERE remote_id = rid AND collection = coll;
    IF job.remote_id IS NULL OR s.remote_id IS NULL THEN
        DELETE FROM directus_sync.resync_job WHERE remote_id = rid AND collection = coll;
        RETURN false;
    END IF;
    IF NOT job.deletes THEN
        SELECT format_type(atttypid, atttypmod) INTO key_type FROM pg_attribute
         WHERE attrelid = s.relid AND attname = s.key_column;
        SELECT r.keys INTO keys
          FROM directus_sync._query_as_owner(s.relid,
                   format('SELECT array_agg(k::text ORDER BY k) FROM (SELECT %1$I AS k FROM %2$s
                            WHERE $1[1] IS NULL OR %1$I > $1[1]::%3$s ORDER BY %1$I LIMIT %4$s) x',
                          s.key_column, s.relid, key_type, chunk),
                   ARRAY[job.last_key]) AS r(keys text[]);
        IF keys IS NULL THEN
            -- the rows are queued: now the deletes of the tombstones, from the first
            UPDATE directus_sync.resync_job SET deletes = true, last_key = NULL
             WHERE remote_id = rid AND collection = coll;
            job.deletes := true;
            job.last_key := NULL;
        END IF;
    END IF;
    IF job.deletes THEN
        -- a delete this instance knows of and the remote may have missed, with
        -- its clock (_queue_current renders it from the tombstone; an item
        -- that exists again goes as it is now): an item edited later there
        -- survives it. Through the tombstone's primary key, in its order.
        SELECT array_agg(x.item_key ORDER BY x.item_key) INTO keys
          FROM (SELECT t.item_key FROM directus_sync.tombstone t
                 WHERE t.collection = coll AND NOT s.singleton
                   AND (job.last_key IS NULL OR t.item_key > job.last_key)
                 ORDER BY t.item_key LIMIT chunk) x;
        IF keys IS NULL THEN
            DELETE FROM directus_sync.resync_job WHERE remote_id = rid AND collection = coll;
            RETURN false;
        END IF;
    END IF;
    PERFORM directus_sync._queue_current(s, keys, CASE WHEN job.sender_wins THEN directus_sync.clock_now() END);
    UPDATE directus_sync.resync_job SET last_key = keys[cardinality(keys)], rows_done = rows_done + cardinality(keys)
     WHERE remote_id = rid AND collection = coll;
    RETURN true;
END
$$;

CREATE FUNCTION directus_sync.replay(remote text DEFAULT NULL, ids bigint[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := CASE WHEN remote IS NULL THEN NULL ELSE directus_sync._remote_id(remote) END;
    s directus_sync.subscription;
    keys text[];
    replayed bigint := 0;
BEGIN
    FOR s IN SELECT DISTINCT ON (x.remote_id, x.collection) x.*
               FROM directus_sync.subscription x JOIN directus_sync.dead_letter d
                 ON d.remote_id = x.remote_id AND d.collection = x.collection
              WHERE (rid IS NULL OR d.remote_id = rid) AND (ids IS NULL OR d.id = ANY (ids))
    LOOP
        WITH gone AS (
            DELETE FROM directus_sync.dead_letter d
             WHERE d.remote_id = s.remote_id AND d.collection = s.collection
               AND (ids IS NULL OR d.id = ANY (ids))
            RETURNING d.item_key)
        SELECT array_agg(DISTINCT item_key) INTO keys FROM gone;
        replayed := replayed + directus_sync._queue_current(s, keys);
    END LOOP;
    PERFORM directus_sync._wake_at_commit();
    RETURN replayed;
END
$$;
COMMENT ON FUNCTION directus_sync.replay(text, bigint[]) IS
    'Queues again the items of dead letters (all, a remote''s, or the given ids) with their current state: an upsert, or a delete if the item is gone; returns the number queued';

CREATE FUNCTION directus_sync.discard_dead_letters(remote text DEFAULT NULL, ids bigint[] DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid integer := CASE WHEN remote IS NULL THEN NULL ELSE directus_sync._remote_id(remote) END;
    removed bigint;
BEGIN
    DELETE FROM directus_sync.dead_letter d
     WHERE (rid IS NULL OR d.remote_id = rid) AND (ids IS NULL OR d.id = ANY (ids));
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION directus_sync.discard_dead_letters(text, bigint[]) IS
    'Deletes dead letters (all, a remote''s, or the given ids) without replaying them';


/* ---------------------------------------------------------------------------
 * 10. The worker's bookkeeping
 * ------------------------------------------------------------------------- */

-- Capped exponential backoff with jitter: half to all of min * 2^(n-1), at most max.
CREATE FUNCTION directus_sync._backoff(failures integer) RETURNS interval
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT least(current_setting('directus_sync.retry_max_delay')::interval,
                 current_setting('directus_sync.retry_min_delay')::interval
                 * power(2, least(greatest(failures, 1) - 1, 30)))
           * (0.5 + random() / 2)
$$;

/*
 * Text as inline code of markdown (a CommonMark code span): shown as it is,
 * never as a link, an image or HTML, where a notification is rendered
 * (Directus's app runs marked, then DOMPurify, which lets images and http
 * links through). The fence is one backtick longer than the longest run of
 * backticks inside; control characters, line breaks among them (a blank
 * line would end the span), become spaces.
 */
CREATE FUNCTION directus_sync._md_code(t text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%1$s %2$s %1$s', repeat('`', 1 + coalesce(max(length(run[1])), 0)), clean)
      FROM (SELECT regexp_replace(coalesce(t, ''),
                E'[\\x01-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069]', ' ', 'g')) AS s(clean)
      LEFT JOIN LATERAL regexp_matches(clean, '`+', 'g') AS run ON true
     GROUP BY clean
$$;

/*
 * Inserts a Directus notification for each of the remote's users to notify
 * that exists, as the notifications table's owner (Directus's role),
 * restricted: triggers on that table are Directus's, and must not run with
 * our rights. A failure is a warning: it must not fail what it reports on.
 */
CREATE FUNCTION directus_sync._notify_users(r directus_sync.remote, subject text, body text, coll text, item text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    notifications regclass := to_regclass('@extschema@.directus_notifications');
    users regclass := to_regclass('@extschema@.directus_users');
BEGIN
    IF notifications IS NULL OR cardinality(r.notify_users) = 0 THEN
        RETURN;
    END IF;
    PERFORM count(*) FROM directus_sync._query_as_owner(notifications,
        format('INSERT INTO %s (recipient, subject, message, collection, item, status)
                SELECT u, $1[1], $1[2], $1[3], $1[4], ''inbox'' FROM unnest($1[5:]::uuid[]) AS u %s
                RETURNING 1',
               notifications,
               CASE WHEN users IS NULL THEN ''
                    ELSE format('WHERE EXISTS (SELECT FROM %s WHERE id = u)', users) END),
        ARRAY[subject, body, coll, item] || r.notify_users::text[])
        AS n(one integer);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'could not notify the users of remote "%"', r.name USING DETAIL = SQLERRM;
END
$$;

/*
 * Tells the remote's users to notify about a failure, at most once per
 * directus_sync.notify_interval and remote; failures in between are counted
 * and mentioned in the next notification. A failure to notify (no such user,
 * Directus tables missing) never stops the recording of deliveries.
 */
CREATE FUNCTION directus_sync._notify(rid integer, coll text, item text, event text, error text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r directus_sync.remote;
    st directus_sync.remote_state;
    body text;
BEGIN
    SELECT * INTO r FROM directus_sync.remote WHERE id = rid;
    SELECT * INTO st FROM directus_sync.remote_state WHERE remote_id = rid FOR UPDATE;
    IF st.last_notified_at > now() - current_setting('directus_sync.notify_interval')::interval THEN
        UPDATE directus_sync.remote_state SET unnotified_failures = unnotified_failures + 1
         WHERE remote_id = rid;
        RETURN;
    END IF;
    -- markdown: what others wrote (the remote's error, keys) as inline code
    body := format('directus_sync could not deliver the %s of item %s in collection %s to remote %s (%s): %s',
                   event, directus_sync._md_code(item), directus_sync._md_code(coll), r.name, r.url,
                   directus_sync._md_code(error));
    IF st.unnotified_failures > 0 THEN
        body := body || format(' %s more failures since the previous notification.', st.unnotified_failures);
    END IF;
    PERFORM directus_sync._notify_users(r, format('Data sync to %s failed', r.name), body, coll, item);
    UPDATE directus_sync.remote_state SET last_notified_at = now(), unnotified_failures = 0
     WHERE remote_id = rid;
END
$$;

/*
 * Two items were created with one key, here and on a remote, and ours lost
 * (insert_insert, the remote's was created later): this instance's users to
 * notify of that remote hear of it. Written in the sync's transaction, as
 * the notifications table's owner (restricted, as in _notify); rare, so not
 * rate-limited, and without a lock on the remote's state.
 */
CREATE FUNCTION directus_sync._notify_key_conflict(rid integer, coll text, item text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r directus_sync.remote;
BEGIN
    SELECT * INTO r FROM directus_sync.remote WHERE id = rid;
    IF r.id IS NOT NULL THEN
        PERFORM directus_sync._notify_users(r, format('Two items with one key in %s', coll),
            format('An item %s of collection %s was created here and another on remote %s (%s) with the same key. '
                   'The one created there, later, keeps the key everywhere; the one created here is kept in full '
                   'in directus_sync.conflict.',
                   directus_sync._md_code(item), directus_sync._md_code(coll), r.name, r.url),
            coll, item);
    END IF;
END
$$;

/*
 * Where the queued rows of these ids are, in the order of ids (NULL for a row
 * that is gone), for the worker's claims and for _record_rows: one probe of
 * the primary key per id, whatever the statistics. A statement that names the rows by "id = ANY (...)" or by a
 * join may read the whole queue instead: without statistics the planner
 * takes a remote's rows for few (0.5% of the table) and prefers an index scan
 * of them all, or a join that starts from the outbox. The subquery that
 * depends on each id (LATERAL, not pulled up) leaves it the probe alone, as
 * an index scan (the settings).
 */
CREATE FUNCTION directus_sync._queued_tids(rid integer, ids bigint[]) RETURNS tid[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
AS $$
    SELECT ARRAY(SELECT x.ctid FROM unnest(ids) WITH ORDINALITY AS d(id, n)
                   LEFT JOIN LATERAL (SELECT o.ctid FROM directus_sync.outbox o
                                       WHERE o.remote_id = rid AND o.id = d.id OFFSET 0) x ON true
                  ORDER BY d.n)
$$;

/*
 * The queued rows of a window's outcome (for _record): returns how many were
 * delivered. Each statement reads the rows it names by where they are
 * (_queued_tids), and joins on nothing else (a join on id could be served
 * by a scan of a whole index): the cost follows the window, whatever the
 * queue and its statistics. A row updated meanwhile by another transaction
 * is left as it is, and met again.
 */
CREATE FUNCTION directus_sync._record_rows(
    rid integer, delivered bigint[],
    dead_ids bigint[], dead_status integer[], dead_code text[], dead_message text[],
    retry_ids bigint[], retry_errors text[], attempted_ids bigint[])
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    done bigint;
BEGIN
    DELETE FROM directus_sync.outbox WHERE ctid = ANY (directus_sync._queued_tids(rid, delivered));
    GET DIAGNOSTICS done = ROW_COUNT;

    WITH gone AS (
        DELETE FROM directus_sync.outbox o
         USING unnest(directus_sync._queued_tids(rid, dead_ids), dead_status, dead_code, dead_message)
               AS d(tid, status, code, message)
         WHERE o.ctid = d.tid
        RETURNING o.*, d.status, d.code, d.message)
    INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at,
                                           http_status, error_code, error_message)
    SELECT id, remote_id, collection, item_key, op, payload, queued_at, status, code, message FROM gone;

    -- sent without a definite answer: the remote may have applied it
    UPDATE directus_sync.outbox SET attempts = attempts + 1
     WHERE ctid = ANY (directus_sync._queued_tids(rid, attempted_ids));

    UPDATE directus_sync.outbox o
       SET attempts = o.attempts + 1, retry_at = now() + directus_sync._backoff(o.attempts + 1),
           last_error = r.error
      FROM unnest(directus_sync._queued_tids(rid, retry_ids), retry_errors) AS r(tid, error)
     WHERE o.ctid = r.tid;
    RETURN done;
END
$$;

/*
 * The outcome of a window (see queue_record in src/queue_record.c):
 * delivered rows go, dead ones move to dead_letter, retry_ids back off alone,
 * attempted_ids count an attempt (a create of theirs may have arrived)
 * (_record_rows); remote_error backs off the whole remote (honouring a
 * Retry-After), counters move on.
 */
CREATE FUNCTION directus_sync._record(
    rid integer, delivered bigint[],
    dead_ids bigint[], dead_status integer[], dead_code text[], dead_message text[],
    retry_ids bigint[], retry_errors text[],
    remote_error text, retry_after_ms integer,
    fail_collection text, fail_item text, fail_event text, fail_error text,
    attempted_ids bigint[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failures integer := cardinality(dead_ids) + cardinality(retry_ids) + (remote_error IS NOT NULL)::integer;
    done bigint;
BEGIN
    PERFORM directus_sync._lock_state(rid);
    done := directus_sync._record_rows(rid, delivered, dead_ids, dead_status, dead_code, dead_message,
                                       retry_ids, retry_errors, attempted_ids);

    UPDATE directus_sync.remote_state st
       SET in_flight = 0,
           delivered = st.delivered + done,
           failed = st.failed + failures,
           consecutive_failures = CASE WHEN remote_error IS NULL THEN 0 ELSE st.consecutive_failures + 1 END,
           retry_at = CASE WHEN remote_error IS NULL THEN NULL
                           ELSE now() + greatest(directus_sync._backoff(st.consecutive_failures + 1),
                                                 retry_after_ms * interval '1 ms') END,
           last_success_at = CASE WHEN done > 0 THEN now() ELSE st.last_success_at END,
           last_error = CASE WHEN failures > 0 THEN format('%s of item %s in %s: %s', fail_event, fail_item,
                                                           fail_collection, fail_error)
                             ELSE st.last_error END,
           last_error_at = CASE WHEN failures > 0 THEN now() ELSE st.last_error_at END
     WHERE st.remote_id = rid;

    IF failures > 0 THEN
        -- _notify tells of one failure, or counts one: the window's others count too
        UPDATE directus_sync.remote_state SET unnotified_failures = unnotified_failures + failures - 1
         WHERE remote_id = rid;
        PERFORM directus_sync._notify(rid, fail_collection, fail_item, fail_event, fail_error);
    END IF;
END
$$;

/*
 * Removes the queued changes and the conflict log of remotes that no longer
 * exist; returns how many queued changes went. Neither table has a foreign
 * key (they are written in Directus's transactions, which must not lock
 * remote rows), so a writer whose cached subscriptions still list a remote
 * that remove_remote is removing can queue a change for it, or log a
 * conflict, after remove_remote's DELETE. Such a row would never be claimed
 * or shown, and would keep the outbox from ever being truncated. The remote
 * ids in each table are read by skipping along its index, one probe per
 * remote, not by reading the rows.
 */
CREATE FUNCTION directus_sync._remove_orphans() RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    gone integer[];
    removed bigint := 0;
BEGIN
    WITH RECURSIVE ids(remote_id) AS (
        (SELECT o.remote_id FROM directus_sync.outbox o ORDER BY o.remote_id LIMIT 1)
        UNION ALL
        SELECT (SELECT o.remote_id FROM directus_sync.outbox o WHERE o.remote_id > ids.remote_id
                 ORDER BY o.remote_id LIMIT 1)
          FROM ids WHERE ids.remote_id IS NOT NULL)
    SELECT array_agg(ids.remote_id) INTO gone FROM ids
     WHERE ids.remote_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM directus_sync.remote r WHERE r.id = ids.remote_id);
    IF gone IS NOT NULL THEN
        DELETE FROM directus_sync.outbox WHERE remote_id = ANY (gone);
        GET DIAGNOSTICS removed = ROW_COUNT;
    END IF;

    WITH RECURSIVE ids(remote_id) AS (
        (SELECT c.remote_id FROM directus_sync.conflict c ORDER BY c.remote_id LIMIT 1)
        UNION ALL
        SELECT (SELECT c.remote_id FROM directus_sync.conflict c WHERE c.remote_id > ids.remote_id
                 ORDER BY c.remote_id LIMIT 1)
          FROM ids WHERE ids.remote_id IS NOT NULL)
    SELECT array_agg(ids.remote_id) INTO gone FROM ids
     WHERE ids.remote_id IS NOT NULL
       AND NOT EXISTS (SELECT FROM directus_sync.remote r WHERE r.id = ids.remote_id);
    IF gone IS NOT NULL THEN
        DELETE FROM directus_sync.conflict WHERE remote_id = ANY (gone);
    END IF;
    RETURN removed;
END
$$;

/*
 * Gives a drained outbox its disk space back at once: TRUNCATE, as PgQ
 * rotates its queues, when the outbox is empty but large. Autovacuum would
 * reclaim the heap in time, never the index. The lock is taken only if free
 * at once (NOWAIT), which also means no transaction has uncommitted rows in
 * it; writers then wait for the few milliseconds of the TRUNCATE. First the
 * rows of removed remotes go (_remove_orphans): the worker calls this when
 * it is idle, every 10 s.
 */
CREATE FUNCTION directus_sync._shrink_outbox(min_bytes bigint) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Whatever the statistics, through the primary key: _remove_orphans skips
-- along it, one probe per remote, and "is it empty?" reads its first entry.
-- Delivered rows leave dead tuples at the head of the heap until vacuum; a
-- sequential scan would read them all, every 10 s.
SET enable_seqscan = off
SET enable_bitmapscan = off
SET enable_sort = off
AS $$
BEGIN
    PERFORM directus_sync._remove_orphans();
    IF pg_total_relation_size('directus_sync.outbox') < min_bytes
       OR EXISTS (SELECT FROM directus_sync.outbox) THEN
        RETURN false;
    END IF;
    BEGIN
        LOCK TABLE directus_sync.outbox IN ACCESS EXCLUSIVE MODE NOWAIT;
    EXCEPTION WHEN lock_not_available THEN
        RETURN false;
    END;
    IF EXISTS (SELECT FROM directus_sync.outbox) THEN
        RETURN false;
    END IF;
    TRUNCATE directus_sync.outbox;
    RETURN true;
END
$$;

/*
 * The worker's idle round (with _shrink_outbox, every 10 s): conflict log
 * rows older than directus_sync.conflict_retention go; a tombstone goes once
 * older than directus_sync.tombstone_retention, every enabled remote has
 * had a delivery since it was written, and nothing of its item is queued
 * or a dead letter (a dead letter is a delete no remote acknowledged: purged,
 * replay would send the delete without its clock, and an older change of
 * the remote would bring the item back; once it is replayed or discarded,
 * the usual rule applies). A thousand rows of each at a time.
 */
CREATE FUNCTION directus_sync._trim_history() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
-- Whatever the statistics, the outbox is probed through its index, one
-- remote at a time, never read whole (as in _shrink_outbox).
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
    keep_conflicts interval := coalesce(current_setting('directus_sync.conflict_retention', true), '30d')::interval;
    keep_tombstones interval := coalesce(current_setting('directus_sync.tombstone_retention', true), '7d')::interval;
BEGIN
    IF keep_conflicts > interval '0' THEN
        DELETE FROM directus_sync.conflict
         WHERE id IN (SELECT id FROM directus_sync.conflict WHERE detected_at < now() - keep_conflicts LIMIT 1000);
    END IF;
    DELETE FROM directus_sync.tombstone t
     WHERE (t.collection, t.item_key) IN (
           SELECT x.collection, x.item_key FROM directus_sync.tombstone x
            WHERE x.deleted_at < now() - keep_tombstones
              AND NOT EXISTS (SELECT FROM directus_sync.remote r
                                LEFT JOIN directus_sync.remote_state st ON st.remote_id = r.id
                               WHERE r.enabled AND (st.last_success_at IS NULL OR st.last_success_at <= x.deleted_at))
              -- a scalar subquery, probed per tombstone (an anti join could read the outbox whole)
              AND (SELECT count(*) FROM directus_sync.remote r,
                          LATERAL (SELECT FROM directus_sync.outbox o
                                    WHERE o.remote_id = r.id AND o.collection = x.collection
                                      AND o.item_key = x.item_key LIMIT 1) q) = 0
              -- through dead_letter_item_idx
              AND NOT EXISTS (SELECT FROM directus_sync.dead_letter d
                               WHERE d.collection = x.collection AND d.item_key = x.item_key)
            LIMIT 1000);
END
$$;

/*
 * Called by the loop guard when a remote's inbound user changed an item in
 * this transaction (the rows this transaction queued for that remote are
 * incoming_ids; the loop guard removes them afterwards). A conflict is a
 * field that this change set while a change of ours to the same field is
 * still queued for that remote (pending or in flight): both sides changed it
 * before seeing the other's change, and each side's change is on its way to
 * the other. Both sides apply the same rule, so both end with the same value:
 *
 *   a value wins over null; between two values, the one whose JSON text
 *   sorts last (byte order) wins.
 *
 * Fields the remote won are queued for it once more (just those fields, after
 * our losing change that is still on its way there). When ours wins,
 * restore_sql and restore write our values back, as the calling user, which
 * queues them for the remote again. Each conflict is logged in
 * directus_sync.conflict.
 */
CREATE FUNCTION directus_sync._resolve_conflicts(
    rid integer, coll text, item text, incoming_ids bigint[],
    OUT restore_sql text, OUT restore jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s directus_sync.subscription;
    incoming jsonb;
    pending jsonb;
    echo jsonb;
    fields text[];
BEGIN
    SELECT * INTO s FROM directus_sync.subscription WHERE remote_id = rid AND collection = coll;
    IF NOT FOUND OR s.singleton THEN
        RETURN;
    END IF;
    -- Later changes override earlier ones: jsonb_object_agg keeps the last value of a key.
    SELECT jsonb_object_agg(e.key, e.value ORDER BY o.id) INTO pending
      FROM directus_sync.outbox o, json_each(o.payload) e
     WHERE o.remote_id = rid AND o.collection = coll AND o.item_key = item AND o.op IN ('c', 'u')
       AND o.id <> ALL (incoming_ids) AND e.key <> s.key_column;
    IF pending IS NULL THEN
        RETURN;
    END IF;
    SELECT jsonb_object_agg(e.key, e.value ORDER BY o.id) INTO incoming
      FROM directus_sync.outbox o, json_each(o.payload) e
     WHERE o.remote_id = rid AND o.id = ANY (incoming_ids);

    WITH clash AS (
        SELECT f.key AS field, pending -> f.key AS ours, f.value AS theirs
          FROM jsonb_each(incoming) f
         WHERE f.key <> s.key_column AND pending ? f.key AND pending -> f.key <> f.value),
    decided AS (
        SELECT c.*, CASE WHEN c.theirs = 'null' THEN 'local'
                         WHEN c.ours = 'null' THEN 'remote'
                         WHEN c.ours::text COLLATE "C" > c.theirs::text COLLATE "C" THEN 'local'
                         ELSE 'remote' END AS winner
          FROM clash c),
    logged AS (
        INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, local_value, remote_value, winner)
        SELECT rid, coll, item, d.field, d.ours, d.theirs, d.winner FROM decided d
        RETURNING field, local_value, remote_value, winner)
    SELECT jsonb_object_agg(field, remote_value) FILTER (WHERE winner = 'remote'),
           jsonb_object_agg(field, local_value) FILTER (WHERE winner = 'local')
      INTO echo, restore
      FROM logged;

    IF echo IS NOT NULL THEN
        INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
        VALUES (rid, coll, item, 'u',
                (jsonb_build_object(s.key_column, incoming -> s.key_column) || echo)::json);
    END IF;
    IF restore IS NOT NULL THEN
        -- The row itself is the base: columns not restored keep their values.
        SELECT array_agg(quote_ident(k) ORDER BY k) INTO fields FROM jsonb_object_keys(restore) k;
        restore_sql := format('UPDATE %s t SET (%s) = (SELECT %s FROM pg_catalog.jsonb_populate_record(t, $1) r)'
                              ' WHERE t.%I = $2::%s',
                              s.relid, array_to_string(fields, ', '),
                              (SELECT string_agg('r.' || f, ', ') FROM unnest(fields) f),
                              s.key_column,
                              (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                                WHERE attrelid = s.relid AND attname = s.key_column));
    END IF;
END
$$;


/*
 * Dead letters per remote, for remote_status.dead: a count(*) of dead_letter
 * read every dead letter, once per remote, at each refresh of the app status
 * (review 5). Kept by the statement triggers of dead_letter
 * (_dead_letter_changed) as one row per remote and statement, the number it
 * added or removed: insert-only, so that the writers of dead letters (the
 * worker, replay, discard_dead_letters, unsubscribe, remove_remote) never
 * wait for one another on a counter row. A remote's count is the sum of its
 * rows; _fold_dead_counts folds them into one. No foreign key: a removed
 * remote's rows sum to 0 (its dead letters go with it) and are folded away.
 * Not configuration: not dumped (nor is dead_letter).
 */
CREATE TABLE directus_sync.dead_letter_count (
    remote_id integer NOT NULL,
    dead      bigint NOT NULL
);
CREATE INDEX dead_letter_count_remote_idx ON directus_sync.dead_letter_count (remote_id);

/*
 * The dead letters ('d', dead_letter.id) and conflicts ('c', conflict.id)
 * added or removed since the app status was last refreshed, written by their
 * statement triggers and taken (deleted) by _app_status_refresh: a refresh
 * reads of dead_letter and conflict only the rows named here, and an idle
 * one none. Insert-only for the writers: nobody waits on it. Not
 * configuration: not dumped.
 */
CREATE TABLE directus_sync.app_status_change (
    kind "char" NOT NULL CHECK (kind IN ('d', 'c')),
    id   bigint NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);

/*
 * The app status tables that the next refresh brings in line by comparing
 * them whole with their source, rather than from app_status_change: after
 * CREATE EXTENSION or the upgrade, a TRUNCATE, a refresh
 * that found the app status disabled with changes logged, a round that met
 * more than ten thousand changes or copied ten thousand rows. (After
 * enable_app_status: app_status_settle.)
 */
CREATE TABLE directus_sync.app_status_backlog (
    mirror text PRIMARY KEY CHECK (mirror IN ('sync_dead_letters', 'sync_conflicts'))
);
INSERT INTO directus_sync.app_status_backlog (mirror) VALUES ('sync_dead_letters'), ('sync_conflicts');

/*
 * Per collection of a dead letter or conflict that the app status shows:
 * the table it was first seen with (relid, NULL when there was none) and
 * whether Directus's role could read that table whole
 * (_app_status_readable) when the collection's rows there were last
 * written. The rows of a collection it may not read are shown without
 * their values (review 9); a refresh that finds the privilege changed
 * since (a GRANT, a REVOKE, row security turned on or off) writes them
 * again. The decision is pinned to the table (review 11a): once the
 * collection's name stands for another table (the first dropped, another
 * made under its name, by any role), its rows stay withheld; the pin is
 * let go only when the collection has no dead letter and no conflict
 * left. Not configuration: not dumped.
 */
CREATE TABLE directus_sync.app_status_readable (
    collection text PRIMARY KEY,
    relid      oid,
    readable   boolean NOT NULL
);

/*
 * enable_app_status's second look (review 9). A writer of dead_letter or
 * conflict whose statement ran before enable_app_status committed found the
 * app status disabled and logged no change, and enable's own refresh, which
 * compares the tables whole, could not see its uncommitted rows: they never
 * showed. So enable_app_status leaves this row (horizon NULL; its own
 * refresh, finding the row of its own transaction, compares the tables
 * whole: they may be new); the first refresh that sees it from another
 * transaction (after enable committed) sets horizon to the end of
 * its snapshot (every transaction that wrote before enable committed has a
 * transaction id below it); a later refresh, once no transaction below the
 * horizon runs, no session holds a snapshot older than it (a REPEATABLE
 * READ writer decides on its first snapshot) and no prepared transaction
 * that wrote dead_letter or conflict is pending (review 11a), deletes it and marks both
 * tables in app_status_backlog: compared whole once more. Nobody waits for
 * it. One row at most. Not configuration: not dumped.
 */
CREATE TABLE directus_sync.app_status_settle (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    enable_xid xid8 NOT NULL,   -- enable_app_status's transaction: its own refresh compares whole
    horizon    xid8
);

/*
 * The statement triggers of dead_letter: the count per remote and the change
 * log. Two inserts per statement (not per row), of directus_sync's own
 * tables only. SECURITY DEFINER: they fire in the statements of whoever
 * writes dead letters. The change log only while the app status is enabled
 * (its table sync_dead_letters exists): else nothing would take it (review
 * 8: a database without a worker, or without the app status, kept every
 * change), and the backlog says to compare the table whole when it comes.
 */
CREATE FUNCTION directus_sync._dead_letter_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        -- A fold under way (_fold_dead_counts) deletes rows and inserts
        -- their sum: waited for (its row locks conflict), so that the
        -- DELETE's snapshot, taken after, sees the sum row too (review 9;
        -- a DELETE merely blocked on the fold's locks skipped the rows it
        -- deleted and never saw the sum). The writers of dead letters
        -- wait for the TRUNCATE's own lock on dead_letter already.
        LOCK TABLE directus_sync.dead_letter_count IN EXCLUSIVE MODE;
        DELETE FROM directus_sync.dead_letter_count;
        INSERT INTO directus_sync.app_status_backlog (mirror) VALUES ('sync_dead_letters') ON CONFLICT DO NOTHING;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO directus_sync.dead_letter_count (remote_id, dead)
        SELECT n.remote_id, count(*) FROM new_rows n GROUP BY n.remote_id;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO directus_sync.dead_letter_count (remote_id, dead)
        SELECT o.remote_id, -count(*) FROM old_rows o GROUP BY o.remote_id;
    END IF;
    IF directus_sync._app_table('sync_dead_letters', 'status') IS NULL THEN
        IF NOT EXISTS (SELECT FROM directus_sync.app_status_backlog b WHERE b.mirror = 'sync_dead_letters') THEN
            INSERT INTO directus_sync.app_status_backlog (mirror) VALUES ('sync_dead_letters') ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO directus_sync.app_status_change (kind, id) SELECT 'd', n.id FROM new_rows n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO directus_sync.app_status_change (kind, id) SELECT 'd', o.id FROM old_rows o;
    END IF;
    RETURN NULL;
END
$$;

/*
 * The statement triggers of conflict: the change log (one insert a
 * statement), only while the app status is enabled (its table
 * sync_conflicts exists): conflicts come with incoming syncs, also where no
 * worker runs to take the log, which would grow for ever (review 8). Else
 * the backlog says to compare the table whole when it comes.
 */
CREATE FUNCTION directus_sync._conflict_changed() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' OR directus_sync._app_table('sync_conflicts', 'status') IS NULL THEN
        IF NOT EXISTS (SELECT FROM directus_sync.app_status_backlog b WHERE b.mirror = 'sync_conflicts') THEN
            INSERT INTO directus_sync.app_status_backlog (mirror) VALUES ('sync_conflicts') ON CONFLICT DO NOTHING;
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO directus_sync.app_status_change (kind, id) SELECT 'c', n.id FROM new_rows n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO directus_sync.app_status_change (kind, id) SELECT 'c', o.id FROM old_rows o;
    ELSE
        INSERT INTO directus_sync.app_status_change (kind, id)
        SELECT 'c', n.id FROM new_rows n UNION SELECT 'c', o.id FROM old_rows o;
    END IF;
    RETURN NULL;
END
$$;

-- (A trigger with transition tables takes one event.)
CREATE TRIGGER count_inserted AFTER INSERT ON directus_sync.dead_letter
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._dead_letter_changed();
CREATE TRIGGER count_updated AFTER UPDATE ON directus_sync.dead_letter
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._dead_letter_changed();
CREATE TRIGGER count_deleted AFTER DELETE ON directus_sync.dead_letter
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._dead_letter_changed();
CREATE TRIGGER count_truncated AFTER TRUNCATE ON directus_sync.dead_letter
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._dead_letter_changed();
-- Fire in replica sessions too, so session_replication_role cannot bypass them.
ALTER TABLE directus_sync.dead_letter ENABLE ALWAYS TRIGGER count_inserted;
ALTER TABLE directus_sync.dead_letter ENABLE ALWAYS TRIGGER count_updated;
ALTER TABLE directus_sync.dead_letter ENABLE ALWAYS TRIGGER count_deleted;
ALTER TABLE directus_sync.dead_letter ENABLE ALWAYS TRIGGER count_truncated;
CREATE TRIGGER log_inserted AFTER INSERT ON directus_sync.conflict
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._conflict_changed();
CREATE TRIGGER log_updated AFTER UPDATE ON directus_sync.conflict
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._conflict_changed();
CREATE TRIGGER log_deleted AFTER DELETE ON directus_sync.conflict
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._conflict_changed();
CREATE TRIGGER log_truncated AFTER TRUNCATE ON directus_sync.conflict
    FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._conflict_changed();
ALTER TABLE directus_sync.conflict ENABLE ALWAYS TRIGGER log_inserted;
ALTER TABLE directus_sync.conflict ENABLE ALWAYS TRIGGER log_updated;
ALTER TABLE directus_sync.conflict ENABLE ALWAYS TRIGGER log_deleted;
ALTER TABLE directus_sync.conflict ENABLE ALWAYS TRIGGER log_truncated;

/*
 * Folds each remote's rows of dead_letter_count into one (none when it sums
 * to 0 or the remote is gone), when a remote has more than one; called by
 * _app_status_refresh, enabled or not. Rows another transaction holds (a
 * fold under way) are left for the next time: nobody waits.
 */
CREATE FUNCTION directus_sync._fold_dead_counts() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- dead_letter's lock before dead_letter_count's row locks: a TRUNCATE of
    -- dead_letter (ACCESS EXCLUSIVE) takes dead_letter_count in EXCLUSIVE
    -- mode in its trigger; a fold that held row locks there and then read
    -- dead_letter (the refresh does) deadlocked with it (review 11a). Held
    -- to the end of the transaction: the refresh's read of dead_letter
    -- comes after.
    LOCK TABLE directus_sync.dead_letter IN ACCESS SHARE MODE;
    IF EXISTS (SELECT FROM directus_sync.dead_letter_count c GROUP BY c.remote_id HAVING count(*) > 1) THEN
        WITH taken AS (
            DELETE FROM directus_sync.dead_letter_count c
             WHERE c.ctid = ANY (ARRAY(SELECT x.ctid FROM directus_sync.dead_letter_count x FOR UPDATE SKIP LOCKED))
            RETURNING c.remote_id, c.dead)
        INSERT INTO directus_sync.dead_letter_count (remote_id, dead)
        SELECT t.remote_id, sum(t.dead) FROM taken t
         WHERE EXISTS (SELECT FROM directus_sync.remote r WHERE r.id = t.remote_id)
         GROUP BY t.remote_id HAVING sum(t.dead) <> 0;
    END IF;
END
$$;


/* ---------------------------------------------------------------------------
 * 11. Views (no tokens)
 * ------------------------------------------------------------------------- */

CREATE VIEW directus_sync.remotes AS
SELECT r.id, r.name, r.url, r.enabled, r.paused, r.notify_users, r.inbound_user, r.forward_inbound,
       r.connect_timeout_ms, r.request_timeout_ms, r.batch_max_items, r.batch_max_bytes, r.verify_tls,
       r.created_at,
       (SELECT coalesce(jsonb_object_agg(s.collection, s.fields), '{}') FROM directus_sync.subscription s
         WHERE s.remote_id = r.id) AS subscriptions
  FROM directus_sync.remote r;
COMMENT ON VIEW directus_sync.remotes IS 'Remotes and what they subscribe to, without their tokens';

CREATE VIEW directus_sync.remote_status AS
SELECT r.name AS remote, r.enabled, r.paused,
       q.queued, coalesce(st.in_flight, 0) AS in_flight,
       coalesce(st.delivered, 0) AS delivered, coalesce(st.failed, 0) AS failed,
       -- the sum of its rows in dead_letter_count (a count(*) of dead_letter read them all)
       (SELECT coalesce(sum(c.dead), 0)::bigint FROM directus_sync.dead_letter_count c WHERE c.remote_id = r.id) AS dead,
       st.last_success_at, st.last_error, st.last_error_at, st.retry_at,
       now() - q.oldest AS lag,
       (SELECT count(*) FROM directus_sync.conflict c WHERE c.remote_id = r.id) AS conflicts,
       (SELECT jsonb_object_agg(j.collection, jsonb_build_object('done', j.rows_done, 'total', j.rows_total))
          FROM directus_sync.resync_job j WHERE j.remote_id = r.id) AS resync,
       st.clock_offset_ms * interval '1 ms' AS clock_offset,
       -- what the last window held back, while anything is queued (not after an unsubscribe took it)
       CASE WHEN q.queued > 0 THEN coalesce(st.held, 0) ELSE 0 END AS held,
       CASE WHEN q.queued > 0 AND st.held > 0 THEN st.held_reason END AS held_reason
  FROM directus_sync.remote r
  LEFT JOIN directus_sync.remote_state st ON st.remote_id = r.id
  CROSS JOIN LATERAL (SELECT count(*) AS queued, min(o.queued_at) AS oldest
                        FROM directus_sync.outbox o WHERE o.remote_id = r.id) q;
COMMENT ON VIEW directus_sync.remote_status IS
    'Per remote: queued, in flight, delivered, failed attempts, dead letters, last success and error, backoff, lag of the oldest queued change, conflicts, resync progress, the remote''s clock offset, changes held back for their clocks and why';


/* ---------------------------------------------------------------------------
 * 12. Status in the Directus app (docs/directus-app.md)
 * ------------------------------------------------------------------------- */

/*
 * enable_app_status makes four tables in @extschema@, where Directus looks
 * for collections (Directus shows no views, and names starting with
 * directus_ are its own): sync_remotes_status (remote_status, one row per
 * remote), sync_remotes_history (samples of it, for Insights),
 * sync_dead_letters and sync_conflicts. The worker keeps them current
 * (_app_status_refresh). They belong to the extension's owner, are not
 * members of the extension (pg_dump keeps them with their registrations in
 * Directus's tables), carry the comment below, and refuse writes but the
 * refresh's. Only a table with that owner and comment is taken for one of
 * them: Directus's role, which may own the schema, could drop one and make
 * its own under the name. _app_table(name, part) finds it, part 'status'
 * (the app config's tables: 'config').
 */
CREATE FUNCTION directus_sync._app_table(name text, part text) RETURNS regclass
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.oid::regclass FROM pg_class c
     WHERE c.oid = to_regclass(format('%s.%I', '@extschema@', name))
       AND c.relkind = 'r'
       AND c.relowner = (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'directus_sync')
       AND starts_with(obj_description(c.oid, 'pg_class'), format('directus_sync app %s:', part))
$$;

/*
 * Whether role reader may read every row of table rel: SELECT on the table
 * (on some of its columns only is not enough), and no row-level security
 * hiding rows from it (review 11a): the table has none enabled, or the
 * role bypasses it (a superuser, BYPASSRLS, or the table's owner while
 * FORCE ROW LEVEL SECURITY is off). The one rule of the app status
 * (_app_status_readable) and the app config (_app_config_remote_prepare).
 * False when the role or the table is missing.
 */
CREATE FUNCTION directus_sync._app_role_reads(reader oid, rel oid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT has_table_privilege(r.oid, c.oid, 'SELECT')
                            AND (NOT c.relrowsecurity OR r.rolsuper OR r.rolbypassrls
                                 OR (pg_has_role(r.oid, c.relowner, 'USAGE') AND NOT c.relforcerowsecurity))
                       FROM pg_class c, pg_roles r WHERE c.oid = rel AND r.oid = reader), false)
$$;

/*
 * Whether Directus's role (the owner of directus_collections) may read,
 * whole (_app_role_reads), table relid, and relid is still the table of
 * the collection in its schema (app_status_readable pins the decision to
 * the table). Only then does the app status show the values of the
 * collection's dead letters and conflicts (their payload, error message,
 * local and remote value), which Directus's role may read there: else a
 * remote the DBA made in SQL for another role's table would hand its
 * values to Directus's role. False when either table is missing.
 */
CREATE FUNCTION directus_sync._app_status_readable(collection text, relid oid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce((SELECT to_regclass(format('%s.%I', '@extschema@', collection)) = relid
                            AND directus_sync._app_role_reads(c.relowner, relid)
                       FROM pg_class c WHERE c.oid = to_regclass('@extschema@.directus_collections')), false)
$$;

/*
 * The app's tables belong to directus_sync alone. Directus's schema snapshot
 * (GET /schema/snapshot, `directus schema snapshot`) carries them as ordinary
 * collections (it leaves out only Directus's own and unregistered ones), and
 * applying it where the app config or status is not enabled would make
 * look-alikes: plain tables that keep the token in clear, call nothing, and
 * that enable_app_config and enable_app_status then refuse. So a table of one
 * of their names made in a schema holding directus_collections must carry
 * the CHECK constraint directus_sync_app_table (sync_remotes also its CHECK
 * (token IS NULL)): Directus never makes a CHECK, enable_app_status and
 * enable_app_config make theirs with them, and pg_dump writes CHECKs into
 * CREATE TABLE, so a restore passes. So does a restore's CREATE TABLE of a
 * user's own collection of one of the names, made before 0.3 reserved them
 * (the upgrade warns of it): pg_dump's script and pg_restore run with
 * check_function_bodies off, which Directus never sets, and without that
 * exemption such a dump would not restore whole. The error fails the whole
 * apply (Directus applies a diff in one transaction). A rename into one of
 * the names is not seen (Directus renames no table).
 */
CREATE FUNCTION directus_sync._reserve_app_tables() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
BEGIN
    -- a restore (pg_dump's SET check_function_bodies = false) brings back what was
    IF NOT current_setting('check_function_bodies')::boolean THEN
        RETURN;
    END IF;
    FOR r IN SELECT DISTINCT c.oid, c.relname::text AS relname, n.nspname::text AS nspname, c.relkind
               FROM pg_event_trigger_ddl_commands() d
               JOIN pg_class c ON c.oid = d.objid
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
                AND c.relname IN ('sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions',
                                  'sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts')
                AND EXISTS (SELECT FROM pg_class dc WHERE dc.relnamespace = n.oid AND dc.relname = 'directus_collections') LOOP
        IF r.relkind <> 'r'
           OR NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = r.oid AND k.contype = 'c'
                                                        AND k.conname = 'directus_sync_app_table')
           OR (r.relname = 'sync_remotes'
               AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = r.oid AND k.contype = 'c'
                                                            AND pg_get_constraintdef(k.oid) = 'CHECK ((token IS NULL))')) THEN
            RAISE EXCEPTION 'relation name "%" is reserved for directus_sync''s %', r.relname,
                            CASE WHEN r.relname IN ('sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions')
                                 THEN 'app config' ELSE 'app status' END
                USING ERRCODE = 'reserved_name',
                      DETAIL = format('Schema %s holds Directus''s tables: a plain table "%s" there would be taken for directus_sync''s collection without being it (%s).',
                                      quote_ident(r.nspname), r.relname,
                                      CASE WHEN r.relname IN ('sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions')
                                           THEN 'a token stored in clear, nothing replicated'
                                           ELSE 'nothing of replication shown, no write refused' END),
                      HINT = format('Before applying a Directus schema snapshot that holds the collections of directus_sync, call directus_sync.%s() on this database, or take them out of the snapshot.',
                                    CASE WHEN r.relname IN ('sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions')
                                         THEN 'enable_app_config' ELSE 'enable_app_status' END);
        END IF;
    END LOOP;
END
$$;

CREATE EVENT TRIGGER directus_sync_reserve_app_tables ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'CREATE VIEW', 'CREATE MATERIALIZED VIEW',
                 'CREATE FOREIGN TABLE')
    EXECUTE FUNCTION directus_sync._reserve_app_tables();
ALTER EVENT TRIGGER directus_sync_reserve_app_tables ENABLE ALWAYS;

-- The statement trigger of the four tables: only _app_status_refresh writes them.
CREATE FUNCTION directus_sync._app_status_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('directus_sync.app_status_writer', true) IS DISTINCT FROM 'on' THEN
        RAISE EXCEPTION 'table "%" is read-only', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'It shows the state of directus_sync''s replication, which its worker keeps current.',
                  HINT = 'Replay or discard dead letters with directus_sync.replay or directus_sync.discard_dead_letters.';
    END IF;
    RETURN NULL;
END
$$;

/*
 * Brings the four tables in line with remote_status, dead_letter and
 * conflict; returns the number of rows written (0 when nothing changed:
 * then nothing is written at all, not even a row lock), or NULL when the
 * app status is not enabled. The worker calls it every
 * directus_sync.app_status_interval, and at once when it goes idle after
 * deliveries. A history sample per remote every
 * directus_sync.app_status_sample_interval; samples older than
 * directus_sync.app_status_history go (0: no history).
 */
CREATE FUNCTION directus_sync._app_status_refresh() RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_status_writer = on
AS $$
DECLARE
    written bigint := 0;
    n bigint;
    moved bigint;       -- remotes new, removed or renamed in sync_remotes_status
    dead_ids bigint[];
    conflict_ids bigint[];
    shown text[];       -- collections Directus's role may read now, and could not before
    withheld text[];    -- and the other way round
    settling boolean;
    settle_xid xid8;
    settle_horizon xid8;
    whole_too boolean := false;
    sample interval := coalesce(current_setting('directus_sync.app_status_sample_interval', true), '1min')::interval;
    keep interval := coalesce(current_setting('directus_sync.app_status_history', true), '7d')::interval;
BEGIN
    PERFORM directus_sync._fold_dead_counts();
    IF directus_sync._app_table('sync_remotes_status', 'status') IS NULL
       OR directus_sync._app_table('sync_remotes_history', 'status') IS NULL
       OR directus_sync._app_table('sync_dead_letters', 'status') IS NULL
       OR directus_sync._app_table('sync_conflicts', 'status') IS NULL THEN
        -- Not enabled: the change log goes (it would only grow), and the
        -- tables, should they come back, are compared whole.
        IF EXISTS (SELECT FROM directus_sync.app_status_change) THEN
            DELETE FROM directus_sync.app_status_change;
            INSERT INTO directus_sync.app_status_backlog (mirror) VALUES ('sync_dead_letters'), ('sync_conflicts')
                ON CONFLICT DO NOTHING;
        END IF;
        RETURN NULL;
    END IF;
    -- One refresh at a time (readers go on).
    LOCK TABLE @extschema@.sync_remotes_status IN SHARE ROW EXCLUSIVE MODE;

    -- enable_app_status's own refresh, and its second look (see
    -- app_status_settle): the tables compared whole (whole_too). No row of
    -- app_status_backlog is written for it: a writer that found the app
    -- status disabled may hold an uncommitted one, and enable would wait.
    SELECT s.enable_xid, s.horizon, true INTO settle_xid, settle_horizon, settling
      FROM directus_sync.app_status_settle s;
    IF settling AND settle_xid = pg_current_xact_id_if_assigned() THEN
        whole_too := true;
    ELSIF settling AND settle_horizon IS NULL THEN
        UPDATE directus_sync.app_status_settle SET horizon = pg_snapshot_xmax(pg_current_snapshot());
    ELSIF settling AND pg_snapshot_xmin(pg_current_snapshot()) >= settle_horizon
          AND NOT EXISTS (SELECT FROM pg_stat_activity a
                           WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
                             AND age(a.backend_xmin) > age(settle_horizon::xid))
          -- A prepared transaction has no backend_xmin, and its id may be
          -- above the horizon while its snapshot is older (review 11a): the
          -- second look also waits while one that wrote dead_letter or
          -- conflict (it holds their lock until COMMIT/ROLLBACK PREPARED)
          -- is pending.
          AND NOT EXISTS (SELECT FROM pg_locks l
                           WHERE l.pid IS NULL AND l.locktype = 'relation'
                             AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
                             AND l.relation IN ('directus_sync.dead_letter'::regclass, 'directus_sync.conflict'::regclass)) THEN
        DELETE FROM directus_sync.app_status_settle;
        whole_too := true;
    END IF;

    WITH cur AS (
        SELECT r.id, s.remote,
               CASE WHEN NOT s.enabled THEN 'disabled'
                    WHEN s.paused THEN 'paused'
                    WHEN s.retry_at > now() THEN 'backing_off'
                    WHEN s.last_error_at IS NOT NULL
                         AND (s.last_success_at IS NULL OR s.last_error_at > s.last_success_at) THEN 'error'
                    WHEN s.queued > 0 OR s.in_flight > 0 THEN 'sending'
                    ELSE 'idle' END AS state,
               s.enabled, s.paused, s.queued, s.in_flight, s.delivered, s.failed, s.dead, s.conflicts,
               round(extract(epoch FROM s.lag))::bigint AS lag_seconds,
               s.last_success_at, s.last_error, s.last_error_at, s.retry_at,
               (extract(epoch FROM s.clock_offset) * 1000)::bigint AS clock_offset_ms,
               s.resync,
               x.remote AS shown
          FROM directus_sync.remote r JOIN directus_sync.remote_status s ON s.remote = r.name
          LEFT JOIN @extschema@.sync_remotes_status x ON x.id = r.id),
    upd AS (
        UPDATE @extschema@.sync_remotes_status m
           SET (remote, state, enabled, paused, queued, in_flight, delivered, failed, dead, conflicts,
                lag_seconds, last_success_at, last_error, last_error_at, retry_at, clock_offset_ms, resync, changed_at,
                refreshed_at)
             = (c.remote, c.state, c.enabled, c.paused, c.queued, c.in_flight, c.delivered, c.failed, c.dead, c.conflicts,
                c.lag_seconds, c.last_success_at, c.last_error, c.last_error_at, c.retry_at, c.clock_offset_ms, c.resync, now(),
                now())
          FROM cur c
         WHERE m.id = c.id
           AND (m.remote, m.state, m.enabled, m.paused, m.queued, m.in_flight, m.delivered, m.failed, m.dead, m.conflicts,
                m.lag_seconds, m.last_success_at, m.last_error, m.last_error_at, m.retry_at, m.clock_offset_ms, m.resync)
               IS DISTINCT FROM
               (c.remote, c.state, c.enabled, c.paused, c.queued, c.in_flight, c.delivered, c.failed, c.dead, c.conflicts,
                c.lag_seconds, c.last_success_at, c.last_error, c.last_error_at, c.retry_at, c.clock_offset_ms, c.resync)
        RETURNING 1),
    ins AS (
        INSERT INTO @extschema@.sync_remotes_status
               (id, remote, state, enabled, paused, queued, in_flight, delivered, failed, dead, conflicts,
                lag_seconds, last_success_at, last_error, last_error_at, retry_at, clock_offset_ms, resync, changed_at,
                refreshed_at)
        SELECT c.id, c.remote, c.state, c.enabled, c.paused, c.queued, c.in_flight, c.delivered, c.failed, c.dead, c.conflicts,
               c.lag_seconds, c.last_success_at, c.last_error, c.last_error_at, c.retry_at, c.clock_offset_ms, c.resync, now(),
               now()
          FROM cur c
         WHERE NOT EXISTS (SELECT FROM @extschema@.sync_remotes_status x WHERE x.id = c.id)
        RETURNING 1),
    gone AS (
        DELETE FROM @extschema@.sync_remotes_status m
         WHERE NOT EXISTS (SELECT FROM directus_sync.remote r WHERE r.id = m.id)
        RETURNING 1)
    SELECT (SELECT count(*) FROM upd) + (SELECT count(*) FROM ins) + (SELECT count(*) FROM gone),
           (SELECT count(*) FROM cur c WHERE c.shown IS DISTINCT FROM c.remote) + (SELECT count(*) FROM gone)
      INTO n, moved;
    written := written + n;
    -- Fresh (refreshed_at): the rows left alone above were current too, so
    -- say so, at most every 10 s (one statement; not counted in written).
    -- Frozen figures, a refresh skipped for long (a lock of Directus's role,
    -- no worker), show an old refreshed_at in the app.
    UPDATE @extschema@.sync_remotes_status m SET refreshed_at = now()
     WHERE m.refreshed_at IS NULL OR m.refreshed_at < now() - interval '10 s';

    -- History: a sample per remote and sample interval, trimmed.
    IF keep > interval '0' THEN
        INSERT INTO @extschema@.sync_remotes_history
               (remote_id, remote, sampled_at, queued, in_flight, delivered, failed, dead, conflicts, lag_seconds)
        SELECT m.id, m.remote, now(), m.queued, m.in_flight, m.delivered, m.failed, m.dead, m.conflicts, m.lag_seconds
          FROM @extschema@.sync_remotes_status m
         WHERE NOT EXISTS (SELECT FROM @extschema@.sync_remotes_history h
                            WHERE h.remote_id = m.id AND h.sampled_at > now() - sample);
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END IF;
    DELETE FROM @extschema@.sync_remotes_history
     WHERE id IN (SELECT h.id FROM @extschema@.sync_remotes_history h
                   WHERE keep <= interval '0' OR h.sampled_at < now() - keep LIMIT 10000);
    GET DIAGNOSTICS n = ROW_COUNT;
    written := written + n;

    -- The values of a dead letter or conflict (payload, error message, local
    -- and remote value) only of collections whose table Directus's role may
    -- read (_app_status_readable, as app_status_readable keeps it): the rows
    -- of a collection whose privilege changed since are written again.
    -- A collection whose name stands for another table than its pin's and
    -- that has no dead letter and no conflict left is let go: its next
    -- rows pin the table of their time.
    DELETE FROM directus_sync.app_status_readable a
     WHERE a.relid IS DISTINCT FROM to_regclass(format('%s.%I', '@extschema@', a.collection))
       AND NOT EXISTS (SELECT FROM directus_sync.dead_letter d WHERE d.collection = a.collection)
       AND NOT EXISTS (SELECT FROM directus_sync.conflict c WHERE c.collection = a.collection);
    WITH chg AS (
        UPDATE directus_sync.app_status_readable a SET readable = NOT a.readable
         WHERE a.readable <> directus_sync._app_status_readable(a.collection, a.relid)
        RETURNING a.collection, a.readable)
    SELECT array_agg(c.collection) FILTER (WHERE c.readable), array_agg(c.collection) FILTER (WHERE NOT c.readable)
      INTO shown, withheld FROM chg c;
    IF shown IS NOT NULL THEN
        UPDATE @extschema@.sync_dead_letters m SET payload = d.payload, error_message = d.error_message
          FROM directus_sync.dead_letter d
         WHERE m.collection = ANY (shown) AND d.id = m.id;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        UPDATE @extschema@.sync_conflicts m SET local_value = c.local_value, remote_value = c.remote_value
          FROM directus_sync.conflict c
         WHERE m.collection = ANY (shown) AND c.id = m.id;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END IF;
    IF withheld IS NOT NULL THEN
        UPDATE @extschema@.sync_dead_letters m SET payload = NULL, error_message = NULL
         WHERE m.collection = ANY (withheld) AND (m.payload IS NOT NULL OR m.error_message IS NOT NULL);
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        UPDATE @extschema@.sync_conflicts m SET local_value = NULL, remote_value = NULL
         WHERE m.collection = ANY (withheld) AND (m.local_value IS NOT NULL OR m.remote_value IS NOT NULL);
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END IF;

    -- Dead letters and conflicts: the ones added or removed since the last
    -- refresh are in app_status_change (taken first: a change committed
    -- later stays there for the next refresh). Those gone (replayed,
    -- discarded, trimmed, of a removed remote) go, new ones come; rows of a
    -- remote renamed, added or removed take its name. An idle refresh reads
    -- neither dead_letter nor conflict. While a backlog is pending (see
    -- app_status_backlog), the tables are compared whole, the newest first,
    -- ten thousand new rows of each a round.
    WITH taken AS (DELETE FROM directus_sync.app_status_change RETURNING kind, id)
    SELECT array_agg(DISTINCT t.id) FILTER (WHERE t.kind = 'd'), array_agg(DISTINCT t.id) FILTER (WHERE t.kind = 'c')
      INTO dead_ids, conflict_ids FROM taken t;

    IF cardinality(dead_ids) > 10000 OR whole_too
       OR EXISTS (SELECT FROM directus_sync.app_status_backlog b WHERE b.mirror = 'sync_dead_letters') THEN
        DELETE FROM @extschema@.sync_dead_letters m
         WHERE NOT EXISTS (SELECT FROM directus_sync.dead_letter d WHERE d.id = m.id AND d.failed_at = m.failed_at);
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        INSERT INTO directus_sync.app_status_readable (collection, relid, readable)
        SELECT c.collection, p.relid, directus_sync._app_status_readable(c.collection, p.relid)
          FROM (SELECT DISTINCT d.collection FROM directus_sync.dead_letter d) c
         CROSS JOIN LATERAL (SELECT to_regclass(format('%s.%I', '@extschema@', c.collection))::oid AS relid) p
         WHERE NOT EXISTS (SELECT FROM directus_sync.app_status_readable a WHERE a.collection = c.collection);
        INSERT INTO @extschema@.sync_dead_letters
               (id, remote, collection, item_key, operation, http_status, error_code, error_message, payload, queued_at, failed_at)
        SELECT d.id, r.name, d.collection, d.item_key,
               CASE d.op WHEN 'c' THEN 'create' WHEN 'u' THEN 'update' WHEN 'd' THEN 'delete' ELSE d.op::text END,
               d.http_status, d.error_code, CASE WHEN a.readable THEN d.error_message END,
               CASE WHEN a.readable THEN d.payload END, d.queued_at, d.failed_at
          FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id
          LEFT JOIN directus_sync.app_status_readable a ON a.collection = d.collection
         WHERE NOT EXISTS (SELECT FROM @extschema@.sync_dead_letters x WHERE x.id = d.id)
         ORDER BY d.id DESC LIMIT 10000;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        IF n < 10000 THEN
            DELETE FROM directus_sync.app_status_backlog b WHERE b.mirror = 'sync_dead_letters';
        ELSE
            INSERT INTO directus_sync.app_status_backlog (mirror) VALUES ('sync_dead_letters') ON CONFLICT DO NOTHING;
        END IF;
        moved := 1;
    ELSIF dead_ids IS NOT NULL THEN
        DELETE FROM @extschema@.sync_dead_letters m
         WHERE m.id = ANY (dead_ids)
           AND NOT EXISTS (SELECT FROM directus_sync.dead_letter d WHERE d.id = m.id AND d.failed_at = m.failed_at);
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        INSERT INTO directus_sync.app_status_readable (collection, relid, readable)
        SELECT c.collection, p.relid, directus_sync._app_status_readable(c.collection, p.relid)
          FROM (SELECT DISTINCT d.collection FROM directus_sync.dead_letter d WHERE d.id = ANY (dead_ids)) c
         CROSS JOIN LATERAL (SELECT to_regclass(format('%s.%I', '@extschema@', c.collection))::oid AS relid) p
         WHERE NOT EXISTS (SELECT FROM directus_sync.app_status_readable a WHERE a.collection = c.collection);
        INSERT INTO @extschema@.sync_dead_letters
               (id, remote, collection, item_key, operation, http_status, error_code, error_message, payload, queued_at, failed_at)
        SELECT d.id, r.name, d.collection, d.item_key,
               CASE d.op WHEN 'c' THEN 'create' WHEN 'u' THEN 'update' WHEN 'd' THEN 'delete' ELSE d.op::text END,
               d.http_status, d.error_code, CASE WHEN a.readable THEN d.error_message END,
               CASE WHEN a.readable THEN d.payload END, d.queued_at, d.failed_at
          FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id
          LEFT JOIN directus_sync.app_status_readable a ON a.collection = d.collection
         WHERE d.id = ANY (dead_ids)
           AND NOT EXISTS (SELECT FROM @extschema@.sync_dead_letters x WHERE x.id = d.id)
         ORDER BY d.id DESC;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END IF;
    IF moved > 0 THEN
        UPDATE @extschema@.sync_dead_letters m SET remote = r.name
          FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id
         WHERE d.id = m.id AND m.remote IS DISTINCT FROM r.name;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END IF;

    -- Conflicts, the same way (the log's retention trims them).
    IF cardinality(conflict_ids) > 10000 OR whole_too
       OR EXISTS (SELECT FROM directus_sync.app_status_backlog b WHERE b.mirror = 'sync_conflicts') THEN
        DELETE FROM @extschema@.sync_conflicts m
         WHERE NOT EXISTS (SELECT FROM directus_sync.conflict c WHERE c.id = m.id);
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        INSERT INTO directus_sync.app_status_readable (collection, relid, readable)
        SELECT k.collection, p.relid, directus_sync._app_status_readable(k.collection, p.relid)
          FROM (SELECT DISTINCT c.collection FROM directus_sync.conflict c) k
         CROSS JOIN LATERAL (SELECT to_regclass(format('%s.%I', '@extschema@', k.collection))::oid AS relid) p
         WHERE NOT EXISTS (SELECT FROM directus_sync.app_status_readable a WHERE a.collection = k.collection);
        INSERT INTO @extschema@.sync_conflicts
               (id, remote, collection, item_key, field, kind, winner, local_value, remote_value,
                local_clock, remote_clock, detected_at)
        SELECT c.id, r.name, c.collection, c.item_key, c.field, c.kind, c.winner,
               CASE WHEN a.readable THEN c.local_value END, CASE WHEN a.readable THEN c.remote_value END,
               c.local_clock, c.remote_clock, c.detected_at
          FROM directus_sync.conflict c LEFT JOIN directus_sync.remote r ON r.id = c.remote_id
          LEFT JOIN directus_sync.app_status_readable a ON a.collection = c.collection
         WHERE NOT EXISTS (SELECT FROM @extschema@.sync_conflicts x WHERE x.id = c.id)
         ORDER BY c.id DESC LIMIT 10000;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        IF n < 10000 THEN
            DELETE FROM directus_sync.app_status_backlog b WHERE b.mirror = 'sync_conflicts';
        ELSE
            INSERT INTO directus_sync.app_status_backlog (mirror) VALUES ('sync_conflicts') ON CONFLICT DO NOTHING;
        END IF;
        moved := 1;
    ELSIF conflict_ids IS NOT NULL THEN
        DELETE FROM @extschema@.sync_conflicts m
         WHERE m.id = ANY (conflict_ids)
           AND NOT EXISTS (SELECT FROM directus_sync.conflict c WHERE c.id = m.id);
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
        INSERT INTO directus_sync.app_status_readable (collection, relid, readable)
        SELECT k.collection, p.relid, directus_sync._app_status_readable(k.collection, p.relid)
          FROM (SELECT DISTINCT c.collection FROM directus_sync.conflict c WHERE c.id = ANY (conflict_ids)) k
         CROSS JOIN LATERAL (SELECT to_regclass(format('%s.%I', '@extschema@', k.collection))::oid AS relid) p
         WHERE NOT EXISTS (SELECT FROM directus_sync.app_status_readable a WHERE a.collection = k.collection);
        INSERT INTO @extschema@.sync_conflicts
               (id, remote, collection, item_key, field, kind, winner, local_value, remote_value,
                local_clock, remote_clock, detected_at)
        SELECT c.id, r.name, c.collection, c.item_key, c.field, c.kind, c.winner,
               CASE WHEN a.readable THEN c.local_value END, CASE WHEN a.readable THEN c.remote_value END,
               c.local_clock, c.remote_clock, c.detected_at
          FROM directus_sync.conflict c LEFT JOIN directus_sync.remote r ON r.id = c.remote_id
          LEFT JOIN directus_sync.app_status_readable a ON a.collection = c.collection
         WHERE c.id = ANY (conflict_ids)
           AND NOT EXISTS (SELECT FROM @extschema@.sync_conflicts x WHERE x.id = c.id)
         ORDER BY c.id DESC;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END IF;
    IF moved > 0 THEN
        UPDATE @extschema@.sync_conflicts m SET remote = r.name
          FROM directus_sync.conflict c LEFT JOIN directus_sync.remote r ON r.id = c.remote_id
         WHERE c.id = m.id AND m.remote IS DISTINCT FROM r.name;
        GET DIAGNOSTICS n = ROW_COUNT;
        written := written + n;
    END IF;
    RETURN written;
END
$$;

/*
 * The layouts of Directus the app status writes into: its version (from
 * directus_migrations, as create_sync_user reads it), refused when unknown,
 * and the columns of Directus's tables it writes.
 */
CREATE FUNCTION directus_sync._app_status_directus() RETURNS integer
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    major integer;
    msg text;
    det text;
    missing text;
BEGIN
    BEGIN
        major := directus_sync._directus_major();
    EXCEPTION WHEN feature_not_supported THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
        RAISE EXCEPTION '%', msg
            USING ERRCODE = 'feature_not_supported', DETAIL = det,
                  HINT = 'Use a directus_sync that knows this Directus; directus_sync.remote_status, dead_letter and conflict stay readable in SQL.';
    END;
    SELECT min(t.name) INTO missing
      FROM unnest(ARRAY['directus_collections.icon', 'directus_collections.note', 'directus_collections.display_template',
                        'directus_collections.hidden', 'directus_collections.singleton', 'directus_collections.accountability',
                        'directus_collections.sort', 'directus_collections.group', 'directus_collections.collapse',
                        'directus_fields.collection', 'directus_fields.field', 'directus_fields.special',
                        'directus_fields.interface', 'directus_fields.options', 'directus_fields.display',
                        'directus_fields.display_options', 'directus_fields.readonly', 'directus_fields.hidden',
                        'directus_fields.sort', 'directus_fields.width', 'directus_fields.note',
                        'directus_presets.collection', 'directus_presets.user', 'directus_presets.role',
                        'directus_presets.bookmark', 'directus_presets.layout', 'directus_presets.layout_query',
                        'directus_presets.refresh_interval']) AS t(name)
     WHERE NOT EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = to_regclass(format('%s.%I', '@extschema@', split_part(t.name, '.', 1)))
                          AND a.attname = split_part(t.name, '.', 2) AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'the Directus tables of schema % do not have the layout of Directus %', '@extschema@', major
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('%s is missing.', missing);
    END IF;
    RETURN major;
END
$$;

/* The fields of the four collections as directus_fields rows (enable_app_status). */
CREATE FUNCTION directus_sync._app_status_fields() RETURNS json
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fields$ SELECT $json$[
 {"collection": "sync_remotes_status", "field": "id", "sort": 0, "interface": "input", "display": "raw", "hidden": true, "width": "half", "note": "directus_sync.remote id"},
 {"collection": "sync_remotes_status", "field": "remote", "sort": 1, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The remote's name (directus_sync.add_remote)"},
 {"collection": "sync_remotes_status", "field": "state", "sort": 2, "interface": "select-dropdown", "options": {"choices": [{"text": "Idle", "value": "idle"}, {"text": "Sending", "value": "sending"}, {"text": "Error", "value": "error"}, {"text": "Backing off", "value": "backing_off"}, {"text": "Paused", "value": "paused"}, {"text": "Disabled", "value": "disabled"}]}, "display": "labels", "display_options": {"showAsDot": false, "choices": [{"text": "Idle", "value": "idle", "foreground": "#FFFFFF", "background": "#2ECDA7"}, {"text": "Sending", "value": "sending", "foreground": "#FFFFFF", "background": "#3399FF"}, {"text": "Error", "value": "error", "foreground": "#FFFFFF", "background": "#E35169"}, {"text": "Backing off", "value": "backing_off", "foreground": "#FFFFFF", "background": "#FFA439"}, {"text": "Paused", "value": "paused", "foreground": "#FFFFFF", "background": "#A2B5CD"}, {"text": "Disabled", "value": "disabled", "foreground": "#FFFFFF", "background": "#A2B5CD"}]}, "width": "half", "note": "idle: nothing queued; sending: changes on their way; error: the last attempt failed; backing off: waiting before the next attempt; paused; disabled"},
 {"collection": "sync_remotes_status", "field": "enabled", "sort": 3, "special": "cast-boolean", "interface": "boolean", "display": "boolean", "width": "half", "note": "Changes are captured for this remote"},
 {"collection": "sync_remotes_status", "field": "paused", "sort": 4, "special": "cast-boolean", "interface": "boolean", "display": "boolean", "width": "half", "note": "Captured but not sent (directus_sync.pause)"},
 {"collection": "sync_remotes_status", "field": "queued", "sort": 5, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Changes waiting to be sent"},
 {"collection": "sync_remotes_status", "field": "in_flight", "sort": 6, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Changes in requests on their way"},
 {"collection": "sync_remotes_status", "field": "delivered", "sort": 7, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Changes delivered since the remote was added"},
 {"collection": "sync_remotes_status", "field": "failed", "sort": 8, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Failed attempts, transient ones included"},
 {"collection": "sync_remotes_status", "field": "dead", "sort": 9, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Dead letters: changes the remote refused for good (see Sync Dead Letters)"},
 {"collection": "sync_remotes_status", "field": "conflicts", "sort": 10, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Concurrent edits logged (see Sync Conflicts)"},
 {"collection": "sync_remotes_status", "field": "lag_seconds", "sort": 11, "interface": "input", "display": "formatted-value", "display_options": {"format": true, "suffix": " s"}, "width": "half", "note": "Age of the oldest queued change"},
 {"collection": "sync_remotes_status", "field": "last_success_at", "sort": 12, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "Last delivery"},
 {"collection": "sync_remotes_status", "field": "last_error_at", "sort": 13, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "Last failure"},
 {"collection": "sync_remotes_status", "field": "last_error", "sort": 14, "interface": "input-multiline", "display": "formatted-value", "display_options": null, "width": "full", "note": "The last failure, as the remote answered it (never a token)"},
 {"collection": "sync_remotes_status", "field": "retry_at", "sort": 15, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "Backing off: nothing is sent before this"},
 {"collection": "sync_remotes_status", "field": "clock_offset_ms", "sort": 16, "interface": "input", "display": "formatted-value", "display_options": {"format": true, "suffix": " ms"}, "width": "half", "note": "The remote's clock minus this server's (from its Date header)"},
 {"collection": "sync_remotes_status", "field": "resync", "sort": 17, "special": "cast-json", "interface": "input-code", "options": {"language": "JSON"}, "display": "raw", "width": "half", "note": "Resyncs running: done and total per collection"},
 {"collection": "sync_remotes_status", "field": "changed_at", "sort": 18, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "When these figures last changed"},
 {"collection": "sync_remotes_status", "field": "refreshed_at", "sort": 19, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "When the worker last found these figures current (kept to within 10 s). Minutes ago: they are stale, the worker is not refreshing them (see the server log)"},
 {"collection": "sync_remotes_history", "field": "id", "sort": 0, "interface": "input", "display": "raw", "hidden": true, "width": "half", "note": "Sample number"},
 {"collection": "sync_remotes_history", "field": "remote_id", "sort": 1, "interface": "input", "display": "raw", "hidden": true, "width": "half", "note": "directus_sync.remote id"},
 {"collection": "sync_remotes_history", "field": "remote", "sort": 2, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The remote's name"},
 {"collection": "sync_remotes_history", "field": "sampled_at", "sort": 3, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "When the sample was taken"},
 {"collection": "sync_remotes_history", "field": "queued", "sort": 4, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Changes waiting to be sent"},
 {"collection": "sync_remotes_history", "field": "in_flight", "sort": 5, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Changes in requests on their way"},
 {"collection": "sync_remotes_history", "field": "delivered", "sort": 6, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Changes delivered since the remote was added (a counter)"},
 {"collection": "sync_remotes_history", "field": "failed", "sort": 7, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Failed attempts so far (a counter)"},
 {"collection": "sync_remotes_history", "field": "dead", "sort": 8, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Dead letters"},
 {"collection": "sync_remotes_history", "field": "conflicts", "sort": 9, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Concurrent edits logged"},
 {"collection": "sync_remotes_history", "field": "lag_seconds", "sort": 10, "interface": "input", "display": "formatted-value", "display_options": {"format": true, "suffix": " s"}, "width": "half", "note": "Age of the oldest queued change"},
 {"collection": "sync_dead_letters", "field": "id", "sort": 0, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Dead letter id, as directus_sync.replay and discard_dead_letters take it"},
 {"collection": "sync_dead_letters", "field": "remote", "sort": 1, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The remote that refused the change"},
 {"collection": "sync_dead_letters", "field": "operation", "sort": 2, "interface": "select-dropdown", "options": {"choices": [{"text": "Create", "value": "create"}, {"text": "Update", "value": "update"}, {"text": "Delete", "value": "delete"}]}, "display": "labels", "display_options": {"showAsDot": false, "choices": [{"text": "Create", "value": "create", "foreground": "#FFFFFF", "background": "#2ECDA7"}, {"text": "Update", "value": "update", "foreground": "#FFFFFF", "background": "#3399FF"}, {"text": "Delete", "value": "delete", "foreground": "#FFFFFF", "background": "#E35169"}]}, "width": "half", "note": "What was sent"},
 {"collection": "sync_dead_letters", "field": "collection", "sort": 3, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The item's collection"},
 {"collection": "sync_dead_letters", "field": "item_key", "sort": 4, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The item's primary key"},
 {"collection": "sync_dead_letters", "field": "http_status", "sort": 5, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "The remote's HTTP status"},
 {"collection": "sync_dead_letters", "field": "error_code", "sort": 6, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "Directus's error code (extensions.code)"},
 {"collection": "sync_dead_letters", "field": "error_message", "sort": 7, "interface": "input-multiline", "display": "formatted-value", "display_options": null, "width": "full", "note": "The remote's message (empty when Directus's role may not read the collection's table)"},
 {"collection": "sync_dead_letters", "field": "payload", "sort": 8, "special": "cast-json", "interface": "input-code", "options": {"language": "JSON"}, "display": "raw", "width": "full", "note": "The fields that were sent (empty when Directus's role may not read the collection's table)"},
 {"collection": "sync_dead_letters", "field": "queued_at", "sort": 9, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "When the change was made"},
 {"collection": "sync_dead_letters", "field": "failed_at", "sort": 10, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "When the remote refused it"},
 {"collection": "sync_conflicts", "field": "id", "sort": 0, "interface": "input", "display": "formatted-value", "display_options": {"format": true}, "width": "half", "note": "Conflict id"},
 {"collection": "sync_conflicts", "field": "remote", "sort": 1, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The remote whose change met ours (empty: not known)"},
 {"collection": "sync_conflicts", "field": "collection", "sort": 2, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The item's collection"},
 {"collection": "sync_conflicts", "field": "item_key", "sort": 3, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The item's primary key"},
 {"collection": "sync_conflicts", "field": "field", "sort": 4, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The field both changed (empty: the whole item)"},
 {"collection": "sync_conflicts", "field": "kind", "sort": 5, "interface": "select-dropdown", "options": {"choices": [{"text": "Update / update", "value": "update_update"}, {"text": "Update / delete", "value": "update_delete"}, {"text": "Insert / insert", "value": "insert_insert"}]}, "display": "labels", "display_options": {"showAsDot": false, "choices": [{"text": "Update / update", "value": "update_update", "foreground": "#FFFFFF", "background": "#3399FF"}, {"text": "Update / delete", "value": "update_delete", "foreground": "#FFFFFF", "background": "#FFA439"}, {"text": "Insert / insert", "value": "insert_insert", "foreground": "#FFFFFF", "background": "#E35169"}]}, "width": "half", "note": "update_update: both changed the field; update_delete: an update met a delete; insert_insert: both made the key"},
 {"collection": "sync_conflicts", "field": "winner", "sort": 6, "interface": "select-dropdown", "options": {"choices": [{"text": "Local", "value": "local"}, {"text": "Remote", "value": "remote"}]}, "display": "labels", "display_options": {"showAsDot": false, "choices": [{"text": "Local", "value": "local", "foreground": "#FFFFFF", "background": "#2ECDA7"}, {"text": "Remote", "value": "remote", "foreground": "#FFFFFF", "background": "#3399FF"}]}, "width": "half", "note": "Whose value both instances kept"},
 {"collection": "sync_conflicts", "field": "local_value", "sort": 7, "special": "cast-json", "interface": "input-code", "options": {"language": "JSON"}, "display": "raw", "width": "half", "note": "This instance's value (empty when Directus's role may not read the collection's table)"},
 {"collection": "sync_conflicts", "field": "remote_value", "sort": 8, "special": "cast-json", "interface": "input-code", "options": {"language": "JSON"}, "display": "raw", "width": "half", "note": "The remote's value (empty when Directus's role may not read the collection's table)"},
 {"collection": "sync_conflicts", "field": "local_clock", "sort": 9, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "This instance's clock of the field (collections with clocks)"},
 {"collection": "sync_conflicts", "field": "remote_clock", "sort": 10, "interface": "input", "display": "formatted-value", "display_options": null, "width": "half", "note": "The remote's clock of the field"},
 {"collection": "sync_conflicts", "field": "detected_at", "sort": 11, "interface": "datetime", "display": "datetime", "display_options": {"relative": true}, "width": "half", "note": "When the conflict was seen"}]$json$::json $fields$;

/*
 * Turns the app status on: the tables (made once), their registration in
 * Directus (a folder "sync_status" holding the four collections, their
 * fields with interfaces and displays, all read-only, and each
 * collection's default layout, refreshed every 10 s in the app), SELECT for
 * Directus's role (the owner of directus_collections) and nobody else, and
 * a first refresh. Again: makes what is missing (a row an administrator
 * deleted), keeps what is there. No permission is granted to any Directus
 * role or policy: only administrators see the collections.
 */
/*
 * The checks enable_app_status and enable_app_config (part 'status' or
 * 'config') begin with: Directus's tables are here, and no table or
 * Directus collection of another holds a name the part makes (its tables
 * ours, its folder collection folder). Returns Directus's role (quoted),
 * which the part's tables are granted to.
 */
CREATE FUNCTION directus_sync._app_enable_check(part text, ours text[], folder text) RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    caller text := format('enable_app_%s', part);
BEGIN
    PERFORM directus_sync._app_status_directus();
    FOREACH t IN ARRAY ours || folder LOOP
        IF to_regclass(format('%s.%I', '@extschema@', t)) IS NOT NULL AND directus_sync._app_table(t, part) IS NULL THEN
            RAISE EXCEPTION 'relation "%" exists in schema % and was not made by directus_sync', t, '@extschema@'
                USING ERRCODE = 'duplicate_table',
                      HINT = format('Rename or drop it, then call %s again.', caller);
        END IF;
    END LOOP;
    IF directus_sync._app_folder_state(folder) = 'theirs' THEN
        RAISE EXCEPTION 'collection "%" exists in Directus and was not made by directus_sync', folder
            USING ERRCODE = 'duplicate_table',
                  DETAIL = format('%s puts its collections into a folder of that name.', caller),
                  HINT = format('Rename or delete that collection in Directus, then call %s again.', caller);
    END IF;
    RETURN (SELECT quote_ident(pg_get_userbyid(c.relowner))
              FROM pg_class c WHERE c.oid = '@extschema@.directus_collections'::regclass);
END
$$;

CREATE FUNCTION directus_sync.enable_app_status() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    directus_role text;
    t text;
    ours text[] := ARRAY['sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts'];
    granted text;
    collections json := $json$[
 {"collection": "sync_status", "icon": "sync", "sort": null, "group": null, "display_template": null,
  "note": "directus_sync: replication to other Directus instances (read-only)"},
 {"collection": "sync_remotes_status", "icon": "monitor_heart", "sort": 1, "group": "sync_status",
  "display_template": "{{remote}} ({{state}})",
  "note": "Each remote: queued, delivered and failed changes, dead letters, conflicts, last error (directus_sync.remote_status, a few seconds behind)"},
 {"collection": "sync_remotes_history", "icon": "monitoring", "sort": 2, "group": "sync_status",
  "display_template": "{{remote}} {{sampled_at}}",
  "note": "Samples of each remote's figures over time, for Insights panels"},
 {"collection": "sync_dead_letters", "icon": "error", "sort": 3, "group": "sync_status",
  "display_template": "{{remote}}: {{operation}} {{collection}} {{item_key}}",
  "note": "Changes a remote refused for good, with its answer; replay or discard them with directus_sync.replay or discard_dead_letters"},
 {"collection": "sync_conflicts", "icon": "call_split", "sort": 4, "group": "sync_status",
  "display_template": "{{collection}} {{item_key}} {{field}}",
  "note": "Concurrent edits of the same field here and on a remote, and which value both kept"}]$json$;
    fields json;
    presets json := $json$[
 {"collection": "sync_remotes_status", "sort": ["remote"],
  "fields": ["remote", "state", "queued", "delivered", "failed", "dead", "conflicts", "lag_seconds", "last_success_at", "last_error", "refreshed_at"]},
 {"collection": "sync_remotes_history", "sort": ["-sampled_at"],
  "fields": ["sampled_at", "remote", "queued", "delivered", "failed", "dead", "conflicts", "lag_seconds"]},
 {"collection": "sync_dead_letters", "sort": ["-failed_at"],
  "fields": ["failed_at", "remote", "operation", "collection", "item_key", "http_status", "error_code", "error_message"]},
 {"collection": "sync_conflicts", "sort": ["-detected_at"],
  "fields": ["detected_at", "remote", "collection", "item_key", "field", "kind", "winner", "local_value", "remote_value"]}]$json$;
BEGIN
    directus_role := directus_sync._app_enable_check('status', ours, 'sync_status');

    IF directus_sync._app_table('sync_remotes_status', 'status') IS NULL THEN
        CREATE TABLE @extschema@.sync_remotes_status (
            id              integer PRIMARY KEY,     -- directus_sync.remote.id
            remote          text NOT NULL,
            state           text NOT NULL,           -- idle, sending, error, backing_off, paused, disabled
            enabled         boolean NOT NULL,
            paused          boolean NOT NULL,
            queued          bigint NOT NULL,
            in_flight       integer NOT NULL,
            delivered       bigint NOT NULL,
            failed          bigint NOT NULL,
            dead            bigint NOT NULL,
            conflicts       bigint NOT NULL,
            lag_seconds     bigint,
            last_success_at timestamptz,
            last_error      text,
            last_error_at   timestamptz,
            retry_at        timestamptz,
            clock_offset_ms bigint,
            resync          jsonb,
            changed_at      timestamptz NOT NULL,
            refreshed_at    timestamptz,               -- the last refresh that found the figures current
            CONSTRAINT directus_sync_app_table CHECK (true)  -- directus_sync._reserve_app_tables
        );
        COMMENT ON TABLE @extschema@.sync_remotes_status IS
            'directus_sync app status: directus_sync.remote_status per remote, kept current by the worker (read-only)';
    END IF;
    IF directus_sync._app_table('sync_remotes_history', 'status') IS NULL THEN
        CREATE TABLE @extschema@.sync_remotes_history (
            id          bigserial PRIMARY KEY,
            remote_id   integer NOT NULL,
            remote      text NOT NULL,
            sampled_at  timestamptz NOT NULL,
            queued      bigint NOT NULL,
            in_flight   integer NOT NULL,
            delivered   bigint NOT NULL,
            failed      bigint NOT NULL,
            dead        bigint NOT NULL,
            conflicts   bigint NOT NULL,
            lag_seconds bigint,
            CONSTRAINT directus_sync_app_table CHECK (true)  -- directus_sync._reserve_app_tables
        );
        CREATE INDEX sync_remotes_history_remote_idx ON @extschema@.sync_remotes_history (remote_id, sampled_at);
        CREATE INDEX sync_remotes_history_sampled_idx ON @extschema@.sync_remotes_history (sampled_at);
        COMMENT ON TABLE @extschema@.sync_remotes_history IS
            'directus_sync app status: samples of sync_remotes_status over time, for Insights (read-only)';
    END IF;
    IF directus_sync._app_table('sync_dead_letters', 'status') IS NULL THEN
        CREATE TABLE @extschema@.sync_dead_letters (
            id            bigint PRIMARY KEY,        -- directus_sync.dead_letter.id
            remote        text NOT NULL,
            collection    text NOT NULL,
            item_key      text NOT NULL,
            operation     text NOT NULL,             -- create, update, delete
            http_status   integer,
            error_code    text,
            error_message text,
            payload       json,
            queued_at     timestamptz NOT NULL,
            failed_at     timestamptz NOT NULL,
            CONSTRAINT directus_sync_app_table CHECK (true)  -- directus_sync._reserve_app_tables
        );
        COMMENT ON TABLE @extschema@.sync_dead_letters IS
            'directus_sync app status: directus_sync.dead_letter, kept current by the worker (read-only)';
    END IF;
    IF directus_sync._app_table('sync_conflicts', 'status') IS NULL THEN
        CREATE TABLE @extschema@.sync_conflicts (
            id           bigint PRIMARY KEY,         -- directus_sync.conflict.id
            remote       text,
            collection   text NOT NULL,
            item_key     text NOT NULL,
            field        text,
            kind         text NOT NULL,
            winner       text NOT NULL,
            local_value  jsonb,
            remote_value jsonb,
            local_clock  text,
            remote_clock text,
            detected_at  timestamptz NOT NULL,
            CONSTRAINT directus_sync_app_table CHECK (true)  -- directus_sync._reserve_app_tables
        );
        COMMENT ON TABLE @extschema@.sync_conflicts IS
            'directus_sync app status: directus_sync.conflict, kept current by the worker (read-only)';
    END IF;
    -- a table made by a build before refreshed_at: given it
    IF NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = directus_sync._app_table('sync_remotes_status', 'status')
                                              AND attname = 'refreshed_at' AND NOT attisdropped) THEN
        EXECUTE format('ALTER TABLE %s ADD COLUMN refreshed_at timestamptz',
                       directus_sync._app_table('sync_remotes_status', 'status'));
    END IF;
    FOREACH t IN ARRAY ours LOOP
        -- a table made by a build before the CHECK: given it, so that a restore of its dump passes
        IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = directus_sync._app_table(t, 'status')
                                                   AND contype = 'c' AND conname = 'directus_sync_app_table') THEN
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT directus_sync_app_table CHECK (true)', directus_sync._app_table(t, 'status'));
        END IF;
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', directus_sync._app_table(t, 'status'));
        EXECUTE format('GRANT SELECT ON %s TO %s', directus_sync._app_table(t, 'status'), directus_role);
        IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = directus_sync._app_table(t, 'status')
                                                AND tgname = 'directus_sync_read_only') THEN
            EXECUTE format('CREATE TRIGGER directus_sync_read_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s
                            FOR EACH STATEMENT EXECUTE FUNCTION directus_sync._app_status_guard()',
                           directus_sync._app_table(t, 'status'));
        END IF;
    END LOOP;

    -- Directus's meta rows: what is missing is made, what is there is kept.
    PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_collections',
        'INSERT INTO @extschema@.directus_collections
                (collection, icon, note, display_template, hidden, singleton, accountability, sort, "group", collapse)
         SELECT c.collection, c.icon, c.note, c.display_template, false, false, NULL, c.sort, c."group", ''open''
           FROM json_to_recordset($1[1]::json)
                AS c(collection text, icon text, note text, display_template text, sort integer, "group" text)
          WHERE NOT EXISTS (SELECT FROM @extschema@.directus_collections x WHERE x.collection = c.collection)
         RETURNING 1',
        ARRAY[collections::text]) AS r(one integer);

    fields := directus_sync._app_status_fields();
    PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_fields',
        'INSERT INTO @extschema@.directus_fields
                (collection, field, special, interface, options, display, display_options, readonly, hidden, sort, width, note)
         SELECT f.collection, f.field, f.special, f.interface, f.options, f.display, f.display_options, true,
                coalesce(f.hidden, false), f.sort, coalesce(f.width, ''full''), f.note
           FROM json_to_recordset($1[1]::json)
                AS f(collection text, field text, special text, interface text, options json, display text,
                     display_options json, hidden boolean, sort integer, width text, note text)
          WHERE NOT EXISTS (SELECT FROM @extschema@.directus_fields x
                             WHERE x.collection = f.collection AND x.field = f.field)
          ORDER BY f.collection, f.sort
         RETURNING 1',
        ARRAY[fields::text]) AS r(one integer);

    -- Each collection's default layout (of no user, role or bookmark): the
    -- useful columns, the newest first, refreshed every 10 s.
    PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_presets',
        'INSERT INTO @extschema@.directus_presets (collection, "user", role, bookmark, layout, layout_query, refresh_interval)
         SELECT p.collection, NULL, NULL, NULL, ''tabular'',
                json_build_object(''tabular'', json_build_object(''fields'', p.fields, ''sort'', p.sort, ''page'', 1)),
                CASE WHEN p.collection = ''sync_remotes_history'' THEN 60 ELSE 10 END
           FROM json_to_recordset($1[1]::json) AS p(collection text, fields json, sort json)
          WHERE NOT EXISTS (SELECT FROM @extschema@.directus_presets x
                             WHERE x.collection = p.collection AND x."user" IS NULL AND x.role IS NULL
                               AND x.bookmark IS NULL)
         RETURNING 1',
        ARRAY[presets::text]) AS r(one integer);

    -- Permissions someone else gave a role or policy on them: said, not undone.
    SELECT string_agg(DISTINCT r.collection, ', ') INTO granted
      FROM directus_sync._query_as_owner('@extschema@.directus_permissions',
               'SELECT collection::text FROM @extschema@.directus_permissions WHERE collection = ANY ($1)',
               ours || 'sync_status'::text) AS r(collection text);
    IF granted IS NOT NULL THEN
        RAISE NOTICE 'directus_permissions grants access to %: users other than administrators see what they grant', granted
            USING HINT = 'Delete those permissions in Directus (Settings, Access Policies) unless they are meant.';
    END IF;

    -- The tables may be new, or have missed changes: this refresh compares
    -- them whole (it finds the row below its own transaction's). A writer
    -- open now found the app status disabled and logged nothing, and this
    -- refresh does not see its rows: the worker's refreshes look again once
    -- it has ended (app_status_settle). Not by a row of app_status_backlog:
    -- such a writer may hold an uncommitted one, which enable would wait for.
    INSERT INTO directus_sync.app_status_settle (enable_xid, horizon) VALUES (pg_current_xact_id(), NULL)
        ON CONFLICT (one) DO UPDATE SET enable_xid = EXCLUDED.enable_xid, horizon = NULL;
    PERFORM directus_sync._app_status_refresh();
    PERFORM directus_sync._wake_at_commit();
    RAISE NOTICE 'Directus shows the collections of folder "sync_status" to administrators once it reloads its schema'
        USING HINT = 'POST /utils/cache/clear?system=true as an admin of this Directus, or restart it.';
END
$$;
COMMENT ON FUNCTION directus_sync.enable_app_status() IS
    'Shows replication status to Directus administrators: tables sync_remotes_status, sync_remotes_history, sync_dead_letters and sync_conflicts in Directus''s schema, registered as read-only collections in folder sync_status, kept current by the worker';

/*
 * The folder of the app status or config (sync_status, sync_config): a row of
 * directus_collections without a table. 'ours' when enable_app_status or
 * enable_app_config made it (its note starts with "directus_sync:", as they
 * write it), 'theirs' when a user did, 'missing'.
 */
CREATE FUNCTION directus_sync._app_folder_state(folder text) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
    note text;
BEGIN
    IF to_regclass('@extschema@.directus_collections') IS NULL THEN
        RETURN 'missing';
    END IF;
    SELECT true, r.note INTO found, note
      FROM directus_sync._query_as_owner('@extschema@.directus_collections',
               'SELECT note::text FROM @extschema@.directus_collections WHERE collection = $1[1]',
               ARRAY[folder]) AS r(note text);
    RETURN CASE WHEN found IS NULL THEN 'missing'
                WHEN starts_with(coalesce(note, ''), 'directus_sync:') THEN 'ours'
                ELSE 'theirs' END;
END
$$;

/*
 * For disable_app_status and disable_app_config: what of collections ours
 * and their folder to unregister. The folder goes only when ours. The
 * collections of others nested under what goes (a user's, or one an
 * administrator moved there: Directus nests a collection under any
 * collection, not only a folder, review 9) are moved out to the top level
 * first: Directus's foreign key directus_collections_group_foreign would
 * refuse the delete otherwise.
 */
CREATE FUNCTION directus_sync._app_folder_release(folder text, ours text[]) RETURNS text[]
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    going text[] := ours;
BEGIN
    IF to_regclass('@extschema@.directus_collections') IS NULL THEN
        RETURN ours;
    END IF;
    IF directus_sync._app_folder_state(folder) = 'ours' THEN
        going := ours || folder;
    END IF;
    PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_collections',
        'UPDATE @extschema@.directus_collections SET "group" = NULL
          WHERE "group" = ANY ($1) AND NOT (collection = ANY ($1)) RETURNING 1',
        going) AS r(one integer);
    RETURN going;
END
$$;

/*
 * For disable_app_status and disable_app_config: refuses while an object
 * not theirs depends on one of the app's tables (tables): a foreign key an
 * administrator made to it (a many-to-one field to sync_remotes), a view
 * over it; or on its row type (a column of that type, a function returning
 * it) or a sequence it owns (a default nextval of it). DROP TABLE would fail on it (review 9: after the rows in
 * Directus's tables were gone); DROP TABLE ... CASCADE would drop a user's
 * constraint or view without a word. The error names the object and the
 * statement that drops it.
 */
CREATE FUNCTION directus_sync._app_tables_unreferenced(what text, tables regclass[]) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    obj text;
    tab regclass;
    fix text;
BEGIN
    -- What depends on a table, on its row type or that type's array type
    -- (a column of that type, a function returning it), or on a sequence
    -- it owns (a default nextval of it): review 11a.
    WITH target (tab, cls, oid) AS (
        SELECT c.oid, 'pg_class'::regclass, c.oid FROM pg_class c WHERE c.oid = ANY (tables)
        UNION ALL
        SELECT c.oid, 'pg_type'::regclass, c.reltype FROM pg_class c WHERE c.oid = ANY (tables)
        UNION ALL
        SELECT c.oid, 'pg_type'::regclass, ty.typarray FROM pg_class c JOIN pg_type ty ON ty.oid = c.reltype
         WHERE c.oid = ANY (tables) AND ty.typarray <> 0
        UNION ALL
        SELECT s.refobjid, 'pg_class'::regclass, s.objid FROM pg_depend s JOIN pg_class sq ON sq.oid = s.objid
         WHERE s.classid = 'pg_class'::regclass AND s.refclassid = 'pg_class'::regclass
           AND s.refobjid = ANY (tables) AND s.deptype IN ('a', 'i') AND sq.relkind = 'S')
    SELECT CASE WHEN ru.oid IS NOT NULL THEN pg_describe_object('pg_class'::regclass, ru.ev_class, 0)
                ELSE pg_describe_object(d.classid, d.objid, d.objsubid) END,
           g.tab::regclass,
           CASE WHEN co.oid IS NOT NULL
                THEN format('Delete that relation in Directus, or drop the constraint: ALTER TABLE %s DROP CONSTRAINT %I;',
                            co.conrelid::regclass, co.conname)
                WHEN ru.oid IS NOT NULL
                THEN format('Drop or change the view: DROP VIEW %s;', ru.ev_class::regclass)
                WHEN ad.oid IS NOT NULL
                THEN format('Drop the default: ALTER TABLE %s ALTER COLUMN %I DROP DEFAULT;',
                            ad.adrelid::regclass,
                            (SELECT at.attname FROM pg_attribute at WHERE at.attrelid = ad.adrelid AND at.attnum = ad.adnum))
                WHEN pr.oid IS NOT NULL
                THEN format('Drop the %s: DROP %s %s;',
                            CASE pr.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,
                            CASE pr.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
                            pr.oid::regprocedure)
                WHEN d.classid = 'pg_class'::regclass AND d.objsubid <> 0
                     AND (SELECT rc.relkind FROM pg_class rc WHERE rc.oid = d.objid) IN ('r', 'p', 'f')
                THEN format('Drop or change the column: ALTER TABLE %s DROP COLUMN %I;',
                            d.objid::regclass,
                            (SELECT at.attname FROM pg_attribute at WHERE at.attrelid = d.objid AND at.attnum = d.objsubid)) END
      INTO obj, tab, fix
      FROM target g
      JOIN pg_depend d ON d.refclassid = g.cls AND d.refobjid = g.oid AND d.deptype = 'n'
      LEFT JOIN pg_constraint co ON d.classid = 'pg_constraint'::regclass AND co.oid = d.objid
      LEFT JOIN pg_rewrite ru ON d.classid = 'pg_rewrite'::regclass AND ru.oid = d.objid
      LEFT JOIN pg_attrdef ad ON d.classid = 'pg_attrdef'::regclass AND ad.oid = d.objid
      LEFT JOIN pg_proc pr ON d.classid = 'pg_proc'::regclass AND pr.oid = d.objid
     WHERE NOT coalesce(co.conrelid = ANY (tables), false)
       AND NOT coalesce(ru.ev_class = ANY (tables), false)
       AND NOT coalesce(ad.adrelid = ANY (tables), false)
       AND NOT (d.classid = 'pg_class'::regclass AND d.objid = ANY (tables))
     ORDER BY 1 LIMIT 1;
    IF obj IS NOT NULL THEN
        RAISE EXCEPTION 'cannot disable the app %: % depends on table %', what, obj, tab
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = format('Table %s goes with the app %s; directus_sync does not drop what others made on it.', tab, what),
                  HINT = format('%s Then disable the app %s again.', coalesce(fix, format('Drop %s.', obj)), what);
    END IF;
END
$$;

/*
 * Removes the rows that register collections ours in Directus's tables
 * (presets, permissions, fields, relations, collections), as their owner;
 * true when there were any. disable_app_status and disable_app_config.
 */
CREATE FUNCTION directus_sync._unregister_collections(ours text[]) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
    n bigint;
    found_any boolean := false;
BEGIN
    FOREACH t IN ARRAY ARRAY['directus_presets', 'directus_permissions', 'directus_fields',
                             'directus_relations', 'directus_collections'] LOOP
        IF to_regclass(format('%s.%I', '@extschema@', t)) IS NOT NULL THEN
            SELECT count(*) INTO n FROM directus_sync._query_as_owner(format('%s.%I', '@extschema@', t)::regclass,
                format('DELETE FROM %s.%I WHERE %s RETURNING 1', '@extschema@', t,
                       CASE WHEN t = 'directus_relations' THEN 'many_collection = ANY ($1) OR one_collection = ANY ($1)'
                            ELSE 'collection = ANY ($1)' END),
                ours) AS r(one integer);
            found_any := found_any OR n > 0;
        END IF;
    END LOOP;
    RETURN found_any;
END
$$;

/*
 * Turns the app status off: Directus's rows about the collections (presets
 * and permissions of every user, role and policy, fields, the collections
 * and the folder) and the tables. Without it, says so and does nothing.
 */
CREATE FUNCTION directus_sync.disable_app_status() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ours text[] := ARRAY['sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts'];
    t text;
    found_any boolean;
BEGIN
    PERFORM directus_sync._app_tables_unreferenced('status',
        ARRAY(SELECT directus_sync._app_table(x.name, 'status') FROM unnest(ours) x(name)
               WHERE directus_sync._app_table(x.name, 'status') IS NOT NULL));
    found_any := directus_sync._unregister_collections(directus_sync._app_folder_release('sync_status', ours));
    FOREACH t IN ARRAY ours LOOP
        IF directus_sync._app_table(t, 'status') IS NOT NULL THEN
            EXECUTE format('DROP TABLE %s', directus_sync._app_table(t, 'status'));
            found_any := true;
        END IF;
    END LOOP;
    IF NOT found_any THEN
        RAISE NOTICE 'the app status is not enabled: nothing to remove';
    ELSIF to_regclass('@extschema@.directus_collections') IS NOT NULL THEN
        RAISE NOTICE 'Directus forgets the collections of folder "sync_status" once it reloads its schema'
            USING HINT = 'POST /utils/cache/clear?system=true as an admin of this Directus, or restart it.';
    END IF;
END
$$;
COMMENT ON FUNCTION directus_sync.disable_app_status() IS
    'Removes what enable_app_status made: the four tables and their collections, fields, presets and permissions in Directus';


/* ---------------------------------------------------------------------------
 * 12b. Configuration in the Directus app (docs/directus-app.md)
 * ------------------------------------------------------------------------- */

/*
 * enable_app_config makes three tables in @extschema@, next to the app
 * status's: sync_remotes (one row per remote, id = directus_sync.remote.id),
 * sync_remotes_notify_users (the junction of its users to notify) and
 * sync_subscriptions (one row per subscription). Their AFTER row triggers
 * call add_remote, alter_remote, remove_remote, pause, resume, subscribe and
 * unsubscribe, so a write in the app is that call, with its checks and
 * errors; AFTER, because only a row actually written must change
 * directus_sync (INSERT ... ON CONFLICT DO NOTHING, or another BEFORE
 * trigger returning NULL, skip a row after the BEFORE triggers ran); their
 * error still undoes the statement. Triggers on directus_sync.remote and
 * subscription copy what the SQL functions do back
 * (directus_sync.app_config_mirroring and app_config_applying keep the two
 * from calling each other). The token is handed to add_remote or
 * alter_remote and never stored: sync_remotes.token is always NULL (a CHECK
 * says so), the one BEFORE trigger (sync_remotes) takes it out of the row.
 * The triggers are ENABLE ALWAYS: session_replication_role = replica does
 * not write the app's tables past the functions. Owner, comment and
 * membership as the app status's tables.
 */

/*
 * Raises an error with its statement kept out of the server log, as
 * add_remote's are (src/token_calls.c): a statement writing the app's
 * sync_remotes may hold a token.
 */
CREATE FUNCTION directus_sync._raise_hiding_statement(state text, msg text, det text, hnt text) RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'directus_sync_raise_hiding_statement';

/*
 * Raises again an error of a SQL function called by an app table's trigger,
 * its statement kept out of the server log (_raise_hiding_statement).
 * Directus rewrites five SQLSTATEs into errors of its own, reading a column
 * from the DETAIL the functions' errors do not have (and then fails on it):
 * those are raised as P0001 with the SQLSTATE named in the DETAIL, so the
 * app shows the function's message; the others keep theirs.
 */
CREATE FUNCTION directus_sync._app_config_raise(state text, msg text, det text, hnt text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF state IN ('23502', '23503', '23505', '22001', '22003') THEN
        det := concat_ws(' ', nullif(det, ''), format('(SQLSTATE %s)', state));
        state := 'P0001';
    END IF;
    PERFORM directus_sync._raise_hiding_statement(state, msg, nullif(det, ''), nullif(hnt, ''));
END
$$;

-- Directus's concealed value: the app may send it back for "unchanged".
CREATE FUNCTION directus_sync._app_config_token(token text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN token = '**********' OR token = '' THEN NULL ELSE token END
$$;

/*
 * A token typed in the app's sync_remotes, held from the row's BEFORE
 * trigger to its AFTER trigger (in backend memory, this transaction only).
 */
CREATE FUNCTION directus_sync._app_token_hold(row_id integer, token text) RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'directus_sync_app_token_hold';
CREATE FUNCTION directus_sync._app_token_take(row_id integer) RETURNS text
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'directus_sync_app_token_take';

/*
 * sync_remotes, before the row is written: only what changes the row, and
 * nothing in directus_sync (the row may yet be skipped). A new row gets the
 * next id of directus_sync.remote, the one add_remote gives it in the AFTER
 * trigger (so RETURNING shows the remote's id); the token is taken out of
 * the row and held for the AFTER trigger by row id, in this backend's
 * memory for the transaction only (_app_token_hold, src/token_calls.c).
 */
CREATE FUNCTION directus_sync._app_config_remote_prepare() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    row_id integer;
    refused json;
    hidden regclass;
    taken boolean;
BEGIN
    -- One writer of a name at a time, the SQL functions' mirroring included:
    -- a second adder of the name waits for the first to commit, then finds
    -- the name taken below (in READ COMMITTED: each query of this function
    -- takes a new snapshot), instead of meeting the UNIQUE constraint,
    -- whose error would log the statement.
    IF TG_OP = 'INSERT' OR NEW.name IS DISTINCT FROM OLD.name THEN
        PERFORM pg_advisory_xact_lock(hashtext('directus_sync.sync_remotes'), hashtext(NEW.name));
    END IF;
    IF current_setting('directus_sync.app_config_mirroring', true) = 'on' THEN
        RETURN NEW;
    END IF;
    -- What _app_config_remote_check (the trigger before this one, which
    -- runs as the writer) found changed in this row, and the writer: the
    -- writer must read, whole (_app_role_reads), every table the remote
    -- ships, found by directus_sync.subscription's relid (a table renamed
    -- or moved by its owner is still shipped). Refused with the statement
    -- hidden (that function may not call _app_config_raise, nor read
    -- directus_sync.subscription).
    IF TG_OP = 'UPDATE' THEN
        refused := nullif(current_setting('directus_sync.app_config_refused', true), '')::json;
        IF refused IS NOT NULL THEN
            SELECT s.relid::regclass INTO hidden
              FROM directus_sync.subscription s JOIN pg_class c ON c.oid = s.relid
             WHERE s.remote_id = OLD.id
               AND NOT directus_sync._app_role_reads((SELECT r.oid FROM pg_roles r WHERE r.rolname = refused->>'writer'), s.relid)
             ORDER BY s.collection LIMIT 1;
            IF hidden IS NOT NULL THEN
                PERFORM directus_sync._app_config_raise('42501',
                    format('permission denied to change the %s of remote "%s" through the app', refused->>'what', OLD.name),
                    format('The remote ships table %s, which role %s may not read whole.', hidden, refused->>'writer'),
                    'Change it in SQL with directus_sync.alter_remote.');
            END IF;
        END IF;
        -- before the primary key's error (a row's id is its remote's)
        IF NEW.id IS DISTINCT FROM OLD.id THEN
            PERFORM directus_sync._app_config_raise('22023', format('the id of remote "%s" cannot change', OLD.name),
                                                    NULL, NULL);
        END IF;
    END IF;
    -- A missing value: refused here, as the NOT NULL constraint's error would
    -- log the statement, which may hold a token (_app_config_raise hides it).
    IF NEW.name IS NULL OR NEW.url IS NULL OR NEW.enabled IS NULL OR NEW.paused IS NULL
       OR NEW.forward_inbound IS NULL OR NEW.verify_tls IS NULL THEN
        PERFORM directus_sync._app_config_raise('23502',
            format('%s of a remote must not be null',
                   CASE WHEN NEW.name IS NULL THEN 'name' WHEN NEW.url IS NULL THEN 'url'
                        WHEN NEW.enabled IS NULL THEN 'enabled' WHEN NEW.paused IS NULL THEN 'paused'
                        WHEN NEW.forward_inbound IS NULL THEN 'forward_inbound' ELSE 'verify_tls' END),
            NULL, NULL);
    END IF;
    -- A taken name: add_remote's or alter_remote's error, not the UNIQUE
    -- constraint's, which Directus would word as its own and which logs the
    -- statement. Taken in directus_sync.remote, or by a row of this table
    -- written before in the same statement (its remote is added by the
    -- AFTER trigger, at the statement's end).
    EXECUTE format('SELECT EXISTS (SELECT FROM %I.%I x WHERE x.name = $1 AND ($2 OR x.id <> $3))',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME)
        INTO taken USING NEW.name, TG_OP = 'INSERT', OLD.id;
    IF taken OR EXISTS (SELECT FROM directus_sync.remote x
                         WHERE x.name = NEW.name AND (TG_OP = 'INSERT' OR x.id <> OLD.id)) THEN
        PERFORM directus_sync._app_config_raise('23505', format('remote "%s" already exists', NEW.name), NULL,
                                                CASE WHEN TG_OP = 'INSERT' THEN 'Use directus_sync.alter_remote to change it.' END);
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.id := nextval(pg_get_serial_sequence('directus_sync.remote', 'id'));
        row_id := NEW.id;
    ELSE
        row_id := OLD.id;                   -- (a new id is refused above)
    END IF;
    PERFORM directus_sync._app_token_hold(row_id, directus_sync._app_config_token(NEW.token));
    NEW.token := NULL;
    RETURN NEW;
END
$$;

/* The app's row brought to what the SQL functions left (never the token). */
CREATE FUNCTION directus_sync._app_config_restate(rel regclass, row_id integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_config_mirroring = on
AS $$
BEGIN
    IF rel = directus_sync._app_table('sync_remotes', 'config') THEN
        EXECUTE format('UPDATE %s m
                           SET (name, url, token, enabled, paused, inbound_user, forward_inbound, verify_tls)
                             = (r.name, r.url, NULL, r.enabled, r.paused, r.inbound_user, r.forward_inbound, r.verify_tls)
                          FROM directus_sync.remote r
                         WHERE m.id = $1 AND r.id = m.id
                           AND (m.name, m.url, m.token, m.enabled, m.paused, m.inbound_user, m.forward_inbound, m.verify_tls)
                               IS DISTINCT FROM
                               (r.name, r.url, NULL, r.enabled, r.paused, r.inbound_user, r.forward_inbound, r.verify_tls)', rel)
            USING row_id;
    ELSIF rel = directus_sync._app_table('sync_subscriptions', 'config') THEN
        EXECUTE format('UPDATE %s m SET fields = to_json(s.fields)
                          FROM directus_sync.subscription s
                         WHERE m.id = $1 AND s.remote_id = m.remote AND s.collection = m.collection
                           AND m.fields::text IS DISTINCT FROM to_json(s.fields)::text', rel)
            USING row_id;
    END IF;
END
$$;

/*
 * sync_remotes, after the row is written: the row is a call of the SQL
 * functions (an error undoes the statement).
 */
CREATE FUNCTION directus_sync._app_config_remote_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_config_applying = on
SET directus_sync.app_config_remote_id = 0
AS $$
DECLARE
    tok text;
    rname text;
    rid integer;
    st text; msg text; det text; hnt text;
BEGIN
    IF current_setting('directus_sync.app_config_mirroring', true) = 'on' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        -- the token the BEFORE trigger took out of this row, held no longer
        tok := directus_sync._app_token_take(CASE WHEN TG_OP = 'INSERT' THEN NEW.id ELSE OLD.id END);
    END IF;
    BEGIN
        IF TG_OP = 'INSERT' THEN
            PERFORM set_config('directus_sync.app_config_remote_id', NEW.id::text, true);
            rid := directus_sync.add_remote(NEW.name, NEW.url, tok,
                                            enabled => coalesce(NEW.enabled, true),
                                            inbound_user => NEW.inbound_user,
                                            forward_inbound => coalesce(NEW.forward_inbound, true),
                                            verify_tls => coalesce(NEW.verify_tls, true));
            PERFORM set_config('directus_sync.app_config_remote_id', '0', true);
            IF rid IS DISTINCT FROM NEW.id THEN
                RAISE EXCEPTION 'remote "%" was added as id %, not as the id % of its row', NEW.name, rid, NEW.id
                    USING ERRCODE = 'internal_error';
            END IF;
            IF NEW.paused THEN
                PERFORM directus_sync.pause(NEW.name);
            END IF;
        ELSIF TG_OP = 'UPDATE' THEN
            IF NEW.id IS DISTINCT FROM OLD.id THEN
                RAISE EXCEPTION 'the id of remote "%" cannot change', OLD.name
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            -- (only when something of alter_remote's changed: it also ends a backoff)
            IF tok IS NOT NULL
               OR (NEW.name, NEW.url, NEW.enabled, NEW.inbound_user, NEW.forward_inbound, NEW.verify_tls)
                  IS DISTINCT FROM (OLD.name, OLD.url, OLD.enabled, OLD.inbound_user, OLD.forward_inbound, OLD.verify_tls) THEN
                PERFORM directus_sync.alter_remote(OLD.name,
                    url => CASE WHEN NEW.url IS DISTINCT FROM OLD.url THEN coalesce(NEW.url, '') END,
                    token => tok,
                    enabled => NEW.enabled,
                    inbound_user => NEW.inbound_user,
                    clear_inbound_user => NEW.inbound_user IS NULL AND OLD.inbound_user IS NOT NULL,
                    forward_inbound => NEW.forward_inbound,
                    verify_tls => NEW.verify_tls,
                    new_name => CASE WHEN NEW.name IS DISTINCT FROM OLD.name THEN coalesce(NEW.name, '') END);
            END IF;
            IF NEW.paused AND NOT OLD.paused THEN
                PERFORM directus_sync.pause(coalesce(NEW.name, OLD.name));
            ELSIF NOT NEW.paused AND OLD.paused THEN
                PERFORM directus_sync.resume(coalesce(NEW.name, OLD.name));
            END IF;
        ELSE
            SELECT x.name INTO rname FROM directus_sync.remote x WHERE x.id = OLD.id;
            IF rname IS NOT NULL THEN
                PERFORM directus_sync.remove_remote(rname);
            END IF;
            RETURN NULL;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
        PERFORM directus_sync._app_config_raise(st, msg, det, hnt);
    END;
    PERFORM directus_sync._app_config_restate(TG_RELID::regclass, NEW.id);
    RETURN NULL;
END
$$;

/* sync_remotes_notify_users: the remote's notify_users, from the junction's rows. */
CREATE FUNCTION directus_sync._app_config_notify_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_config_applying = on
AS $$
DECLARE
    rid integer;
    rname text;
    users uuid[];
    st text; msg text; det text; hnt text;
BEGIN
    IF current_setting('directus_sync.app_config_mirroring', true) = 'on' THEN
        RETURN NULL;
    END IF;
    FOREACH rid IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.sync_remotes_id END,
                               CASE WHEN TG_OP <> 'DELETE' THEN NEW.sync_remotes_id END] LOOP
        CONTINUE WHEN rid IS NULL;
        SELECT x.name INTO rname FROM directus_sync.remote x WHERE x.id = rid;
        CONTINUE WHEN rname IS NULL;        -- the remote went with its row
        EXECUTE format('SELECT coalesce(array_agg(DISTINCT directus_users_id ORDER BY directus_users_id), ''{}'')
                          FROM %s WHERE sync_remotes_id = $1 AND directus_users_id IS NOT NULL',
                       directus_sync._app_table('sync_remotes_notify_users', 'config'))
            INTO users USING rid;
        BEGIN
            PERFORM directus_sync.alter_remote(rname, notify_users => users);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            PERFORM directus_sync._app_config_raise(st, msg, det, hnt);
        END;
    END LOOP;
    RETURN NULL;
END
$$;

/*
 * sync_remotes, before a row is changed: a new URL or token sends what the
 * remote ships somewhere else; verify_tls turned off lets whoever can
 * answer for the remote's host name on the network take it (review 9); a
 * new inbound user changes whose writes here count as the remote's (the
 * loop guard, the token whose signatures vouch for clocks) and may give the
 * tables it ships clocks (a column). The role changing one of these (this
 * function is not SECURITY DEFINER: current_user is the writer, Directus's
 * role) must be able to read, whole (_app_role_reads: row-level security
 * counts), every table the remote ships, found by
 * directus_sync.subscription's relid: a remote the DBA made in SQL for
 * tables Directus's role may not read cannot be turned to a URL, a TLS
 * check or an inbound user of its choice from the app. Turning verify_tls
 * on, pausing, disabling, renaming or removing stays allowed: those send
 * nothing anywhere else. This function names what changed and the writer
 * in directus_sync.app_config_refused (written here for every row, empty
 * when nothing of the kind changed); the next trigger,
 * _app_config_remote_prepare, which may read directus_sync.subscription,
 * checks the tables and refuses through _app_config_raise, which this role
 * may not call and which keeps the statement, and the token it may hold,
 * out of the server log.
 */
CREATE FUNCTION directus_sync._app_config_remote_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    writer name := current_user;
    what text;
BEGIN
    PERFORM set_config('directus_sync.app_config_refused', '', true);
    IF current_setting('directus_sync.app_config_mirroring', true) = 'on' THEN
        RETURN NEW;
    END IF;
    what := CASE WHEN NEW.url IS DISTINCT FROM OLD.url
                      OR NOT (NEW.token IS NULL OR NEW.token IN ('', '**********')) THEN 'URL or token'
                 WHEN OLD.verify_tls AND NEW.verify_tls IS NOT TRUE THEN 'TLS verification'
                 WHEN NEW.inbound_user IS DISTINCT FROM OLD.inbound_user THEN 'inbound user' END;
    IF what IS NULL THEN
        RETURN NEW;     -- (none of them changed; the token left as it is)
    END IF;
    -- The tables: checked by _app_config_remote_prepare, which may read
    -- directus_sync.subscription.
    PERFORM set_config('directus_sync.app_config_refused',
                       json_build_object('what', what, 'writer', writer)::text, true);
    RETURN NEW;
END
$$;

/*
 * sync_subscriptions, before a row is written: the role writing it (this
 * function is not SECURITY DEFINER: current_user is the writer, Directus's
 * role) must own the collection's table and may SELECT and UPDATE it. The
 * AFTER trigger subscribes as the extension's owner, which puts triggers
 * on the table, ships its rows to the remote's URL (chosen in the app too)
 * and may give it clocks (a column, a key default): through the app, only
 * for tables the role could read and change itself. The SQL functions are
 * the DBA's and check nothing of the kind.
 */
CREATE FUNCTION directus_sync._app_config_subscription_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel regclass;
    writer name := current_user;
BEGIN
    IF current_setting('directus_sync.app_config_mirroring', true) = 'on' THEN
        RETURN NEW;     -- (the AFTER trigger does nothing either)
    END IF;
    rel := to_regclass(format('%s.%I', '@extschema@', NEW.collection));
    IF rel IS NOT NULL
       AND NOT (pg_has_role(writer, (SELECT c.relowner FROM pg_class c WHERE c.oid = rel), 'USAGE')
                AND has_table_privilege(writer, rel, 'SELECT')
                AND has_table_privilege(writer, rel, 'UPDATE')) THEN
        RAISE EXCEPTION 'permission denied to subscribe table % through the app', rel
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Role %s, which wrote the subscription, does not own the table, or may not read and update it.', writer),
                  HINT = 'A table of another role is subscribed in SQL with directus_sync.subscribe.';
    END IF;
    RETURN NEW;
END
$$;

/*
 * sync_subscriptions, after the row is written: a row is a subscribe, its
 * deletion an unsubscribe (an error undoes the statement).
 */
CREATE FUNCTION directus_sync._app_config_subscription_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_config_applying = on
AS $$
DECLARE
    rname text;
    old_name text;
    wanted text[];
    was_singleton boolean;
    had_clocks boolean;
    st text; msg text; det text; hnt text;
BEGIN
    IF current_setting('directus_sync.app_config_mirroring', true) = 'on' THEN
        RETURN NULL;
    END IF;
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            SELECT x.name INTO old_name FROM directus_sync.remote x WHERE x.id = OLD.remote;
        END IF;
        IF TG_OP = 'DELETE' THEN
            IF EXISTS (SELECT FROM directus_sync.subscription s WHERE s.remote_id = OLD.remote AND s.collection = OLD.collection) THEN
                PERFORM directus_sync.unsubscribe(old_name, OLD.collection);
            END IF;
            RETURN NULL;
        END IF;
        IF NEW.remote IS NULL THEN
            RAISE EXCEPTION 'remote name must not be null' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        SELECT x.name INTO rname FROM directus_sync.remote x WHERE x.id = NEW.remote;
        IF rname IS NULL THEN
            RAISE EXCEPTION 'remote % does not exist', NEW.remote USING ERRCODE = 'undefined_object';
        END IF;
        IF NEW.fields IS NULL OR json_typeof(NEW.fields) <> 'array' THEN
            RAISE EXCEPTION 'fields of a subscription must be a JSON array of field names'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        wanted := ARRAY(SELECT json_array_elements_text(NEW.fields));
        IF TG_OP = 'UPDATE' AND (NEW.remote, NEW.collection) IS DISTINCT FROM (OLD.remote, OLD.collection)
           AND EXISTS (SELECT FROM directus_sync.subscription s WHERE s.remote_id = OLD.remote AND s.collection = OLD.collection) THEN
            PERFORM directus_sync.unsubscribe(old_name, OLD.collection);
        END IF;
        -- a change of fields keeps the subscription's other options (subscribe's
        -- singleton and clocks, perhaps given in SQL); a new one gets the defaults
        SELECT s.singleton, s.clocks INTO was_singleton, had_clocks
          FROM directus_sync.subscription s WHERE s.remote_id = NEW.remote AND s.collection = NEW.collection;
        IF FOUND THEN
            PERFORM directus_sync.subscribe(rname, NEW.collection, wanted, singleton => was_singleton, clocks => had_clocks);
        ELSE
            PERFORM directus_sync.subscribe(rname, NEW.collection, wanted);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
        PERFORM directus_sync._app_config_raise(st, msg, det, hnt);
    END;
    -- the row's fields as subscribe kept them
    PERFORM directus_sync._app_config_restate(TG_RELID::regclass, NEW.id);
    RETURN NULL;
END
$$;

/*
 * The other way: what add_remote, alter_remote, pause, resume, remove_remote,
 * subscribe and unsubscribe did (called in SQL), copied to the app's tables.
 * Nothing when the app config is off, or when the change came from them.
 */
CREATE FUNCTION directus_sync._app_config_mirror() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_config_mirroring = on
AS $$
DECLARE
    remotes regclass := directus_sync._app_table('sync_remotes', 'config');
    notify regclass := directus_sync._app_table('sync_remotes_notify_users', 'config');
    subs regclass := directus_sync._app_table('sync_subscriptions', 'config');
BEGIN
    IF remotes IS NULL OR notify IS NULL OR subs IS NULL
       OR current_setting('directus_sync.app_config_applying', true) = 'on' THEN
        RETURN NULL;
    END IF;
    -- Not set up yet: a restore (pg_dump makes triggers after the data)
    -- brings the app's rows itself.
    IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = remotes AND tgname = 'directus_sync_app_config') THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'remote' THEN
        IF TG_OP = 'DELETE' THEN
            EXECUTE format('DELETE FROM %s WHERE id = $1', remotes) USING OLD.id;
            RETURN NULL;
        END IF;
        -- a row of that name but another id (the tables out of step): the remote's is the one
        EXECUTE format('DELETE FROM %s WHERE name = $1 AND id <> $2', remotes) USING NEW.name, NEW.id;
        EXECUTE format('INSERT INTO %s AS m (id, name, url, token, enabled, paused, inbound_user, forward_inbound, verify_tls)
                        VALUES ($1, $2, $3, NULL, $4, $5, $6, $7, $8)
                        ON CONFLICT (id) DO UPDATE
                           SET (name, url, enabled, paused, inbound_user, forward_inbound, verify_tls)
                             = (EXCLUDED.name, EXCLUDED.url, EXCLUDED.enabled, EXCLUDED.paused, EXCLUDED.inbound_user,
                                EXCLUDED.forward_inbound, EXCLUDED.verify_tls)
                         WHERE (m.name, m.url, m.enabled, m.paused, m.inbound_user, m.forward_inbound, m.verify_tls)
                               IS DISTINCT FROM
                               (EXCLUDED.name, EXCLUDED.url, EXCLUDED.enabled, EXCLUDED.paused, EXCLUDED.inbound_user,
                                EXCLUDED.forward_inbound, EXCLUDED.verify_tls)', remotes)
            USING NEW.id, NEW.name, NEW.url, NEW.enabled, NEW.paused, NEW.inbound_user, NEW.forward_inbound, NEW.verify_tls;
        EXECUTE format('DELETE FROM %s WHERE sync_remotes_id = $1 AND NOT (directus_users_id = ANY ($2))', notify)
            USING NEW.id, NEW.notify_users;
        EXECUTE format('INSERT INTO %s (sync_remotes_id, directus_users_id)
                        SELECT $1, u FROM unnest($2::uuid[]) AS u
                         WHERE NOT EXISTS (SELECT FROM %s x WHERE x.sync_remotes_id = $1 AND x.directus_users_id = u)',
                       notify, notify)
            USING NEW.id, NEW.notify_users;
    ELSE
        IF TG_OP = 'UPDATE' AND (OLD.remote_id, OLD.collection) = (NEW.remote_id, NEW.collection) THEN
            EXECUTE format('UPDATE %s SET fields = $3 WHERE remote = $1 AND collection = $2', subs)
                USING NEW.remote_id, NEW.collection, to_json(NEW.fields);
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            EXECUTE format('DELETE FROM %s WHERE remote = $1 AND collection = $2', subs) USING OLD.remote_id, OLD.collection;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            EXECUTE format('INSERT INTO %s (remote, collection, fields) VALUES ($1, $2, $3)', subs)
                USING NEW.remote_id, NEW.collection, to_json(NEW.fields);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER app_config_mirror AFTER INSERT OR UPDATE OR DELETE ON directus_sync.remote
    FOR EACH ROW EXECUTE FUNCTION directus_sync._app_config_mirror();
CREATE TRIGGER app_config_mirror AFTER INSERT OR UPDATE OR DELETE ON directus_sync.subscription
    FOR EACH ROW EXECUTE FUNCTION directus_sync._app_config_mirror();
-- Like the app's triggers: session_replication_role = replica does not
-- leave the app's tables behind.
ALTER TABLE directus_sync.remote ENABLE ALWAYS TRIGGER app_config_mirror;
ALTER TABLE directus_sync.subscription ENABLE ALWAYS TRIGGER app_config_mirror;

/* The tables of enable_app_config, made where missing, filled from directus_sync.remote and subscription. */
CREATE FUNCTION directus_sync.enable_app_config() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    directus_role text;
    t text;
    ours text[] := ARRAY['sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions'];
    granted text;
    missing text;
    collections json := $json$[
 {"collection": "sync_config", "icon": "settings_ethernet", "sort": null, "group": null, "display_template": null, "hidden": false,
  "note": "directus_sync: the remotes this Directus replicates to, and what it sends them"},
 {"collection": "sync_remotes", "icon": "dns", "sort": 1, "group": "sync_config", "display_template": "{{name}} ({{url}})", "hidden": false,
  "note": "Directus instances to ship changes to (directus_sync.add_remote, alter_remote, remove_remote, pause, resume)"},
 {"collection": "sync_subscriptions", "icon": "playlist_add_check", "sort": 2, "group": "sync_config",
  "display_template": "{{remote.name}}: {{collection}}", "hidden": false,
  "note": "Collections shipped to a remote, with their fields (directus_sync.subscribe, unsubscribe)"},
 {"collection": "sync_remotes_notify_users", "icon": "import_export", "sort": 3, "group": "sync_config",
  "display_template": null, "hidden": true, "note": "Users notified of a remote's dead letters (junction)"}]$json$;
    fields json := $json$[
 {"collection": "sync_remotes", "field": "id", "special": null, "interface": "input", "readonly": true, "hidden": true, "sort": 1, "width": "full", "required": false},
 {"collection": "sync_remotes", "field": "name", "special": null, "interface": "input", "readonly": false, "hidden": false, "sort": 2, "width": "half", "required": true,
  "note": "1 to 63 characters; the name the SQL functions take"},
 {"collection": "sync_remotes", "field": "url", "special": null, "interface": "input", "readonly": false, "hidden": false, "sort": 3, "width": "half", "required": true,
  "options": {"placeholder": "https://other.example.com"}, "note": "Base URL of the other Directus; a new URL needs its token too"},
 {"collection": "sync_remotes", "field": "token", "special": "conceal", "interface": "input", "readonly": false, "hidden": false, "sort": 4, "width": "full", "required": false,
  "options": {"masked": true, "placeholder": "static token of the sync user there (write-only)"},
  "note": "Write-only: handed to directus_sync and never stored here nor shown again; leave empty to keep it"},
 {"collection": "sync_remotes", "field": "enabled", "special": "cast-boolean", "interface": "boolean", "readonly": false, "hidden": false, "sort": 5, "width": "half", "required": false,
  "options": {"label": "Enabled"}, "display": "boolean", "note": "Off: changes are not even captured"},
 {"collection": "sync_remotes", "field": "paused", "special": "cast-boolean", "interface": "boolean", "readonly": false, "hidden": false, "sort": 6, "width": "half", "required": false,
  "options": {"label": "Paused"}, "display": "boolean", "note": "On: changes are queued, not shipped"},
 {"collection": "sync_remotes", "field": "inbound_user", "special": "m2o", "interface": "select-dropdown-m2o", "readonly": false, "hidden": false, "sort": 7, "width": "half", "required": false,
  "options": {"template": "{{first_name}} {{last_name}}"}, "display": "related-values", "display_options": {"template": "{{first_name}} {{last_name}}"},
  "note": "The user this remote writes here as (two-way replication)"},
 {"collection": "sync_remotes", "field": "notify_users", "special": "m2m", "interface": "list-m2m", "readonly": false, "hidden": false, "sort": 8, "width": "half", "required": false,
  "options": {"template": "{{directus_users_id.email}}", "enableCreate": false}, "display": "related-values",
  "display_options": {"template": "{{directus_users_id.email}}"}, "note": "Users notified of dead letters"},
 {"collection": "sync_remotes", "field": "forward_inbound", "special": "cast-boolean", "interface": "boolean", "readonly": false, "hidden": false, "sort": 9, "width": "half", "required": false,
  "options": {"label": "Forward"}, "display": "boolean", "note": "Ship on what other remotes wrote here"},
 {"collection": "sync_remotes", "field": "verify_tls", "special": "cast-boolean", "interface": "boolean", "readonly": false, "hidden": false, "sort": 10, "width": "half", "required": false,
  "options": {"label": "Verify"}, "display": "boolean", "note": "Check the remote's TLS certificate (https)"},
 {"collection": "sync_remotes", "field": "subscriptions", "special": "o2m", "interface": "list-o2m", "readonly": false, "hidden": false, "sort": 11, "width": "full", "required": false,
  "options": {"template": "{{collection}}"}, "display": "related-values", "display_options": {"template": "{{collection}}"}},
 {"collection": "sync_remotes_notify_users", "field": "id", "special": null, "interface": null, "readonly": false, "hidden": true, "sort": 1, "width": "full", "required": false},
 {"collection": "sync_remotes_notify_users", "field": "sync_remotes_id", "special": null, "interface": null, "readonly": false, "hidden": true, "sort": 2, "width": "full", "required": false},
 {"collection": "sync_remotes_notify_users", "field": "directus_users_id", "special": null, "interface": null, "readonly": false, "hidden": true, "sort": 3, "width": "full", "required": false},
 {"collection": "sync_subscriptions", "field": "id", "special": null, "interface": "input", "readonly": true, "hidden": true, "sort": 1, "width": "full", "required": false},
 {"collection": "sync_subscriptions", "field": "remote", "special": "m2o", "interface": "select-dropdown-m2o", "readonly": false, "hidden": false, "sort": 2, "width": "half", "required": true,
  "options": {"template": "{{name}}"}, "display": "related-values", "display_options": {"template": "{{name}}"}},
 {"collection": "sync_subscriptions", "field": "collection", "special": null, "interface": "system-collection", "readonly": false, "hidden": false, "sort": 3, "width": "half", "required": true,
  "options": {"includeSystem": false}},
 {"collection": "sync_subscriptions", "field": "fields", "special": "cast-json", "interface": "tags", "readonly": false, "hidden": false, "sort": 4, "width": "full", "required": true,
  "display": "labels", "note": "The fields shipped (the key is always)"}]$json$;
    relations json := $json$[
 {"many_collection": "sync_remotes", "many_field": "inbound_user", "one_collection": "directus_users", "one_field": null, "junction_field": null, "one_deselect_action": "nullify"},
 {"many_collection": "sync_subscriptions", "many_field": "remote", "one_collection": "sync_remotes", "one_field": "subscriptions", "junction_field": null, "one_deselect_action": "delete"},
 {"many_collection": "sync_remotes_notify_users", "many_field": "sync_remotes_id", "one_collection": "sync_remotes", "one_field": "notify_users", "junction_field": "directus_users_id", "one_deselect_action": "delete"},
 {"many_collection": "sync_remotes_notify_users", "many_field": "directus_users_id", "one_collection": "directus_users", "one_field": null, "junction_field": "sync_remotes_id", "one_deselect_action": "nullify"}]$json$;
BEGIN
    PERFORM directus_sync._app_status_directus();
    SELECT min(x.name) INTO missing
      FROM unnest(ARRAY['directus_relations.many_collection', 'directus_relations.many_field',
                        'directus_relations.one_collection', 'directus_relations.one_field',
                        'directus_relations.junction_field', 'directus_relations.one_deselect_action',
                        'directus_fields.required']) AS x(name)
     WHERE NOT EXISTS (SELECT FROM pg_attribute a
                        WHERE a.attrelid = to_regclass(format('%s.%I', '@extschema@', split_part(x.name, '.', 1)))
                          AND a.attname = split_part(x.name, '.', 2) AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'the Directus tables of schema % do not have the layout directus_sync knows', '@extschema@'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('%s is missing.', missing);
    END IF;
    directus_role := directus_sync._app_enable_check('config', ours, 'sync_config');

    IF directus_sync._app_table('sync_remotes', 'config') IS NULL THEN
        CREATE TABLE @extschema@.sync_remotes (
            id              serial PRIMARY KEY,      -- directus_sync.remote.id (add_remote's)
            name            text NOT NULL UNIQUE,
            url             text NOT NULL,
            token           text CHECK (token IS NULL),  -- write-only: handed over, never kept
            enabled         boolean NOT NULL DEFAULT true,
            paused          boolean NOT NULL DEFAULT false,
            inbound_user    uuid,
            forward_inbound boolean NOT NULL DEFAULT true,
            verify_tls      boolean NOT NULL DEFAULT true,
            CONSTRAINT directus_sync_app_table CHECK (true)  -- directus_sync._reserve_app_tables
        );
        COMMENT ON TABLE @extschema@.sync_remotes IS
            'directus_sync app config: directus_sync.remote; a write is a call of add_remote, alter_remote, pause, resume or remove_remote';
    END IF;
    IF directus_sync._app_table('sync_remotes_notify_users', 'config') IS NULL THEN
        CREATE TABLE @extschema@.sync_remotes_notify_users (
            id                serial PRIMARY KEY,
            sync_remotes_id   integer REFERENCES @extschema@.sync_remotes ON DELETE CASCADE,
            directus_users_id uuid,
            CONSTRAINT directus_sync_app_table CHECK (true)  -- directus_sync._reserve_app_tables
        );
        CREATE INDEX sync_remotes_notify_users_remote_idx ON @extschema@.sync_remotes_notify_users (sync_remotes_id);
        COMMENT ON TABLE @extschema@.sync_remotes_notify_users IS
            'directus_sync app config: directus_sync.remote.notify_users; a write is a call of alter_remote';
    END IF;
    IF directus_sync._app_table('sync_subscriptions', 'config') IS NULL THEN
        CREATE TABLE @extschema@.sync_subscriptions (
            id         serial PRIMARY KEY,
            remote     integer NOT NULL REFERENCES @extschema@.sync_remotes ON DELETE CASCADE,
            collection text NOT NULL,
            fields     json NOT NULL,
            UNIQUE (remote, collection),
            CONSTRAINT directus_sync_app_table CHECK (true)  -- directus_sync._reserve_app_tables
        );
        COMMENT ON TABLE @extschema@.sync_subscriptions IS
            'directus_sync app config: directus_sync.subscription; a write is a call of subscribe or unsubscribe';
    END IF;
    FOREACH t IN ARRAY ours LOOP
        -- a table made by a build before the CHECK: given it, so that a restore of its dump passes
        IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = directus_sync._app_table(t, 'config')
                                                   AND contype = 'c' AND conname = 'directus_sync_app_table') THEN
            EXECUTE format('ALTER TABLE %s ADD CONSTRAINT directus_sync_app_table CHECK (true)', directus_sync._app_table(t, 'config'));
        END IF;
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', directus_sync._app_table(t, 'config'));
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %s', directus_sync._app_table(t, 'config'), directus_role);
        EXECUTE format('REVOKE ALL ON SEQUENCE %s FROM PUBLIC', pg_get_serial_sequence(directus_sync._app_table(t, 'config')::text, 'id'));
        EXECUTE format('GRANT USAGE ON SEQUENCE %s TO %s', pg_get_serial_sequence(directus_sync._app_table(t, 'config')::text, 'id'), directus_role);
        -- Made again each time (a table of an earlier build may have other
        -- ones); AFTER ROW, so only rows written change directus_sync, and
        -- ENABLE ALWAYS, so session_replication_role = replica does not
        -- write past them either.
        IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = directus_sync._app_table(t, 'config') AND tgname = 'directus_sync_app_config') THEN
            EXECUTE format('DROP TRIGGER directus_sync_app_config ON %s', directus_sync._app_table(t, 'config'));
        END IF;
        EXECUTE format('CREATE TRIGGER directus_sync_app_config AFTER INSERT OR UPDATE OR DELETE ON %s
                        FOR EACH ROW EXECUTE FUNCTION directus_sync.%I()',
                       directus_sync._app_table(t, 'config'),
                       CASE t WHEN 'sync_remotes' THEN '_app_config_remote_write'
                              WHEN 'sync_remotes_notify_users' THEN '_app_config_notify_write'
                              ELSE '_app_config_subscription_write' END);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_app_config', directus_sync._app_table(t, 'config'));
        IF t = 'sync_remotes' THEN
            IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = directus_sync._app_table(t, 'config') AND tgname = 'directus_sync_app_config_token') THEN
                EXECUTE format('DROP TRIGGER directus_sync_app_config_token ON %s', directus_sync._app_table(t, 'config'));
            END IF;
            EXECUTE format('CREATE TRIGGER directus_sync_app_config_token BEFORE INSERT OR UPDATE ON %s
                            FOR EACH ROW EXECUTE FUNCTION directus_sync._app_config_remote_prepare()',
                           directus_sync._app_table(t, 'config'));
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_app_config_token', directus_sync._app_table(t, 'config'));
        END IF;
        IF t = 'sync_remotes' THEN
            IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = directus_sync._app_table(t, 'config') AND tgname = 'directus_sync_app_config_check') THEN
                EXECUTE format('DROP TRIGGER directus_sync_app_config_check ON %s', directus_sync._app_table(t, 'config'));
            END IF;
            -- (named to fire before directus_sync_app_config_token, which blanks the token)
            EXECUTE format('CREATE TRIGGER directus_sync_app_config_check BEFORE UPDATE ON %s
                            FOR EACH ROW EXECUTE FUNCTION directus_sync._app_config_remote_check()',
                           directus_sync._app_table(t, 'config'));
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_app_config_check', directus_sync._app_table(t, 'config'));
        END IF;
        IF t = 'sync_subscriptions' THEN
            IF EXISTS (SELECT FROM pg_trigger WHERE tgrelid = directus_sync._app_table(t, 'config') AND tgname = 'directus_sync_app_config_check') THEN
                EXECUTE format('DROP TRIGGER directus_sync_app_config_check ON %s', directus_sync._app_table(t, 'config'));
            END IF;
            EXECUTE format('CREATE TRIGGER directus_sync_app_config_check BEFORE INSERT OR UPDATE ON %s
                            FOR EACH ROW EXECUTE FUNCTION directus_sync._app_config_subscription_check()',
                           directus_sync._app_table(t, 'config'));
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER directus_sync_app_config_check', directus_sync._app_table(t, 'config'));
        END IF;
    END LOOP;

    -- Fill them from directus_sync.remote and subscription (a re-run: in step again).
    PERFORM directus_sync._app_config_fill();

    -- Directus's meta rows: what is missing is made, what is there is kept.
    -- No accountability: Directus keeps no activity and no revision (which
    -- would hold the token) of them.
    PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_collections',
        'INSERT INTO @extschema@.directus_collections
                (collection, icon, note, display_template, hidden, singleton, accountability, sort, "group", collapse)
         SELECT c.collection, c.icon, c.note, c.display_template, c.hidden, false, NULL, c.sort, c."group", ''open''
           FROM json_to_recordset($1[1]::json)
                AS c(collection text, icon text, note text, display_template text, hidden boolean, sort integer, "group" text)
          WHERE NOT EXISTS (SELECT FROM @extschema@.directus_collections x WHERE x.collection = c.collection)
         RETURNING 1',
        ARRAY[collections::text]) AS r(one integer);
    PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_fields',
        'INSERT INTO @extschema@.directus_fields
                (collection, field, special, interface, options, display, display_options, readonly, hidden, sort, width,
                 note, required)
         SELECT f.collection, f.field, f.special, f.interface, f.options, f.display, f.display_options, f.readonly,
                f.hidden, f.sort, f.width, f.note, f.required
           FROM json_to_recordset($1[1]::json)
                AS f(collection text, field text, special text, interface text, options json, display text,
                     display_options json, readonly boolean, hidden boolean, sort integer, width text, note text,
                     required boolean)
          WHERE NOT EXISTS (SELECT FROM @extschema@.directus_fields x
                             WHERE x.collection = f.collection AND x.field = f.field)
          ORDER BY f.collection, f.sort
         RETURNING 1',
        ARRAY[fields::text]) AS r(one integer);
    PERFORM FROM directus_sync._query_as_owner('@extschema@.directus_relations',
        'INSERT INTO @extschema@.directus_relations
                (many_collection, many_field, one_collection, one_field, junction_field, one_deselect_action)
         SELECT r.many_collection, r.many_field, r.one_collection, r.one_field, r.junction_field, r.one_deselect_action
           FROM json_to_recordset($1[1]::json)
                AS r(many_collection text, many_field text, one_collection text, one_field text,
                     junction_field text, one_deselect_action text)
          WHERE NOT EXISTS (SELECT FROM @extschema@.directus_relations x
                             WHERE x.many_collection = r.many_collection AND x.many_field = r.many_field)
         RETURNING 1',
        ARRAY[relations::text]) AS r(one integer);

    SELECT string_agg(DISTINCT r.collection, ', ') INTO granted
      FROM directus_sync._query_as_owner('@extschema@.directus_permissions',
               'SELECT collection::text FROM @extschema@.directus_permissions WHERE collection = ANY ($1)',
               ours || 'sync_config'::text) AS r(collection text);
    IF granted IS NOT NULL THEN
        RAISE NOTICE 'directus_permissions grants access to %: users other than administrators see or change what they grant', granted
            USING HINT = 'Delete those permissions in Directus (Settings, Access Policies) unless they are meant.';
    END IF;
    RAISE NOTICE 'Directus shows the collections of folder "sync_config" to administrators once it reloads its schema'
        USING HINT = 'POST /utils/cache/clear?system=true as an admin of this Directus, or restart it.';
END
$$;
COMMENT ON FUNCTION directus_sync.enable_app_config() IS
    'Lets Directus administrators configure replication in the app: tables sync_remotes, sync_remotes_notify_users and sync_subscriptions in Directus''s schema, registered in folder sync_config, whose writes call add_remote, alter_remote, remove_remote, pause, resume, subscribe and unsubscribe';

/* The app config's tables made the copy of directus_sync.remote and subscription. */
CREATE FUNCTION directus_sync._app_config_fill() RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_config_mirroring = on
AS $$
DECLARE
    remotes regclass := directus_sync._app_table('sync_remotes', 'config');
    notify regclass := directus_sync._app_table('sync_remotes_notify_users', 'config');
    subs regclass := directus_sync._app_table('sync_subscriptions', 'config');
BEGIN
    EXECUTE format('DELETE FROM %s m WHERE NOT EXISTS (SELECT FROM directus_sync.subscription s
                                                       WHERE s.remote_id = m.remote AND s.collection = m.collection)', subs);
    EXECUTE format('DELETE FROM %s m WHERE NOT EXISTS (SELECT FROM directus_sync.remote r WHERE r.id = m.id)', remotes);
    EXECUTE format('INSERT INTO %s AS m (id, name, url, token, enabled, paused, inbound_user, forward_inbound, verify_tls)
                    SELECT r.id, r.name, r.url, NULL, r.enabled, r.paused, r.inbound_user, r.forward_inbound, r.verify_tls
                      FROM directus_sync.remote r
                    ON CONFLICT (id) DO UPDATE
                       SET (name, url, enabled, paused, inbound_user, forward_inbound, verify_tls)
                         = (EXCLUDED.name, EXCLUDED.url, EXCLUDED.enabled, EXCLUDED.paused, EXCLUDED.inbound_user,
                            EXCLUDED.forward_inbound, EXCLUDED.verify_tls)', remotes);
    EXECUTE format('SELECT setval(pg_get_serial_sequence(%L, ''id''),
                                  greatest((SELECT max(id) FROM directus_sync.remote), 1))', remotes::text);
    EXECUTE format('DELETE FROM %s n WHERE NOT EXISTS (SELECT FROM directus_sync.remote r
                                                       WHERE r.id = n.sync_remotes_id AND n.directus_users_id = ANY (r.notify_users))', notify);
    EXECUTE format('INSERT INTO %s (sync_remotes_id, directus_users_id)
                    SELECT r.id, u FROM directus_sync.remote r, unnest(r.notify_users) AS u
                     WHERE NOT EXISTS (SELECT FROM %s x WHERE x.sync_remotes_id = r.id AND x.directus_users_id = u)',
                   notify, notify);
    EXECUTE format('INSERT INTO %s AS m (remote, collection, fields)
                    SELECT s.remote_id, s.collection, to_json(s.fields) FROM directus_sync.subscription s
                    ON CONFLICT (remote, collection) DO UPDATE SET fields = EXCLUDED.fields
                     WHERE m.fields::text IS DISTINCT FROM EXCLUDED.fields::text', subs);
END
$$;

/* Removes what enable_app_config made; the remotes and subscriptions stay. */
CREATE FUNCTION directus_sync.disable_app_config() RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET directus_sync.app_config_mirroring = on
AS $$
DECLARE
    ours text[] := ARRAY['sync_subscriptions', 'sync_remotes_notify_users', 'sync_remotes'];
    t text;
    found_any boolean;
BEGIN
    PERFORM directus_sync._app_tables_unreferenced('config',
        ARRAY(SELECT directus_sync._app_table(x.name, 'config') FROM unnest(ours) x(name)
               WHERE directus_sync._app_table(x.name, 'config') IS NOT NULL));
    found_any := directus_sync._unregister_collections(directus_sync._app_folder_release('sync_config', ours));
    FOREACH t IN ARRAY ours LOOP
        IF directus_sync._app_table(t, 'config') IS NOT NULL THEN
            EXECUTE format('DROP TABLE %s', directus_sync._app_table(t, 'config'));
            found_any := true;
        END IF;
    END LOOP;
    IF NOT found_any THEN
        RAISE NOTICE 'the app config is not enabled: nothing to remove';
    ELSIF to_regclass('@extschema@.directus_collections') IS NOT NULL THEN
        RAISE NOTICE 'Directus forgets the collections of folder "sync_config" once it reloads its schema'
            USING DETAIL = 'The remotes and subscriptions stay; the SQL functions change them.',
                  HINT = 'POST /utils/cache/clear?system=true as an admin of this Directus, or restart it.';
    END IF;
END
$$;
COMMENT ON FUNCTION directus_sync.disable_app_config() IS
    'Removes what enable_app_config made: the three tables and their collections, fields, relations and permissions in Directus; remotes and subscriptions stay';

/* ---------------------------------------------------------------------------
 * 13. Privileges: nothing is executable or readable by PUBLIC (the schema's
 * USAGE went right after CREATE SCHEMA). Roles get EXECUTE or SELECT by GRANT,
 * as README says.
 * ------------------------------------------------------------------------- */

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA directus_sync FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA directus_sync FROM PUBLIC;
