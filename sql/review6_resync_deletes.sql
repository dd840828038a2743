-- Review 6: resync, "fill a new remote, or repair one that drifted"
-- (operations.md), sends the current rows only: the deletes this instance
-- knows (its tombstones, with their clocks) are not sent. A remote that
-- missed a delete (its queue was discarded by remove_remote and the remote
-- added again, a dead letter discarded, a restore from a dump: the cases
-- resync is for) keeps the deleted item after the resync, and every
-- instance it replicates with keeps it or gets it back from it: the
-- instances never hold the same items, the first promise of issue 10.
-- Correct: a resync of a table with clocks also queues, for each
-- tombstone of the collection, the delete with its clock (as replay does
-- for a deleted item), so that the remote deletes the item unless it has a
-- later edit.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_resync;
\c regress_rv6_resync
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
INSERT INTO articles (id, title) VALUES (1, 'kept'), (2, 'deleted');
DELETE FROM articles WHERE id = 2;
SELECT item_key FROM directus_sync.tombstone;
-- b's queue is lost (say the delete was a dead letter that was discarded)
TRUNCATE directus_sync.outbox;
SELECT directus_sync.pause('b');
SELECT directus_sync.resync('b', 'articles');
-- the job's chunks, as the worker takes them (whoever comes first)
DO $$
BEGIN
    WHILE directus_sync._resync_step((SELECT id FROM directus_sync.remote WHERE name = 'b'), 'articles', 1000) LOOP
    END LOOP;
END $$;
-- WRONG today: item 1 only (correct: also the delete of item 2, with its clock)
SELECT item_key, op, payload::jsonb->'directus_sync_meta' ? 'd' AS delete_clock
  FROM directus_sync.outbox ORDER BY item_key;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_resync;
