-- remove_remote returns (and its NOTICE tells) the number of undelivered
-- changes it discarded. Rows left for a remote that no longer exists (queued
-- by a writer whose cached subscriptions still listed it, see
-- t/031_remove_remote_race.pl) are removed by the worker's idle round
-- (_shrink_outbox) and by the next remove_remote.
-- No worker runs for this database: the outbox stays as written.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS directus_sync;
DROP TABLE IF EXISTS directus_sync_id_map;
CREATE EXTENSION directus_sync;
SET client_min_messages = notice;
\set SHOW_CONTEXT never

CREATE TABLE rr_articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') AS b_id \gset
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') AS c_id \gset
SELECT directus_sync.subscribe('b', 'rr_articles', ARRAY['title']);
SELECT directus_sync.subscribe('c', 'rr_articles', ARRAY['title']);

-- Three changes queued for each remote, and a conflict logged for b.
SELECT directus_sync.pause('b');
INSERT INTO rr_articles VALUES (1, 'one'), (2, 'two');
UPDATE rr_articles SET title = 'uno' WHERE id = 1;
INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, local_value, remote_value, winner)
VALUES (:b_id, 'rr_articles', '1', 'title', '"uno"', '"un"', 'local');
SELECT r.name, count(*) AS queued FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 GROUP BY r.name ORDER BY 1;

-- 3, not the one conflict row.
SELECT directus_sync.remove_remote('b') AS discarded;
SELECT count(*) AS conflicts_left FROM directus_sync.conflict;
-- Nothing queued: 0, and no NOTICE.
TRUNCATE directus_sync.outbox;
SELECT directus_sync.add_remote('e', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.remove_remote('e') AS discarded;

-- Orphans: rows for remote ids that no longer exist (b's, and one that
-- never did), next to c's own.
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't') AS b2_id \gset
SELECT directus_sync.subscribe('b', 'rr_articles', ARRAY['title']);
SELECT directus_sync.pause('b');
SELECT directus_sync.pause('c');
INSERT INTO rr_articles VALUES (3, 'three');
INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
VALUES (:b_id, 'rr_articles', '3', 'c', '{"id":3,"title":"three"}'),
       (:b_id, 'rr_articles', '4', 'd', NULL),
       (9999, 'rr_articles', '5', 'd', NULL);
INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, local_value, remote_value, winner)
VALUES (:b_id, 'rr_articles', '3', 'title', '"x"', '"y"', 'local');
CREATE VIEW rr_queue AS
SELECT CASE WHEN r.id IS NULL THEN 'orphan' ELSE r.name END AS remote, count(*) AS rows
  FROM directus_sync.outbox o LEFT JOIN directus_sync.remote r ON r.id = o.remote_id
 GROUP BY 1 ORDER BY 1;
SELECT * FROM rr_queue;
-- The worker's idle round removes the orphans (the outbox is not empty:
-- no truncation), and the conflicts logged for removed remotes.
SELECT directus_sync._shrink_outbox(0) AS truncated;
SELECT * FROM rr_queue;
SELECT count(*) AS orphan_conflicts FROM directus_sync.conflict
 WHERE remote_id NOT IN (SELECT id FROM directus_sync.remote);

-- An outbox of orphans only is empty once they are gone: truncated.
DELETE FROM directus_sync.outbox;
INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
VALUES (9999, 'rr_articles', '6', 'd', NULL);
SELECT directus_sync._shrink_outbox(0) AS truncated;
SELECT count(*) AS queued FROM directus_sync.outbox;
-- An outbox under min_bytes is not truncated; its orphans go all the same.
INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
VALUES (9999, 'rr_articles', '7', 'd', NULL);
SELECT directus_sync._shrink_outbox(1000000000) AS truncated;
SELECT count(*) AS queued FROM directus_sync.outbox;

-- remove_remote clears orphans of remotes removed before, too; its count
-- is its own remote's queue only.
INSERT INTO rr_articles VALUES (8, 'eight');
INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
VALUES (9998, 'rr_articles', '8', 'd', NULL), (9998, 'rr_articles', '9', 'd', NULL);
SELECT * FROM rr_queue;
SELECT directus_sync.remove_remote('c') AS discarded;
SELECT * FROM rr_queue;

DROP VIEW rr_queue;
DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map, rr_articles;
