-- Review 14 (H2): what the BEFORE half of a sync's write leaves for its
-- AFTER half (a delete to make, a create to check against a delete that
-- committed meanwhile, a write back) belongs to that write. When another
-- BEFORE trigger cancels the write, its AFTER half never runs, and the
-- next write of the item in the transaction, a local one, took it: a
-- local UPDATE deleted the item with the cancelled sync's clock, a local
-- INSERT was checked with the cancelled create's clocks and deleted.
-- Only the AFTER half of the command that set it takes it now.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv14_cancel;
\c regress_rv14_cancel
\ir sql/clock_peer_b.psql
\ir sql/clock_messages.psql
SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
CREATE FUNCTION cancel() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RETURN CASE WHEN current_setting('test.cancel', true) = 'on' THEN NULL ELSE NEW END;
END $$;
CREATE TRIGGER zz_cancel BEFORE INSERT OR UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION cancel();
-- key 1: b's delete (c9) cancelled, then a local UPDATE of the item
BEGIN;
SET LOCAL test.cancel = on;
SELECT deliver(1, jsonb_build_object('b', c(1), 'd', c(9)), NULL);
SET LOCAL test.cancel = off;
UPDATE articles SET title = 'local' WHERE id = 1;
COMMIT;
-- the item is there with the local edit (before the fix: deleted, tombstone c9)
SELECT id, title FROM articles WHERE id = 1;
SELECT count(*) AS tombstones FROM directus_sync.tombstone WHERE item_key = '1';
-- key 2: b's create (c2) cancelled, b's delete of it (c3) kept as a
-- tombstone (the item is not here), then a local INSERT of the key, later
-- than both
BEGIN;
SET LOCAL test.cancel = on;
SELECT deliver(2, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
SET LOCAL test.cancel = off;
SELECT deliver(2, jsonb_build_object('b', c(1), 'd', c(3)), NULL);
INSERT INTO articles (id, title) VALUES (2, 'local');
COMMIT;
-- the local item lives (before the fix: deleted by b's older delete)
SELECT id, title FROM articles WHERE id = 2;
-- a sync's delete that goes through still takes its own clock, and a
-- sync's update after a cancelled one is decided by its own clocks
SELECT deliver(3, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
BEGIN;
SET LOCAL test.cancel = on;
SELECT deliver(3, jsonb_build_object('b', c(1), 'd', c(8)), NULL);
SET LOCAL test.cancel = off;
SELECT deliver(3, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(4))), 'y');
COMMIT;
SELECT id, title FROM articles WHERE id = 3;
SELECT deliver(3, jsonb_build_object('b', c(1), 'd', c(9)), NULL);
SELECT item_key, deleted = c(9) AS syncs_clock FROM directus_sync.tombstone WHERE item_key = '3';
SELECT count(*) AS gone FROM articles WHERE id = 3;
-- key 4: another AFTER trigger updates the item a sync's delete (c9)
-- decided on before the delete is made: that nested write does not take
-- the delete, the sync's write does, and deletes the row as it is now (as
-- before the fix, when the nested write took it)
SELECT deliver(4, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 THEN
        UPDATE articles SET title = title || '!' WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER a_touch AFTER UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION touch();
SELECT deliver(4, jsonb_build_object('b', c(1), 'd', c(9)), NULL);
SELECT count(*) AS gone FROM articles WHERE id = 4;
SELECT item_key, deleted = c(9) AS syncs_clock FROM directus_sync.tombstone WHERE item_key = '4';
DROP TRIGGER a_touch ON articles;
-- key 5: another AFTER trigger gives the item another key (for Directus,
-- another item, made after the delete) before the delete is made: item
-- 105 stays (review of the fix: the newest version was deleted whatever
-- its key)
SELECT deliver(5, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
CREATE FUNCTION rekey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 AND NEW.id < 100 THEN
        UPDATE articles SET id = id + 100 WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER a_rekey AFTER UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION rekey();
SELECT deliver(5, jsonb_build_object('b', c(1), 'd', c(9)), NULL);
SELECT id, title FROM articles WHERE id IN (5, 105);
SELECT count(*) AS deletes_of_105 FROM directus_sync.outbox WHERE item_key = '105' AND op = 'd';
-- the sync's delete of item 5 is not made (the row is item 105 now): the
-- nested write that took the row from key 5 deleted item 5 here, later
-- than b's delete, and its tombstone says so
SELECT item_key, deleted > c(9) AS later_than_bs_delete, born = c(1) AS of_item_5 FROM directus_sync.tombstone WHERE item_key = '5';
-- key 6: another AFTER trigger gives the item another key and then key 6
-- back (for Directus, two new items, the last born here, later) before the
-- delete is made: the new item 6 stays, and b's delete of its own item 6
-- is kept in the tombstone (before: the delete took the new item)
DROP TRIGGER a_rekey ON articles;
SELECT deliver(6, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
CREATE FUNCTION away_and_back() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 AND NEW.id = 6 THEN
        UPDATE articles SET id = 106 WHERE id = 6;
        UPDATE articles SET id = 6 WHERE id = 106;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER a_back AFTER UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION away_and_back();
SELECT deliver(6, jsonb_build_object('b', c(1), 'd', c(9)), NULL);
DROP TRIGGER a_back ON articles;
SELECT id, title, directus_sync_meta->>'b' > c(9) AS born_here_later FROM articles WHERE id IN (6, 106);
SELECT item_key, deleted > c(9) AS later_than_bs_delete, born = c(1) AS of_bs_item FROM directus_sync.tombstone WHERE item_key = '6';
\c contrib_regression
DROP DATABASE regress_rv14_cancel;
