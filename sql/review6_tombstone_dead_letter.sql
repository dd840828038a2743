-- Review 6: _trim_history keeps a tombstone whose delete is a dead letter.
-- Tombstones are purged once every enabled remote has had some delivery
-- since the delete, nothing of the item is in the outbox and nothing of it
-- is a dead letter: a dead letter is a delete the remote never took (the
-- issue, deliver 4: "Tombstones are purged only after every remote has
-- acknowledged past them"). Before the fix only the outbox was looked at:
-- the tombstone went, replay queued the delete without its clock and an
-- older change of the remote brought the item back. Checked: the tombstone
-- stays past the retention while the dead letter is there, replay queues
-- the delete with its clock, an older create of the remote stays deleted,
-- and once the dead letter is discarded the tombstone goes by the usual rule.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_tomb;
\c regress_rv6_tomb
\ir sql/clock_peer_b.psql
INSERT INTO articles (id, title) VALUES (1, 'one');
TRUNCATE directus_sync.outbox;
DELETE FROM articles WHERE id = 1;
SELECT op, payload::jsonb->'directus_sync_meta' ? 'd' AS delete_has_clock FROM directus_sync.outbox;
-- the delete fails until it is a dead letter (as _record moves it), b takes
-- other changes since, and the retention has passed
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status)
SELECT id, remote_id, collection, item_key, op, payload, queued_at, 500 FROM directus_sync.outbox;
TRUNCATE directus_sync.outbox;
INSERT INTO directus_sync.remote_state (remote_id, last_success_at)
SELECT id, now() + interval '1 second' FROM directus_sync.remote
ON CONFLICT (remote_id) DO UPDATE SET last_success_at = EXCLUDED.last_success_at;
UPDATE directus_sync.tombstone SET deleted_at = now() - interval '8 days';
SELECT count(*) AS dead_letters FROM directus_sync.dead_letter;
SELECT directus_sync._trim_history();
-- kept: b never took the delete
SELECT count(*) AS tombstones FROM directus_sync.tombstone;
SELECT directus_sync.replay('b');
-- the replayed delete carries its clock
SELECT op, coalesce(payload::jsonb->'directus_sync_meta' ? 'd', false) AS delete_has_clock
  FROM directus_sync.outbox;
-- and b's older change of the item (made before our delete, still queued
-- there) does not bring it back here
BEGIN;
INSERT INTO articles (id, title, directus_sync_meta)
VALUES (1, 'old edit of b',
        jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                           'b', '0000000000000001@00000000-0000-0000-0000-0000000000b0',
                           'f', jsonb_build_object('title', '0000000000000002@00000000-0000-0000-0000-0000000000b0')));
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', '1');
COMMIT;
-- the item stays deleted
SELECT id, title FROM articles;
-- the delete fails again and is discarded: nothing of the item is left
-- unacknowledged, and the tombstone goes by the usual rule
INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at, http_status)
SELECT id, remote_id, collection, item_key, op, payload, queued_at, 500 FROM directus_sync.outbox;
TRUNCATE directus_sync.outbox;
SELECT directus_sync._trim_history();
SELECT count(*) AS tombstones_with_dead_letter FROM directus_sync.tombstone;
SELECT directus_sync.discard_dead_letters('b');
SELECT directus_sync._trim_history();
SELECT count(*) AS tombstones_after_discard FROM directus_sync.tombstone;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_tomb;
