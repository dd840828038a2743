-- Review 9: _app_config_remote_check refuses a new URL or token, through
-- the app, of a remote that ships a table the writing role (Directus's) may
-- not read: it must not turn the DBA's remote to an address of its choice.
-- It let verify_tls => false through (the test failed before the fix):
-- Directus's role switched off the certificate check of the DBA's https
-- remote, and whoever can answer for the remote's host name on the network
-- (DNS, ARP, a proxy) got the rows of the table and the DBA's token.
-- Checks: turning verify_tls off is refused (42501) like a new URL, and so
-- is a new inbound user (whose writes count as the remote's), verify_tls
-- and inbound_user stay; pausing and turning verify_tls back on stay
-- allowed (they send nothing anywhere else); on a remote shipping only
-- tables the writer may read, the same changes are taken.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r9t_directus;
CREATE ROLE regress_r9t_other;
CREATE DATABASE regress_r9_verify_tls OWNER regress_r9t_directus;
\c regress_r9_verify_tls
CREATE EXTENSION directus_sync;
SET ROLE regress_r9t_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
-- Another role's table in Directus's schema, that Directus's role cannot read.
CREATE TABLE secrets (id serial PRIMARY KEY, secret text);
ALTER TABLE secrets OWNER TO regress_r9t_other;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('dba', 'https://b.example.com/', 'secret-token-dba', enabled => false);
SELECT directus_sync.subscribe('dba', 'secrets', ARRAY['secret'], clocks => false) IS NOT NULL AS subscribed;
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r9t_directus;
-- the control: a new URL is refused
UPDATE sync_remotes SET url = 'https://evil.example.com/' WHERE name = 'dba';
\echo :LAST_ERROR_SQLSTATE
\set LAST_ERROR_SQLSTATE 00000
-- verify_tls turned off: refused too
\set VERBOSITY sqlstate
UPDATE sync_remotes SET verify_tls = false WHERE name = 'dba';
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
UPDATE sync_remotes SET verify_tls = false WHERE name = 'dba';
-- a new inbound user: refused
INSERT INTO directus_users (id) VALUES ('00000000-0000-0000-0000-0000000000a1');
UPDATE sync_remotes SET inbound_user = '00000000-0000-0000-0000-0000000000a1' WHERE name = 'dba';
-- pausing is taken
UPDATE sync_remotes SET paused = true WHERE name = 'dba';
RESET ROLE;
SELECT name, url, verify_tls, inbound_user, paused FROM directus_sync.remotes;
-- turning verify_tls back on is taken (the DBA turned it off in SQL)
SELECT directus_sync.alter_remote('dba', verify_tls => false);
SET ROLE regress_r9t_directus;
UPDATE sync_remotes SET verify_tls = true WHERE name = 'dba';
RESET ROLE;
SELECT name, verify_tls FROM directus_sync.remotes;
-- A remote shipping only a table Directus's role may read: all taken.
SET ROLE regress_r9t_directus;
CREATE TABLE articles (id serial PRIMARY KEY, title text);
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('own', 'https://c.example.com/', 'secret-token-own', enabled => false);
SELECT directus_sync.subscribe('own', 'articles', ARRAY['title'], clocks => false) IS NOT NULL AS subscribed;
RESET client_min_messages;
SET ROLE regress_r9t_directus;
UPDATE sync_remotes SET verify_tls = false, inbound_user = '00000000-0000-0000-0000-0000000000a1' WHERE name = 'own';
RESET ROLE;
SELECT name, verify_tls, inbound_user FROM directus_sync.remotes WHERE name = 'own';

SET client_min_messages = warning;
SELECT directus_sync.remove_remote('dba');
SELECT directus_sync.remove_remote('own');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r9_verify_tls;
DROP ROLE regress_r9t_directus;
DROP ROLE regress_r9t_other;
