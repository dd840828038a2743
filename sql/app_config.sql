-- enable_app_config and disable_app_config on the system tables of Directus
-- 10.13.4, 11.17.4 and 12.4.0 (t/directusNN_system.sql), each in a database
-- of its own whose Directus tables belong to a role standing for
-- Directus's. The checks common to the three are in
-- sql/app_config_version.psql.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE ROLE regress_ac_directus;     -- Directus's role: owns its tables
CREATE ROLE regress_ac_other;        -- any other role

-- Not a Directus database.
CREATE DATABASE regress_ac_none;
\c regress_ac_none
CREATE EXTENSION directus_sync;
SELECT directus_sync.enable_app_config();
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.disable_app_config();

CREATE DATABASE regress_ac10 OWNER regress_ac_directus;
\c regress_ac10
\set v 10
\ir sql/app_config_version.psql

CREATE DATABASE regress_ac11 OWNER regress_ac_directus;
\c regress_ac11
\set v 11
\ir sql/app_config_version.psql

CREATE DATABASE regress_ac12 OWNER regress_ac_directus;
\c regress_ac12
\set v 12
\ir sql/app_config_version.psql

-- A table of someone else's under one of the names: a plain one is refused
-- (directus_sync._reserve_app_tables, as in Directus's schema apply); one
-- made in SQL with the CHECKs is made, and enable_app_config refuses it.
CREATE EXTENSION directus_sync;
SET ROLE regress_ac_directus;
CREATE TABLE sync_remotes (id integer PRIMARY KEY);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE sync_remotes (id integer PRIMARY KEY, token text CHECK (token IS NULL),
                           CONSTRAINT directus_sync_app_table CHECK (true));
RESET ROLE;
SELECT directus_sync.enable_app_config();
\echo :LAST_ERROR_SQLSTATE
DROP TABLE sync_remotes;
DROP EXTENSION directus_sync;

\c contrib_regression
DROP DATABASE regress_ac_none;
DROP DATABASE regress_ac10;
DROP DATABASE regress_ac11;
DROP DATABASE regress_ac12;
DROP ROLE regress_ac_directus;
DROP ROLE regress_ac_other;
