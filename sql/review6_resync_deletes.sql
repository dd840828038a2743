-- Review 6: resync, "fill a new remote, or repair one that drifted"
-- (operations.md), queues the current rows and then, on a table with
-- clocks, the deletes this instance knows (its tombstones), each with its
-- clock. A remote that missed a delete (its queue was discarded by
-- remove_remote and the remote added again, a dead letter discarded, a
-- restore from a dump: the cases resync is for) deletes the item, unless it
-- has a later edit of it. Before the fix only the current rows were queued
-- and the remote kept the deleted item for good. Checked: resync counts the
-- rows and the tombstones, remote_status shows the progress over both, and
-- the chunks queue the row and then the delete with its clock.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_resync;
\c regress_rv6_resync
\ir sql/clock_peer_b.psql
INSERT INTO articles (id, title) VALUES (1, 'kept'), (2, 'deleted'), (3, 'also deleted');
DELETE FROM articles WHERE id IN (2, 3);
SELECT item_key FROM directus_sync.tombstone ORDER BY item_key;
-- b's queue is lost (say the delete was a dead letter that was discarded)
TRUNCATE directus_sync.outbox;
SELECT directus_sync.pause('b');
SELECT directus_sync.resync('b', 'articles');
SELECT resync FROM directus_sync.remote_status WHERE remote = 'b';
-- the job's chunks, as the worker takes them (whoever comes first), one
-- key at a time: the rows, then the tombstones
SELECT directus_sync._resync_step((SELECT id FROM directus_sync.remote WHERE name = 'b'), 'articles', 1) AS more
  FROM generate_series(1, 2);
SELECT resync FROM directus_sync.remote_status WHERE remote = 'b';
DO $$
BEGIN
    WHILE directus_sync._resync_step((SELECT id FROM directus_sync.remote WHERE name = 'b'), 'articles', 1) LOOP
    END LOOP;
END $$;
SELECT resync FROM directus_sync.remote_status WHERE remote = 'b';
-- item 1 as it is, the deletes of items 2 and 3 with their clocks
SELECT item_key, op, payload::jsonb->'directus_sync_meta' ? 'd' AS delete_clock
  FROM directus_sync.outbox ORDER BY item_key;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_resync;
