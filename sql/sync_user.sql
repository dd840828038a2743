-- create_sync_user on the system tables of Directus 10.13.4, 11.17.4 and
-- 12.4.0 (t/directusNN_system.sql, read from real bootstrapped databases),
-- each in a database of its own whose Directus tables belong to a role of
-- their own, as Directus's belong to Directus's role. The checks that are
-- the same for every version are in sql/sync_user_version.psql.
\set SHOW_CONTEXT never
CREATE ROLE regress_directus;        -- Directus's role: owns its tables
CREATE ROLE regress_dsync_admin;     -- an administrator of directus_sync
CREATE ROLE regress_dsync_other;     -- any other role

-- Not a Directus database: it has no Directus tables.
CREATE DATABASE regress_directus_none;
\c regress_directus_none
CREATE EXTENSION directus_sync;
SELECT directus_sync.create_sync_user('a', ARRAY['articles']);
\echo :LAST_ERROR_SQLSTATE

-- Directus 10.13.4: roles with admin_access and app_access, permissions.role.
CREATE DATABASE regress_directus10 OWNER regress_directus;
\c regress_directus10
\set v 10
\ir sql/sync_user_version.psql

-- Directus 11.17.4: policies, directus_access, permissions.policy.
CREATE DATABASE regress_directus11 OWNER regress_directus;
\c regress_directus11
\set v 11
\ir sql/sync_user_version.psql

-- Directus 12.4.0: as 11 (directus_collections has two more columns).
CREATE DATABASE regress_directus12 OWNER regress_directus;
\c regress_directus12
\set v 12
\ir sql/sync_user_version.psql

-- Input, on Directus 12.
SELECT pg_temp.try(c) AS refused, c AS call FROM (VALUES
    ($$SELECT directus_sync.create_sync_user(NULL, ARRAY['articles'])$$),
    ($$SELECT directus_sync.create_sync_user('', ARRAY['articles'])$$),
    ($$SELECT directus_sync.create_sync_user(repeat('p', 64), ARRAY['articles'])$$),
    ($$SELECT directus_sync.create_sync_user('e', NULL)$$),
    ($$SELECT directus_sync.create_sync_user('e', '{}')$$),
    ($$SELECT directus_sync.create_sync_user('e', '{{articles},{pages}}')$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['articles', NULL])$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['articles', 'pages', 'articles'])$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['articles', 'directus_users'])$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['directus_sync_id_map'])$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['articles', ''])$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['articles', 'nowhere'])$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['articles_view'])$$),
    ($$SELECT directus_sync.create_sync_user('e', ARRAY['articles'], rotate_token => NULL)$$)) AS t(c);
SELECT count(*) AS sync_users_of_e FROM directus_sync.sync_user WHERE peer = 'e';
-- A collection of Directus's without a table of its own (a folder) and a
-- table Directus has not configured yet are both collections.
SELECT directus_sync.create_sync_user('f', ARRAY['folder', 'pages']) ~ '^ds_[0-9a-f]{64}$' AS token_made;

-- Versions it does not know: newer than 12.4, older than 10 (9.x), and
-- tables that are not the layout their migrations say.
BEGIN;
INSERT INTO directus_migrations (version, name) VALUES ('20991231A', 'from the future');
SELECT directus_sync.create_sync_user('g', ARRAY['articles']);
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
DELETE FROM directus_migrations WHERE version >= '20230401A';
SELECT directus_sync.create_sync_user('g', ARRAY['articles']);
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
DELETE FROM directus_migrations;
SELECT directus_sync.create_sync_user('g', ARRAY['articles']);
ROLLBACK;
BEGIN;
ALTER TABLE directus_permissions RENAME COLUMN policy TO role;
SELECT directus_sync.create_sync_user('g', ARRAY['articles']);
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
DROP TABLE directus_access;
SELECT directus_sync.create_sync_user('g', ARRAY['articles']);
ROLLBACK;

-- An error of the statement that sets the token never shows it: here a
-- CHECK constraint of Directus's role's making refuses it (its DETAIL,
-- "Failing row contains (...)", would).
BEGIN;
ALTER TABLE directus_users ADD CONSTRAINT no_sync_tokens CHECK (token NOT LIKE 'ds\_%') NOT VALID;
SELECT pg_temp.try($$SELECT directus_sync.create_sync_user('h', ARRAY['articles'])$$) AS refused;
ROLLBACK;

\c contrib_regression
DROP DATABASE regress_directus_none;
DROP DATABASE regress_directus10;
DROP DATABASE regress_directus11;
DROP DATABASE regress_directus12;
DROP ROLE regress_directus;
DROP ROLE regress_dsync_admin;
DROP ROLE regress_dsync_other;
