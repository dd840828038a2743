-- Review 12: an item with no born clock (from before clocks: "born before
-- every clock", write_born) and the delete of an item born later with the
-- same key. Item X: a sync's create without "b", its title at c5. Item B:
-- born c2, title at c2, deleted at c3 ({b: c2, d: c3}). The model lets the
-- state born later (B's, deleted) win whole: the key is empty, whatever X's
-- clocks. Before the fix the row trigger judged X against B's delete by
-- clocks (tombstone_born_earlier counted only two known born clocks), so X
-- (c5, later than c3) survived B's delete (keys 1, 2, 5, 8), and when X
-- held the key B's create came as an update that took it whole without a
-- look at the tombstone (keys 4, 6: B was back, although its delete c3 is
-- later than all of it). Of the six orders of the three messages (keys 3
-- to 8), two ended empty (3, 7), two with X (5, 8), two with B (4, 6).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv12_unborn;
\c regress_rv12_unborn
\ir sql/clock_peer_b.psql
\ir sql/clock_messages.psql
-- a state of the model (_merge, _exists) of a create: born b, title at clock t
CREATE FUNCTION st(b text, t text, v text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object('b', b)) || jsonb_build_object('f', jsonb_build_object('title', jsonb_build_object('c', t, 'v', v)))
$$;
CREATE FUNCTION x(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('f', jsonb_build_object('title', c(5))), 'X') $$;
CREATE FUNCTION b(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('b', c(2), 'f', jsonb_build_object('title', c(2))), 'B') $$;
CREATE FUNCTION del_b(k int) RETURNS void LANGUAGE sql
    AS $$ SELECT deliver(k, jsonb_build_object('b', c(2), 'd', c(3)), NULL) $$;
-- X and B's delete alone, both orders
SELECT x(1); SELECT del_b(1);
SELECT del_b(2); SELECT x(2);
-- all three, six orders (each message in its own transaction, as a sync's)
SELECT x(3); SELECT b(3); SELECT del_b(3);
SELECT x(4); SELECT del_b(4); SELECT b(4);
SELECT del_b(5); SELECT b(5); SELECT x(5);
SELECT del_b(6); SELECT x(6); SELECT b(6);
SELECT b(7); SELECT x(7); SELECT del_b(7);
SELECT b(8); SELECT del_b(8); SELECT x(8);
-- the model (below) says the key is empty in every order: no rows (before
-- the fix keys 1, 2, 5, 8 held X, keys 4, 6 held B)
SELECT id, title FROM articles ORDER BY id;
SELECT directus_sync._exists(directus_sync._merge(
           jsonb_build_object('b', c(2), 'd', c(3)), st(NULL, c(5), 'X'))) AS model_two,
       directus_sync._exists(directus_sync._merge(directus_sync._merge(
           jsonb_build_object('b', c(2), 'd', c(3)), st(NULL, c(5), 'X')), st(c(2), c(2), 'B'))) AS model_three;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv12_unborn;
