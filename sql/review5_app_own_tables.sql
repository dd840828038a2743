-- Review 5: subscribe (and so a row of the app's sync_subscriptions) takes
-- any table of Directus's schema, directus_sync's own app tables too. The
-- app status's tables are written by the worker at each refresh: subscribed,
-- each refresh is captured and shipped, each delivery changes
-- sync_remotes_status again (delivered, state), which is captured again: the
-- worker replicates its own bookkeeping for ever; sync_dead_letters shipped
-- to a remote without that collection makes a dead letter per dead letter.
-- The app config's tables subscribed capture the configuration itself.
-- Correct: those tables are refused, in SQL and in the app.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r5_directus;
CREATE DATABASE regress_r5_own OWNER regress_r5_directus;
\c regress_r5_own
CREATE EXTENSION directus_sync;
SET ROLE regress_r5_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
RESET ROLE;
-- true when the statement fails (as the role calling it)
CREATE FUNCTION r5_refused(stmt text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN false;
EXCEPTION WHEN OTHERS THEN
    RETURN true;
END
$$;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_status();
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
-- A remote added in the app, paused: what is captured stays in the outbox.
SET ROLE regress_r5_directus;
INSERT INTO sync_remotes (name, url, token, paused) VALUES ('r', 'http://127.0.0.1:9/', 'secret-token-r', true) RETURNING name, paused;
-- The app subscribes the app status's and the app config's own tables.
SELECT t, r5_refused(format($f$INSERT INTO sync_subscriptions (remote, collection, fields)
                               SELECT id, %L, %L FROM sync_remotes WHERE name = 'r'$f$, t, f)) AS refused
  FROM (VALUES ('sync_remotes_status', '["state", "queued", "delivered"]'),
               ('sync_remotes_history', '["queued"]'),
               ('sync_dead_letters', '["payload"]'),
               ('sync_conflicts', '["field"]'),
               ('sync_subscriptions', '["collection"]'),
               ('sync_remotes_notify_users', '["directus_users_id"]')) AS x(t, f);
RESET ROLE;
-- The same in SQL.
SELECT t, r5_refused(format($f$SELECT directus_sync.subscribe('r', %L, %L::text[])$f$, t, f)) AS refused
  FROM (VALUES ('sync_remotes_status', '{state,queued,delivered}'),
               ('sync_dead_letters', '{payload}'),
               ('sync_remotes', '{name,url}')) AS x(t, f);
SELECT s.collection FROM directus_sync.subscription s ORDER BY 1;
-- A refresh of the app status (the worker's) queues nothing.
SELECT directus_sync.resume('r');
SELECT directus_sync.pause('r');
SELECT directus_sync._app_status_refresh() IS NOT NULL AS refreshed;
SELECT collection, count(*) FROM directus_sync.outbox GROUP BY 1 ORDER BY 1;

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('r');
SELECT directus_sync.disable_app_config();
SELECT directus_sync.disable_app_status();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r5_own;
DROP ROLE regress_r5_directus;
