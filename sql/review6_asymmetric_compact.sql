-- The item's alive clock "a" (review 6, asymmetric subscriptions) with the
-- compact clocks of a create and with deletes (src/capture.c,
-- src/clock_row.c): a create whose alive clock is later than its born clock
-- goes in full with "a", never compact (the compact form would lose "a");
-- a compact meta with "a" (never sent, but possible on the wire) is read as
-- its form in full with "a"; a delete's payload, {"s", "d", "b"}, brings no
-- write: an "a" beside it does not keep the item. No worker runs for this
-- database; the test has its own.
\set SHOW_CONTEXT never
CREATE DATABASE regress_rv6_asym_compact;
\c regress_rv6_asym_compact
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE items (id integer PRIMARY KEY, title text, body text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b', forward_inbound => true) IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
-- both take every column: a create whose fields are at its born clock can go compact to either
SELECT directus_sync.subscribe('b', 'items', ARRAY['title', 'body'], key_series => false);
SELECT directus_sync.subscribe('c', 'items', ARRAY['title', 'body'], key_series => false);
SELECT directus_sync.enable_clocks('items', key_series => false);
CREATE VIEW queue AS
SELECT r.name AS remote, o.item_key, o.op,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(o.payload::jsonb->'directus_sync_meta') k) AS meta_keys
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;
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
CREATE FUNCTION sync_meta(item integer, meta jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE items SET directus_sync_meta = meta WHERE id = item;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'items', item::text);
END $$;
CREATE TEMP TABLE born AS SELECT b_clock() AS clock;
CREATE TEMP TABLE alive AS SELECT b_clock() AS clock;
SELECT (SELECT clock FROM alive) COLLATE "C" > (SELECT clock FROM born) AS alive_later;

-- A local create goes compact to c (every column at the born clock).
INSERT INTO items VALUES (1, 'local', 'x');
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;

-- A sync's create from b, every field at its born clock, with "a" later
-- (a field b does not send here was written later): kept in the row, and
-- forwarded to c in full with that "a", not compact.
SELECT sync_create(2, 'from b', 'y',
       jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', (SELECT clock FROM born),
                          'f', jsonb_build_object('title', (SELECT clock FROM born), 'body', (SELECT clock FROM born)),
                          'p', '{}'::jsonb, 'a', (SELECT clock FROM alive)));
SELECT directus_sync_meta->>'a' = (SELECT clock FROM alive) AS a_kept FROM items WHERE id = 2;
SELECT * FROM queue;
SELECT payload::jsonb->'directus_sync_meta'->>'a' = (SELECT clock FROM alive) AS a_forwarded,
       payload::jsonb->'directus_sync_meta'->'f' = jsonb_build_object('title', (SELECT clock FROM born),
                                                                    'body', (SELECT clock FROM born)) AS f_at_born
  FROM directus_sync.outbox WHERE item_key = '2';
TRUNCATE directus_sync.outbox;

-- A compact meta with "a" (no sender makes it) reads as its form in full
-- with "a": the same row, the same stored clocks, the same forward to c.
SELECT sync_create(3, 'same', NULL,
       jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', (SELECT clock FROM born),
                          'a', (SELECT clock FROM alive)));
SELECT sync_create(4, 'same', NULL,
       jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', (SELECT clock FROM born),
                          'f', jsonb_build_object('title', (SELECT clock FROM born), 'body', (SELECT clock FROM born)),
                          'p', '{}'::jsonb, 'a', (SELECT clock FROM alive)));
SELECT x.title = y.title AND x.body IS NOT DISTINCT FROM y.body AS same_values,
       x.directus_sync_meta = y.directus_sync_meta AS same_clocks,
       x.directus_sync_meta->>'a' = (SELECT clock FROM alive) AS a_kept
  FROM items x, items y WHERE x.id = 3 AND y.id = 4;
SELECT (SELECT payload::jsonb - 'id' FROM directus_sync.outbox WHERE item_key = '3')
     = (SELECT payload::jsonb - 'id' FROM directus_sync.outbox WHERE item_key = '4') AS same_forward,
       count(*) AS forwarded FROM directus_sync.outbox;
TRUNCATE directus_sync.outbox;

-- A delete of b later than every clock of item 1, with an "a" beside it
-- later still (no sender puts one there): the delete deletes the item, and
-- goes on to c.
CREATE TEMP TABLE del AS SELECT b_clock() AS clock;
CREATE TEMP TABLE after_del AS SELECT b_clock() AS clock;
SELECT (SELECT clock FROM after_del) COLLATE "C" > (SELECT clock FROM del) AS a_later_than_delete;
BEGIN;
SELECT sync_meta(1, jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                       'b', (SELECT directus_sync_meta->>'b' FROM items WHERE id = 1),
                                       'd', (SELECT clock FROM del), 'a', (SELECT clock FROM after_del)));
COMMIT;
SELECT count(*) AS item_1_left FROM items WHERE id = 1;
SELECT remote, item_key, op FROM queue;
SELECT kind FROM directus_sync.conflict WHERE item_key = '1';
TRUNCATE directus_sync.outbox;

RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_asym_compact;
