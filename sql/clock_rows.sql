-- Clocks in rows (enable_clocks, src/clock_row.c): local writes stamp the
-- fields they change; a sync's write keeps each field whose clock is later
-- and puts back the others; only a sync may bring clocks. No worker runs
-- for this database. Clocks depend on the time: only their order is shown.
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, body text, secret text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b', forward_inbound => true) IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'], clocks => false);
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title']);

-- Bad input.
SELECT directus_sync.enable_clocks(NULL);
SELECT directus_sync.enable_clocks('missing');
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'directus_sync_meta']);
CREATE TABLE wrong_type (id integer PRIMARY KEY, directus_sync_meta json);
SELECT directus_sync.enable_clocks('wrong_type');

SELECT directus_sync.enable_clocks('articles');
SELECT directus_sync.enable_clocks('articles');  -- again: nothing changes
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'articles'::regclass ORDER BY tgname;
-- the clock column cannot be shipped
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'directus_sync_meta']);

CREATE VIEW queue AS
SELECT r.name AS remote, o.op, o.payload::jsonb - 'directus_sync_meta' AS fields,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(o.payload::jsonb->'directus_sync_meta'->'f') k) AS clocked,
       o.payload::jsonb->'directus_sync_meta'->>'s' = directus_sync._node_id()::text AS sent_by_us
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;
CREATE FUNCTION clock(field text) RETURNS text LANGUAGE sql
AS $$ SELECT directus_sync_meta->'f'->>field FROM articles WHERE id = 1 $$;
CREATE TABLE seen (field text, clock text);
CREATE FUNCTION clock_of(item integer, field text) RETURNS text LANGUAGE sql
AS $$ SELECT directus_sync_meta->'f'->>field FROM articles WHERE id = item $$;
-- a clock of node ...b0 (the remote b), taken now
CREATE FUNCTION b_clock() RETURNS text LANGUAGE sql
AS $$ SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' $$;

-- A local insert stamps the born clock and every replicated field, not the others.
INSERT INTO articles VALUES (1, 'a', 'x', 's');
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(directus_sync_meta->'f') k) AS fields,
       directus_sync_meta->>'b' IS NOT NULL AS born,
       directus_sync_meta->>'b' LIKE '%@' || directus_sync._node_id() AS ours
  FROM articles;
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;
INSERT INTO seen SELECT f, clock(f) FROM unnest(ARRAY['title', 'body']) f;

-- A local update stamps the fields it changes with later clocks, the others keep theirs.
UPDATE articles SET title = 'a2', secret = 's2';
SELECT field, clock(field) > clock COLLATE "C" AS later FROM seen ORDER BY field;
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;
-- what it writes into the clock column is ignored: the trigger keeps it
UPDATE articles SET body = 'x2', directus_sync_meta = '{"b": "0000000000000000@00000000-0000-0000-0000-000000000001"}';
SELECT directus_sync_meta->>'b' LIKE '%@' || directus_sync._node_id() AS born_kept,
       clock('title') IS NOT NULL AND clock('body') > clock('title') COLLATE "C" AS clocks_kept FROM articles;
TRUNCATE directus_sync.outbox;
TRUNCATE seen;
INSERT INTO seen SELECT f, clock(f) FROM unnest(ARRAY['title', 'body']) f;

-- A sync: its title is later (kept), its body earlier (put back).
CREATE FUNCTION sync_write(title text, title_clock text, body text, body_clock text, user_id uuid)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles a SET title = sync_write.title, body = sync_write.body,
           directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', a.directus_sync_meta->'b',
                                                   'f', jsonb_build_object('title', title_clock, 'body', body_clock))
     WHERE id = 1;
    INSERT INTO directus_activity (action, "user", collection, item) VALUES ('update', user_id, 'articles', '1');
END $$;
SELECT sync_write('from b', b_clock(), 'old b',
                  '0000000000000001@00000000-0000-0000-0000-0000000000b0', '00000000-0000-0000-0000-00000000000b');
SELECT title, body, clock('title') LIKE '%@00000000-0000-0000-0000-0000000000b0' AS sync_clock,
       clock('body') = (SELECT clock FROM seen WHERE field = 'body') AS body_clock_kept FROM articles;
-- forwarded to c with the sync's clock; and, since b's body lost to ours,
-- the item goes back whole to every remote (b lacks our body)
SELECT * FROM queue;
TRUNCATE directus_sync.outbox;

