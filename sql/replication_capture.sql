-- The capture trigger: what goes into the outbox for each kind of change.
-- No worker runs for this database, so the queue stays as written.
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
\set SHOW_CONTEXT never

CREATE TABLE articles (
    id integer PRIMARY KEY, title text, body text, n numeric, published boolean,
    at timestamptz, day date, meta json, doc jsonb, ref uuid, tags text[], secret text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't', forward_inbound => false) IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles',
       ARRAY['title', 'body', 'n', 'published', 'at', 'day', 'meta', 'doc', 'ref', 'tags'], clocks => false);
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title']);

CREATE VIEW queue AS
SELECT r.name AS remote, o.collection, o.item_key, o.op, o.payload
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;

-- Insert: key and subscribed fields, rendered as Directus renders them.
SET timezone = 'UTC';
INSERT INTO articles VALUES (1, 'Hello "world"', 'body', 12.50, true, '2024-01-02 03:04:05.25+00',
    '2024-01-02', '{"a": [1, 2]}', '{"b": null}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{x,y}', 'hidden');
INSERT INTO articles (id) VALUES (2);
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;

-- Update: the key and the subscribed fields that changed, per remote.
UPDATE articles SET body = 'new body', secret = 'still hidden' WHERE id = 1;
UPDATE articles SET secret = 'only an unsubscribed column' WHERE id = 1;
UPDATE articles SET title = title, n = 12.50 WHERE id = 1;   -- no-op
UPDATE articles SET title = 'Hi', published = NULL WHERE id = 1;
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;

-- A changed key is another item for Directus: delete the old, create the new.
UPDATE articles SET id = 3 WHERE id = 2;
-- Delete: the key only.
DELETE FROM articles WHERE id = 1;
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;

-- A rolled back change queues nothing.
BEGIN;
INSERT INTO articles (id, title) VALUES (10, 'never');
ROLLBACK;
SELECT count(*) AS queued_after_rollback FROM directus_sync.outbox;

-- A disabled remote captures nothing; the other remote still does.
SELECT directus_sync.alter_remote('c', enabled => false);
INSERT INTO articles (id, title) VALUES (11, 'only b');
SELECT remote, item_key, op FROM queue;
TRUNCATE directus_sync.outbox;

-- Writers need no rights on directus_sync: Directus's role only has its tables.
CREATE ROLE regress_directus;
GRANT SELECT, INSERT, UPDATE, DELETE ON articles TO regress_directus;
SET ROLE regress_directus;
INSERT INTO articles (id, title) VALUES (12, 'by directus');
SELECT count(*) FROM directus_sync.outbox;        -- but cannot read the queue
RESET ROLE;
SELECT remote, item_key, op, payload FROM queue;
TRUNCATE directus_sync.outbox;

-- Loop prevention: Directus's activity row, after the item in the same
-- transaction, naming the inbound user of remote b.
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45) NOT NULL, "user" uuid,
    timestamp timestamptz DEFAULT now(), collection varchar(64) NOT NULL, item varchar(255) NOT NULL);
SELECT directus_sync.alter_remote('c', enabled => true);
SELECT directus_sync.alter_remote('b', inbound_user => '11111111-1111-1111-1111-111111111111');
BEGIN;   -- b's sync user writes: shipped to nobody (b does not forward)
UPDATE articles SET title = 'from b' WHERE id = 12;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'articles', '12');
COMMIT;
SELECT count(*) AS queued_for_inbound_change FROM directus_sync.outbox;
SELECT directus_sync.alter_remote('b', forward_inbound => true);
BEGIN;   -- now forwarded to c, still not back to b
UPDATE articles SET title = 'from b again' WHERE id = 12;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'articles', '12');
COMMIT;
SELECT remote, item_key, op, payload FROM queue;
TRUNCATE directus_sync.outbox;
BEGIN;   -- another user: shipped to both
UPDATE articles SET title = 'by an editor' WHERE id = 12;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '22222222-2222-2222-2222-222222222222', 'articles', '12');
COMMIT;
SELECT remote, item_key, op FROM queue;
TRUNCATE directus_sync.outbox;

