-- sync_remotes_status.refreshed_at: when the worker's refresh last found a
-- remote's figures current. Without it, figures frozen by refreshes skipped
-- for long (a lock of Directus's role outlasting the refresh's 100 ms
-- lock_timeout, no worker) looked current in the app. Checked: set by
-- enable's refresh; a refresh within 10 s of it writes nothing (xmin kept,
-- 0 written); one when it is older sets it to now, still counting 0
-- written; registered in directus_fields as a datetime; in the default
-- layout; a table of an earlier build without the column gets it from
-- enable_app_status.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_ra_directus;
CREATE DATABASE regress_refreshed_at OWNER regress_ra_directus;
\c regress_refreshed_at
CREATE EXTENSION directus_sync;
SET ROLE regress_ra_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 'tok-b', enabled => false);
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SELECT remote, refreshed_at > now() - interval '1 min' AS refreshed FROM sync_remotes_status;
-- Within 10 s: nothing written, not even refreshed_at.
SELECT xmin AS xmin_before FROM sync_remotes_status \gset
SELECT directus_sync._app_status_refresh() AS written;
SELECT xmin = :'xmin_before'::xid AS untouched FROM sync_remotes_status;
-- Frozen for a minute (a refresh skipped): the next refresh says it is current again.
SET directus_sync.app_status_writer = on;
UPDATE sync_remotes_status SET refreshed_at = now() - interval '1 min';
RESET directus_sync.app_status_writer;
SELECT directus_sync._app_status_refresh() AS written;
SELECT remote, refreshed_at > now() - interval '10 s' AS refreshed FROM sync_remotes_status;
-- Shown to administrators as a relative datetime, read-only, in the default layout.
SELECT field, interface, display, display_options::text, readonly, sort FROM directus_fields
 WHERE collection = 'sync_remotes_status' AND field IN ('changed_at', 'refreshed_at') ORDER BY sort;
SELECT layout_query::jsonb->'tabular'->'fields' ? 'refreshed_at' AS in_layout
  FROM directus_presets WHERE collection = 'sync_remotes_status';
-- A table made before the column: enable_app_status adds it (and its field).
ALTER TABLE sync_remotes_status DROP COLUMN refreshed_at;
DELETE FROM directus_fields WHERE collection = 'sync_remotes_status' AND field = 'refreshed_at';
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SELECT directus_sync._app_status_refresh() AS written;
SELECT remote, refreshed_at > now() - interval '1 min' AS refreshed FROM sync_remotes_status;
SELECT count(*) AS registered FROM directus_fields WHERE collection = 'sync_remotes_status' AND field = 'refreshed_at';

\c contrib_regression
DROP DATABASE regress_refreshed_at;
DROP ROLE regress_ra_directus;
