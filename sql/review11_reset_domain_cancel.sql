-- Review 11: the insert/insert reset runs the domain's check in a
-- subtransaction and takes ANY error as "the domain refuses the reset, the
-- field keeps its value" (clock_row.c reset_value: FlushErrorState). A
-- domain CHECK may call any function: a statement_timeout or a query
-- cancel while it runs (here the check sleeps past statement_timeout) is
-- swallowed, the sync's statement goes on and commits, and the field keeps
-- the loser's value where an instance whose check finished resets it (the
-- outcome depends on timing: divergence). PL/pgSQL's EXCEPTION WHEN OTHERS
-- deliberately does not catch query_canceled; a cancel must cancel.
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv11_domain;
\c regress_rv11_domain
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
CREATE FUNCTION slow_ok(v text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF v = 'default' THEN PERFORM pg_sleep(3); END IF;
    RETURN true;
END $$;
CREATE DOMAIN slow_text AS text DEFAULT 'default' CHECK (slow_ok(VALUE));
CREATE TABLE articles (id integer PRIMARY KEY, title text, notes slow_text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'notes'], key_series => false);
INSERT INTO articles VALUES (5, 'our title', 'our notes'), (6, 'our title', 'our notes');
CREATE FUNCTION b_item(k int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles SET title = 'b title',
           directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
               'b', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0',
               'f', jsonb_build_object('title', left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0'))
     WHERE id = k;
    INSERT INTO directus_activity (action, "user", collection, item)
    VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
-- control, item 6 without a timeout: the reset takes the domain's default
SELECT b_item(6);
-- b's item 5, born later, comes with its title only: our notes reset to
-- the domain's default, whose check outlasts the statement's timeout
SET statement_timeout = '500ms';
-- WRONG today: no error (the cancel is swallowed), and the UPDATE commits
SELECT b_item(5);
RESET statement_timeout;
-- WRONG today: item 5 'b title' / 'our notes' (the timeout should have canceled
-- the sync: 'our title'); item 6 'b title' / 'default'
SELECT id, title, notes FROM articles ORDER BY id;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv11_domain;