-- Conflicts: b's sync user changes a field while our own change of it is
-- still queued for b. Both sides keep the value whose JSON text sorts last.
SELECT directus_sync.alter_remote('b', forward_inbound => false);
UPDATE articles SET title = 'mmm ours', body = 'our body' WHERE id = 12;   -- queued for b and c
BEGIN;   -- b's value sorts last: it wins here, and goes back to b after ours
UPDATE articles SET title = 'zzz theirs', n = 7 WHERE id = 12;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'articles', '12');
COMMIT;
SELECT title, body, n FROM articles WHERE id = 12;
SELECT remote, item_key, op, payload FROM queue;
SELECT collection, item_key, field, local_value, remote_value, winner FROM directus_sync.conflict ORDER BY id;
BEGIN;   -- ours (the value on its way back to b) sorts last: written back, queued again
UPDATE articles SET title = 'aaa theirs', body = 'our body' WHERE id = 12;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'articles', '12');
COMMIT;
SELECT title, body, n FROM articles WHERE id = 12;
SELECT remote, item_key, op, payload FROM queue;
SELECT field, local_value, remote_value, winner FROM directus_sync.conflict ORDER BY id;
SELECT remote, conflicts FROM directus_sync.remote_status ORDER BY 1;
TRUNCATE directus_sync.outbox;
BEGIN;   -- nothing of ours queued: no conflict, nothing shipped back
UPDATE articles SET title = 'aaa theirs' WHERE id = 12;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'articles', '12');
COMMIT;
SELECT count(*) AS queued, (SELECT count(*) FROM directus_sync.conflict) AS conflicts FROM directus_sync.outbox;
-- Conflicts on values that are not text: the rule compares their JSON text
-- too (byte order, so 9 beats 10, true beats false, an object beats an
-- array), and a value wins over null whichever side holds it (where the JSON
-- text null would sort after a number or a string).
CREATE TABLE typed (id integer PRIMARY KEY, qty integer, flag boolean, data json, note text);
SELECT directus_sync.subscribe('b', 'typed', ARRAY['qty', 'flag', 'data', 'note'], clocks => false);
INSERT INTO typed VALUES (1, 9, false, '{"a": 1}', NULL), (2, 5, true, NULL, 'ours');   -- queued for b
BEGIN;   -- b's sync user changes every field of both items meanwhile
UPDATE typed SET qty = 10, flag = true, data = '[1, 2]', note = 'theirs' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'typed', '1');
UPDATE typed SET qty = NULL, flag = NULL, data = '{"b": 2}', note = NULL WHERE id = 2;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '11111111-1111-1111-1111-111111111111', 'typed', '2');
COMMIT;
SELECT id, qty, flag, data, note FROM typed ORDER BY id;
SELECT item_key, field, local_value, remote_value, winner FROM directus_sync.conflict
 WHERE collection = 'typed' ORDER BY item_key, field;
SELECT remote, item_key, op, payload FROM queue WHERE collection = 'typed';
SELECT directus_sync.unsubscribe('b', 'typed');
-- Fields each Directus instance fills itself cannot be shipped.
CREATE TABLE directus_fields (id serial PRIMARY KEY, collection varchar(64) NOT NULL,
    field varchar(64) NOT NULL, special varchar(64));
INSERT INTO directus_fields (collection, field, special)
VALUES ('articles', 'at', 'cast-timestamp,date-updated'), ('articles', 'title', NULL);
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'at']);
DROP TABLE directus_fields;
SELECT directus_sync.alter_remote('b', clear_inbound_user => true);
SELECT count(*) AS loop_guard_triggers FROM pg_trigger WHERE tgname = 'directus_sync_loop_guard';

-- Resync queues every current row as an upsert, in chunks the worker takes.
SELECT directus_sync.resync('c', 'articles') AS rows_to_queue;
SELECT remote, resync FROM directus_sync.remote_status ORDER BY 1;
SELECT directus_sync._resync_step(2, 'articles', 1);
SELECT remote, resync FROM directus_sync.remote_status ORDER BY 1;
SELECT directus_sync._resync_step(2, 'articles', 10);
SELECT directus_sync._resync_step(2, 'articles', 10);
SELECT remote, item_key, op, payload FROM queue;
SELECT remote, resync FROM directus_sync.remote_status ORDER BY 1;
TRUNCATE directus_sync.outbox;

-- Replay queues the current state of dead-lettered items: an upsert, or a
-- delete when the item is gone.
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status, error_code)
VALUES (1001, 1, 'articles', '3', 'u', '{"id":3,"title":"old"}', now(), 400, 'INVALID_PAYLOAD'),
       (1002, 1, 'articles', '99', 'c', '{"id":99}', now(), 400, 'INVALID_PAYLOAD');
SELECT remote, dead FROM directus_sync.remote_status ORDER BY 1;
SELECT directus_sync.replay('b') AS replayed;
SELECT remote, item_key, op, payload FROM queue;
SELECT count(*) AS dead_left FROM directus_sync.dead_letter;

-- A singleton ships its fields without the key.
CREATE TABLE site_settings (id integer PRIMARY KEY, site_name text);
SELECT directus_sync.subscribe('c', 'site_settings', ARRAY['site_name'], singleton => true);
TRUNCATE directus_sync.outbox;
INSERT INTO site_settings VALUES (1, 'My site');
UPDATE site_settings SET site_name = 'Our site';
SELECT remote, collection, item_key, op, payload FROM queue;

-- DROP EXTENSION removes the triggers it put on Directus's tables.
DROP VIEW queue;
DROP EXTENSION directus_sync;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'directus_sync%';
DROP TABLE directus_sync_id_map, articles, directus_activity, site_settings, typed;
DROP ROLE regress_directus;
