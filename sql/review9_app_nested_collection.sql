-- Review 9: Directus lets an administrator nest a collection under any
-- collection (directus_collections.group), not only under a folder.
-- disable_app_status and disable_app_config move the collections of others
-- nested under their collections to the top level too, not only those in
-- their folder, so that neither they nor DROP EXTENSION fail on Directus's
-- foreign key directus_collections_group_foreign (23503 before the fix:
-- disable failed, DROP EXTENSION left tables and registrations behind).
-- Checked: both disables pass, the nested collections are at the top level,
-- the app's collections and tables are gone.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r9n_directus;
CREATE DATABASE regress_r9_nested OWNER regress_r9n_directus;
\c regress_r9_nested
CREATE EXTENSION directus_sync;
SET ROLE regress_r9n_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
-- An administrator nests two collections of theirs under the app's.
SET ROLE regress_r9n_directus;
CREATE TABLE notes (id serial PRIMARY KEY, t text);
CREATE TABLE notes2 (id serial PRIMARY KEY, t text);
INSERT INTO directus_collections (collection, "group") VALUES ('notes', 'sync_remotes_status'), ('notes2', 'sync_subscriptions');
RESET ROLE;
SET client_min_messages = warning;
\set VERBOSITY sqlstate
-- no error (23503 each before the fix)
SELECT directus_sync.disable_app_status();
SELECT directus_sync.disable_app_config();
\set VERBOSITY terse
RESET client_min_messages;
-- only notes and notes2 are left, at the top level
SELECT collection, "group" FROM directus_collections ORDER BY 1;
SELECT count(*) AS app_tables_left FROM pg_class
 WHERE relname IN ('sync_remotes', 'sync_subscriptions', 'sync_remotes_status', 'sync_dead_letters') AND relkind = 'r';

-- An object of someone else's on one of the app's tables: a DBA's foreign
-- key (a many-to-one field to sync_remotes), a view of Directus's role. DROP TABLE would fail on
-- it after the rows in Directus's tables were gone: disable refuses first,
-- naming it and how to drop it, and changes nothing.
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
-- (Directus's role may not make the foreign key: no REFERENCES privilege)
CREATE TABLE notes3 (id serial PRIMARY KEY, remote integer REFERENCES sync_remotes);
SET ROLE regress_r9n_directus;
CREATE VIEW late_remotes AS SELECT remote FROM sync_remotes_status WHERE lag_seconds > 60;
RESET ROLE;
\set VERBOSITY default
SELECT directus_sync.disable_app_config();
SELECT directus_sync.disable_app_status();
\set VERBOSITY terse
SELECT count(*) AS still_registered FROM directus_collections WHERE collection LIKE 'sync\_%';
-- dropped, disable passes
ALTER TABLE notes3 DROP CONSTRAINT notes3_remote_fkey;
DROP VIEW late_remotes;
SET client_min_messages = warning;
SELECT directus_sync.disable_app_config();
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
SELECT count(*) AS still_registered FROM directus_collections WHERE collection LIKE 'sync\_%';

\c contrib_regression
DROP DATABASE regress_r9_nested;
DROP ROLE regress_r9n_directus;
