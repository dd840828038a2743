-- Review 7: through the app config, Directus's role could subscribe a
-- table of its schema that it does not own and may not even read (another
-- role's), and so ship its rows to a URL of its choice: the AFTER trigger of
-- sync_subscriptions calls subscribe as the extension's owner, which put
-- capture and TRUNCATE triggers on the other role's table, and the worker
-- read and sent its changes (as the table's owner); with an inbound user,
-- the table got clocks (a column, a key default, triggers) too.
-- Checks: the app's subscription of a table the writing role does not own
-- (or may not SELECT and UPDATE) is refused (42501, by the BEFORE trigger
-- _app_config_subscription_check), nothing subscribed, no trigger made,
-- nothing queued, the table unchanged.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r7f_directus;
CREATE ROLE regress_r7f_other;
CREATE DATABASE regress_r7_foreign OWNER regress_r7f_directus;
\c regress_r7_foreign
CREATE EXTENSION directus_sync;
SET ROLE regress_r7f_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
-- Another role's table in Directus's schema, that Directus's role cannot read.
CREATE TABLE secrets (id serial PRIMARY KEY, secret text);
ALTER TABLE secrets OWNER TO regress_r7f_other;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r7f_directus;
SELECT * FROM secrets;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO sync_remotes (name, url, token, paused) VALUES ('evil', 'http://127.0.0.1:9/', 'secret-token-evil', true);
-- Refused (42501).
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'secrets', '["secret"]' FROM sync_remotes WHERE name = 'evil' RETURNING collection;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- No subscription, no trigger on the other role's table.
SELECT remote_id, collection, fields FROM directus_sync.subscription;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'secrets'::regclass AND NOT tgisinternal ORDER BY tgname;
-- The other role writes its table: nothing queued for the remote.
SET ROLE regress_r7f_other;
INSERT INTO secrets (secret) VALUES ('the other role''s secret');
RESET ROLE;
SELECT r.name, o.collection, o.item_key, o.payload
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id;

-- A remote that writes here too (an inbound user): the app's subscription
-- would give the other role's table clocks, as the extension's owner (a new
-- column, a new default of its key, more triggers): refused (42501), the
-- table unchanged.
CREATE TABLE ledger (id serial PRIMARY KEY, amount numeric);
ALTER TABLE ledger OWNER TO regress_r7f_other;
SELECT directus_sync.set_instance(1, 2);
SET ROLE regress_r7f_directus;
INSERT INTO directus_users (id, email, status) VALUES ('0b000000-0000-4000-8000-0000000000aa', 'sync@example.com', 'active');
INSERT INTO sync_remotes (name, url, token, paused, inbound_user)
VALUES ('evil2', 'http://127.0.0.1:10/', 'secret-token-evil2', true, '0b000000-0000-4000-8000-0000000000aa');
SET client_min_messages = warning;
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'ledger', '["amount"]' FROM sync_remotes WHERE name = 'evil2' RETURNING collection;
\echo :LAST_ERROR_SQLSTATE
RESET client_min_messages;
RESET ROLE;
SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) AS "default"
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'ledger'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'ledger'::regclass AND NOT tgisinternal ORDER BY tgname;


-- A table Directus's role owns is subscribed through the app as before; the
-- row moved to the other role's table is refused (42501), the subscription
-- kept as it was.
SET ROLE regress_r7f_directus;
CREATE TABLE own_items (id serial PRIMARY KEY, title text);
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'own_items', '["title"]' FROM sync_remotes WHERE name = 'evil' RETURNING collection;
UPDATE sync_subscriptions SET collection = 'secrets' WHERE collection = 'own_items';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT r.name, s.collection, s.fields FROM directus_sync.subscription s JOIN directus_sync.remote r ON r.id = s.remote_id;

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('evil');
SELECT FROM directus_sync.remove_remote('evil2');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r7_foreign;
DROP ROLE regress_r7f_directus;
DROP ROLE regress_r7f_other;
