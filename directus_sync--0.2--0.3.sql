/* directus_sync--0.2--0.3.sql: 0.2 -> 0.3.
 *
 * No change of behaviour. directus_sync.subscribe is split into a short public
 * function and two private helpers, _subscribable_table and _check_fields,
 * with the same checks in the same order, the same messages and SQLSTATEs.
 * directus_sync--0.3.sql creates the same objects in one piece; keep the two
 * in step (t/003_install_paths.pl compares their catalogs).
 */

\echo Use "ALTER EXTENSION directus_sync UPDATE TO '0.3'" to load this file. \quit

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
    rel := to_regclass(format('%I.%I', '@extschema@', collection));
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
    -- Each instance's Directus sets these itself on every write: shipped, they
    -- would differ on arrival, look like conflicts and travel back and forth.
    IF to_regclass('@extschema@.directus_fields') IS NOT NULL THEN
        EXECUTE 'SELECT min(field) FROM @extschema@.directus_fields
                  WHERE collection = $1 AND field = ANY ($2)
                    AND string_to_array(special, '','') && ARRAY[''date-created'', ''date-updated'',
                        ''user-created'', ''user-updated'', ''hash'']'
           INTO f USING _check_fields.collection, fields;
        IF f IS NOT NULL THEN
            RAISE EXCEPTION 'field "%" of collection "%" is set by each Directus instance itself', f, collection
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Directus fills date-created, date-updated, user-created, user-updated and hash fields on every instance.',
                      HINT = 'Leave it out of the fields to ship.';
        END IF;
    END IF;
END
$$;

-- The same signature: subscribe keeps its oid, its privileges and its comment.
CREATE OR REPLACE FUNCTION directus_sync.subscribe(remote text, collection text, fields text[],
                                                   singleton boolean DEFAULT NULL)
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
BEGIN
    SELECT t.rel, t.key_column, t.key_is_number INTO rel, key_name, numeric_key
      FROM directus_sync._subscribable_table(subscribe.collection) t;
    PERFORM directus_sync._check_fields(rel, subscribe.collection, fields);

    IF is_singleton IS NULL THEN
        is_singleton := false;
        IF to_regclass('@extschema@.directus_collections') IS NOT NULL THEN
            EXECUTE 'SELECT coalesce(bool_or(singleton), false) FROM @extschema@.directus_collections WHERE collection = $1'
               INTO is_singleton USING subscribe.collection;
        END IF;
    END IF;

    INSERT INTO directus_sync.subscription AS s (remote_id, collection, relid, key_column, key_is_number, fields, singleton)
    VALUES (rid, subscribe.collection, rel, key_name, numeric_key, fields, is_singleton)
    ON CONFLICT ON CONSTRAINT subscription_pkey DO UPDATE
       SET relid = EXCLUDED.relid, key_column = EXCLUDED.key_column,
           key_is_number = EXCLUDED.key_is_number, fields = EXCLUDED.fields, singleton = EXCLUDED.singleton;
    PERFORM directus_sync._apply_config(ARRAY[rel]);
END
$$;

REVOKE ALL ON FUNCTION directus_sync._subscribable_table(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION directus_sync._check_fields(regclass, text, text[]) FROM PUBLIC;