-- The same write again changes nothing; its body loses again, so the item
-- goes back again.
SELECT sync_write('from b', clock('title'), 'old b',
                  '0000000000000001@00000000-0000-0000-0000-0000000000b0', '00000000-0000-0000-0000-00000000000b');
SELECT title, body FROM articles;
SELECT count(*) AS queued FROM directus_sync.outbox;

-- A local edit after the sync beats it, whatever the clocks' skew.
UPDATE articles SET title = 'local again';
SELECT clock('title') LIKE '%@' || directus_sync._node_id() AS ours FROM articles;
TRUNCATE directus_sync.outbox;

-- Clocks from anyone but a sync fail the transaction at commit.
SELECT sync_write('forged', b_clock(), 'forged', b_clock(),
                  '00000000-0000-0000-0000-0000000000ff');
SELECT title FROM articles;
BEGIN;
UPDATE articles SET title = 'forged', directus_sync_meta = '{"s": "x"}';
COMMIT;
SELECT title FROM articles;

-- Forged clocks in a subtransaction that rolls back are gone: nothing to refuse.
DO $$
BEGIN
    BEGIN
        UPDATE articles SET title = 'forged', directus_sync_meta = '{"s": "x"}';
        RAISE EXCEPTION 'undone';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
END $$;
SELECT title FROM articles;

-- A sync's change that brings no clocks (a Directus that does not know the
-- field yet drops it) is refused: stamped here it would beat later edits.
BEGIN;
UPDATE articles SET title = 'no clocks' WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
ROLLBACK;
-- A sender mark stored while no clock trigger ran is not a sync's write of
-- the local edits that leave the column as it is.
ALTER TABLE articles DISABLE TRIGGER directus_sync_clock;
UPDATE articles SET directus_sync_meta = directus_sync_meta || '{"s": "00000000-0000-0000-0000-0000000000b0"}' WHERE id = 1;
ALTER TABLE articles ENABLE ALWAYS TRIGGER directus_sync_clock;
UPDATE articles SET title = 'local again' WHERE id = 1;
SELECT title, directus_sync_meta ? 's' AS mark_kept FROM articles WHERE id = 1;

-- A sync's clock of its own node may come as its 16 hex digits: the sender's
-- node id ("s") completes it; without a node id in "s" it is no clock.
BEGIN;
UPDATE articles SET title = 'short clock',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', directus_sync_meta->'b',
                                               'f', jsonb_build_object('title', left(b_clock(), 16)))
 WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
SELECT title, clock('title') LIKE '%@00000000-0000-0000-0000-0000000000b0' AS completed FROM articles WHERE id = 1;
UPDATE articles SET title = 'x', directus_sync_meta = jsonb_build_object('s', 'b', 'f', jsonb_build_object('title', left(b_clock(), 16)))
 WHERE id = 1;

-- A malformed clock, or one too far ahead of this server's clock, fails the write.
SELECT sync_write('bad', 'tomorrow', 'bad', NULL, '00000000-0000-0000-0000-00000000000b');
SELECT sync_write('bad', upper(b_clock()), 'bad', NULL, '00000000-0000-0000-0000-00000000000b');
SELECT sync_write('ahead', 'ffff000000000000@00000000-0000-0000-0000-0000000000b0', 'ahead', NULL,
                  '00000000-0000-0000-0000-00000000000b');
SELECT title FROM articles;

-- A sync's insert keeps its clocks; a field without a clock has none.
BEGIN;
INSERT INTO articles VALUES (2, 'two', 'no clock', NULL,
    jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', b_clock(),
                       'f', jsonb_build_object('title', b_clock())));
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', '2');
COMMIT;
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(directus_sync_meta->'f') k) AS fields,
       directus_sync_meta->>'b' LIKE '%b0' AS born_at_b
  FROM articles WHERE id = 2;
SELECT * FROM queue;

-- Deletes (src/tombstone.c). A local delete leaves a tombstone later than
-- every clock of the row and ships the key with it, as an update.
TRUNCATE directus_sync.outbox;
INSERT INTO articles VALUES (3, 'three', 'x'), (4, 'four', 'y');
CREATE FUNCTION latest_clock(item integer) RETURNS text LANGUAGE sql
AS $$ SELECT max(v COLLATE "C") FROM articles, jsonb_each_text(directus_sync_meta->'f') AS f(k, v) WHERE id = item $$;
CREATE TABLE before_delete AS SELECT latest_clock(3) AS latest;
TRUNCATE directus_sync.outbox;
DELETE FROM articles WHERE id = 3;
SELECT t.deleted > b.latest COLLATE "C" AS later_than_fields, t.deleted LIKE '%@' || directus_sync._node_id() AS ours
  FROM directus_sync.tombstone t, before_delete b WHERE t.item_key = '3';
