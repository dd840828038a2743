-- DROP EXTENSION never destroys the mappings: the table stays with every row
-- and a later CREATE EXTENSION adopts it again.
\set SHOW_CONTEXT never

SELECT count(*) AS mappings_before FROM directus_sync_id_map \gset
-- Dropping some other extension leaves the map alone.
DROP EXTENSION IF EXISTS regress_no_such_extension;
SELECT count(*) AS still_member FROM pg_depend
 WHERE objid = 'directus_sync_id_map'::regclass AND deptype = 'e';

DROP EXTENSION directus_sync;
SELECT count(*) = :mappings_before AS all_rows_kept FROM directus_sync_id_map;
SELECT count(*) AS api_gone FROM pg_namespace WHERE nspname = 'directus_sync';
SELECT count(*) AS no_longer_member FROM pg_depend
 WHERE objid IN ('directus_sync_id_map'::regclass, 'directus_sync_id_map_id_seq'::regclass) AND deptype = 'e';
SELECT count(*) AS event_trigger_gone FROM pg_event_trigger WHERE evtname = 'directus_sync_keep_map_on_drop';

-- Created again: the same rows, through the API.
CREATE EXTENSION directus_sync;
SELECT count(*) = :mappings_before AS all_rows_adopted FROM directus_sync_id_map;
SELECT sync_id FROM directus_sync.get_by_local_id('items:articles', 'article-one');

-- CASCADE too; checked inside the transaction, then rolled back.
BEGIN;
DROP EXTENSION directus_sync CASCADE;
SELECT count(*) = :mappings_before AS kept_under_cascade FROM directus_sync_id_map;
ROLLBACK;
SELECT count(*) AS member_again FROM pg_depend
 WHERE objid = 'directus_sync_id_map'::regclass AND deptype = 'e';

-- The table is found by what it is, not by its name: renamed, it is kept too.
BEGIN;
ALTER TABLE directus_sync_id_map RENAME TO renamed_map;
ALTER SEQUENCE directus_sync_id_map_id_seq RENAME TO renamed_map_seq;
DROP EXTENSION directus_sync;
SELECT count(*) = :mappings_before AS renamed_kept FROM renamed_map;
ROLLBACK;

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
