-- Review 10: the loser of an insert/insert has its fields that the
-- winner's sync does not carry reset to their column's default, NULL
-- without one (clock_row.c reset_field); a NOT NULL column without a
-- default keeps its value. A column whose domain is NOT NULL or has a CHECK
-- is not attnotnull, and a BEFORE trigger's tuple skips domain checks: the
-- reset goes through the domain (and the domains it is over), and keeps
-- the value the domain refuses the default or NULL, where it once stored
-- NULL in a NOT NULL domain (a dump of the table no longer restored, and
-- the forwarded null was refused by every receiver's domain, for ever).
-- A reset the domain takes still happens: NULL through a domain that
-- allows it, the domain's own default.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv10_domain;
\c regress_rv10_domain
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE DOMAIN req_text AS text NOT NULL CHECK (VALUE <> '');
CREATE DOMAIN req_short AS req_text CHECK (length(VALUE) < 100);     -- NOT NULL from the domain below
CREATE DOMAIN lower_code AS text DEFAULT 'Bad!' CHECK (VALUE ~ '^[a-z]+$'); -- its default fails its check
CREATE DOMAIN opt_text AS text CHECK (VALUE <> '');                   -- NULL passes
CREATE DOMAIN level AS integer NOT NULL DEFAULT 7;
CREATE TABLE articles (id integer PRIMARY KEY, title text, notes req_text, summary req_short,
                       code lower_code, tag opt_text, lvl level);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'notes', 'summary', 'code', 'tag', 'lvl'], key_series => false);
INSERT INTO articles VALUES (5, 'our title', 'our notes', 'our summary', 'ours', 'our tag', 3);
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
-- notes and summary (NOT NULL domains) and code (its domain's default fails) keep their
-- values; tag goes to NULL, lvl to its domain's default
SELECT title, notes, summary, code, tag IS NULL AS tag_null, lvl FROM articles;
-- every row passes its domains: it casts to them again
SELECT count(*) AS rows_passing_domains FROM articles
 WHERE notes::text::req_text IS NOT NULL AND summary::text::req_short IS NOT NULL
   AND code::text::lower_code IS NOT NULL AND lvl::integer::level IS NOT NULL;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv10_domain;
