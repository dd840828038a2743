-- Review 11: two values of a field under one clock when the copy is NOT
-- the column's immutable DEFAULT. sync_wins_tie (review 10) recognizes the
-- copy only as the column's current immutable DEFAULT; otherwise it falls
-- back to "non-null, then the larger text wins", and the sender-made-it
-- rule then makes the result depend on the order of arrival again (the
-- review 10 divergence of three instances):
--  * items 1 and 2: "created timestamptz DEFAULT now()" (volatile: as
--    Directus's date_created, or any DEFAULT now()). b0's Directus stripped
--    the field from a0's create, so b0 holds ITS now() under a0's clock: a
--    later timestamp, which sorts higher than a0's value.
--  * items 3 and 4: the copy was made under DEFAULT 'draft'; the DEFAULT
--    was changed (ALTER TABLE ... SET DEFAULT) before it arrived here: 'draft'
--    is no longer recognized as a copy and beats 'archived' by text.
-- In each pair the writer's value must win in both orders.
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
CREATE FUNCTION sync_write(k int, s text, st text, cr timestamptz) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    meta jsonb := jsonb_build_object('s', '00000000-0000-0000-0000-0000000000' || s || '0',
                                     'b', (SELECT clock FROM a_born));
BEGIN
    UPDATE articles SET title = 'a item', status = st, created = cr, directus_sync_meta = meta WHERE id = k;
    IF NOT FOUND THEN
        INSERT INTO articles (id, title, status, created, directus_sync_meta) VALUES (k, 'a item', st, cr, meta);
    END IF;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', ('00000000-0000-0000-0000-00000000000' || s)::uuid, 'articles', k::text);
END $$;
-- items 1 and 2: a0's created (its value) and b0's copy (b0's now(), later)
SELECT sync_write(1, 'a', 'archived', '2026-01-01 00:00:00+00');
SELECT sync_write(1, 'b', 'archived', '2026-06-01 00:00:00+00');
SELECT sync_write(2, 'b', 'archived', '2026-06-01 00:00:00+00');
SELECT sync_write(2, 'a', 'archived', '2026-01-01 00:00:00+00');
-- items 3 and 4: b0's copy 'draft' (the DEFAULT when b0 made it), which
-- arrives after the DEFAULT changed here
ALTER TABLE articles ALTER status SET DEFAULT 'new';
SELECT sync_write(3, 'c', 'archived', '2026-01-01 00:00:00+00');
SELECT sync_write(3, 'b', 'draft', '2026-01-01 00:00:00+00');
SELECT sync_write(4, 'b', 'draft', '2026-01-01 00:00:00+00');
SELECT sync_write(4, 'a', 'archived', '2026-01-01 00:00:00+00');
-- WRONG today: item 1 holds b0's copy 2026-06-01 (should be a0's 2026-01-01),
-- item 3 holds 'draft' (should be 'archived'): each pair differs by the order
SELECT id, status, created AT TIME ZONE 'UTC' AS created,
       directus_sync_meta->'f'->>'created' = (SELECT clock FROM a_born) AS a_clock
  FROM articles ORDER BY id;
-- WRONG today: f, f (each pair must agree whatever the order of arrival)
SELECT (SELECT count(DISTINCT created) FROM articles WHERE id IN (1, 2)) = 1 AS created_same_in_both_orders,
       (SELECT count(DISTINCT status) FROM articles WHERE id IN (3, 4)) = 1 AS status_same_in_both_orders;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv11_tie;
