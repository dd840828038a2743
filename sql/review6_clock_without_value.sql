-- Review 6: a sync's update that carries a field's clock in
-- directus_sync_meta but not the field's value (Directus drops a field it
-- does not know yet: a column added and subscribed while its schema cache
-- is stale, as docs/replication.md says it does for directus_sync_meta
-- itself; a remote on Directus 10; a field an admin sync user sends that
-- the collection lacks in Directus). Taken, the clock would make the old
-- value look like the sender's: an older edit from a third instance would
-- then lose to it, and the old value would travel everywhere under the
-- sender's clock. The receiver tells "not sent" from "sent with the same
-- value" by the update's SET list (tg_updatedcols): a later clock of a
-- field the update does not set fails the write (the sender retries, as for
-- a change without directus_sync_meta). This test checks that refusal, that
-- the clock and value here stay as they were, that an older edit from c
-- then wins and goes to b, that a sync setting a field to the value it
-- already has is taken, and that b's retry with the value wins everywhere.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_novalue;
\c regress_rv6_novalue
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, body text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000c') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'], key_series => false);
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'body'], key_series => false);
INSERT INTO articles (id, title, body) VALUES (1, 'old', 'x');
CREATE TABLE seen AS SELECT directus_sync_meta->'f'->>'title' AS clock FROM articles;
-- c edits the title (its clock taken now, before b's)
CREATE TABLE c_edit AS
SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000c0' AS clock;
TRUNCATE directus_sync.outbox;
-- b's edit of the title arrives with its clock, but without its value
-- (Directus dropped it); only body comes
BEGIN;
UPDATE articles SET body = 'x from b',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
           'b', directus_sync_meta->>'b',
           'f', jsonb_build_object('title', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0',
                                   'body', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0'))
 WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
-- refused above: the title is still 'old' under its own clock, not b's
SELECT title, directus_sync_meta->'f'->>'title' LIKE '%@00000000-0000-0000-0000-0000000000b0' AS title_clock_of_b
  FROM articles;
TRUNCATE directus_sync.outbox;
-- c's edit (older than b's clock) arrives and loses to 'old'
BEGIN;
UPDATE articles SET title = 'from c',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000c0',
           'b', directus_sync_meta->>'b', 'f', jsonb_build_object('title', (SELECT clock FROM c_edit)))
 WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000c', 'articles', '1');
COMMIT;
-- 'from c', the latest value any instance wrote that reached here (b's
-- title never did)
SELECT title FROM articles;
-- and 'from c' goes to b under c's clock, not back to c
SELECT r.name, o.payload::jsonb->>'title' AS title,
       o.payload::jsonb->'directus_sync_meta'->'f'->>'title' LIKE '%@00000000-0000-0000-0000-0000000000b0' AS under_b_clock
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY r.name;
TRUNCATE directus_sync.outbox;
-- a sync that sets a field to the value it has here is taken: the SET list
-- names the field (body's value did not change)
BEGIN;
UPDATE articles SET body = 'x',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
           'b', directus_sync_meta->>'b',
           'f', jsonb_build_object('body', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0'))
 WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
SELECT body, directus_sync_meta->'f'->>'body' LIKE '%@00000000-0000-0000-0000-0000000000b0' AS body_clock_of_b
  FROM articles;
-- b's retry, once Directus passes the title: its later clock wins
BEGIN;
UPDATE articles SET title = 'from b', body = 'x from b',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
           'b', directus_sync_meta->>'b',
           'f', jsonb_build_object('title', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0',
                                   'body', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0'))
 WHERE id = 1;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
SELECT title, body, directus_sync_meta->'f'->>'title' LIKE '%@00000000-0000-0000-0000-0000000000b0' AS title_clock_of_b
  FROM articles;
-- both forwarded to c only, with the fields each changed
SELECT r.name, o.payload::jsonb - 'directus_sync_meta' AS fields FROM directus_sync.outbox o
  JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_novalue;
