-- Review 11a: disable_app_config and disable_app_status refuse (2BP01, with
-- a hint naming the statement that removes it) while an object not theirs
-- depends on one of the app's tables (review 9: _app_tables_unreferenced),
-- also when it depends on the table's row type (a column of that type, a
-- function returning SETOF it) or on its id sequence (a default nextval of
-- it), review 11a: before the fix those were not seen and DROP TABLE failed
-- with PostgreSQL's own error, without the hint. The hint names the
-- statement for each kind; the refused disable leaves the registrations.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE ROLE regress_r11d_directus;
CREATE DATABASE regress_r11a_deps OWNER regress_r11d_directus;
\c regress_r11a_deps
CREATE EXTENSION directus_sync;
SET ROLE regress_r11d_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
-- the control: a view over sync_remotes is named, with its fix
CREATE VIEW remotes_view AS SELECT name FROM sync_remotes;
SELECT directus_sync.disable_app_config();
DROP VIEW remotes_view;
-- a function over the app's row type
CREATE FUNCTION remotes_all() RETURNS SETOF sync_remotes LANGUAGE sql AS 'SELECT * FROM sync_remotes';
-- refused: the function is named, with DROP FUNCTION
SELECT directus_sync.disable_app_config();
DROP FUNCTION remotes_all();
-- a default of another table taking ids from the app's sequence
CREATE TABLE my_ids (id integer DEFAULT nextval('sync_remotes_id_seq'::regclass));
-- refused: the default is named (on sync_remotes, the sequence's table), with ALTER ... DROP DEFAULT
SELECT directus_sync.disable_app_config();
DROP TABLE my_ids;
-- a column of the app status's row type
CREATE TABLE kept_letters (letter sync_dead_letters);
-- refused: the column is named, with ALTER TABLE ... DROP COLUMN
SELECT directus_sync.disable_app_status();
-- the registrations are still there (the transaction rolled back)
SELECT count(*) AS app_collections FROM directus_collections WHERE collection LIKE 'sync\_%';
DROP TABLE kept_letters;
SET client_min_messages = warning;
SELECT directus_sync.disable_app_config();
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r11a_deps;
DROP ROLE regress_r11d_directus;
