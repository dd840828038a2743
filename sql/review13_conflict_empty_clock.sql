-- Review 13: a tombstone that keeps a swept item's born clock (1ad3f6c,
-- tombstone_keep_swept_born) has deleted = '' (no delete of that item was
-- made). create_survives_delete logs the create that meets it with the
-- tombstone's deleted as the local clock: when the create survives (born
-- later than the swept item, and later than the sweep) the conflict log
-- gets an update_delete whose local clock is '' instead of the sweep it
-- beat. Item X (born c2, title at c2), a sweep {d: c4} that kills it, then
-- item B (born c3, title at c6): B lives; its conflict must name the sweep.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv13_conflict;
\c regress_rv13_conflict
\ir sql/clock_peer_b.psql
\ir sql/clock_messages.psql
SELECT deliver(1, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'X');
SELECT deliver(1, jsonb_build_object('d', c(4)), NULL);
SELECT deleted = '' AS deleted_empty, born = c(2) AS keeps_x_born, swept = c(4) AS keeps_sweep
  FROM directus_sync.tombstone WHERE item_key = '1';
SELECT deliver(1, jsonb_build_object('b', c(3), 'f', jsonb_build_object('title', c(6))), 'B');
SELECT id, title FROM articles ORDER BY id;
-- the local clock is the sweep c4 (before the fix: '', empty)
SELECT kind, winner, local_clock = c(4) AS local_is_the_sweep, local_clock <> '' AS local_not_empty,
       remote_clock = c(6) AS remote_is_b
  FROM directus_sync.conflict WHERE item_key = '1' AND kind = 'update_delete' AND winner = 'remote';
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv13_conflict;
