-- Review 10: the loser of an insert/insert has its fields that the
-- winner's sync does not carry reset to their column's default, NULL
-- without one (clock_row.c reset_field); "a NOT NULL column without a
-- default keeps its value". A column whose DOMAIN is NOT NULL (or has a
-- CHECK) is not attnotnull, and a BEFORE trigger's tuple skips domain
-- checks: the reset stores NULL in a NOT NULL domain. The row then breaks
-- the domain (a dump of the table no longer restores), and the forwarded
-- change (notes: null) is refused by every receiver's domain, for ever.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv10_domain;
\c regress_rv10_domain
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE DOMAIN req_text AS text NOT NULL CHECK (VALUE <> '');
CREATE TABLE articles (id integer PRIMARY KEY, title text, notes req_text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'notes'], key_series => false);
INSERT INTO articles VALUES (5, 'our title', 'our notes');
-- b's item 5, born later, comes with its title only: it keeps the key
BEGIN;
UPDATE articles SET title = 'b title',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
           'b', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0',
           'f', jsonb_build_object('title', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0'))
 WHERE id = 5;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '5');
COMMIT;
-- WRONG today: notes is NULL (t), in a column whose domain is NOT NULL
SELECT title, notes IS NULL AS notes_null FROM articles;
-- the row no longer passes its own domain
SELECT count(*) AS rows_breaking_domain FROM articles WHERE notes IS NULL;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv10_domain;
