-- Review 5: the row triggers of sync_subscriptions subscribe before the
-- row is written; INSERT ... ON CONFLICT DO NOTHING then writes no row, and
-- the subscription stays changed (or made) while the app shows the row it
-- had (or none): the app and directus_sync.subscription out of step, the
-- mirror silent (the change came from the app's trigger). Correct: the two
-- agree (the statement refused, or the change undone, or the row written).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r5o_directus;
CREATE DATABASE regress_r5_conflict OWNER regress_r5o_directus;
\c regress_r5_conflict
CREATE EXTENSION directus_sync;
SET ROLE regress_r5o_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
CREATE TABLE articles (id serial PRIMARY KEY, title varchar(255), body text);
CREATE TABLE pages (id serial PRIMARY KEY, title varchar(255));
INSERT INTO directus_collections (collection) VALUES ('articles'), ('pages');
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r5o_directus;
INSERT INTO sync_remotes (name, url, token, paused) VALUES ('r', 'http://127.0.0.1:9/', 'secret-token-r', true) RETURNING name;
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'articles', '["body"]' FROM sync_remotes WHERE name = 'r' RETURNING collection, fields;
-- The same pair again, "do nothing" on conflict.
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'articles', '["title"]' FROM sync_remotes WHERE name = 'r'
    ON CONFLICT (remote, collection) DO NOTHING;
-- Another collection under a taken id, "do nothing" on conflict.
INSERT INTO sync_subscriptions (id, remote, collection, fields)
SELECT s.id, s.remote, 'pages', '["title"]' FROM sync_subscriptions s WHERE s.collection = 'articles'
    ON CONFLICT (id) DO NOTHING;
RESET ROLE;
-- What the app shows and what is shipped: the same.
SELECT s.collection, s.fields::text AS app_fields, d.fields AS shipped_fields
  FROM sync_subscriptions s FULL JOIN directus_sync.subscription d ON d.remote_id = s.remote AND d.collection = s.collection
 ORDER BY coalesce(s.collection, d.collection);

-- ON CONFLICT DO UPDATE: the update's trigger subscribes with the new fields.
SET ROLE regress_r5o_directus;
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'articles', '["title"]' FROM sync_remotes WHERE name = 'r'
    ON CONFLICT (remote, collection) DO UPDATE SET fields = EXCLUDED.fields RETURNING collection;
-- sync_remotes: a taken name is refused (add_remote's error), ON CONFLICT or not.
INSERT INTO sync_remotes (name, url, token) VALUES ('r', 'http://127.0.0.1:10/', 'secret-token-r2')
    ON CONFLICT (name) DO NOTHING;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT name, url, token = 'secret-token-r' AS token_kept FROM directus_sync.remote ORDER BY id;
-- Rows another BEFORE trigger cancels (fired after the app's, by name):
-- nothing of directus_sync changes.
CREATE FUNCTION public.r5o_skip() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER zz_skip BEFORE INSERT OR UPDATE OR DELETE ON sync_subscriptions FOR EACH ROW EXECUTE FUNCTION public.r5o_skip();
CREATE TRIGGER zz_skip BEFORE INSERT OR UPDATE OR DELETE ON sync_remotes FOR EACH ROW EXECUTE FUNCTION public.r5o_skip();
SET ROLE regress_r5o_directus;
INSERT INTO sync_subscriptions (remote, collection, fields) SELECT id, 'pages', '["title"]' FROM sync_remotes WHERE name = 'r';
UPDATE sync_subscriptions SET fields = '["body"]' WHERE collection = 'articles';
DELETE FROM sync_subscriptions WHERE collection = 'articles';
INSERT INTO sync_remotes (name, url, token) VALUES ('skipped', 'http://127.0.0.1:9/', 'secret-token-s');
UPDATE sync_remotes SET url = 'http://127.0.0.1:11/', token = 'secret-token-r3', paused = false WHERE name = 'r';
DELETE FROM sync_remotes WHERE name = 'r';
RESET ROLE;
-- No token left behind in the hand-over of the triggers: a skipped row's
-- is held until its transaction ends, and no longer.
BEGIN;
SET LOCAL ROLE regress_r5o_directus;
INSERT INTO sync_remotes (name, url, token) VALUES ('skipped2', 'http://127.0.0.1:9/', 'secret-token-s2');
RESET ROLE;
SELECT count(directus_sync._app_token_take(g)) AS tokens_held FROM generate_series(1, 1000) AS g;
ROLLBACK;
SET ROLE regress_r5o_directus;
INSERT INTO sync_remotes (name, url, token) VALUES ('skipped3', 'http://127.0.0.1:9/', 'secret-token-s3');
RESET ROLE;
SELECT count(directus_sync._app_token_take(g)) AS tokens_held FROM generate_series(1, 1000) AS g;
-- Ordinary roles cannot take a token.
SET ROLE regress_r5o_directus;
SELECT directus_sync._app_token_take(1);
RESET ROLE;
DROP TRIGGER zz_skip ON sync_subscriptions;
DROP TRIGGER zz_skip ON sync_remotes;
SELECT name, url, paused, token = 'secret-token-r' AS token_kept FROM directus_sync.remote ORDER BY id;
SELECT s.collection, s.fields::text AS app_fields, d.fields AS shipped_fields
  FROM sync_subscriptions s FULL JOIN directus_sync.subscription d ON d.remote_id = s.remote AND d.collection = s.collection
 ORDER BY coalesce(s.collection, d.collection);
-- session_replication_role = replica does not write past the triggers (ENABLE ALWAYS).
SET session_replication_role = replica;
INSERT INTO sync_subscriptions (remote, collection, fields) SELECT id, 'pages', '["title"]' FROM sync_remotes WHERE name = 'r';
RESET session_replication_role;
SELECT s.collection, s.fields::text AS app_fields, d.fields AS shipped_fields
  FROM sync_subscriptions s FULL JOIN directus_sync.subscription d ON d.remote_id = s.remote AND d.collection = s.collection
 ORDER BY coalesce(s.collection, d.collection);

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('r');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r5_conflict;
DROP ROLE regress_r5o_directus;
