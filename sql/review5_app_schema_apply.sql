-- Review 5: Directus's schema snapshot carries the app config's and the app
-- status's collections as ordinary ones, and applying it where they are not
-- enabled made them as plain tables (the token stored in clear, nothing
-- replicated, enable_app_config refusing them afterwards). Correct: a table
-- of one of their names in a schema of Directus is refused unless it carries
-- directus_sync's CHECKs (directus_sync._reserve_app_tables, an event
-- trigger); enable_app_config and enable_app_status make theirs with them.
-- The apply on real Directus: t/075.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r5s_directus;
CREATE DATABASE regress_r5_schema OWNER regress_r5s_directus;
\c regress_r5_schema
CREATE EXTENSION directus_sync;
SET ROLE regress_r5s_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
SELECT evtname, evtevent, evtenabled, evttags FROM pg_event_trigger
 WHERE evtname = 'directus_sync_reserve_app_tables';
-- the SQLSTATE of the statement, NULL when it worked; what it did is undone
CREATE FUNCTION r5s_state(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RAISE EXCEPTION 'undo' USING ERRCODE = 'R5S00';
EXCEPTION WHEN SQLSTATE 'R5S00' THEN
    RETURN NULL;
WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
GRANT EXECUTE ON FUNCTION r5s_state(text) TO regress_r5s_directus;

-- What Directus's apply runs (knex's DDL of the snapshot's collections), as
-- Directus's role, in one transaction: refused, the user's collection too.
SET ROLE regress_r5s_directus;
BEGIN;
create table "articles" ("id" serial primary key, "title" varchar(255));
create table "sync_remotes" ("id" serial primary key, "name" text not null, "url" text not null, "token" text,
    "enabled" boolean not null default '1', "paused" boolean not null default '0', "inbound_user" uuid,
    "forward_inbound" boolean not null default '1', "verify_tls" boolean not null default '1');
ROLLBACK;
\set VERBOSITY default
create table "sync_remotes" ("id" serial primary key, "token" text);
\set VERBOSITY terse
SELECT to_regclass('articles') AS articles, to_regclass('sync_remotes') AS sync_remotes;
-- Each name, plain, and as other kinds of relation.
SELECT t, r5s_state(format('CREATE TABLE %I (id integer PRIMARY KEY)', t)) AS plain,
          r5s_state(format('CREATE TABLE %I AS SELECT 1 AS id', t)) AS table_as,
          r5s_state(format('CREATE VIEW %I AS SELECT 1 AS id', t)) AS view,
          r5s_state(format('CREATE MATERIALIZED VIEW %I AS SELECT 1 AS id', t)) AS matview,
          r5s_state(format('CREATE TABLE %I (id integer PRIMARY KEY, CONSTRAINT directus_sync_app_table CHECK (true))', t)) AS with_check
  FROM unnest(ARRAY['sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions', 'sync_remotes_status',
                    'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts']) AS t;
-- sync_remotes needs both CHECKs.
SELECT r5s_state('CREATE TABLE sync_remotes (id integer, token text CHECK (token IS NULL))') AS token_check_only,
       r5s_state('CREATE TABLE sync_remotes (id integer, token text, CONSTRAINT directus_sync_app_table CHECK (true))') AS marker_only,
       r5s_state('CREATE TABLE sync_remotes (id integer, token text CHECK (token IS NULL), CONSTRAINT directus_sync_app_table CHECK (true))') AS both;
-- Other names, and the names in a schema without Directus's tables: made.
SELECT r5s_state('CREATE TABLE sync_remotes_copy (id integer PRIMARY KEY)') AS other_name;
RESET ROLE;
CREATE SCHEMA regress_not_directus AUTHORIZATION regress_r5s_directus;
SET ROLE regress_r5s_directus;
SELECT r5s_state('CREATE TABLE regress_not_directus.sync_remotes (id integer PRIMARY KEY, token text)') AS not_directus;
RESET ROLE;
-- A superuser is refused as well.
SELECT r5s_state('CREATE TABLE sync_subscriptions (id integer PRIMARY KEY)') AS superuser;

-- enable_app_config and enable_app_status make their tables with the CHECKs,
-- after a refused apply, and again after disabling.
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SELECT conrelid::regclass AS app_table, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
 WHERE contype = 'c' AND conrelid::regclass::text LIKE 'sync\_%' ORDER BY conrelid::regclass::text, conname;
SELECT directus_sync._app_table(t, 'config') IS NOT NULL AS ours, count(*)
  FROM unnest(ARRAY['sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions']) AS t GROUP BY 1;
-- Tables made by a build before the CHECK get it from a re-run.
ALTER TABLE sync_remotes DROP CONSTRAINT directus_sync_app_table;
ALTER TABLE sync_conflicts DROP CONSTRAINT directus_sync_app_table;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SELECT conrelid::regclass AS app_table FROM pg_constraint
 WHERE contype = 'c' AND conname = 'directus_sync_app_table' ORDER BY conrelid::regclass::text;
SET client_min_messages = warning;
SELECT directus_sync.disable_app_config();
SELECT directus_sync.disable_app_status();
SELECT directus_sync.enable_app_config();
SELECT directus_sync.enable_app_status();
SELECT directus_sync.disable_app_config();
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
-- DROP EXTENSION takes the event trigger along.
DROP EXTENSION directus_sync;
SELECT count(*) AS event_triggers_left FROM pg_event_trigger WHERE evtname = 'directus_sync_reserve_app_tables';
SET ROLE regress_r5s_directus;
SELECT r5s_state('CREATE TABLE sync_remotes (id integer PRIMARY KEY)') AS without_extension;
RESET ROLE;
\c contrib_regression
DROP DATABASE regress_r5_schema;
DROP ROLE regress_r5s_directus;
