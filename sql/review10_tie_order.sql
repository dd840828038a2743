-- Review 10: two values of a field under one clock: the writer's value
-- must win whatever the order (review 8, clock_row.c sync_wins_tie; the
-- model _later marks the writer's register "w" and is commutative). The
-- trigger does not remember that the value it holds is the writer's: when
-- the writer's value came first (from its writer, a0) and a copy that is
-- not it comes later from another instance (b0, whose Directus stripped
-- the field from a0's create, so b0 holds the column's DEFAULT under a0's
-- clock), the tie goes by value, and a DEFAULT that sorts higher replaces
-- the writer's value. In the other order the writer's value wins. Items 7
-- and 8 get the same two writes in the two orders and must end equal.
-- With three instances this diverges for good: a0 keeps 'archived'; b0
-- keeps 'draft' (it took it from a0's own create); this instance, having
-- taken 'draft' from b0, forwards it to a0, which writes 'archived' back
-- to it alone; forwarded on to b0 by a non-writer it loses the value tie
-- there ('draft' > 'archived'): a0 and here 'archived', b0 'draft'.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv10_tie;
\c regress_rv10_tie
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, status text NOT NULL DEFAULT 'draft');
SELECT directus_sync.add_remote('a', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000a') IS NOT NULL AS added;
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('a', 'articles', ARRAY['title', 'status'], key_series => false);
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'status'], key_series => false);
-- a0's create of item k, its clock a0's born clock (the compact form)
CREATE TABLE a_born AS
SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000a0' AS clock;
-- the write of item k by sender s (a0 the writer, or b0 forwarding its copy)
CREATE FUNCTION sync_write(k int, s text, st text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    meta jsonb := jsonb_build_object('s', '00000000-0000-0000-0000-0000000000' || s || '0',
                                     'b', (SELECT clock FROM a_born));
BEGIN
    UPDATE articles SET title = 'a item', status = st, directus_sync_meta = meta WHERE id = k;
    IF NOT FOUND THEN
        INSERT INTO articles (id, title, status, directus_sync_meta) VALUES (k, 'a item', st, meta);
    END IF;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', ('00000000-0000-0000-0000-00000000000' || s)::uuid, 'articles', k::text);
END $$;
-- item 7: the writer's value first, then b0's copy
SELECT sync_write(7, 'a', 'archived');
SELECT sync_write(7, 'b', 'draft');
-- item 8: b0's copy first, then the writer's value
SELECT sync_write(8, 'b', 'draft');
SELECT sync_write(8, 'a', 'archived');
-- WRONG today: item 7 has 'draft' (b0's copy beat the writer's value it came after), item 8 'archived'
SELECT id, status FROM articles ORDER BY id;
SELECT count(DISTINCT status) = 1 AS same_in_both_orders FROM articles;
-- the model: the writer's register wins in either order
SELECT directus_sync._later('{"c": "k", "v": "archived", "w": true}', '{"c": "k", "v": "draft"}')->>'v' AS model_writer_first,
       directus_sync._later('{"c": "k", "v": "draft"}', '{"c": "k", "v": "archived", "w": true}')->>'v' AS model_writer_second;
-- the model is not associative either: _later returns its winner unmarked,
-- so the writer's register merged with one copy then loses to a second copy
-- that sorts higher; merged the other way round, the writer's wins
-- WRONG today: 'draft' then 'archived' (f)
SELECT directus_sync._later(directus_sync._later('{"c": "k", "v": "archived", "w": true}', '{"c": "k", "v": "aaa"}'),
                            '{"c": "k", "v": "draft"}')->>'v' AS left_first,
       directus_sync._later('{"c": "k", "v": "archived", "w": true}',
                            directus_sync._later('{"c": "k", "v": "aaa"}', '{"c": "k", "v": "draft"}'))->>'v' AS right_first;
SELECT directus_sync._later(directus_sync._later('{"c": "k", "v": "archived", "w": true}', '{"c": "k", "v": "aaa"}'),
                            '{"c": "k", "v": "draft"}')
     = directus_sync._later('{"c": "k", "v": "archived", "w": true}',
                            directus_sync._later('{"c": "k", "v": "aaa"}', '{"c": "k", "v": "draft"}')) AS model_associative;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv10_tie;
