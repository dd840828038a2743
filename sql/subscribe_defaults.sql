-- What subscribe and add_remote do by default (docs/replication.md#clocks):
-- a remote that writes here too (inbound_user) gets the collection clocks,
-- and an integer key the instance's key series (set_instance first, or
-- key_series => false); a one-way remote gets neither; add_remote forwards
-- what remotes send (forward_inbound) unless told not to. No worker runs.
SET client_min_messages = notice;
DROP EXTENSION IF EXISTS directus_sync;
CREATE EXTENSION directus_sync;
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE TABLE directus_fields (id serial PRIMARY KEY, collection varchar(64) NOT NULL,
                              field varchar(64) NOT NULL, special varchar(64), interface varchar(64),
                              readonly boolean, hidden boolean, note text);
CREATE TABLE sd_one_way (id integer PRIMARY KEY, title text);
CREATE TABLE sd_uuid (id uuid PRIMARY KEY, title text);
CREATE TABLE sd_int (id serial PRIMARY KEY, title text);
CREATE TABLE sd_plain (id integer PRIMARY KEY, title text);
CREATE VIEW clocked AS
SELECT c.relname AS collection,
       EXISTS (SELECT FROM pg_attribute WHERE attrelid = c.oid AND attname = 'directus_sync_meta'
                                          AND NOT attisdropped) AS has_column,
       (SELECT k.delete_wins FROM directus_sync.clocked_collection k WHERE k.collection = c.relname) AS delete_wins,
       (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = c.oid AND d.adnum = 1) AS key_default,
       (SELECT count(*) FROM directus_fields f WHERE f.collection = c.relname AND f.field = 'directus_sync_meta') AS fields_rows
  FROM pg_class c WHERE c.relname LIKE 'sd\_%' AND c.relkind = 'r' ORDER BY 1;

-- forward_inbound is on unless told otherwise
SELECT directus_sync.add_remote('out', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.add_remote('both', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.add_remote('quiet', 'http://127.0.0.1:9', 't', forward_inbound => false,
       inbound_user => '00000000-0000-0000-0000-00000000000c') IS NOT NULL AS added;
SELECT name, forward_inbound FROM directus_sync.remote ORDER BY name;

-- A one-way remote: no clocks.
SELECT directus_sync.subscribe('out', 'sd_one_way', ARRAY['title']);
-- A remote that writes here too: clocks; a uuid key needs no key series.
-- Directus must be told to read its fields again (the notice).
SELECT directus_sync.subscribe('both', 'sd_uuid', ARRAY['title']);
-- An integer key written on two instances: a key series, which needs this
-- instance's number. Refused whole (no clocks, no subscription) without it.
SELECT directus_sync.subscribe('both', 'sd_int', ARRAY['title']);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS subscriptions_of_sd_int FROM directus_sync.subscription WHERE collection = 'sd_int';
-- opting out per subscription
SELECT directus_sync.subscribe('both', 'sd_plain', ARRAY['title'], key_series => false);
SET client_min_messages = warning;
SELECT * FROM clocked;

-- With a number, the default gives the key series.
SELECT directus_sync.set_instance(2, 3);
SELECT directus_sync.subscribe('both', 'sd_int', ARRAY['title']);
INSERT INTO sd_int (title) VALUES ('first made here'), ('second made here');
SELECT id, title FROM sd_int ORDER BY id;
SELECT collection, key_default FROM clocked WHERE collection = 'sd_int';
-- The one-way remote of a collection with clocks ships them too; subscribing
-- again keeps the key series (nothing asked to change it).
SELECT directus_sync.subscribe('out', 'sd_int', ARRAY['title']);
SELECT directus_sync.subscribe('both', 'sd_int', ARRAY['title']);
SELECT collection, key_default FROM clocked WHERE collection = 'sd_int';

-- clocks => false: the 0.2 way, for a collection without clocks only.
SELECT directus_sync.subscribe('quiet', 'sd_one_way', ARRAY['title'], clocks => false);
SELECT collection, has_column FROM clocked WHERE collection = 'sd_one_way';
SELECT directus_sync.subscribe('quiet', 'sd_uuid', ARRAY['title'], clocks => false);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('out', 'sd_one_way', ARRAY['title'], key_series => true);
\echo :LAST_ERROR_SQLSTATE
-- clocks => true on a one-way remote: clocks, and key_series => false keeps
-- this integer key's own sequence
SELECT directus_sync.subscribe('out', 'sd_one_way', ARRAY['title'], clocks => true, key_series => false);
SELECT * FROM clocked WHERE collection = 'sd_one_way';

SELECT directus_sync.unsubscribe(s.name, s.collection)
  FROM (SELECT r.name, x.collection FROM directus_sync.subscription x
          JOIN directus_sync.remote r ON r.id = x.remote_id) s ORDER BY 1;
UPDATE directus_sync.node SET instance = NULL, instances = NULL;
DROP VIEW clocked;
DROP TABLE sd_one_way, sd_uuid, sd_int, sd_plain, directus_fields;
DROP EXTENSION directus_sync;

-- From 0.2: remotes keep forward_inbound, new ones forward; the roles that
-- could run subscribe can run the new one.
CREATE ROLE regress_sd_admin;
CREATE EXTENSION directus_sync VERSION '0.2';
SELECT directus_sync.add_remote('old', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
GRANT EXECUTE ON FUNCTION directus_sync.subscribe(text, text, text[], boolean) TO regress_sd_admin;
ALTER EXTENSION directus_sync UPDATE TO '0.3';
SELECT directus_sync.add_remote('new', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT name, forward_inbound FROM directus_sync.remote ORDER BY name;
SELECT has_function_privilege('regress_sd_admin',
         'directus_sync.subscribe(text, text, text[], boolean, boolean, boolean)', 'EXECUTE') AS admin_may,
       has_function_privilege('public',
         'directus_sync.subscribe(text, text, text[], boolean, boolean, boolean)', 'EXECUTE') AS public_may;
DROP EXTENSION directus_sync;
DROP ROLE regress_sd_admin;
CREATE EXTENSION directus_sync;
