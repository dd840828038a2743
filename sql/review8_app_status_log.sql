-- Review 8: the change log of the app status (app_status_change), written by
-- the statement triggers of conflict and dead_letter, is taken only by the
-- worker's refresh of an enabled app status. Conflicts come with incoming
-- syncs, also where no worker runs, so the triggers log only while the app
-- status is enabled; otherwise they leave the backlog mark, so that the
-- tables are compared whole once it is enabled. The dead letter count per
-- remote (remote_status.dead) is kept either way.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv8_appstatus;
\c regress_rv8_appstatus
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
-- the app status is not enabled here; the backlog of a new install is taken
DELETE FROM directus_sync.app_status_backlog;
INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, winner)
SELECT 1, 'articles', i::text, 'title', 'local' FROM generate_series(1, 3) i;
DELETE FROM directus_sync.conflict WHERE item_key = '1';
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, queued_at)
SELECT i, 1, 'articles', i::text, 'u', now() FROM generate_series(1, 2) i;
DELETE FROM directus_sync.dead_letter WHERE id = 1;
-- nothing logged that nobody would take; the tables are to be compared whole
SELECT count(*) AS changes_logged FROM directus_sync.app_status_change;
SELECT mirror FROM directus_sync.app_status_backlog ORDER BY mirror;
-- the dead letter count is kept
SELECT dead FROM directus_sync.remote_status WHERE remote = 'b';
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv8_appstatus;
