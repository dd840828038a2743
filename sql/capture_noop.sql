-- An update that changes no subscribed field ships nothing, also when the
-- value is stored out of line (TOAST): the capture trigger compares values,
-- not TOAST pointers. UPDATE ... SET body = body || '' writes the same text
-- under a new TOAST pointer.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE EXTENSION directus_sync;

CREATE TABLE noop_articles (id integer PRIMARY KEY, title text, body text);
-- out of line and uncompressed: each value of body gets its own TOAST pointer
ALTER TABLE noop_articles ALTER COLUMN body SET STORAGE EXTERNAL;
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'noop_articles', ARRAY['title', 'body']);

CREATE VIEW queue AS
SELECT o.item_key, o.op, o.payload->>'title' AS title, length(o.payload->>'body') AS body_length
  FROM directus_sync.outbox o ORDER BY o.id;

-- about 100 kB of text that does not compress
INSERT INTO noop_articles
SELECT 1, 'first', string_agg(md5(random()::text), '') FROM generate_series(1, 3200);
SELECT octet_length(body) AS bytes FROM noop_articles;
SELECT pg_relation_size(reltoastrelid) > 100000 AS out_of_line FROM pg_class WHERE oid = 'noop_articles'::regclass;
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;

-- No-ops: the same value, the same pointer or a new one.
UPDATE noop_articles SET body = body;
UPDATE noop_articles SET body = body || '';
UPDATE noop_articles SET body = body || '', title = title;
UPDATE noop_articles SET body = substr(body, 1, 50000) || substr(body, 50001);
SELECT count(*) AS queued_by_noops FROM directus_sync.outbox;

-- Real changes still queue: another body, or another title beside an unchanged body.
UPDATE noop_articles SET body = body || 'x';
UPDATE noop_articles SET body = body || '', title = 'second';
UPDATE noop_articles SET body = left(body, 102399) || 'y';
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;

-- A value written twice ships once, inline (short) or out of line (long).
UPDATE noop_articles SET body = 'short';
UPDATE noop_articles SET body = 'short';
UPDATE noop_articles SET body = repeat(md5('a'), 4000);
UPDATE noop_articles SET body = repeat(md5('a'), 4000);
SELECT * FROM queue;

DROP VIEW queue;
DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map, noop_articles;
