-- Keys JSON has no number for. A numeric, real or double precision key can be
-- NaN or infinite; a JSON array of keys (a delete, a probe) cannot carry it
-- as a number, and Directus reads such a float back as null: the remote could
-- not be told which item is meant. Capture refuses to give a row of a
-- subscribed table such a key, or let it keep one (0A000); deleting a row
-- that has one, or giving it a finite key, is allowed. No worker runs for
-- this database.
CREATE EXTENSION directus_sync;
\set SHOW_CONTEXT never
\set VERBOSITY default
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;

CREATE DOMAIN price AS numeric;
CREATE TABLE n_items (id numeric PRIMARY KEY, title text);
CREATE TABLE f8_items (id double precision PRIMARY KEY, title text);
CREATE TABLE f4_items (id real PRIMARY KEY, title text);
CREATE TABLE d_items (id price PRIMARY KEY, title text);
-- rows from before the subscriptions
INSERT INTO n_items VALUES ('NaN', 'old'), (1.5, 'finite');
INSERT INTO f8_items VALUES ('-Infinity', 'old');
SELECT directus_sync.subscribe('b', t, ARRAY['title']) FROM unnest(ARRAY['n_items', 'f8_items', 'f4_items', 'd_items']) t;
CREATE VIEW queue AS SELECT collection, item_key, op, payload FROM directus_sync.outbox ORDER BY id;

-- A new row with such a key.
INSERT INTO n_items VALUES ('Infinity', 'new');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO f8_items VALUES ('NaN', 'new');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO f4_items VALUES ('Infinity', 'new');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO d_items VALUES ('-Infinity', 'new');
\echo :LAST_ERROR_SQLSTATE
-- A row that keeps one, or gets one.
UPDATE n_items SET title = 'changed' WHERE id = 'NaN';
\echo :LAST_ERROR_SQLSTATE
UPDATE n_items SET id = '-Infinity' WHERE id = 1.5;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS queued_so_far FROM directus_sync.outbox;

-- Giving it a finite key, or deleting it, is allowed: the old key goes out
-- in a delete (as a JSON string on the wire).
UPDATE n_items SET id = 2.5 WHERE id = 'NaN';
DELETE FROM f8_items WHERE id = '-Infinity';
-- Finite keys as always.
INSERT INTO f4_items VALUES (0.25, 'quarter');
INSERT INTO d_items VALUES (7, 'seven');
SELECT * FROM queue;

-- A table that ships to no remote is none of our business.
SELECT directus_sync.alter_remote('b', enabled => false);
INSERT INTO f4_items VALUES ('NaN', 'not shipped');
SELECT directus_sync.alter_remote('b', enabled => true);
SELECT count(*) AS queued FROM directus_sync.outbox;

DROP VIEW queue;
SET directus_sync.keep_map_on_drop = off;
DROP EXTENSION directus_sync;
RESET directus_sync.keep_map_on_drop;
DROP TABLE n_items, f8_items, f4_items, d_items;
DROP DOMAIN price;
