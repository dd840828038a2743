-- Review 10: tombstones of one key merged in any order end the same
-- (a tombstone decides every create that comes later: tombstone.c
-- tombstone_write). The merge keeps the delete of the item born later (a
-- delete whose born clock is unknown, of an item made before its instance
-- had clocks or from before review 6, counts as born the oldest), and of
-- one item the later delete: the order of _merge on {"b", "d"}. Three
-- deletes of key 5 reach two instances (items 5 and 6 here stand for them)
-- in two orders: T1 (born B1, deleted X3), T2 (born B2 > B1, deleted
-- X2 < X3), T3 (born unknown, deleted X4 > X3). Both end (X2, B2); a merge
-- that raised the delete clock of a known born with an unknown one's ended
-- (X2, B2) and (X4, B2), and a create between X2 and X4 was taken on one
-- instance and skipped on the other. (T3 is kept apart as the tombstone's
-- sweep, review 11.) Then random deletes, some of unknown born, in random
-- orders: every order ends as _merge folds their states, the sweep too.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv10_tomb;
\c regress_rv10_tomb
\ir sql/clock_peer_b.psql
-- c: where a delete from b that is news here goes on to
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000c') IS NOT NULL AS added;
SELECT directus_sync.subscribe('c', 'articles', ARRAY['title'], key_series => false);
CREATE TABLE clocks AS
SELECT n, left(directus_sync.clock_now(), 11) || lpad(to_hex(n), 5, '0')
          || '@00000000-0000-0000-0000-0000000000b0' AS clock
  FROM generate_series(1, 40) n;
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
-- both orders keep T2, the delete of the item born latest
SELECT count(*) AS tombstones, bool_and(born = c(2)) AS born_b2 FROM directus_sync.tombstone;
SELECT count(DISTINCT (deleted, born)) = 1 AS same_in_both_orders FROM directus_sync.tombstone;
SELECT DISTINCT deleted = c(3) AS deleted_x2 FROM directus_sync.tombstone;
-- a delete that changes nothing here is no news: not sent on (a ring would pass it round for ever);
-- one of unknown born older than the sweep (X4) changes nothing
SELECT count(*) AS queued_before FROM directus_sync.outbox \gset
SELECT tomb(5, c(4), NULL);
SELECT (SELECT count(*) FROM directus_sync.outbox) - :queued_before AS queued_for_no_news;
-- one of unknown born later than the sweep is news (the sweep moves on)
SELECT tomb(5, c(6), NULL);
SELECT (SELECT count(*) FROM directus_sync.outbox) - :queued_before AS queued_for_a_later_sweep,
       (SELECT swept = c(6) AND deleted = c(3) AND born = c(2) FROM directus_sync.tombstone WHERE item_key = '5')
       AS swept_only;
SELECT count(*) AS queued_before FROM directus_sync.outbox \gset
-- news (a key without a tombstone) is sent on
SELECT tomb(7, c(6), NULL);
SELECT (SELECT count(*) FROM directus_sync.outbox) - :queued_before AS queued_for_news;
-- 20 trials of 5 deletes (born among 4 clocks or unknown, deleted among 30),
-- each applied in 4 random orders to keys 100 + 10 * trial + order
SELECT setseed(0.1003);
CREATE TABLE dels AS
SELECT trial, k, CASE WHEN random() < 0.3 THEN NULL ELSE c(1 + floor(random() * 4)::int) END AS born,
       c(5 + floor(random() * 30)::int) AS deleted
  FROM generate_series(1, 20) trial, generate_series(1, 5) k;
CREATE TABLE orders AS
SELECT trial, o, k, row_number() OVER (PARTITION BY trial, o ORDER BY random()) AS pos
  FROM generate_series(1, 20) trial, generate_series(1, 4) o, generate_series(1, 5) k;
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT o.trial, o.o, d.born, d.deleted FROM orders o JOIN dels d USING (trial, k)
              ORDER BY o.trial, o.o, o.pos LOOP
        PERFORM tomb(100 + 10 * r.trial + r.o, r.deleted, r.born);
    END LOOP;
END $$;
CREATE AGGREGATE merged(jsonb) (SFUNC = directus_sync._merge, STYPE = jsonb);
-- what _merge makes of the deletes' states, {"b": born or none, "d": deleted}
CREATE TABLE model AS
SELECT trial, merged(jsonb_strip_nulls(jsonb_build_object('b', born, 'd', deleted, 'f', '{}'::jsonb))) AS state
  FROM dels GROUP BY trial;
SELECT count(*) AS keys,
       count(*) FILTER (WHERE t.deleted = m.state->>'d'
                          AND coalesce(t.born, '') = m.state->>'b') AS as_merge_folds,
       count(*) FILTER (WHERE t.swept IS NOT DISTINCT FROM m.state->>'u') AS sweeps_as_merge_folds
  FROM directus_sync.tombstone t
  JOIN model m ON t.item_key::int / 10 - 10 = m.trial
 WHERE t.item_key::int >= 100;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv10_tomb;
