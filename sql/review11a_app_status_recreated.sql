-- Review 11a: the app status's decision whether Directus's role may read a
-- collection's dead letters' values (app_status_readable) is pinned to the
-- table (its oid), not to the collection's name. Another role's table,
-- whose dead letters are shown without their values, is dropped (the dead
-- letters stay in directus_sync.dead_letter); Directus's role makes a
-- table of the same name (any Directus admin can create a collection
-- "secrets"): the dropped table's dead letters stay withheld (before the
-- fix, the next refresh showed them). Once the collection has no dead
-- letter and no conflict left, the pin is let go.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r11r_directus;
CREATE ROLE regress_r11r_other;
CREATE DATABASE regress_r11a_recreated OWNER regress_r11r_directus;
\c regress_r11a_recreated
CREATE EXTENSION directus_sync;
SET ROLE regress_r11r_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
CREATE TABLE secrets (id serial PRIMARY KEY, secret text);
ALTER TABLE secrets OWNER TO regress_r11r_other;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('dba', 'https://b.example.com/', 'secret-token-dba', enabled => false);
SELECT directus_sync.subscribe('dba', 'secrets', ARRAY['secret'], clocks => false) IS NOT NULL AS subscribed;
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT 1, id, 'secrets', '1', 'c', '{"id": 1, "secret": "top-secret-value"}', now(), 400, 'Invalid "top-secret-value"'
  FROM directus_sync.remote WHERE name = 'dba';
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
SET ROLE regress_r11r_directus;
-- the control: withheld
SELECT id, payload::text, error_message FROM sync_dead_letters;
RESET ROLE;
SET client_min_messages = error;
DROP TABLE secrets;
RESET client_min_messages;
SELECT count(*) AS dead_letters_kept FROM directus_sync.dead_letter;
SET ROLE regress_r11r_directus;
CREATE TABLE secrets (id serial PRIMARY KEY, secret text);
RESET ROLE;
SELECT directus_sync._app_status_refresh() IS NOT NULL AS refreshed;
SET ROLE regress_r11r_directus;
-- still withheld: the dropped table's values, not the new table's
SELECT id, payload::text, error_message FROM sync_dead_letters;
RESET ROLE;
-- Once the collection has no dead letter and no conflict left, the pin is
-- let go: a dead letter of the new table (Directus's role's own) shows its
-- values.
DELETE FROM directus_sync.dead_letter;
SELECT directus_sync._app_status_refresh() IS NOT NULL AS refreshed;
SELECT count(*) AS pins_left FROM directus_sync.app_status_readable;
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT 2, id, 'secrets', '2', 'c', '{"id": 2, "secret": "own-value"}', now(), 400, 'Invalid "own-value"'
  FROM directus_sync.remote WHERE name = 'dba';
SELECT directus_sync._app_status_refresh() IS NOT NULL AS refreshed;
SELECT relid = 'secrets'::regclass AS pinned_to_new_table, readable FROM directus_sync.app_status_readable;
SET ROLE regress_r11r_directus;
SELECT id, payload::text, error_message FROM sync_dead_letters;
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.remove_remote('dba');
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r11a_recreated;
DROP ROLE regress_r11r_directus;
DROP ROLE regress_r11r_other;
