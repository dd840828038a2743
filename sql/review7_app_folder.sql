-- Review 7: the app status's and app config's folders (sync_status,
-- sync_config) are rows of directus_collections without a table, which
-- enable_app_status and enable_app_config make. Checked here:
--   * a folder of the user's already named sync_status (sync_config) is
--     refused (42P07), as a table of that name is, and left as it is;
--   * a collection of the user's in our folder (one an administrator
--     dragged there in the app) is moved out to the top level by
--     disable_app_status (disable_app_config), which then removes the
--     folder and the rest: Directus's foreign key
--     directus_collections_group_foreign does not make them fail;
--   * the same through DROP EXTENSION: nothing of the app status is left.
-- (The test failed before the fix: the status collections went into the
-- user's folder, disable_app_status failed on the foreign key, and DROP
-- EXTENSION left the app status behind.)
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r7d_directus;
CREATE DATABASE regress_r7_folder OWNER regress_r7d_directus;
\c regress_r7_folder
CREATE EXTENSION directus_sync;
SET ROLE regress_r7d_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
-- The user's own folders sync_status and sync_config, with a collection of theirs in one.
CREATE TABLE sync_jobs (id serial PRIMARY KEY, title text);
INSERT INTO directus_collections (collection, icon, note) VALUES ('sync_status', 'folder_special', 'my own folder');
INSERT INTO directus_collections (collection, icon, note) VALUES ('sync_config', 'folder', NULL);
INSERT INTO directus_collections (collection, "group") VALUES ('sync_jobs', 'sync_status');
RESET ROLE;
-- Refused (42P07), nothing made.
SELECT directus_sync.enable_app_status();
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.enable_app_config();
\echo :LAST_ERROR_SQLSTATE
SELECT collection, "group", icon, note FROM directus_collections WHERE collection LIKE 'sync%' ORDER BY collection;
SELECT count(*) AS app_tables FROM pg_class
 WHERE relname IN ('sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts',
                   'sync_remotes', 'sync_subscriptions', 'sync_remotes_notify_users');

-- The user renames their folders away (here: deletes them); the app status and config are enabled.
SET ROLE regress_r7d_directus;
UPDATE directus_collections SET "group" = NULL WHERE collection = 'sync_jobs';
DELETE FROM directus_collections WHERE collection IN ('sync_status', 'sync_config');
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
-- An administrator drags the user's collection into our folder, then
-- into the other: disable moves it out before removing the folder.
SET ROLE regress_r7d_directus;
UPDATE directus_collections SET "group" = 'sync_status' WHERE collection = 'sync_jobs';
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
SELECT collection, "group" FROM directus_collections WHERE collection LIKE 'sync%' ORDER BY collection;
SET ROLE regress_r7d_directus;
UPDATE directus_collections SET "group" = 'sync_config' WHERE collection = 'sync_jobs';
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
SELECT collection, "group" FROM directus_collections WHERE collection LIKE 'sync%' ORDER BY collection;
SELECT count(*) AS app_tables FROM pg_class
 WHERE relname IN ('sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts',
                   'sync_remotes', 'sync_subscriptions', 'sync_remotes_notify_users');

-- DROP EXTENSION with the user's collection in our folder: nothing of the app status left.
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SET ROLE regress_r7d_directus;
UPDATE directus_collections SET "group" = 'sync_status' WHERE collection = 'sync_jobs';
RESET ROLE;
SET client_min_messages = error;
DROP EXTENSION directus_sync;
RESET client_min_messages;
SELECT collection, "group" FROM directus_collections WHERE collection LIKE 'sync%' ORDER BY collection;
SELECT relname FROM pg_class
 WHERE relname IN ('sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts') ORDER BY relname;

\c contrib_regression
DROP DATABASE regress_r7_folder;
DROP ROLE regress_r7d_directus;
