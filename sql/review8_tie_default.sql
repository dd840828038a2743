-- Review 8: the tie-break by value (clock_row.c sync_wins_tie: "a value
-- beats null, then the larger text") assumes that a value that never came
-- under its clock is null. The refusal of a clock without its value
-- (tg_updatedcols) covers updates only: a sync's create that Directus
-- stripped of a field (stale schema cache, Directus 10, a field the sync
-- user may not write) still takes the field's clock with the column's
-- DEFAULT. With a non-null default the default then wins the tie against
-- the sender's real value when that comes (a retry, a resync) if it sorts
-- lower, and goes back to the sender under the sender's own clock. The
-- test expects the sender's value to be kept and nothing written back.
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
-- status (Directus dropped it): the row gets the default under b's clock
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
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv8_tie;
