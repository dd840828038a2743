-- Review 9: the app status copies every dead letter, with its payload (the
-- item's shipped values), into sync_dead_letters, which Directus's role may
-- SELECT (and Directus shows to its administrators). A remote the DBA made
-- in SQL for a table Directus's role may not read (the case review 7's
-- _app_config_remote_check guards for the URL) then hands that table's
-- values to Directus's role as soon as one of its changes becomes a dead
-- letter (a 4xx of the remote, say). Same for sync_conflicts'
-- local_value/remote_value. Expected: Directus's role reads no value of a
-- table it may not read through the status tables (the row left out, or
-- its payload and error text withheld).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r9p_directus;
CREATE ROLE regress_r9p_other;
CREATE DATABASE regress_r9_payload OWNER regress_r9p_directus;
\c regress_r9_payload
CREATE EXTENSION directus_sync;
SET ROLE regress_r9p_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
-- Another role's table in Directus's schema, that Directus's role cannot read.
CREATE TABLE secrets (id serial PRIMARY KEY, secret text);
ALTER TABLE secrets OWNER TO regress_r9p_other;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('dba', 'https://b.example.com/', 'secret-token-dba', enabled => false);
SELECT directus_sync.subscribe('dba', 'secrets', ARRAY['secret'], clocks => false) IS NOT NULL AS subscribed;
-- A change of secrets the remote refused for good (what the worker records).
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT 1, id, 'secrets', '1', 'c', '{"id": 1, "secret": "top-secret-value"}', now(), 400, 'Invalid payload'
  FROM directus_sync.remote WHERE name = 'dba';
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SET ROLE regress_r9p_directus;
SELECT count(*) FROM secrets;
-- WRONG today: 1; expected 0
SELECT count(*) AS secret_values_readable FROM sync_dead_letters WHERE payload::text LIKE '%top-secret-value%';
RESET ROLE;

SET client_min_messages = warning;
SELECT directus_sync.disable_app_status();
SELECT directus_sync.remove_remote('dba');
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r9_payload;
DROP ROLE regress_r9p_directus;
DROP ROLE regress_r9p_other;
