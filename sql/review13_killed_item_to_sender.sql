-- Review 13: a sync's item that takes the key whole from the item here (its
-- create came as an update) and that the tombstone kills (1ad3f6c) is
-- deleted after the update by make_expected_delete, whose delete goes out
-- through the loop guard: not to the remote that sent the item. That remote
-- is the one that most needs it: it has the item, and (unlike the sender of
-- the sweep) it may never have had the sweep, which lost here and was not
-- passed on. A create killed by the same tombstone as an insert
-- (create_survives_delete's skip) sends the delete to every remote,
-- the sender too (capture.c). In a star with this instance at the centre,
-- remote c keeps item B for ever while this instance and b have no item.
--  * key 1: item X from b (born c1, title at c5), a sweep {d: c4} from b
--    (loses to X: kept in the tombstone, not passed on), then item B from c
--    (born c2, later than X, title at c2): it comes as an update, takes the
--    key whole, and the sweep (c4, later than all of B) kills it.
--  * key 2: the sweep from b, then B from c: B's create is skipped.
-- Both keys end empty here; key 2's delete goes to c, key 1's does not.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv13_sender;
\c regress_rv13_sender
\ir sql/clock_peer_b.psql
\ir sql/clock_peer_c.psql
\ir sql/clock_messages.psql
SELECT deliver('b', 1, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5))), 'X');
SELECT deliver('b', 1, jsonb_build_object('d', c(4)), NULL);
SELECT deliver('c', 1, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'B');
SELECT deliver('b', 2, jsonb_build_object('d', c(4)), NULL);
SELECT deliver('c', 2, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'B');
SELECT id, title FROM articles ORDER BY id;
-- key 1's delete (the sweep that killed B) goes to c too, which sent B and
-- has it, as for key 2 (before the fix: to b only)
SELECT o.item_key, bool_or(r.name = 'c') AS c_gets_the_sweep
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE o.op = 'd' AND o.payload->'directus_sync_meta'->>'d' = c(4) GROUP BY 1 ORDER BY 1;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv13_sender;
