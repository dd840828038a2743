-- Review 11 #5: the insert/insert reset runs the domain's check in a
-- subtransaction; only the domain's refusal (NOT NULL, CHECK) keeps the
-- field's value. Any other error, here a statement_timeout while the
-- domain's CHECK function sleeps, fails the sync as it would anywhere
-- (before the fix it was swallowed and the sync committed with the loser's
-- value: an outcome that depended on timing).
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
-- the timeout cancels the sync
SELECT b_item(5);
RESET statement_timeout;
-- item 5 unchanged ('our title' / 'our notes'); item 6 'b title' / 'default'
SELECT id, title, notes FROM articles ORDER BY id;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv11_domain;
