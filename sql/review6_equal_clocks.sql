-- Review 6: two writes of one field with the SAME clock but different
-- values. The merge model (_later) breaks such a tie by the value's text,
-- so the result does not depend on arrival order; the row trigger
-- (src/clock_row.c, write_field: "later = strcmp(came, have) >= 0") keeps
-- whichever came LAST. The same two writes in two orders leave two values:
-- the apply is not commutative. Reachable where one write reaches an
-- instance by two paths in two forms (a json column that a peer's Directus
-- spaced again, a BEFORE trigger that sorts after directus_sync_clock, a
-- sync user that sends a value again with an old clock).
-- Correct: both items end with the same value, the one _later picks ('v2').
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv6_equal;
\c regress_rv6_equal
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
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
-- what the model says for that tie
SELECT directus_sync._later('{"c": "x", "v": "v1"}', '{"c": "x", "v": "v2"}')->>'v' AS model_winner,
       directus_sync._later('{"c": "x", "v": "v2"}', '{"c": "x", "v": "v1"}')->>'v' AS model_winner_swapped;
-- WRONG today: item 1 has v2, item 2 has v1 (correct: both v2)
SELECT id, title FROM articles ORDER BY id;
SELECT count(DISTINCT title) = 1 AS converged FROM articles;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv6_equal;
