-- Review 10: two values of a field under one clock: the writer's value
-- must win whatever the order of arrival. A copy that is not the writer's
-- value is the column's DEFAULT (b0's Directus stripped the field from
-- a0's create, so b0 holds the DEFAULT 'draft' under a0's clock). Items 7
-- and 8 get a0's own value and b0's copy in the two orders; items 9 and 10
-- get b0's copy and a0's value forwarded by c0 (neither sender made the
-- clock) in the two orders: all end 'archived', the writer's value, which
-- is not the DEFAULT (clock_row.c sync_wins_tie). Before the fix the value
-- order decided when our value had come first ('draft' > 'archived'), and
-- three instances diverged for good: a0 and c0 'archived', b0 'draft'.
-- The model _later keeps the writer's mark "w" in its result, so it is
-- associative with marks (clock_merge checks its laws with marked
-- registers).
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
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000c') IS NOT NULL AS added;
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'status'], key_series => false);
-- a0's create of item k, its clock a0's born clock (the compact form)
CREATE TABLE a_born AS
SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000a0' AS clock;
-- the write of item k by sender s (a0 the writer, b0 forwarding its copy, c0 forwarding a0's value)
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
-- item 9: b0's copy first, then a0's value forwarded by c0
SELECT sync_write(9, 'b', 'draft');
SELECT sync_write(9, 'c', 'archived');
-- item 10: a0's value forwarded by c0 first, then b0's copy
SELECT sync_write(10, 'c', 'archived');
SELECT sync_write(10, 'b', 'draft');
-- all four hold the writer's value, under a0's clock
SELECT id, status, directus_sync_meta->'f'->>'status' = (SELECT clock FROM a_born) AS a_clock
  FROM articles ORDER BY id;
SELECT count(DISTINCT status) = 1 AS same_in_both_orders FROM articles;
-- the model: the writer's register wins in either order
SELECT directus_sync._later('{"c": "k", "v": "archived", "w": true}', '{"c": "k", "v": "draft"}')->>'v' AS model_writer_first,
       directus_sync._later('{"c": "k", "v": "draft"}', '{"c": "k", "v": "archived", "w": true}')->>'v' AS model_writer_second;
-- the model is associative: _later keeps the writer's mark in its result,
-- so the writer's register merged with one copy still beats a second copy
-- that sorts higher, as when the copies are merged first
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
