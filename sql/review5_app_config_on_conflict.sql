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

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('r');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r5_conflict;
DROP ROLE regress_r5o_directus;
