-- Review 5: a row of the app's sync_subscriptions ships any fields of any
-- table of Directus's schema, Directus's credentials too: directus_users'
-- password (hash), token (static token: a login as that user) and
-- tfa_secret. With the app config, that is what any Directus user given
-- "create" on sync_subscriptions can do (and what a remote, or whoever reads
-- its database, then holds). Correct: fields Directus keeps secrets in are
-- refused (subscribe's own check, so SQL refuses them too).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r5c_directus;
CREATE DATABASE regress_r5_cred OWNER regress_r5c_directus;
\c regress_r5_cred
CREATE EXTENSION directus_sync;
SET ROLE regress_r5c_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
-- true when the statement fails; what it did is undone either way
CREATE FUNCTION r5_refused(stmt text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        EXECUTE stmt;
        RAISE EXCEPTION 'accepted' USING ERRCODE = 'R5000';
    EXCEPTION WHEN SQLSTATE 'R5000' THEN
        RETURN false;
    END;
EXCEPTION WHEN OTHERS THEN
    RETURN true;
END
$$;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r5c_directus;
INSERT INTO sync_remotes (name, url, token, paused) VALUES ('r', 'http://127.0.0.1:9/', 'secret-token-r', true) RETURNING name;
SELECT f, r5_refused(format($f$INSERT INTO sync_subscriptions (remote, collection, fields)
                               SELECT id, 'directus_users', %L FROM sync_remotes WHERE name = 'r'$f$, f)) AS refused
  FROM (VALUES ('["email", "password"]'), ('["email", "token"]'), ('["email", "tfa_secret"]')) AS x(f);
-- (email alone is a field like any other)
SELECT r5_refused($f$INSERT INTO sync_subscriptions (remote, collection, fields)
                     SELECT id, 'directus_users', '["email"]' FROM sync_remotes WHERE name = 'r'$f$) AS refused;
RESET ROLE;
SELECT r5_refused($f$SELECT directus_sync.subscribe('r', 'directus_users', ARRAY['email', 'token'])$f$) AS refused;
SELECT s.collection, s.fields FROM directus_sync.subscription s ORDER BY 1;

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('r');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r5_cred;
DROP ROLE regress_r5c_directus;
