-- Through the app config, Directus's role could change the URL and token of
-- a remote the DBA made in SQL for tables Directus's role may not read, and
-- so have their rows shipped to a URL of its choice (found while fixing
-- review 7's first finding, which closed the same door for subscriptions).
-- Checks: a new URL or token of a remote that ships a table the writing
-- role may not read is refused (42501, by the BEFORE trigger
-- _app_config_remote_check), the remote unchanged; a remote that ships only
-- tables the role reads can be changed; other columns (pause) can be
-- changed; the SQL function alter_remote is the DBA's and checks nothing of
-- the kind.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r7u_directus;
CREATE ROLE regress_r7u_other;
CREATE DATABASE regress_r7_remote_url OWNER regress_r7u_directus;
\c regress_r7_remote_url
CREATE EXTENSION directus_sync;
SET ROLE regress_r7u_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
CREATE TABLE articles (id serial PRIMARY KEY, title text);
INSERT INTO directus_collections (collection) VALUES ('articles');
RESET ROLE;
-- Another role's table in Directus's schema, that Directus's role cannot read.
CREATE TABLE secrets (id serial PRIMARY KEY, secret text);
ALTER TABLE secrets OWNER TO regress_r7u_other;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('dba', 'http://127.0.0.1:9/', 'secret-token-dba', enabled => false);
SELECT directus_sync.subscribe('dba', 'secrets', ARRAY['secret'], clocks => false) IS NOT NULL AS subscribed;
SELECT directus_sync.add_remote('plain', 'http://127.0.0.1:10/', 'secret-token-plain', enabled => false);
SELECT directus_sync.subscribe('plain', 'articles', ARRAY['title'], clocks => false) IS NOT NULL AS subscribed;
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r7u_directus;
SELECT s.collection FROM sync_subscriptions s JOIN sync_remotes r ON r.id = s.remote WHERE r.name = 'dba';
-- Refused (42501): a new URL, a new token, both.
UPDATE sync_remotes SET url = 'http://127.0.0.1:11/', token = 'secret-token-evil' WHERE name = 'dba';
\echo :LAST_ERROR_SQLSTATE
UPDATE sync_remotes SET token = 'secret-token-evil' WHERE name = 'dba';
\echo :LAST_ERROR_SQLSTATE
UPDATE sync_remotes SET url = 'http://127.0.0.1:11/' WHERE name = 'dba';
\echo :LAST_ERROR_SQLSTATE
-- Taken: a pause; the concealed token sent back unchanged; a remote of readable tables.
UPDATE sync_remotes SET paused = true, token = '**********' WHERE name = 'dba';
UPDATE sync_remotes SET url = 'http://127.0.0.1:12/', token = 'secret-token-plain2' WHERE name = 'plain';
RESET ROLE;
SELECT name, url, paused, token IN ('secret-token-dba', 'secret-token-plain2') AS token_as_expected
  FROM directus_sync.remote ORDER BY name;
-- The DBA's own function is not checked.
SELECT directus_sync.alter_remote('dba', url => 'http://127.0.0.1:13/', token => 'secret-token-dba2') IS NOT NULL AS altered;
SELECT name, url FROM directus_sync.remote WHERE name = 'dba';

SET client_min_messages = warning;
SELECT count(directus_sync.remove_remote(n)) FROM unnest(ARRAY['dba', 'plain']) AS n;
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r7_remote_url;
DROP ROLE regress_r7u_directus;
DROP ROLE regress_r7u_other;
