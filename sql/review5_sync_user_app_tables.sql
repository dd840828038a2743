-- Review 5: create_sync_user refuses Directus's system collections
-- (directus_users, ...) but grants create, read, update and delete on
-- directus_sync's own tables in Directus's schema: the app config's
-- sync_remotes, sync_subscriptions and sync_remotes_notify_users, and the
-- app status's. A peer given sync_remotes and sync_subscriptions writes this
-- instance's replication configuration through Directus's API with its static
-- token: it adds a remote of its own (any URL: requests from the database
-- server), subscribes it to any collection and field (directus_users'
-- password and token too, see review5_app_credentials), sets a remote's
-- inbound user to an administrator, removes or pauses the others. Correct:
-- those collections are refused like the system collections (nothing granted).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r5u_directus;
CREATE DATABASE regress_r5_user OWNER regress_r5u_directus;
\c regress_r5_user
CREATE EXTENSION directus_sync;
SET ROLE regress_r5u_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
CREATE TABLE articles (id serial PRIMARY KEY, title varchar(255));
INSERT INTO directus_collections (collection) VALUES ('articles');
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
SELECT directus_sync.enable_app_status();
RESET client_min_messages;
-- (as before: a system collection is refused, an ordinary one is not)
SELECT r5_refused($$SELECT directus_sync.create_sync_user('peer', ARRAY['directus_users'])$$) AS refused;
SELECT r5_refused($$SELECT directus_sync.create_sync_user('peer', ARRAY['articles'])$$) AS refused;
SELECT c, r5_refused(format($$SELECT directus_sync.create_sync_user('peer', ARRAY['articles', %L])$$, c)) AS refused
  FROM unnest(ARRAY['sync_remotes', 'sync_subscriptions', 'sync_remotes_notify_users',
                    'sync_remotes_status', 'sync_dead_letters']) AS c;
-- Kept this time: what the peer's user may do on them.
CREATE FUNCTION r5_fails(stmt text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN false;
EXCEPTION WHEN OTHERS THEN
    RETURN true;
END
$$;
SELECT r5_fails($$SELECT directus_sync.create_sync_user('peer', ARRAY['articles', 'sync_remotes', 'sync_subscriptions'])$$) AS refused;
SELECT collection, string_agg(action, ', ' ORDER BY action) AS actions
  FROM directus_permissions WHERE collection LIKE 'sync%' GROUP BY 1 ORDER BY 1;

SET client_min_messages = warning;
SELECT directus_sync.disable_app_status();
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r5_user;
DROP ROLE regress_r5u_directus;
