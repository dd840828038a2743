-- Directus reads JSON numbers as doubles: a bigint past 2^53 or a numeric of
-- more than 15 significant digits would arrive changed. Such values, keys
-- included, are sent as JSON strings, which PostgreSQL reads back exactly;
-- all others stay numbers. A json field holding a JSON string goes as the
-- string of its JSON text, which Directus hands to PostgreSQL as it is.
CREATE EXTENSION directus_sync;
CREATE TABLE big (id bigint PRIMARY KEY, n numeric, f float8, i integer);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'big', ARRAY['n', 'f', 'i']);
INSERT INTO big VALUES
    (1, 12.50, 0.1, 7),
    (9007199254740991, 123456789012345, 1e300, -2147483648),
    (9007199254740993, 1234567890123456, 0.30000000000000004, 0),
    (-9223372036854775808, 0.000000000000000000123, -1.5, NULL),
    (9223372036854775807, 123456789012345678.9, NULL, 1);
SELECT item_key, payload FROM directus_sync.outbox ORDER BY id;
CREATE TABLE docs (id integer PRIMARY KEY, j json, b jsonb);
SELECT directus_sync.subscribe('b', 'docs', ARRAY['j', 'b']);
INSERT INTO docs VALUES (1, '"just a string"', '"say \"hi\""'), (2, '{"a": "x"}', '[1, "two"]'),
    (3, '5', 'true'), (4, 'null', NULL);
SELECT item_key, payload FROM directus_sync.outbox WHERE collection = 'docs' ORDER BY id;
DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map, big, docs;
