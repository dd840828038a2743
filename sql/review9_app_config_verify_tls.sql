-- Review 9: _app_config_remote_check refuses a new URL or token, through
-- the app, of a remote that ships a table the writing role (Directus's) may
-- not read: it must not turn the DBA's remote to an address of its choice.
-- It lets verify_tls => false through: Directus's role switches off the
-- certificate check of the DBA's https remote, and whoever can answer for
-- the remote's host name on the network (DNS, ARP, a proxy) gets the rows
-- of the table and the DBA's token. Expected: refused (42501) like a new
-- URL, verify_tls still true. (Pausing, disabling or removing stays
-- allowed: those send nothing anywhere.)
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
-- WRONG today: UPDATE 1 and 00000 (taken); expected: refused, 42501
\set VERBOSITY sqlstate
UPDATE sync_remotes SET verify_tls = false WHERE name = 'dba';
\set VERBOSITY terse
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
-- WRONG today: verify_tls f; expected t
SELECT name, url, verify_tls FROM directus_sync.remotes;

SET client_min_messages = warning;
SELECT directus_sync.remove_remote('dba');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r9_verify_tls;
DROP ROLE regress_r9t_directus;
DROP ROLE regress_r9t_other;
