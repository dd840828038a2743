-- Review 6: two writes of one field with the SAME clock but different
-- values must end the same whatever their order. The merge model (_later)
-- breaks such a tie by value (a value over null, then the larger jsonb
-- text); the row trigger (src/clock_row.c, write_field / sync_wins_tie)
-- breaks it the same way, so the apply is commutative. Before the fix the
-- trigger kept whichever came last. Reachable where one write reaches an
-- instance by two paths in two forms (a json column that a peer's Directus
-- spaced again, a BEFORE trigger that sorts after directus_sync_clock, a
-- sync user that sends a value again with an old clock).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_equal;
\c regress_rv6_equal
\ir sql/clock_peer_b.psql
-- a sync's write of item k: its title with a fixed clock of node ...c0
CREATE FUNCTION sync_write(k int, t text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    meta jsonb := '{"s": "00000000-0000-0000-0000-0000000000b0",
                    "b": "0000000000000001@00000000-0000-0000-0000-0000000000c0",
                    "f": {"title": "0000000000000002@00000000-0000-0000-0000-0000000000c0"}}';
BEGIN
    UPDATE articles SET title = t, directus_sync_meta = meta WHERE id = k;
    IF NOT FOUND THEN
        INSERT INTO articles (id, title, directus_sync_meta) VALUES (k, t, meta);
    END IF;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
-- item 1 gets v1 then v2, item 2 gets v2 then v1: same clocks
SELECT sync_write(1, 'v1');
SELECT sync_write(1, 'v2');
SELECT sync_write(2, 'v2');
SELECT sync_write(2, 'v1');
-- item 3 gets null then "a", item 4 "a" then null: a value beats null
-- (though '"a"' sorts before 'null' as text)
SELECT sync_write(3, NULL);
SELECT sync_write(3, 'a');
SELECT sync_write(4, 'a');
SELECT sync_write(4, NULL);
-- what the model says for those ties
SELECT directus_sync._later('{"c": "x", "v": "v1"}', '{"c": "x", "v": "v2"}')->>'v' AS model_winner,
       directus_sync._later('{"c": "x", "v": "v2"}', '{"c": "x", "v": "v1"}')->>'v' AS model_winner_swapped,
       directus_sync._later('{"c": "x", "v": null}', '{"c": "x", "v": "a"}')->>'v' AS model_null_first,
       directus_sync._later('{"c": "x", "v": "a"}', '{"c": "x"}')->>'v' AS model_null_second;
-- items 1 and 2 both end with v2, as the model says; items 3 and 4 with "a"
SELECT id, title FROM articles ORDER BY id;
SELECT count(DISTINCT title) = 1 AS converged FROM articles WHERE id IN (1, 2);
SELECT count(DISTINCT title) = 1 AS converged FROM articles WHERE id IN (3, 4);
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_equal;
