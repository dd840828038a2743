-- Review 10: tombstones of one key merged in any order must end the same
-- (a tombstone decides every create that comes later: tombstone.c
-- tombstone_write). The merge keeps the delete of the item born later, and
-- where either born clock is unknown (a delete of an item that has no born
-- clock: made before its instance had clocks, or a delete from before
-- review 6) the later delete, keeping the known born clock. Three deletes
-- of key 5 reach two instances (items 5 and 6 here stand for them) in two
-- orders: T1 (born B1, deleted X3), T2 (born B2 > B1, deleted X2 < X3), T3
-- (born unknown, deleted X4 > X3). Order T1 T3 T2 ends (X2, B2): T3 raised
-- T1's delete clock, then T2, born later, replaced it; order T2 T1 T3 ends
-- (X4, B2): T3 raised T2's. A create of the item born B2 with a write
-- between X2 and X4 is then taken on one instance and skipped on the other.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv10_tomb;
\c regress_rv10_tomb
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
CREATE TABLE clocks AS
SELECT n, left(directus_sync.clock_now(), 11) || lpad(to_hex(n), 5, '0')
          || '@00000000-0000-0000-0000-0000000000b0' AS clock
  FROM generate_series(1, 6) n;
CREATE FUNCTION c(n int) RETURNS text LANGUAGE sql AS $$ SELECT clock FROM clocks WHERE clocks.n = c.n $$;
-- a sync's delete of an item this instance lacks: a create that carries the delete alone
CREATE FUNCTION tomb(k int, deleted text, born text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles (id, directus_sync_meta)
    VALUES (k, jsonb_strip_nulls(jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                                    'd', deleted, 'b', born)));
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
-- B1 = c(1), B2 = c(2), X2 = c(3), X3 = c(4), X4 = c(5)
SELECT tomb(5, c(4), c(1));
SELECT tomb(5, c(5), NULL);
SELECT tomb(5, c(3), c(2));
SELECT tomb(6, c(3), c(2));
SELECT tomb(6, c(4), c(1));
SELECT tomb(6, c(5), NULL);
SELECT count(*) AS rows_made FROM articles;
-- WRONG today: item 5 keeps (X2, B2), item 6 (X4, B2): not the same (f)
SELECT count(*) AS tombstones, bool_and(born = c(2)) AS born_b2 FROM directus_sync.tombstone;
SELECT count(DISTINCT (deleted, born)) = 1 AS same_in_both_orders FROM directus_sync.tombstone;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv10_tomb;
