-- Review 11: a copy of a field under its writer's clock. A sync's create
-- that Directus stripped of a field (a stale schema cache, Directus 10)
-- gave the field the sender's clock with this instance's DEFAULT: a copy
-- that is not the write's value, which then met the writer's value under
-- one clock. sync_wins_tie tells the copy only as the column's CURRENT
-- immutable DEFAULT: with "created timestamptz DEFAULT now()" (each
-- instance's copy differs, as Directus's date_created) or a DEFAULT changed
-- since, the copy won by text in one order of arrival only (review11b's
-- items: three instances then keep two values). No rule can tell such a
-- copy from the writer's value once both hold the clock (two forwards of
-- the same form differ only by value), so the copy no longer gets it:
--  * a create in full form whose "f" clocks a field the INSERT does not
--    list is refused (55000), as an update that does not set it is: the
--    sender tries again until Directus passes the field;
--  * a compact create ({"s", "b"}: every column the sender has, at "b")
--    gives "b" only to the columns the INSERT lists: the others hold this
--    instance's DEFAULT with no clock, and the writer's value beats it by
--    clock, in either order;
-- This database plays b0, whose Directus strips fields; a0 wrote item
-- values at clock a_born (2026-01-01, 'archived'); c0 forwards a0's values.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv11_tie;
\c regress_rv11_tie
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text, status text NOT NULL DEFAULT 'draft',
                       created timestamptz DEFAULT now());
SELECT directus_sync.add_remote('a', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000a') IS NOT NULL AS added;
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000c') IS NOT NULL AS added;
SELECT directus_sync.subscribe(r, 'articles', ARRAY['title', 'status', 'created'], key_series => false)
  FROM unnest(ARRAY['a', 'b', 'c']) r;
CREATE TABLE a_born AS
SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000a0' AS clock;
CREATE FUNCTION meta(s text, fields text[]) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('s', '00000000-0000-0000-0000-0000000000' || s || '0',
                              'b', (SELECT clock FROM a_born))
        || CASE WHEN fields IS NULL THEN '{}'::jsonb
                ELSE jsonb_build_object('f', (SELECT coalesce(jsonb_object_agg(f, (SELECT clock FROM a_born)), '{}')
                                                FROM unnest(fields) f)) END
$$;
CREATE FUNCTION activity(s text, action text, k int) RETURNS void LANGUAGE sql AS $$
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES (action, ('00000000-0000-0000-0000-00000000000' || s)::uuid, 'articles', k::text)
$$;
-- 1. a0's create in full form; b0's Directus dropped "created" from the
-- INSERT: refused (it took a0's clock with b0's now() before)
BEGIN;
INSERT INTO articles (id, title, status, directus_sync_meta)
VALUES (1, 'a item', 'archived', meta('a', ARRAY['title', 'status', 'created']));
ROLLBACK;
SELECT count(*) AS item_1_taken FROM articles WHERE id = 1;
-- 2. a0's compact create, "created" dropped: taken, "created" keeps no clock
BEGIN;
INSERT INTO articles (id, title, status, directus_sync_meta) VALUES (2, 'a item', 'archived', meta('a', NULL));
SELECT activity('a', 'create', 2);
COMMIT;
SELECT directus_sync_meta->'f' ? 'created' AS created_has_a_clock,
       directus_sync_meta->'f'->>'status' = (SELECT clock FROM a_born) AS status_at_a_born
  FROM articles WHERE id = 2;
-- then a0's value comes (c0 forwards it): it wins by clock
BEGIN;
UPDATE articles SET created = '2026-01-01 00:00:00+00', directus_sync_meta = meta('c', ARRAY['created']) WHERE id = 2;
SELECT activity('c', 'update', 2);
COMMIT;
-- 3. the other order: a0's whole create first; then b0's forward of its
-- copy (without a clock): ours stays; nothing is queued back (a sender may
-- not be sent the field: a write-back could go round for ever)
BEGIN;
INSERT INTO articles (id, title, status, created, directus_sync_meta)
VALUES (3, 'a item', 'archived', '2026-01-01 00:00:00+00', meta('a', NULL));
SELECT activity('a', 'create', 3);
COMMIT;
TRUNCATE directus_sync.outbox;
BEGIN;
UPDATE articles SET title = 'a item', status = 'archived', created = '2026-06-01 00:00:00+00',
       directus_sync_meta = meta('b', ARRAY['title', 'status'])
 WHERE id = 3;
SELECT activity('b', 'update', 3);
COMMIT;
SELECT r.name AS remote, (o.payload::jsonb->>'created')::timestamptz AT TIME ZONE 'UTC' AS written_back
  FROM directus_sync.outbox o JOIN directus_sync.remote r ON r.id = o.remote_id
 WHERE o.item_key = '3' ORDER BY r.name;
-- 4 and 5: a DEFAULT changed since: the copy is 'new' here, 'draft' at an
-- instance not yet altered; neither gets a0's clock
ALTER TABLE articles ALTER status SET DEFAULT 'new';
BEGIN;
INSERT INTO articles (id, title, created, directus_sync_meta)
VALUES (4, 'a item', '2026-01-01 00:00:00+00', meta('a', NULL));
SELECT activity('a', 'create', 4);
COMMIT;
SELECT status, directus_sync_meta->'f' ? 'status' AS status_has_a_clock FROM articles WHERE id = 4;
BEGIN;
UPDATE articles SET status = 'archived', directus_sync_meta = meta('c', ARRAY['status']) WHERE id = 4;
SELECT activity('c', 'update', 4);
COMMIT;
BEGIN;
INSERT INTO articles (id, title, status, created, directus_sync_meta)
VALUES (5, 'a item', 'archived', '2026-01-01 00:00:00+00', meta('c', NULL));
SELECT activity('c', 'create', 5);
COMMIT;
BEGIN;
UPDATE articles SET title = 'a item', status = 'draft', directus_sync_meta = meta('b', ARRAY['title']) WHERE id = 5;
SELECT activity('b', 'update', 5);
COMMIT;
-- a0's values in every item, under a0's clock, whatever the order
SELECT id, status, created AT TIME ZONE 'UTC' AS created,
       directus_sync_meta->'f'->>'created' = (SELECT clock FROM a_born) AS created_at_a_born,
       directus_sync_meta->'f'->>'status' = (SELECT clock FROM a_born) AS status_at_a_born
  FROM articles ORDER BY id;
SELECT (SELECT count(DISTINCT created) FROM articles) = 1 AS created_same_in_both_orders,
       (SELECT count(DISTINCT status) FROM articles) = 1 AS status_same_in_both_orders;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv11_tie;
