-- Review 5: a change of a subscription's fields in the app keeps its clocks
-- by calling subscribe(..., clocks => true) again when SQL gave it clocks;
-- subscribe then runs enable_clocks with key_series NULL, which makes this
-- instance's key series and sets it as the default of the collection's key
-- column: a collection subscribed with key_series => false gets a key
-- series (and its Directus table a new column default) because an admin
-- added a field in the app. Correct: the fields change, the key column's
-- default does not.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE ROLE regress_r5k_directus;
CREATE DATABASE regress_r5_keys OWNER regress_r5k_directus;
\c regress_r5_keys
CREATE EXTENSION directus_sync;
SET ROLE regress_r5k_directus;
\set ECHO none
\ir t/directus12_system.sql
\set ECHO all
CREATE TABLE articles (id serial PRIMARY KEY, title varchar(255), body text);
INSERT INTO directus_collections (collection) VALUES ('articles');
RESET ROLE;
SET client_min_messages = warning;
SELECT directus_sync.set_instance(1, 2);
SELECT directus_sync.enable_app_config();
SELECT directus_sync.add_remote('r', 'http://127.0.0.1:9', 'secret-token-r', enabled => false) AS r_id;
SELECT directus_sync.subscribe('r', 'articles', ARRAY['title'], clocks => true, key_series => false);
RESET client_min_messages;
SELECT pg_get_expr(adbin, adrelid) AS id_default FROM pg_attrdef WHERE adrelid = 'articles'::regclass;
-- The app adds a field.
SET client_min_messages = warning;
SET ROLE regress_r5k_directus;
UPDATE sync_subscriptions SET fields = '["title", "body"]' WHERE collection = 'articles' RETURNING fields;
RESET ROLE;
RESET client_min_messages;
SELECT fields, clocks FROM directus_sync.subscription;
SELECT pg_get_expr(adbin, adrelid) AS id_default FROM pg_attrdef WHERE adrelid = 'articles'::regclass;
SELECT count(*) AS key_series FROM pg_class WHERE relname = 'articles_directus_sync_keys';

SET client_min_messages = warning;
SELECT FROM directus_sync.remove_remote('r');
SELECT directus_sync.disable_app_config();
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_r5_keys;
DROP ROLE regress_r5k_directus;
