-- DROP EXTENSION never destroys the mappings: the table stays with every row
-- and a later CREATE EXTENSION adopts it again.
\set SHOW_CONTEXT never

-- The whole map, every column of every row in id order, as one digest: a
-- check of "every row kept" compares content, not only the count.
CREATE FUNCTION regress_map_digest() RETURNS text LANGUAGE sql AS $$
  SELECT count(*) || ' rows ' || md5(coalesce(string_agg(format('%s|%s|%s|%s|%s', id, "table", sync_id, local_id, created_at),
                                                          E'\n' ORDER BY id), ''))
    FROM directus_sync_id_map
$$;
SELECT count(*) > 0 AS has_mappings FROM directus_sync_id_map;
SELECT regress_map_digest() AS map_before \gset
SELECT 'directus_sync_id_map'::regclass::oid AS map_oid, 'directus_sync_id_map_id_seq'::regclass::oid AS seq_oid \gset
-- Dropping some other extension leaves the map alone.
DROP EXTENSION IF EXISTS regress_no_such_extension;
SELECT count(*) AS still_member FROM pg_depend
 WHERE objid = 'directus_sync_id_map'::regclass AND deptype = 'e';

DROP EXTENSION directus_sync;
SELECT regress_map_digest() = :'map_before' AS all_rows_kept;
SELECT count(*) AS api_gone FROM pg_namespace WHERE nspname = 'directus_sync';
SELECT count(*) AS no_longer_member FROM pg_depend
 WHERE objid IN ('directus_sync_id_map'::regclass, 'directus_sync_id_map_id_seq'::regclass) AND deptype = 'e';
SELECT count(*) AS event_trigger_gone FROM pg_event_trigger WHERE evtname = 'directus_sync_keep_map_on_drop';

-- Created again: the same rows, through the API.
CREATE EXTENSION directus_sync;
SELECT regress_map_digest() = :'map_before' AS all_rows_adopted;
SELECT sync_id FROM directus_sync.get_by_local_id('items:articles', 'article-one');

-- CASCADE too; checked inside the transaction, then rolled back.
BEGIN;
DROP EXTENSION directus_sync CASCADE;
SELECT regress_map_digest() = :'map_before' AS kept_under_cascade;
ROLLBACK;
SELECT count(*) AS member_again FROM pg_depend
 WHERE objid = 'directus_sync_id_map'::regclass AND deptype = 'e';

-- The table is found by what it is, not by its name: renamed, it is kept too.
BEGIN;
ALTER TABLE directus_sync_id_map RENAME TO renamed_map;
ALTER SEQUENCE directus_sync_id_map_id_seq RENAME TO renamed_map_seq;
DROP EXTENSION directus_sync;
ALTER TABLE renamed_map RENAME TO directus_sync_id_map;
SELECT regress_map_digest() = :'map_before' AS renamed_kept;
ROLLBACK;
SELECT regress_map_digest() = :'map_before' AS unchanged_after_rollback;

-- What DROP EXTENSION's event trigger does not cover, as docs/operations.md
-- says: DROP SCHEMA ... CASCADE of the table's schema drops the table like any
-- other table in it (the extension goes with the schema), and DROP OWNED BY
-- the extension's owner drops it with everything else that role owns. Each
-- checked inside a transaction, then rolled back.
BEGIN;
SET LOCAL client_min_messages = warning;
DROP SCHEMA public CASCADE;
SELECT NOT EXISTS (SELECT FROM pg_class WHERE oid IN (:map_oid, :seq_oid)) AS map_dropped_with_schema,
       NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'directus_sync') AS extension_dropped_with_schema;
ROLLBACK;
-- The extension's owner here is the bootstrap superuser, whose objects DROP
-- OWNED cannot drop: make another superuser the owner by dropping the
-- extension (the map stays) and creating it again as that role, which adopts
-- the map and takes it over.
BEGIN;
CREATE ROLE regress_ext_owner SUPERUSER;
SET LOCAL client_min_messages = warning;
DROP EXTENSION directus_sync;
SET ROLE regress_ext_owner;
CREATE EXTENSION directus_sync;
RESET ROLE;
SELECT pg_get_userbyid(extowner) AS extension_owner FROM pg_extension WHERE extname = 'directus_sync';
SELECT regress_map_digest() = :'map_before' AS adopted_by_new_owner;
DROP OWNED BY regress_ext_owner;
SELECT NOT EXISTS (SELECT FROM pg_class WHERE oid IN (:map_oid, :seq_oid)) AS map_dropped_by_drop_owned,
       NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'directus_sync') AS extension_dropped_by_drop_owned;
ROLLBACK;
SELECT regress_map_digest() = :'map_before' AS unchanged_after_rollback;

-- Only the extension's owner may drop it, and gets PostgreSQL's own error.
CREATE ROLE regress_not_owner;
SET ROLE regress_not_owner;
DROP EXTENSION directus_sync;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE regress_not_owner;

-- directus_sync.keep_map_on_drop = off (for pg_restore --clean) lets the
-- table go with the extension.
BEGIN;
SET LOCAL directus_sync.keep_map_on_drop = off;
DROP EXTENSION directus_sync;
SELECT to_regclass('directus_sync_id_map') AS map_dropped;
ROLLBACK;
SHOW directus_sync.keep_map_on_drop;

-- Dropping the table is an explicit act: then CREATE EXTENSION makes a fresh
-- one with exactly the layout of the adopted table.
DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map;
CREATE EXTENSION directus_sync;
SELECT * FROM regress_map_layout();
SELECT count(*) AS empty FROM directus_sync_id_map;
SELECT directus_sync.create_mapping('roles', 'fresh', 'fresh-sync');
SELECT id FROM directus_sync_id_map;
