-- Review 6: a sync's write that carries a field's clock in
-- directus_sync_meta but not the field's value (Directus drops a field it
-- does not know yet: a column added and subscribed while its schema cache
-- is stale, as docs/replication.md says it does for directus_sync_meta
-- itself; or a field the sync user's permissions leave out) is taken as a
-- write of that field: write_field keeps the sender's (later) clock, and
-- the old value stays. The register now holds a value that no write with
-- that clock ever had; the change is not forwarded (the value did not
-- change), and when an edit from a third instance, older than that clock,
-- arrives here it loses and this instance sends the OLD value under the
-- sender's clock to every remote, where it beats that edit.
-- Then b, which has its own title under that same clock, takes 'old' too
-- (an equal clock: the sync's value is taken): b's edit is lost everywhere.
-- Correct: a field's clock is kept only with the value its write brought.
-- A BEFORE trigger cannot tell "not set" from "set to the same value", so
-- the payload must say it: e.g. the sender lists (or hashes) the values it
-- sent in directus_sync_meta, and a sync whose clocked field did not
-- arrive fails (the sender retries, as for a missing directus_sync_meta).
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
-- WRONG today: the title is still 'old' but its clock is b's (correct: the
-- clock stays ours, as the value is)
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
-- WRONG today: 'old' (correct: 'from c', the latest value any instance wrote
-- that reached here; b's title never did)
SELECT title FROM articles;
-- and 'old' goes to every remote under b's clock, c included
SELECT r.name, o.payload::jsonb->>'title' AS title,
       o.payload::jsonb->'directus_sync_meta'->'f'->>'title' LIKE '%@00000000-0000-0000-0000-0000000000b0' AS under_b_clock
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY r.name;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_novalue;
