-- Review 7: subscribe refused the credentials of directus_users (password,
-- token, tfa_secret, auth_data) but not Directus's sessions:
-- directus_sessions is keyed by the session's refresh token itself (Directus
-- stores it in clear and looks sessions up by it), so a subscription of it
-- shipped every user's working login as the item key, also through the app
-- config, to a URL of the app's choice.
-- Checks: subscribe (in SQL and through sync_subscriptions) refuses
-- directus_sessions (42501), nothing subscribed, nothing queued; and the
-- other system fields holding secrets (directus_shares.password,
-- directus_settings's keys) are refused too (42501).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r7s_directus;
CREATE DATABASE regress_r7_sessions OWNER regress_r7s_directus;
\c regress_r7_sessions
CREATE EXTENSION directus_sync;
SET ROLE regress_r7s_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
-- Directus 12's directus_sessions (not in the fixture).
CREATE TABLE directus_sessions (token varchar(64) PRIMARY KEY, "user" uuid, expires timestamptz NOT NULL,
                                ip varchar(255), user_agent text, share uuid, origin varchar(255),
                                next_token varchar(64));
RESET ROLE;
-- The SQL function: refused (42501).
SELECT directus_sync.add_remote('r', 'http://127.0.0.1:9', 'secret-token-r');
SELECT directus_sync.pause('r');
SELECT directus_sync.subscribe('r', 'directus_sessions', ARRAY['expires']);
\echo :LAST_ERROR_SQLSTATE
SELECT remote_id, collection, fields FROM directus_sync.subscription;
-- Through the app config, as Directus's role: refused (42501).
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r7s_directus;
INSERT INTO sync_remotes (name, url, token, paused) VALUES ('evil', 'http://127.0.0.1:10', 'secret-token-evil', true);
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'directus_sessions', '["expires"]' FROM sync_remotes WHERE name = 'evil' RETURNING collection;
\echo :LAST_ERROR_SQLSTATE
-- An administrator logs in.
INSERT INTO directus_sessions (token, "user", expires)
VALUES ('refresh-token-of-the-admin', '0b000000-0000-4000-8000-000000000001', '2030-01-01 00:00:00+00');
RESET ROLE;
-- Nothing queued.
SELECT r.name, o.collection, o.item_key, o.payload
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY r.name;


-- Other secrets of Directus's system tables: refused (42501), with the
-- other fields of those tables still taken.
SET ROLE regress_r7s_directus;
CREATE TABLE directus_shares (id uuid PRIMARY KEY, name varchar(255), password varchar(255));
CREATE TABLE directus_settings (id serial PRIMARY KEY, project_name varchar(100), mapbox_key varchar(255),
                                ai_openai_api_key text);
RESET ROLE;
\set VERBOSITY default
SELECT directus_sync.subscribe('r', 'directus_shares', ARRAY['name', 'password']);
SELECT directus_sync.subscribe('r', 'directus_settings', ARRAY['project_name', 'mapbox_key']);
\set VERBOSITY terse
SELECT directus_sync.subscribe('r', 'directus_settings', ARRAY['ai_openai_api_key']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('r', 'directus_shares', ARRAY['name']);
SELECT directus_sync.subscribe('r', 'directus_settings', ARRAY['project_name']);
SELECT remote_id, collection, fields FROM directus_sync.subscription ORDER BY collection;

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('evil');
SELECT FROM directus_sync.remove_remote('r');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r7_sessions;
DROP ROLE regress_r7s_directus;
