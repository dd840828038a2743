-- two deletes of known items of one key (item B2 born c1 deleted at c6, item B born c2 deleted at c3)
-- and a sync's create of item B2 written at c4, in two orders
\set VERBOSITY terse
CREATE DATABASE kk;
\c kk
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid, collection varchar(64), item varchar(255));
CREATE TABLE articles (id integer PRIMARY KEY, title text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't', inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], key_series => false);
CREATE TABLE clocks AS SELECT n, left(directus_sync.clock_now(), 11) || lpad(to_hex(n), 5, '0') || '@00000000-0000-0000-0000-0000000000b0' AS clock FROM generate_series(1, 10) n;
CREATE FUNCTION c(n int) RETURNS text LANGUAGE sql AS $$ SELECT clock FROM clocks WHERE clocks.n = c.n $$;
CREATE FUNCTION tomb(k int, deleted text, born text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles (id, directus_sync_meta) VALUES (k, jsonb_strip_nulls(jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'd', deleted, 'b', born)));
    INSERT INTO directus_activity (action, "user", collection, item) VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
CREATE FUNCTION sync_create(k int, born text, s text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO articles (id, title, directus_sync_meta) VALUES (k, 'B2', jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0', 'b', born, 'f', jsonb_build_object('title', s)));
    INSERT INTO directus_activity (action, "user", collection, item) VALUES ('create', '00000000-0000-0000-0000-00000000000b', 'articles', k::text);
END $$;
SELECT tomb(1, c(6), c(1)); SELECT sync_create(1, c(1), c(4)); SELECT tomb(1, c(3), c(2));
SELECT tomb(2, c(6), c(1)); SELECT tomb(2, c(3), c(2)); SELECT sync_create(2, c(1), c(4));
SELECT id, title FROM articles ORDER BY id;
SELECT directus_sync._exists(directus_sync._merge(directus_sync._merge(jsonb_build_object('b', c(1), 'd', c(6)), jsonb_build_object('b', c(2), 'd', c(3))),
       jsonb_build_object('b', c(1), 'f', jsonb_build_object('title', jsonb_build_object('c', c(4), 'v', 'B2'))))) AS model_exists;
\c postgres
DROP DATABASE kk;
