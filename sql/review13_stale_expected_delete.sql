-- Review 13 (low a): a sync's update that decides its item goes leaves the
-- delete's clock for the capture trigger to make the delete with, after the
-- update. When the update does not happen after all (a savepoint rolled
-- back after an error, or another BEFORE trigger cancelled it), the clock
-- stayed for the transaction, and a later local DELETE of the item in it
-- took it: the item's tombstone (and the delete sent) held the sync's
-- older clock instead of one later than every clock of the item. Only the
-- delete the capture trigger makes takes it now, and a rolled-back
-- savepoint drops what it set.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv13_stale;
\c regress_rv13_stale
\ir sql/clock_peer_b.psql
\ir sql/clock_messages.psql
SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
SELECT deliver(2, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
-- a write that fails after the BEFORE triggers (test.fail), and one that
-- another BEFORE trigger cancels (test.cancel)
CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('test.fail', true) = 'on' THEN
        RAISE EXCEPTION 'failed after the update';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER a_fail AFTER UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION fail();
CREATE FUNCTION cancel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN CASE WHEN current_setting('test.cancel', true) = 'on' THEN NULL ELSE NEW END;
END $$;
CREATE TRIGGER zz_cancel BEFORE UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION cancel();
-- key 1: b's delete (c9) fails, the savepoint rolls back, then a local DELETE
BEGIN;
SAVEPOINT s;
SET LOCAL test.fail = on;
SELECT deliver(1, jsonb_build_object('b', c(1), 'd', c(9)), NULL);
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS still_there FROM articles WHERE id = 1;
DELETE FROM articles WHERE id = 1;
COMMIT;
-- key 2: b's delete (c9) cancelled by another BEFORE trigger, then a local DELETE
BEGIN;
SET LOCAL test.cancel = on;
UPDATE articles SET directus_sync_meta = jsonb_build_object('b', c(1), 'd', c(9),
                                                           's', '00000000-0000-0000-0000-0000000000b0')
 WHERE id = 2;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '2');
SELECT count(*) AS still_there FROM articles WHERE id = 2;
DELETE FROM articles WHERE id = 2;
COMMIT;
-- each tombstone holds a clock of this instance, not b's c9 (before the fix: c9)
SELECT item_key, deleted <> c(9) AS local_clock, deleted NOT LIKE '%b0' AS ours, born = c(1) AS born
  FROM directus_sync.tombstone ORDER BY item_key;
SELECT o.item_key, o.payload->'directus_sync_meta'->>'d' <> c(9) AS sends_local_clock
  FROM directus_sync.outbox o WHERE o.op = 'd' ORDER BY o.item_key;
-- a sync's delete that goes through still takes its own clock
SELECT deliver(3, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
SELECT deliver(3, jsonb_build_object('b', c(1), 'd', c(8)), NULL);
SELECT item_key, deleted = c(8) AS syncs_clock FROM directus_sync.tombstone WHERE item_key = '3';
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv13_stale;
