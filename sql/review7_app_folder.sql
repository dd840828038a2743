-- Review 7: the app status's and app config's folders (sync_status,
-- sync_config) are rows of directus_collections without a table, which
-- enable_app_status and enable_app_config make only where missing, and
-- which disable_app_status and disable_app_config delete by name. So:
--   * a folder of the user's that is already named sync_status is taken
--     over (the status collections go into it), and disable_app_status then
--     deletes it, the user's note and icon with it;
--   * a collection of the user's in that folder (theirs from before, or one
--     an administrator dragged into the status folder in the app) makes
--     disable_app_status fail on Directus's foreign key
--     directus_collections_group_foreign: the app status cannot be turned
--     off any more, and DROP EXTENSION leaves it behind.
-- Correct: enable_app_status refuses a folder it did not make (as it
-- refuses a table: 42P07), and disable_app_status never deletes a folder
-- that holds collections of others (they keep it, or are moved out); it
-- removes the app status in every case. The expected output shows the
-- CURRENT wrong results.
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
-- The user's own folder sync_status, with a collection of theirs in it.
CREATE TABLE sync_jobs (id serial PRIMARY KEY, title text);
INSERT INTO directus_collections (collection, icon, note) VALUES ('sync_status', 'folder_special', 'my own folder');
INSERT INTO directus_collections (collection, "group") VALUES ('sync_jobs', 'sync_status');
RESET ROLE;
-- Correct: refused (42P07). Now: the status collections go into the user's folder.
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SELECT collection, "group", icon, note FROM directus_collections WHERE collection LIKE 'sync%' ORDER BY collection;
-- Correct: the app status removed, the user's folder and collection kept. Now: an error, nothing removed.
SELECT directus_sync.disable_app_status();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS status_tables_left FROM pg_class
 WHERE relname IN ('sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts');
-- DROP EXTENSION: correct: nothing of the app status left. Now: its collections and tables stay.
SET client_min_messages = error;
DROP EXTENSION directus_sync;
RESET client_min_messages;
SELECT collection FROM directus_collections WHERE collection LIKE 'sync%' ORDER BY collection;
SELECT relname FROM pg_class
 WHERE relname IN ('sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts') ORDER BY relname;

-- The folder alone (no collection of the user's in it): disable_app_status
-- deletes the user's folder. Correct: it is kept (or enable refused it).
DROP TABLE sync_remotes_status, sync_remotes_history, sync_dead_letters, sync_conflicts;
SET ROLE regress_r7d_directus;
DELETE FROM directus_fields WHERE collection LIKE 'sync_%';
DELETE FROM directus_presets WHERE collection LIKE 'sync_%';
DELETE FROM directus_collections WHERE collection LIKE 'sync_%' AND collection <> 'sync_status';
DROP TABLE sync_jobs;
RESET ROLE;
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
SELECT collection, icon, note FROM directus_collections WHERE collection = 'sync_status';

\c contrib_regression
DROP DATABASE regress_r7_folder;
DROP ROLE regress_r7d_directus;
