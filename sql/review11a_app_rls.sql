-- Review 11a: "no value of a table Directus's role may not read" (review 9)
-- counts row-level security (directus_sync._app_role_reads, the one rule
-- of the app status and the app config). A table of another role whose
-- policies hide rows from Directus's role is not readable: (1) the app
-- status withholds the payload and error text of its dead letters and the
-- values of its conflicts; (2) the app config refuses to turn the DBA's
-- remote shipping that table to another URL (42501). (3) A subscribed
-- table renamed by its owner is still found (by subscription.relid): the
-- change is refused as before the rename. (4) The owner bypasses its
-- table's row security unless FORCE ROW LEVEL SECURITY. (Before the fix,
-- (1)-(3) showed the values and took the new URLs.)
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r11a_directus;
CREATE ROLE regress_r11a_other;
CREATE DATABASE regress_r11a_rls OWNER regress_r11a_directus;
\c regress_r11a_rls
CREATE EXTENSION directus_sync;
SET ROLE regress_r11a_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
-- Another role's table: Directus's role may SELECT it, but its policy
-- shows it only the rows marked public.
CREATE TABLE secrets (id integer PRIMARY KEY, public boolean, secret text);
INSERT INTO secrets VALUES (1, false, 'rls-hidden-value'), (2, true, 'shown');
ALTER TABLE secrets OWNER TO regress_r11a_other;
SET ROLE regress_r11a_other;
ALTER TABLE secrets ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_public ON secrets FOR SELECT TO regress_r11a_directus USING (public);
GRANT SELECT ON secrets TO regress_r11a_directus;
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('dba', 'https://b.example.com/', 'secret-token-dba', enabled => false);
SELECT directus_sync.subscribe('dba', 'secrets', ARRAY['public', 'secret'], clocks => false) IS NOT NULL AS subscribed;
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_message)
SELECT 1, id, 'secrets', '1', 'c', '{"id": 1, "public": false, "secret": "rls-hidden-value"}', now(), 400,
       'Value "rls-hidden-value" is invalid'
  FROM directus_sync.remote WHERE name = 'dba';
INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, local_value, remote_value, winner)
SELECT id, 'secrets', '1', 'secret', '"rls-hidden-ours"', '"rls-hidden-theirs"', 'remote'
  FROM directus_sync.remote WHERE name = 'dba';
SELECT directus_sync.enable_app_status();
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r11a_directus;
-- Directus's role cannot read row 1 of secrets ...
SELECT count(*) AS row1_readable FROM secrets WHERE id = 1;
-- ... so the app status withholds the values of that collection's rows.
SELECT count(*) AS hidden_payload_shown FROM sync_dead_letters WHERE payload::text LIKE '%rls-hidden-value%';
SELECT count(*) AS hidden_error_shown FROM sync_dead_letters WHERE error_message LIKE '%rls-hidden-value%';
SELECT count(*) AS hidden_conflict_shown FROM sync_conflicts WHERE local_value::text LIKE '%rls-hidden%';
-- (2) the DBA's remote, shipping every row of secrets, turned to Directus's URL:
-- refused (42501), as for a table it may not SELECT
UPDATE sync_remotes SET url = 'https://evil.example.com/', token = 'evil-token' WHERE name = 'dba';
RESET ROLE;
-- the URL stays https://b.example.com/
SELECT name, url FROM directus_sync.remotes WHERE name = 'dba';

-- (3) A table Directus's role may not read at all, subscribed by the DBA,
-- then renamed by its owner.
CREATE TABLE vault (id integer PRIMARY KEY, secret text);
ALTER TABLE vault OWNER TO regress_r11a_other;
SET client_min_messages = warning;
SELECT directus_sync.add_remote('dba2', 'https://c.example.com/', 'secret-token-dba2', enabled => false);
SELECT directus_sync.subscribe('dba2', 'vault', ARRAY['secret'], clocks => false) IS NOT NULL AS subscribed;
RESET client_min_messages;
SET ROLE regress_r11a_directus;
-- the control: refused
UPDATE sync_remotes SET url = 'https://evil.example.com/', token = 'evil-token' WHERE name = 'dba2';
RESET ROLE;
ALTER TABLE vault RENAME TO vault_renamed;  -- (its owner may, given CREATE on the schema)
-- the subscription still ships it (by relid)
SELECT collection, relid FROM directus_sync.subscription s JOIN directus_sync.remote r ON r.id = s.remote_id
 WHERE r.name = 'dba2';
SET ROLE regress_r11a_directus;
-- refused (42501): the remote still ships the table
UPDATE sync_remotes SET url = 'https://evil.example.com/', token = 'evil-token' WHERE name = 'dba2';
RESET ROLE;
-- the URL stays https://c.example.com/
SELECT name, url FROM directus_sync.remotes WHERE name = 'dba2';

-- (4) The owner bypasses its table's row security unless it is forced:
-- Directus's role's own table with RLS enabled counts as readable, with
-- FORCE ROW LEVEL SECURITY as not readable.
CREATE TABLE own (id integer PRIMARY KEY, secret text);
ALTER TABLE own OWNER TO regress_r11a_directus;
ALTER TABLE own ENABLE ROW LEVEL SECURITY;
SELECT directus_sync._app_role_reads('regress_r11a_directus'::regrole, 'own'::regclass) AS owner_reads;
ALTER TABLE own FORCE ROW LEVEL SECURITY;
SELECT directus_sync._app_role_reads('regress_r11a_directus'::regrole, 'own'::regclass) AS owner_reads_forced;
ALTER TABLE own NO FORCE ROW LEVEL SECURITY;
ALTER TABLE secrets OWNER TO regress_r11a_directus;
-- the table now Directus's role's (RLS not forced): the app status shows the values again
SELECT directus_sync._app_status_refresh() IS NOT NULL AS refreshed;
SET ROLE regress_r11a_directus;
SELECT count(*) AS payload_shown FROM sync_dead_letters WHERE payload::text LIKE '%rls-hidden-value%';
RESET ROLE;
DROP TABLE own;
SET client_min_messages = warning;
SELECT directus_sync.remove_remote('dba');
SELECT directus_sync.remove_remote('dba2');
SELECT directus_sync.disable_app_config();
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r11a_rls;
DROP ROLE regress_r11a_directus;
DROP ROLE regress_r11a_other;
