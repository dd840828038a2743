-- Compact clocks of a create (src/capture.c, src/clock_row.c): a create
-- whose shipped fields all have its born clock, and that ships every column
-- the table clocks, carries {"s", "b"} alone; a receiver reads a sync's "b"
-- without "f" as every column at "b" with no previous clock, exactly as the
-- full form. No worker runs for this database.
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE items (id integer PRIMARY KEY, title text, body text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b', forward_inbound => true) IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'items', ARRAY['title', 'body'], key_series => false);
-- c takes one field of two: its creates go in full
SELECT directus_sync.subscribe('c', 'items', ARRAY['title'], key_series => false);
SELECT directus_sync.enable_clocks('items', key_series => false);
CREATE VIEW queue AS
SELECT r.name AS remote, o.item_key, o.op, o.payload::jsonb - 'directus_sync_meta' AS fields,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(o.payload::jsonb->'directus_sync_meta') k) AS meta_keys,
       o.payload::jsonb->'directus_sync_meta'->>'b' = left(i.directus_sync_meta->>'b', 16) AS born_ours
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
  LEFT JOIN items i ON i.id::text = o.item_key ORDER BY o.id;
-- a clock of node ...b0 (the remote b), taken now
CREATE FUNCTION b_clock() RETURNS text LANGUAGE sql
AS $$ SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' $$;
-- a sync's write of an item, as Directus makes it: the row and b's activity row
CREATE FUNCTION sync_create(item integer, title text, body text, meta jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO items VALUES (item, title, body, meta);
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'items', item::text);
END $$;
CREATE FUNCTION sync_update(item integer, title text, meta jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE items SET title = sync_update.title, directus_sync_meta = meta WHERE id = item;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'items', item::text);
END $$;

-- A local create: compact to b (every column), in full to c (one field).
INSERT INTO items VALUES (1, 'a', 'x');
SELECT * FROM queue;
SELECT o.payload::jsonb->'directus_sync_meta'->'f' = jsonb_build_object('title', left(i.directus_sync_meta->>'b', 16)) AS c_full,
       o.payload::jsonb->'directus_sync_meta'->'p' = '{}' AS no_prev
  FROM directus_sync.outbox o JOIN items i ON i.id::text = o.item_key WHERE o.remote_id = 2;
TRUNCATE directus_sync.outbox;
-- its stored clocks are as before: every field at the born clock
SELECT directus_sync_meta->'f' = jsonb_build_object('title', directus_sync_meta->>'b', 'body', directus_sync_meta->>'b')
       AS stored_full FROM items WHERE id = 1;
-- an update goes in full
UPDATE items SET title = 'a2' WHERE id = 1;
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;
-- a create whose field clocks differ from its born clock goes in full
-- (a row written while the clock trigger was off, then copied with clocks)
ALTER TABLE items DISABLE TRIGGER directus_sync_clock;
INSERT INTO items VALUES (2, 'b', 'y', jsonb_build_object('b', b_clock(), 'f', jsonb_build_object('title', b_clock(), 'body', '0000000000000001@00000000-0000-0000-0000-0000000000b0')));
ALTER TABLE items ENABLE ALWAYS TRIGGER directus_sync_clock;
SELECT remote, meta_keys FROM queue;
TRUNCATE directus_sync.outbox;

-- A receiver: the compact create and its full form give the same row, the
-- same stored clocks and the same forwarded payload (to c).
CREATE TEMP TABLE born AS SELECT b_clock() AS clock;
SELECT sync_create(10, 'same', NULL,
       jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', (SELECT clock FROM born)));
SELECT sync_create(11, 'same', NULL,
       jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', (SELECT clock FROM born),
                          'f', jsonb_build_object('title', (SELECT clock FROM born), 'body', (SELECT clock FROM born)),
                          'p', '{}'::jsonb));
SELECT a.title = b.title AND a.body IS NOT DISTINCT FROM b.body AS same_values,
       a.directus_sync_meta = b.directus_sync_meta AS same_clocks,
       a.directus_sync_meta->'f'->>'body' = (SELECT clock FROM born) AS null_field_clocked
  FROM items a, items b WHERE a.id = 10 AND b.id = 11;
