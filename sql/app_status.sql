-- enable_app_status and disable_app_status on the system tables of Directus
-- 10.13.4, 11.17.4 and 12.4.0 (t/directusNN_system.sql), each in a database
-- of its own whose Directus tables belong to a role standing for
-- Directus's. The checks common to the three are in
-- sql/app_status_version.psql; the worker's refresh is called by hand.
\set SHOW_CONTEXT never
CREATE ROLE regress_as_directus;     -- Directus's role: owns its tables
CREATE ROLE regress_as_other;        -- any other role

-- Not a Directus database.
CREATE DATABASE regress_as_none;
\c regress_as_none
CREATE EXTENSION directus_sync;
SELECT directus_sync.enable_app_status();
\echo :LAST_ERROR_SQLSTATE
-- Nothing to remove: said, no error.
SELECT directus_sync.disable_app_status();

CREATE DATABASE regress_as10 OWNER regress_as_directus;
\c regress_as10
\set v 10
\ir sql/app_status_version.psql

CREATE DATABASE regress_as11 OWNER regress_as_directus;
\c regress_as11
\set v 11
\ir sql/app_status_version.psql

CREATE DATABASE regress_as12 OWNER regress_as_directus;
\c regress_as12
\set v 12
\ir sql/app_status_version.psql

-- On Directus 12 only: versions it does not know, a layout without a
-- column it writes, a table of someone else's under one of the names.
BEGIN;
INSERT INTO directus_migrations (version, name) VALUES ('20991231A', 'from the future');
SELECT directus_sync.enable_app_status();
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
DELETE FROM directus_migrations;
SELECT directus_sync.enable_app_status();
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
ALTER TABLE directus_presets DROP COLUMN refresh_interval;
SELECT directus_sync.enable_app_status();
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('sync_remotes_status') AS no_table_left;
-- Directus's role, which owns the schema, makes a table of its own under a
-- name: refused; and the worker's refresh does not take it for one of ours.
-- (A plain one is refused, directus_sync._reserve_app_tables; one with the
-- CHECK is made.)
SET ROLE regress_as_directus;
CREATE TABLE sync_dead_letters (id bigint PRIMARY KEY);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE sync_dead_letters (id bigint PRIMARY KEY, CONSTRAINT directus_sync_app_table CHECK (true));
RESET ROLE;
SELECT directus_sync.enable_app_status();
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync._app_status_refresh() AS refresh_without_our_tables;
DROP TABLE sync_dead_letters;
-- A table called like the folder.
CREATE TABLE sync_status (id integer PRIMARY KEY);
SELECT directus_sync.enable_app_status();
\echo :LAST_ERROR_SQLSTATE
DROP TABLE sync_status;
-- Only the extension's owner may call them.
SET ROLE regress_as_other;
SELECT directus_sync.enable_app_status();
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.disable_app_status();
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync._app_status_refresh();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

\c contrib_regression
DROP DATABASE regress_as_none;
DROP DATABASE regress_as10;
DROP DATABASE regress_as11;
DROP DATABASE regress_as12;
DROP ROLE regress_as_directus;
DROP ROLE regress_as_other;
