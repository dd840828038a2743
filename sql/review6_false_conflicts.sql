-- Review 6: false conflicts. A sync's write that this instance has already
-- taken and since superseded with two edits of its own (a duplicate
-- delivery, a retry, the same change forwarded by a second path, or a
-- resync from an instance that is behind) must not be logged as an
-- update_update conflict: both edits here were made after seeing b's.
-- note_field_conflict knows one clock per field that a write was made
-- after seeing ("p"); a local edit that follows an edit made here now keeps
-- the "p" of that edit (the write both were made after seeing) instead of
-- the clock of the edit before it, so a chain of edits made here is one
-- step (src/clock_row.c, write_field). Before the fix, "p" was the edit
-- before, and the retry was logged. Limit (docs/replication.md): a write
-- superseded here through a write of a third instance in between is still
-- logged.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_false;
\c regress_rv6_false
\ir sql/clock_peer_b.psql
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
-- no conflict
SELECT kind, winner, local_value, remote_value FROM directus_sync.conflict;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_false;
