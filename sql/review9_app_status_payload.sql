-- Review 9: the app status copied every dead letter, with its payload (the
-- item's shipped values), into sync_dead_letters, and every conflict with
-- its values into sync_conflicts, which Directus's role may SELECT: a
-- remote the DBA made in SQL for a table Directus's role may not read
-- handed that table's values to Directus's role as soon as one of its
-- changes became a dead letter or met a conflict. The test failed before
-- the fix (the payload was readable). Checks: the rows of such a
-- collection are shown without their payload, error message, local and
-- remote values (kept: remote, collection, key, operation, status); SELECT
-- on some columns only is not enough; a GRANT of the table shows them at
-- the next refresh, a REVOKE withholds them again; a collection Directus's
-- role may read shows its values.
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
-- and a conflict of it
INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, local_value, remote_value, winner)
SELECT id, 'secrets', '1', 'secret', '"top-secret-ours"', '"top-secret-theirs"', 'remote'
  FROM directus_sync.remote WHERE name = 'dba';
-- Directus's own table, shipped too: its values are shown.
SET ROLE regress_r9p_directus;
CREATE TABLE articles (id serial PRIMARY KEY, title text);
RESET ROLE;
SELECT directus_sync.subscribe('dba', 'articles', ARRAY['title'], clocks => false) IS NOT NULL AS subscribed;
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT 2, id, 'articles', '5', 'u', '{"id": 5, "title": "public"}', now(), 400, 'Invalid title'
  FROM directus_sync.remote WHERE name = 'dba';
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SET ROLE regress_r9p_directus;
SELECT count(*) FROM secrets;
SELECT count(*) AS secret_values_readable FROM sync_dead_letters WHERE payload::text LIKE '%top-secret-value%';
-- the rows stay, without their values
SELECT id, remote, collection, item_key, operation, http_status, error_message, payload::text
  FROM sync_dead_letters ORDER BY id;
SELECT remote, collection, item_key, field, winner, local_value, remote_value FROM sync_conflicts;
RESET ROLE;
-- SELECT on some columns only: still withheld.
GRANT SELECT (id) ON secrets TO regress_r9p_directus;
SELECT directus_sync._app_status_refresh() AS written;
SELECT id, payload::text FROM sync_dead_letters ORDER BY id;
-- The table granted: shown at the next refresh.
GRANT SELECT ON secrets TO regress_r9p_directus;
SELECT directus_sync._app_status_refresh() AS written;
SELECT id, error_message, payload::text FROM sync_dead_letters ORDER BY id;
SELECT collection, local_value, remote_value FROM sync_conflicts;
-- Nothing changed: nothing written.
SELECT directus_sync._app_status_refresh() AS written;
-- Revoked: withheld again at the next refresh.
REVOKE SELECT ON secrets FROM regress_r9p_directus;
REVOKE SELECT (id) ON secrets FROM regress_r9p_directus;
SELECT directus_sync._app_status_refresh() AS written;
SELECT id, error_message, payload::text FROM sync_dead_letters ORDER BY id;
SELECT collection, local_value, remote_value FROM sync_conflicts;
-- A new dead letter of it, withheld as it comes.
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT 3, id, 'secrets', '2', 'u', '{"id": 2, "secret": "top-secret-two"}', now(), 400, 'Invalid payload'
  FROM directus_sync.remote WHERE name = 'dba';
SELECT directus_sync._app_status_refresh() AS written;
SELECT id, error_message, payload::text FROM sync_dead_letters ORDER BY id;

SET client_min_messages = warning;
SELECT directus_sync.disable_app_status();
SELECT directus_sync.remove_remote('dba');
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r9_payload;
DROP ROLE regress_r9p_directus;
DROP ROLE regress_r9p_other;
