-- Review 6: false conflicts. A sync's write that this instance has already
-- taken and since superseded with two edits of its own (a duplicate
-- delivery, a retry, the same change forwarded by a second path, or a
-- resync from an instance that is behind) is logged as an update_update
-- conflict: note_field_conflict only knows the one clock each write
-- replaced ("p"), so an edit two steps later looks concurrent. The rule
-- keeps the right value, but the log (and remote_status.conflicts, and
-- the notifications people act on) reports a conflict no user had: both
-- edits here were made after seeing b's.
-- Correct: no conflict row: a write older than one this instance already
-- had (here: its clock was stored for the field before) is not concurrent;
-- e.g. log only when the stored write did not descend from the sync's
-- (keep per field the clocks a value replaced, or compare with the clocks
-- this instance took before).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_false;
\c regress_rv6_false
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
INSERT INTO articles (id, title) VALUES (1, 'ours');
CREATE TABLE b_write AS
SELECT jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', directus_sync_meta->>'b',
                          'f', jsonb_build_object('title', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0'),
                          'p', jsonb_build_object('title', directus_sync_meta->'f'->>'title')) AS meta
  FROM articles;
CREATE FUNCTION b_writes() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles SET title = 'from b', directus_sync_meta = (SELECT meta FROM b_write) WHERE id = 1;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
END $$;
-- b's edit (made after seeing ours) arrives: no conflict
SELECT b_writes();
SELECT title, count(c.*) AS conflicts FROM articles LEFT JOIN directus_sync.conflict c ON true GROUP BY title;
-- our user edits twice, after seeing b's
UPDATE articles SET title = 'ours, after b';
UPDATE articles SET title = 'ours, again';
-- b's same edit arrives again (a retry whose answer was lost)
SELECT b_writes();
-- the value is right
SELECT title FROM articles;
-- WRONG today: 1 update_update conflict (correct: 0)
SELECT kind, winner, local_value, remote_value FROM directus_sync.conflict;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_false;
