-- Review 8: two values of a field under one clock. A clock names its
-- writer, and one writer gives each write its own clock, so one of two
-- such values is not the write's: a sync's create that Directus stripped of
-- a field (stale schema cache, Directus 10, a field the sync user may not
-- write) still takes the field's clock, with the column's DEFAULT (an
-- insert has no SET list to refuse it by). The writer's value must win
-- (clock_row.c sync_wins_tie): the sender's when the sender made the clock
-- (the default, which sorts larger, does not beat it, and nothing goes back
-- to the sender), ours when we made it (a copy that is not our write goes
-- back corrected); between two copies from elsewhere the value decides, as
-- _later, with nothing written back. The model _later agrees: a register
-- marked "w" (its writer's) beats an unmarked one on an equal clock, in
-- either order.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv8_tie;
\c regress_rv8_tie
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, status text NOT NULL DEFAULT 'draft');
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'status'], key_series => false);
CREATE TABLE b_born AS
SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' AS clock;
TRUNCATE directus_sync.outbox;
-- b creates item 5 with status 'archived'; its create arrives without the
-- status (Directus dropped it): the row gets the default; since review 11
-- without b's clock (the INSERT does not list it), so b's value below wins
-- by clock (status_under_b_clock is NULL: no clock); an INSERT whose list
-- the trigger cannot read (a function's) still gives it b's clock, and
-- review10_tie_order checks that tie
BEGIN;
INSERT INTO articles (id, title, directus_sync_meta)
VALUES (5, 'b item', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                        'b', (SELECT clock FROM b_born)));
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', '5');
COMMIT;
SELECT status, directus_sync_meta->'f'->>'status' = (SELECT clock FROM b_born) AS status_under_b_clock FROM articles;
-- b sends the item again (a retry as an update, or a resync) with the status
BEGIN;
UPDATE articles SET title = 'b item', status = 'archived',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                               'b', (SELECT clock FROM b_born))
 WHERE id = 5;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '5');
COMMIT;
-- b's value, which b's user wrote; nothing of 'draft' goes back to b
SELECT status FROM articles;
SELECT count(*) AS draft_written_back FROM directus_sync.outbox WHERE payload::jsonb->>'status' = 'draft';
-- our item 6: its status clock is ours; b sends it back with another value
-- under our clock (a copy that is not our write): ours stays, and goes back
INSERT INTO articles (id, title, status) VALUES (6, 'our item', 'published');
TRUNCATE directus_sync.outbox;
CREATE TABLE our_clock AS SELECT directus_sync_meta->'f'->>'status' AS clock FROM articles WHERE id = 6;
SELECT (SELECT clock FROM our_clock) LIKE '%@' || directus_sync._node_id() AS clock_is_ours;
BEGIN;
UPDATE articles SET status = 'zzz copy',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', directus_sync_meta->'b',
                                               'f', jsonb_build_object('status', (SELECT clock FROM our_clock)))
 WHERE id = 6;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '6');
COMMIT;
SELECT status, directus_sync_meta->'f'->>'status' = (SELECT clock FROM our_clock) AS same_clock
  FROM articles WHERE id = 6;
SELECT item_key, payload::jsonb->>'status' AS written_back FROM directus_sync.outbox ORDER BY id;
-- item 7: a clock of a third instance c, two copies of different values
-- (b's and ours): the larger text wins, whichever came first; nothing goes back
TRUNCATE directus_sync.outbox;
CREATE TABLE c_clock AS
SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000c0' AS clock;
BEGIN;
INSERT INTO articles (id, title, status, directus_sync_meta)
VALUES (7, 'c item', 'b copy', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                                   'b', (SELECT clock FROM c_clock)));
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', '7');
COMMIT;
BEGIN;
UPDATE articles SET status = 'a copy',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', directus_sync_meta->'b',
                                               'f', jsonb_build_object('status', (SELECT clock FROM c_clock)))
 WHERE id = 7;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '7');
COMMIT;
SELECT status FROM articles WHERE id = 7;
SELECT count(*) AS written_back FROM directus_sync.outbox;
-- the model: the writer's register ("w") wins an equal clock in either order;
-- unmarked ones by value, commutatively
SELECT directus_sync._later('{"c": "k1", "v": "draft"}', '{"c": "k1", "v": "archived", "w": true}') AS writer_second,
       directus_sync._later('{"c": "k1", "v": "archived", "w": true}', '{"c": "k1", "v": "draft"}') AS writer_first,
       directus_sync._later('{"c": "k1", "v": "a copy"}', '{"c": "k1", "v": "b copy"}')
     = directus_sync._later('{"c": "k1", "v": "b copy"}', '{"c": "k1", "v": "a copy"}') AS copies_commute,
       directus_sync._later('{"c": "k2", "v": "x"}', '{"c": "k1", "v": "y", "w": true}') AS later_clock_first;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv8_tie;