SELECT (SELECT payload::jsonb - 'id' FROM directus_sync.outbox WHERE item_key = '10')
     = (SELECT payload::jsonb - 'id' FROM directus_sync.outbox WHERE item_key = '11') AS same_forward,
       count(*) AS forwarded FROM directus_sync.outbox;
TRUNCATE directus_sync.outbox;
-- a later update of title, decided alike on both
CREATE TEMP TABLE later AS SELECT b_clock() AS clock;
SELECT sync_update(i, 'later', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', (SELECT clock FROM born),
                   'f', jsonb_build_object('title', (SELECT clock FROM later)), 'p', jsonb_build_object('title', (SELECT clock FROM born))))
  FROM (VALUES (10), (11)) v(i);
SELECT a.title, a.directus_sync_meta = b.directus_sync_meta AS same_clocks
  FROM items a, items b WHERE a.id = 10 AND b.id = 11;
TRUNCATE directus_sync.outbox;
-- a compact create of a key that exists here, born earlier: it loses whole,
-- as its full form would (insert/insert)
SELECT sync_update(10, 'older twin', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                   'b', '0000000000000002@00000000-0000-0000-0000-0000000000b0'));
SELECT sync_update(11, 'older twin', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                   'b', '0000000000000002@00000000-0000-0000-0000-0000000000b0',
                   'f', jsonb_build_object('title', '0000000000000002@00000000-0000-0000-0000-0000000000b0',
                                           'body', '0000000000000002@00000000-0000-0000-0000-0000000000b0'),
                   'p', '{}'::jsonb));
SELECT a.title, a.directus_sync_meta = b.directus_sync_meta AS same_clocks
  FROM items a, items b WHERE a.id = 10 AND b.id = 11;
SELECT item_key, kind, winner FROM directus_sync.conflict WHERE item_key IN ('10', '11') ORDER BY id;
TRUNCATE directus_sync.outbox;

-- A clock of the sender's own node travels as its 16 hex digits: "s" completes it.
SELECT sync_create(12, 'short', 'z',
       jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', left((SELECT clock FROM born), 16)));
SELECT directus_sync_meta->'f'->>'title' = (SELECT clock FROM born) AND
       directus_sync_meta->'f'->>'body' = (SELECT clock FROM born) AS completed FROM items WHERE id = 12;
TRUNCATE directus_sync.outbox;

-- Hostile metas are refused as their full forms are: a bogus "b" with no
-- "f" fails as a bogus "b" with one.
SELECT sync_create(13, 'bogus', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": "soon"}');
SELECT sync_create(13, 'bogus', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": "soon", "f": {"title": "soon", "body": "soon"}}');
SELECT sync_create(13, 'bogus', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": 5}');
SELECT sync_create(13, 'bogus', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": 5, "f": {"title": 5, "body": 5}}');
-- far ahead: refused (the sender tries again later), both forms
SELECT sync_create(13, 'ahead', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": "7fffffffffff0000@00000000-0000-0000-0000-0000000000b0"}');
SELECT sync_create(13, 'ahead', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": "7fffffffffff0000@00000000-0000-0000-0000-0000000000b0", "f": {"title": "7fffffffffff0000@00000000-0000-0000-0000-0000000000b0"}}');
-- a null "b" is no clock: no field gets one, as with null clocks in "f"
SELECT sync_create(14, 'null born', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": null}');
SELECT sync_create(15, 'null born', 'z', '{"s": "00000000-0000-0000-0000-0000000000b0", "b": null, "f": {"title": null, "body": null}}');
SELECT a.directus_sync_meta = b.directus_sync_meta AS same_clocks, a.directus_sync_meta AS clocks
  FROM items a, items b WHERE a.id = 14 AND b.id = 15;
-- a compact meta from anyone but a sync fails at commit
BEGIN;
INSERT INTO items VALUES (16, 'forged', 'z', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', b_clock()));
COMMIT;
SELECT count(*) AS forged FROM items WHERE id = 16;

DROP VIEW queue;
DROP EXTENSION directus_sync;
-- leave the database as found, for the next test
DROP TABLE items, directus_activity;
DROP FUNCTION b_clock(), sync_create(integer, text, text, jsonb), sync_update(integer, text, jsonb);