-- (a clock of this node travels as its 16 hex digits; the receiver adds "s")
SELECT remote, op, fields, payload->'directus_sync_meta'->>'d' = left((SELECT deleted FROM directus_sync.tombstone WHERE item_key = '3'), 16) AS carries_clock
  FROM (SELECT r.name AS remote, o.op, o.payload::jsonb - 'directus_sync_meta' AS fields, o.payload::jsonb AS payload
          FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id) q;
TRUNCATE directus_sync.outbox;

-- A sync's delete (an update carrying "d"): later than every field, the item goes, forwarded with that clock.
CREATE FUNCTION sync_delete(item integer, clock text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles SET directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'd', clock)
     WHERE id = item;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', item::text);
END $$;
SELECT sync_delete(4, b_clock());
SELECT count(*) AS left FROM articles WHERE id = 4;
SELECT q.remote, q.op, q.payload->'directus_sync_meta'->>'d' = greatest(t.deleted, t.swept) AS sync_clock, greatest(t.deleted, t.swept) LIKE '%b0' AS b_clock
  FROM (SELECT r.name AS remote, o.op, o.payload::jsonb AS payload, o.item_key
          FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id) q
  JOIN directus_sync.tombstone t ON t.item_key = q.item_key;
TRUNCATE directus_sync.outbox;
-- earlier than a field: the item stays, nothing ships
SELECT sync_delete(1, '0000000000000002@00000000-0000-0000-0000-0000000000b0');
SELECT count(*) AS left FROM articles WHERE id = 1;
SELECT count(*) AS queued FROM directus_sync.outbox;

-- A sync's create older than the delete here is skipped, and the delete goes again to every remote.
CREATE FUNCTION sync_create(item integer, title text, clock text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles (id, title, directus_sync_meta)
    VALUES (item, title, jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', clock,
                                            'f', jsonb_build_object('title', clock)));
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', item::text);
END $$;
SELECT sync_create(4, 'zombie', '0000000000000003@00000000-0000-0000-0000-0000000000b0');
SELECT count(*) AS left FROM articles WHERE id = 4;
SELECT r.name AS remote, o.op, o.payload::jsonb->'directus_sync_meta'->>'d' = greatest(t.deleted, t.swept) AS the_delete
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
  JOIN directus_sync.tombstone t ON t.item_key = o.item_key WHERE o.item_key = '4' ORDER BY o.id;
TRUNCATE directus_sync.outbox;
-- later than the delete: the item comes back
SELECT sync_create(4, 'back', b_clock());
SELECT title FROM articles WHERE id = 4;
SELECT remote, op, fields FROM queue;
TRUNCATE directus_sync.outbox;
-- a local create of a deleted key is later than its delete
DELETE FROM articles WHERE id = 4;
INSERT INTO articles VALUES (4, 'again', 'z');
SELECT latest_clock(4) > (SELECT deleted FROM directus_sync.tombstone WHERE item_key = '4') COLLATE "C" AS later;
-- resync ships the current rows, and deletes with their clocks
TRUNCATE directus_sync.outbox;
DELETE FROM articles WHERE id = 4;
TRUNCATE directus_sync.outbox;
SELECT directus_sync._queue_current(s, ARRAY['1', '4']) FROM directus_sync.subscription s WHERE collection = 'articles' AND remote_id = 1;
SELECT op, payload::jsonb - 'directus_sync_meta' AS fields, payload::jsonb->'directus_sync_meta' ? 'f' AS field_clocks,
       payload::jsonb->'directus_sync_meta'->>'d' = (SELECT deleted FROM directus_sync.tombstone WHERE item_key = '4') AS delete_clock
  FROM directus_sync.outbox ORDER BY id;

-- Two items created with one key (a sync's create met ours and came as an
-- update): the one born later keeps the key, whole.
CREATE FUNCTION sync_born(item integer, title text, born text, clock text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles a SET title = sync_born.title,
           directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', born,
                                                   'f', jsonb_build_object('title', clock))
     WHERE id = item;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', item::text);
