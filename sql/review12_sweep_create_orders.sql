-- Review 12: a sweep (a delete of unknown born, {d: c4}: it deletes
-- whatever item is older), item X (born c1, title at c5) and item B (born
-- c2, title at c2; born later, it takes the key from X whole), in all six
-- orders. The model: B's state wins whole, the sweep is later than all of
-- B: the key is empty. Before the fix the row trigger ended three ways:
--  * keys 1 and 2 kept B: a create that arrives while another item holds
--    the key comes as an update (write_born: the sync wins whole), and
--    create_survives_delete looked at the tombstone only for an insert, so
--    B took the key although the tombstone's sweep (c4) is later than B
--    (and key 1's sweep, which lost to X, was not kept at all);
--  * keys 3 and 5 kept X: the sweep removed B here (or skipped B's
--    create), and the tombstone kept no trace that an item born c2 held the
--    key, so X (born earlier than B, but later than the sweep) was created.
--    Now it keeps that born clock (tombstone_keep_swept_born);
--  * keys 4 and 6 were empty, as the model.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv12_sweep;
\c regress_rv12_sweep
\ir sql/clock_peer_b.psql
\ir sql/clock_messages.psql
-- a state of the model (_merge, _exists) of a create: born b, title at clock t
CREATE FUNCTION st(b text, t text, v text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object('b', b)) || jsonb_build_object('f', jsonb_build_object('title', jsonb_build_object('c', t, 'v', v)))
$$;
CREATE FUNCTION x(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', c(5))), 'X') $$;
CREATE FUNCTION b(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'B') $$;
CREATE FUNCTION sweep(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('d', c(4)), NULL) $$;
SELECT x(1); SELECT sweep(1); SELECT b(1);
SELECT sweep(2); SELECT x(2); SELECT b(2);
SELECT b(3); SELECT sweep(3); SELECT x(3);
SELECT x(4); SELECT b(4); SELECT sweep(4);
SELECT sweep(5); SELECT b(5); SELECT x(5);
SELECT b(6); SELECT x(6); SELECT sweep(6);
-- every order ends as the model: no rows (before the fix keys 1, 2 held B
-- and keys 3, 5 held X)
SELECT id, title FROM articles ORDER BY id;
SELECT directus_sync._exists(directus_sync._merge(directus_sync._merge(
           jsonb_build_object('d', c(4)), st(c(1), c(5), 'X')), st(c(2), c(2), 'B'))) AS model_exists;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv12_sweep;
