-- Review 14 (M1): a sync's live item that comes with the sweep it survived
-- ("u": a resync, a replay, the create for a remote that lacked it) passes
-- the sweep on to this instance's other remotes with the item. Forwarded
-- as the row's clocks alone, the sweep stopped here: an instance behind
-- this one (a ring) kept an item created before the sweep, which every
-- instance that had the sweep removes.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv14_fwd;
\c regress_rv14_fwd
\ir sql/clock_peer_b.psql
\ir sql/clock_peer_c.psql
\ir sql/clock_messages.psql
-- b creates item 1 (born c1, title c3) beside the sweep c2 it survived,
-- then updates it (title c5) beside the later sweep c4
SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(3)), 'u', c(2)), 'x');
SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5)), 'p',
                                     jsonb_build_object('title', c(3)), 'u', c(4)), 'y');
-- the item lives; the tombstone keeps the later sweep
SELECT id, title FROM articles;
SELECT item_key, deleted = c(4) AS sweep, born IS NULL AS of_unknown_born FROM directus_sync.tombstone;
-- what goes to c carries each sweep with the item (before the fix: none);
-- nothing goes back to b
SELECT r.name, o.op, o.payload->'directus_sync_meta'->>'u' = c(2) AS first_sweep,
       o.payload->'directus_sync_meta'->>'u' = c(4) AS second_sweep
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;
-- b sends the item again as it is here (a resync) beside the same sweep:
-- no news, nothing goes; then with a tombstone here that lacks it (as on
-- an instance restored from a backup) it is news and goes on to c with
-- the item, whole (review of the fix: nothing went, the item did not
-- change); sent once more, it is no news again
CREATE FUNCTION resend() RETURNS void LANGUAGE sql AS $$
    SELECT deliver(1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5)), 'p',
                                         jsonb_build_object('title', c(3)), 'u', c(4)), 'y')
$$;
CREATE FUNCTION queued_for_c() RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
     WHERE r.name = 'c'
$$;
SELECT resend();
SELECT queued_for_c();
UPDATE directus_sync.tombstone SET deleted = c(2), swept = c(2) WHERE item_key = '1';
SELECT resend();
SELECT r.name, o.op, o.payload->>'title' AS title, o.payload->'directus_sync_meta'->>'u' = c(4) AS sweep
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id ORDER BY o.id;
SELECT item_key, deleted = c(4) AS sweep_kept FROM directus_sync.tombstone;
SELECT resend();
SELECT queued_for_c();
-- item 2: b's sweep (c3, a delete of unknown born) loses to the item here
-- (title c5): the item goes back to every remote, whole, with the sweep,
-- news here (review of the fix: the write back went without it, and c
-- never got the sweep)
SELECT deliver(2, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5))), 'z');
SELECT deliver(2, jsonb_build_object('d', c(3)), NULL);
SELECT id, title FROM articles WHERE id = 2;
SELECT r.name, o.op, o.payload->'directus_sync_meta'->>'u' = c(3) AS sweep
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE o.item_key = '2' ORDER BY o.id;
-- a local edit of the item carries no sweep: it is no sync's
UPDATE articles SET title = 'local' WHERE id = 1;
SELECT r.name, (o.payload->'directus_sync_meta')::jsonb ? 'u' AS has_sweep
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE o.payload->>'title' = 'local' ORDER BY r.name;
-- item 3: b's delete (c9) comes with a sweep (c8) while another AFTER
-- trigger gives the row another key: the delete finds no row to make, yet
-- its sweep stays in the tombstone and goes on to c, as a made delete's
-- does (before: both were forgotten; the nested key change's own delete,
-- later, went on alone)
SELECT deliver(3, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(2))), 'x');
CREATE FUNCTION rekey() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() = 1 AND NEW.id < 100 THEN
        UPDATE articles SET id = id + 100 WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER a_rekey AFTER UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION rekey();
SELECT deliver(3, jsonb_build_object('b', c(1), 'd', c(9), 'u', c(8)), NULL);
DROP TRIGGER a_rekey ON articles;
SELECT id FROM articles WHERE id IN (3, 103);
SELECT item_key, deleted > c(9) AS later_than_bs_delete, born = c(1) AS of_item_3, swept = c(8) AS sweep_kept
  FROM directus_sync.tombstone WHERE item_key = '3';
SELECT r.name, o.op, o.payload->'directus_sync_meta'->>'u' = c(8) AS sweep
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE o.item_key = '3' AND o.op = 'd' ORDER BY o.id;
\c contrib_regression
DROP DATABASE regress_rv14_fwd;
