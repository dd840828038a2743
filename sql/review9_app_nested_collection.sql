-- Review 9: Directus lets an administrator nest a collection under any
-- collection (directus_collections.group), not only under a folder. Review 7
-- made disable_app_status and disable_app_config move the collections of
-- others out of their folder before deleting it, "so neither it nor DROP
-- EXTENSION fails on Directus's foreign key directus_collections_group_foreign";
-- a collection nested under one of the app's own collections
-- (sync_remotes_status, sync_subscriptions) is not moved: the delete of that
-- collection's row fails on the foreign key (23503), disable fails, and DROP
-- EXTENSION leaves the tables and registrations behind with a WARNING.
-- Expected: both disables pass, the nested collections move to the top
-- level, the app's collections are gone.
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
-- WRONG today: ERROR:  23503 (each); expected: no error
SELECT directus_sync.disable_app_status();
SELECT directus_sync.disable_app_config();
\set VERBOSITY terse
RESET client_min_messages;
-- WRONG today: every sync_* row still there, notes and notes2 under them;
-- expected: only notes and notes2, at the top level
SELECT collection, "group" FROM directus_collections ORDER BY 1;
SELECT count(*) AS app_tables_left FROM pg_class
 WHERE relname IN ('sync_remotes', 'sync_subscriptions', 'sync_remotes_status', 'sync_dead_letters') AND relkind = 'r';

\c contrib_regression
DROP DATABASE regress_r9_nested;
DROP ROLE regress_r9n_directus;
