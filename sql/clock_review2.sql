-- Adversarial review 2 of clocks and key series (docs/replication.md#clocks,
-- #integer-keys-created-on-several-instances): each section is a sequence
-- after which a promise is broken on the current code. The expected output
-- is the behaviour the documentation promises (or plainly needs), as fixed:
-- where the fix chose otherwise than the review proposed, it shows that (a
-- relation already holding a key series' name is an error, a table without
-- room above its keys gets a warning and no series, a delete queued before
-- its table had clocks goes without one: the receiver takes it as it is).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS directus_sync;
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE TABLE IF NOT EXISTS directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                              collection varchar(64), item varchar(255));
SELECT directus_sync.add_remote('r2b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-0000000000bb', forward_inbound => true) IS NOT NULL AS added;
SELECT directus_sync.set_instance(1, 3);
CREATE ROLE regress_r2_directus;
CREATE ROLE regress_r2_owner;
CREATE ROLE regress_r2_other;
GRANT CREATE ON SCHEMA public TO regress_r2_other;

-- 1. The key series is not usable by the role Directus writes with when
-- that role is not the table's owner. The serial column's own sequence had
-- USAGE granted to it (as the README's GRANT hint says); the new sequence
-- <table>_directus_sync_keys is owned by the table's owner and grants
-- nothing, yet it becomes the key's default: every create through Directus
-- fails with "permission denied for sequence".
CREATE TABLE r2_articles (id serial PRIMARY KEY, title text);
ALTER TABLE r2_articles OWNER TO regress_r2_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON r2_articles TO regress_r2_directus;
GRANT USAGE ON SEQUENCE r2_articles_id_seq TO regress_r2_directus;
SELECT directus_sync.subscribe('r2b', 'r2_articles', ARRAY['title'], clocks => false);
SET ROLE regress_r2_directus;
INSERT INTO r2_articles (title) VALUES ('before enable_clocks');
RESET ROLE;
SELECT directus_sync.enable_clocks('r2_articles');
SET ROLE regress_r2_directus;
-- expected: INSERT 0 1 (a key from this instance's series)
INSERT INTO r2_articles (title) VALUES ('after enable_clocks');
RESET ROLE;
SELECT title FROM r2_articles ORDER BY id;

-- 2. Two tables whose names share their first 40 characters get ONE key
-- series: left(relname, 40) || '_directus_sync_keys'. enable_clocks of the
-- second restarts it above the second table's keys, below the first's: the
-- first table's next create takes a key it already has (unique violation),
-- and the sequence (the first table's key default) now belongs to the
-- second table's owner, who may setval or drop it.
CREATE TABLE r2_customer_orders_archive_of_year_2024_a (id serial PRIMARY KEY, title text);
CREATE TABLE r2_customer_orders_archive_of_year_2024_b (id serial PRIMARY KEY, title text);
ALTER TABLE r2_customer_orders_archive_of_year_2024_a OWNER TO regress_r2_owner;
ALTER TABLE r2_customer_orders_archive_of_year_2024_b OWNER TO regress_r2_other;
INSERT INTO r2_customer_orders_archive_of_year_2024_a (id, title) SELECT g, 'old' FROM generate_series(1, 50) g;
SELECT directus_sync.enable_clocks('r2_customer_orders_archive_of_year_2024_a');
SELECT directus_sync.enable_clocks('r2_customer_orders_archive_of_year_2024_b');
-- expected: two sequences, each owned by its table's owner
SELECT pg_get_userbyid(c.relowner) AS owner, count(*) AS sequences
  FROM pg_class c WHERE c.relkind = 'S' AND c.relname LIKE 'r2_customer%directus_sync_keys' GROUP BY 1 ORDER BY 1;
-- expected: INSERT 0 1 (a free key of table a)
INSERT INTO r2_customer_orders_archive_of_year_2024_a (title) VALUES ('new');

-- 3. A sequence of that name made beforehand by anyone who may create in
-- the schema is taken as it is (CREATE SEQUENCE IF NOT EXISTS): its type,
-- MAXVALUE, CYCLE and persistence stay (here: unlogged, so reset by a crash
-- to hand out keys again; smallint with MAXVALUE 7), and the table's key
-- default points at it.
SET ROLE regress_r2_other;
CREATE UNLOGGED SEQUENCE r2_notes_directus_sync_keys AS smallint MAXVALUE 7;
RESET ROLE;
CREATE TABLE r2_notes (id serial PRIMARY KEY, title text);
ALTER TABLE r2_notes OWNER TO regress_r2_owner;
SELECT directus_sync.enable_clocks('r2_notes');
-- expected: refused, or a fresh sequence of its own (logged, bigint, no MAXVALUE below bigint's)
SELECT c.relpersistence, s.seqtypid::regtype, s.seqmax
  FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.relname = 'r2_notes_directus_sync_keys';

-- 4. Keys that enable_clocks cannot place a series above: a table whose keys
-- are all negative (RESTART below MINVALUE 1), and one that holds the largest
-- bigint (overflow). enable_clocks fails whole: no clocks at all.
CREATE TABLE r2_neg (id integer PRIMARY KEY, title text);
INSERT INTO r2_neg VALUES (-10, 'negative');
-- expected: clocks enabled (the series starts at this instance's first positive key)
SELECT directus_sync.enable_clocks('r2_neg');
SELECT count(*) AS clock_column FROM pg_attribute WHERE attrelid = 'r2_neg'::regclass AND attname = 'directus_sync_meta';
CREATE TABLE r2_huge (id bigint PRIMARY KEY, title text);
INSERT INTO r2_huge VALUES (9223372036854775807, 'largest');
-- expected: clocks enabled (with a warning that no series fits), not "bigint out of range"
SELECT directus_sync.enable_clocks('r2_huge');
SELECT count(*) AS clock_column FROM pg_attribute WHERE attrelid = 'r2_huge'::regclass AND attname = 'directus_sync_meta';

-- 5. set_instance changes the number, the series stays: this database keeps
-- making keys of its former number (another instance's now) until someone
-- thinks of running enable_clocks again (the docs ask for it after a change
-- of the count only; a clone "has no number until told", and once told still
-- makes the original's keys). Going from 3 to 2 instances here warns that
-- series of the two counts can meet (review 6).
CREATE TABLE r2_series (id serial PRIMARY KEY, title text);
SELECT directus_sync.set_instance(1, 2);
SELECT directus_sync.enable_clocks('r2_series');
INSERT INTO r2_series (title) VALUES ('as number 1');
SELECT directus_sync.set_instance(2, 2);
INSERT INTO r2_series (title) VALUES ('as number 2');
-- expected: the key made after set_instance(2, 2) is of series 2 (even)
SELECT title, id % 2 = 0 AS even FROM r2_series ORDER BY id;

-- 6. Changes queued before enable_clocks never get clocks: the outbox keeps
-- their payloads as captured, without directus_sync_meta. The documented
-- procedure (pause the remotes, enable_clocks everywhere, resume) then
-- delivers them to instances that refuse every sync's change without clocks
-- ("a sync changed item ... without clocks"): HTTP 500 until they are dead
-- letters, and replay sends the same payload again, refused again. The
-- update and the delete below are lost for every other instance.
CREATE TABLE r2_posts (id integer PRIMARY KEY, title text);
SELECT directus_sync.subscribe('r2b', 'r2_posts', ARRAY['title'], clocks => false);
INSERT INTO r2_posts VALUES (1, 'one'), (2, 'two');
DELETE FROM directus_sync.outbox;
SELECT directus_sync.pause('r2b');
UPDATE r2_posts SET title = 'edited before enable_clocks' WHERE id = 1;
DELETE FROM r2_posts WHERE id = 2;
SELECT directus_sync.enable_clocks('r2_posts', key_series => false);
-- expected: t for both (each queued change carries clocks once the table has them)
SELECT op, payload IS NOT NULL AND payload::jsonb ? 'directus_sync_meta' AS carries_clocks
  FROM directus_sync.outbox WHERE collection = 'r2_posts' ORDER BY id;
-- what a receiver with clocks does with such a payload, applied as Directus does
INSERT INTO r2_posts VALUES (3, 'three');
BEGIN;
UPDATE r2_posts SET title = 'edited before enable_clocks' WHERE id = 3;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-0000000000bb', 'r2_posts', '3');
COMMIT;
SELECT title FROM r2_posts WHERE id = 3;

-- 7. A clock kept for a value that never came. Directus drops from a
-- payload every field its schema cache does not know (docs: it does so
-- with directus_sync_meta until the cache is cleared); a field added by SQL
-- or a migration and subscribed before the receiver's cache was cleared
-- arrives as a clock in "f" without its value. The receiver keeps the clock
-- (later than what it had) and the old value: it now holds the sender's
-- clock for a value it never got. Every later delivery of that write (a
-- retry, a resync, which sends the stored clocks) is "not later" and put
-- back: the value never arrives, the instances differ for good, and no
-- conflict is logged. Without clocks a resync would repair it.
-- Since review 6 the receiver refuses a later clock of a field the update
-- does not set (its SET list): the first write below fails, and the retry
-- with the value is taken.
CREATE TABLE r2_pages (id integer PRIMARY KEY, title text, summary text);
SELECT directus_sync.subscribe('r2b', 'r2_pages', ARRAY['title', 'summary'], clocks => false);
SELECT directus_sync.enable_clocks('r2_pages', key_series => false);
INSERT INTO r2_pages VALUES (1, 'page', NULL);
CREATE FUNCTION r2_sync_update(sets text, meta jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- a sync of the item carries its born clock "b"
    EXECUTE format('UPDATE r2_pages SET %s directus_sync_meta ='
                   ' jsonb_strip_nulls(jsonb_build_object(''b'', directus_sync_meta->''b'')) || $1 WHERE id = 1', sets)
      USING meta;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-0000000000bb', 'r2_pages', '1');
END $$;
SELECT left(directus_sync.clock_now(), 16) || '@00000000-0000-0000-0000-0000000000b0' AS b_clock \gset
-- b's write of summary, as a Directus that does not know "summary" yet applies it: the value dropped
-- (expected: refused, "a sync sent a clock of field ... without its value")
SELECT r2_sync_update('', jsonb_build_object('s', 'b', 'f', jsonb_build_object('summary', :'b_clock'::text)));
-- the same write again once the cache is cleared (a retry, or a resync of b's row)
SELECT r2_sync_update('summary = ''written on b'',',
                      jsonb_build_object('s', 'b', 'f', jsonb_build_object('summary', :'b_clock'::text)));
-- expected: 'written on b' (b's value of the write whose clock this row holds)
SELECT summary, directus_sync_meta->'f'->>'summary' = :'b_clock' AS holds_b_clock FROM r2_pages WHERE id = 1;

-- 8. An instance that only receives a collection (a mirror fed by A and C,
-- subscribing nothing of it back) has the column after enable_clocks but no
-- trigger directus_sync_clock (_apply_config makes it only while the table
-- is subscribed): every sync's write is taken raw, in arrival order. A's
-- and C's concurrent edits, or a late retry, leave the mirror with whichever
-- came last while A and C agree on the later one; the sender's "s" is
-- stored in the column. The promise: any connected topology, any order.
CREATE TABLE r2_mirror (id integer PRIMARY KEY, title text);
SELECT directus_sync.enable_clocks('r2_mirror', key_series => false);
INSERT INTO r2_mirror VALUES (1, 'first');
CREATE FUNCTION r2_mirror_write(title text, clock text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE r2_mirror SET title = r2_mirror_write.title,
           directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', directus_sync_meta->'b',
                                                   'f', jsonb_build_object('title', clock))
     WHERE id = 1;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-0000000000bb', 'r2_mirror', '1');
END $$;
SELECT left(directus_sync.clock_now(), 16) AS now16 \gset
-- the later edit arrives first, the earlier one (another sender's, or a retry) after it
SELECT r2_mirror_write('later', :'now16' || '@00000000-0000-0000-0000-0000000000c0');
SELECT r2_mirror_write('earlier', '0000000000010000@00000000-0000-0000-0000-0000000000a0');
-- expected: 'later', and no sender mark stored
SELECT title, directus_sync_meta ? 's' AS sender_mark_stored FROM r2_mirror WHERE id = 1;

-- 9. A numeric key whose text has trailing zeros (numeric(10,2): 1.50):
-- the worker ships it as the JSON number 1.50, Directus parses it to the
-- JavaScript number 1.5 and writes its activity row with item '1.5', while
-- the clock trigger registers the sync's write under key_text '1.50'. The
-- two never meet: the commit fails ("only a sync may write column
-- directus_sync_meta", 42501) for every sync's write of such an item, until
-- it is a dead letter. (The same for float keys Directus prints otherwise,
-- 1e+20.) Expected: the write is taken.
CREATE TABLE r2_prices (id numeric(10,2) PRIMARY KEY, title text);
SELECT directus_sync.subscribe('r2b', 'r2_prices', ARRAY['title']);
SELECT directus_sync.enable_clocks('r2_prices');
INSERT INTO r2_prices VALUES (1.5, 'ours');
BEGIN;
UPDATE r2_prices SET title = 'from b',
       directus_sync_meta = jsonb_build_object('s', 'b', 'b', directus_sync_meta->'b', 'f', jsonb_build_object('title',
           left(directus_sync.clock_now(), 16) || '@00000000-0000-0000-0000-0000000000b0'))
 WHERE id = 1.5;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-0000000000bb', 'r2_prices', '1.5');
COMMIT;
-- expected: 'from b'
SELECT title FROM r2_prices;

-- clean up
DELETE FROM directus_sync.outbox;
SELECT directus_sync.remove_remote('r2b');
DROP TABLE r2_articles, r2_customer_orders_archive_of_year_2024_a, r2_customer_orders_archive_of_year_2024_b,
           r2_notes, r2_neg, r2_huge, r2_series, r2_posts, r2_pages, r2_mirror, r2_prices;
DROP FUNCTION r2_sync_update(text, jsonb), r2_mirror_write(text, text);
DROP SEQUENCE IF EXISTS r2_articles_directus_sync_keys, r2_notes_directus_sync_keys, r2_neg_directus_sync_keys,
           r2_huge_directus_sync_keys, r2_series_directus_sync_keys;
DROP OWNED BY regress_r2_directus, regress_r2_owner, regress_r2_other;
UPDATE directus_sync.node SET instance = NULL, instances = NULL;
REVOKE CREATE ON SCHEMA public FROM regress_r2_other;
DROP ROLE regress_r2_directus;
DROP ROLE regress_r2_owner;
DROP ROLE regress_r2_other;