END $$;
INSERT INTO articles VALUES (5, 'ours', 'x');
-- born earlier than ours: it loses, even with a later field clock
SELECT sync_born(5, 'theirs', '0000000000000009@00000000-0000-0000-0000-0000000000b0', b_clock());
SELECT title, directus_sync_meta->>'b' LIKE '%@' || directus_sync._node_id() AS ours FROM articles WHERE id = 5;
-- born later: it wins, even with an earlier field clock; our body, which
-- the sync does not carry, goes with our item (NULL, no clock)
SELECT sync_born(5, 'theirs, later', b_clock(), '000000000000000a@00000000-0000-0000-0000-0000000000b0');
SELECT title, body, directus_sync_meta->>'b' LIKE '%b0' AS theirs,
       clock_of(5, 'title') = '000000000000000a@00000000-0000-0000-0000-0000000000b0' AS their_clock,
       clock_of(5, 'body') IS NULL AS no_body_clock
  FROM articles WHERE id = 5;

-- Every conflict the clocks resolved, in order: both values, the winner; the
-- remote is known where its activity row confirmed the write.
SELECT c.kind, c.item_key, c.field, c.winner, r.name AS remote,
       CASE WHEN jsonb_typeof(c.local_value) = 'object' THEN c.local_value - 'directus_sync_meta'
            ELSE c.local_value END AS local_value,
       CASE WHEN jsonb_typeof(c.remote_value) = 'object' THEN c.remote_value - 'directus_sync_meta'
            ELSE c.remote_value END AS remote_value,
       c.local_clock IS NOT NULL AND c.remote_clock IS NOT NULL AS clocks
  FROM directus_sync.conflict c LEFT JOIN directus_sync.remote r ON r.id = c.remote_id ORDER BY c.id;
SELECT remote, conflicts FROM directus_sync.remote_status ORDER BY remote;

-- Key series: integer keys made here come from this instance's own series,
-- which Directus's setval(max(id)) on the column's sequence leaves alone.
CREATE TABLE notes (id serial PRIMARY KEY, body text);
INSERT INTO notes (body) VALUES ('one'), ('two'), ('three'), ('four');
SELECT directus_sync.subscribe('c', 'notes', ARRAY['body']);
SELECT directus_sync.enable_clocks('notes', key_series => true);   -- no instance number yet
SELECT directus_sync.enable_clocks('notes');                        -- a warning, no series
SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'notes'::regclass;
SELECT directus_sync.set_instance(0, 3);
SELECT directus_sync.set_instance(4, 3);
SELECT directus_sync.set_instance(1, NULL);
SELECT directus_sync.set_instance(2, 3);
SELECT directus_sync.enable_clocks('notes');
SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'notes'::regclass;
INSERT INTO notes (body) VALUES ('five'), ('six') RETURNING id;
-- a replicated create with an explicit key, then what Directus does after it
INSERT INTO notes (id, body) VALUES (7, 'from instance 1');
SELECT setval(pg_get_serial_sequence('notes', 'id'), (SELECT max(id) FROM notes));
INSERT INTO notes (body) VALUES ('seven') RETURNING id;
-- the series belongs to no column, and to the table's owner
SELECT d.refobjid IS NULL AS unowned, pg_get_userbyid(c.relowner) = current_user AS owner
  FROM pg_class c LEFT JOIN pg_depend d ON d.objid = c.oid AND d.deptype = 'a'
 WHERE c.relname = 'notes_directus_sync_keys';
CREATE TABLE ident (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body text);
SELECT directus_sync.enable_clocks('ident');
SELECT directus_sync.enable_clocks('ident', key_series => false);
SELECT directus_sync.unsubscribe('c', 'notes');

-- Unsubscribed, a table with clocks keeps its column and its triggers: what
-- syncs write to it is still decided by clocks.
SELECT directus_sync.unsubscribe('b', 'articles'), directus_sync.unsubscribe('c', 'articles');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'articles'::regclass ORDER BY tgname;
DROP VIEW queue;
DROP EXTENSION directus_sync;
-- leave the database as found, for the next test
DROP TABLE articles, directus_activity, wrong_type, seen, before_delete, notes, ident;
DROP FUNCTION clock(text), clock_of(integer, text), b_clock(), sync_write(text, text, text, text, uuid),
     latest_clock(integer), sync_delete(integer, text), sync_create(integer, text, text),
     sync_born(integer, text, text, text);
