-- Key series and keys written by value (src/key_series.c): a create that
-- brings its key (an import, Directus's POST with an id, a sync's create)
-- passes this instance's series when the series would hand that key out
-- later; keys of other instances' residues, and keys behind the series,
-- leave it where it is. In a database of its own, for which no worker runs.
CREATE DATABASE regress_key_series;
\c regress_key_series
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE notes (id serial PRIMARY KEY, body text);
SELECT directus_sync.add_remote('c', 'http://127.0.0.1:9', 't') IS NOT NULL AS added;
SELECT directus_sync.subscribe('c', 'notes', ARRAY['body']);
SELECT directus_sync.set_instance(2, 3);
SELECT directus_sync.enable_clocks('notes');
CREATE VIEW series AS SELECT last_value, is_called FROM notes_directus_sync_keys;
SELECT seqincrement, seqcache FROM pg_sequence WHERE seqrelid = 'notes_directus_sync_keys'::regclass;
INSERT INTO notes (body) VALUES ('made here') RETURNING id;

-- A key of this instance's series, ahead of it (the next would be 5): the
-- series passes it, and the next create takes the key after it.
INSERT INTO notes (id, body) VALUES (8, 'own series, ahead');
SELECT * FROM series;
INSERT INTO notes (body) VALUES ('after 8') RETURNING id;
-- The very next key of the series (14), given by value.
INSERT INTO notes (id, body) VALUES (14, 'own series, the next key');
INSERT INTO notes (body) VALUES ('after 14') RETURNING id;

-- Keys behind the series (5: skipped, free) or of other instances'
-- residues (100, 102): the series stays.
INSERT INTO notes (id, body) VALUES (5, 'own series, behind'), (100, 'instance 1'), (102, 'instance 3');
SELECT * FROM series;
INSERT INTO notes (body) VALUES ('after 100 and 102') RETURNING id;
-- keys outside the sequence's range: negative, zero
INSERT INTO notes (id, body) VALUES (-1, 'negative'), (0, 'zero');
SELECT * FROM series;

-- Many keys by value in one statement, in any order: the series ends past
-- the highest of its own (2999; 3000 is instance 3's).
INSERT INTO notes (id, body) SELECT g, 'bulk' FROM generate_series(3000, 1000, -1) g;
SELECT * FROM series;
INSERT INTO notes (body) VALUES ('after the bulk') RETURNING id;
-- COPY too
COPY notes (id, body) FROM stdin;
4001	copied, own series
4003	copied, instance 1
\.
SELECT * FROM series;

-- A key changed to one of the series ahead of it: another item, created.
UPDATE notes SET id = 4010 WHERE id = 4001;
SELECT * FROM series;
INSERT INTO notes (body) VALUES ('after the changed key') RETURNING id;

-- Not transactional, as nextval: a rolled-back create leaves the series
-- moved (keys skipped), and so does a create that fails on its key.
BEGIN;
INSERT INTO notes (id, body) VALUES (5000, 'rolled back');
ROLLBACK;
SELECT * FROM series;
INSERT INTO notes (id, body) VALUES (8, 'taken') ON CONFLICT DO NOTHING;
INSERT INTO notes (id, body) VALUES (5003, 'own series'), (5003, 'twice');
SELECT * FROM series;
INSERT INTO notes (body) VALUES ('after the rolled-back create') RETURNING id;

-- A role that may insert into the table but has no right on the series
-- (granted after enable_clocks, which granted USAGE to the inserters then):
-- its creates by value still pass the series, which it cannot use itself.
CREATE ROLE regress_ks_writer;
GRANT INSERT, SELECT ON notes TO regress_ks_writer;
SELECT has_sequence_privilege('regress_ks_writer', 'notes_directus_sync_keys', 'USAGE, UPDATE, SELECT') AS writer_may_use_series;
SET ROLE regress_ks_writer;
SELECT nextval('notes_directus_sync_keys');
INSERT INTO notes (id, body) VALUES (6002, 'by a writer without rights on the series');
RESET ROLE;
SELECT * FROM series;
-- a role that may not insert reaches no trigger: the series stays
CREATE ROLE regress_ks_reader;
GRANT SELECT ON notes TO regress_ks_reader;
SET ROLE regress_ks_reader;
INSERT INTO notes (id, body) VALUES (7001, 'refused');
RESET ROLE;
SELECT * FROM series;

-- bigint and smallint keys; a key the series never reaches (its maximum)
CREATE TABLE big (id bigserial PRIMARY KEY, body text);
SELECT directus_sync.subscribe('c', 'big', ARRAY['body']);
SELECT directus_sync.enable_clocks('big');
INSERT INTO big (id, body) VALUES (6000000000000000002, 'far ahead');
SELECT last_value FROM big_directus_sync_keys;
INSERT INTO big (body) VALUES ('after it') RETURNING id;
ALTER SEQUENCE big_directus_sync_keys MAXVALUE 7000000000000000000;
INSERT INTO big (id, body) VALUES (8000000000000000000, 'above the maximum');
SELECT last_value FROM big_directus_sync_keys;
CREATE TABLE small (id smallserial PRIMARY KEY, body text);
SELECT directus_sync.subscribe('c', 'small', ARRAY['body']);
SELECT directus_sync.enable_clocks('small');
INSERT INTO small (id, body) VALUES (32000, 'own series');
SELECT last_value FROM small_directus_sync_keys;

-- Without a series (key_series => false): keys by
-- value touch no sequence.
CREATE TABLE plain (id serial PRIMARY KEY, body text);
SELECT directus_sync.subscribe('c', 'plain', ARRAY['body'], clocks => true, key_series => false);
INSERT INTO plain (id, body) VALUES (8, 'no series');
SELECT pg_get_expr(adbin, adrelid) AS plain_default, last_value AS plain_own_sequence
  FROM pg_attrdef, plain_id_seq WHERE adrelid = 'plain'::regclass;

\c contrib_regression
DROP DATABASE regress_key_series;
DROP ROLE regress_ks_writer, regress_ks_reader;
