-- Review 8: a compact create ({"s", "b"}, capture.c clocks_compact) is
-- made by a sender that ships every column IT has. A receiver with a
-- column the sender lacks (a local field) must not read the compact meta as
-- carrying that column: when the create arrives as an update (a create
-- that met an existing key: the worker PATCHes the same payload,
-- directus_apply.c), only the columns the update sets are at "b"
-- (clock_row.c sent_clock), as the full form ("f" listing the sent fields)
-- says. The test applies both forms of one create of b to two equal local
-- items and checks the same outcome: b's values and born clock, the local
-- column kept, no refusal (clock without value).
\set SHOW_CONTEXT never
\set VERBOSITY terse
CREATE DATABASE regress_rv8_compact;
\c regress_rv8_compact
CREATE EXTENSION directus_sync;
SET client_min_messages = warning;
CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
                                collection varchar(64), item varchar(255));
-- note: a field of this instance only (b's articles has id, title, body)
CREATE TABLE articles (id integer PRIMARY KEY, title text, body text, note text);
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       inbound_user => '00000000-0000-0000-0000-00000000000b') IS NOT NULL AS added;
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'], key_series => false);
CREATE FUNCTION b_clock() RETURNS text LANGUAGE sql
AS $$ SELECT left(directus_sync.clock_now(), 17) || '00000000-0000-0000-0000-0000000000b0' $$;
-- our items 3 and 4, then b's items 3 and 4, born later
INSERT INTO articles (id, title, body, note) VALUES (3, 'ours', 'our body', 'n3'), (4, 'ours', 'our body', 'n4');
CREATE TABLE b_born AS SELECT b_clock() AS clock;
TRUNCATE directus_sync.outbox;
-- item 3: b's create in full form
BEGIN;
UPDATE articles SET title = 'theirs', body = 'their body',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                               'b', (SELECT clock FROM b_born),
                                               'f', jsonb_build_object('title', (SELECT clock FROM b_born),
                                                                       'body', (SELECT clock FROM b_born)),
                                               'p', '{}'::jsonb)
 WHERE id = 3;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '3');
COMMIT;
-- item 4: the same create, compact
BEGIN;
UPDATE articles SET title = 'theirs', body = 'their body',
       directus_sync_meta = jsonb_build_object('s', '00000000-0000-0000-0000-0000000000b0',
                                               'b', (SELECT clock FROM b_born))
 WHERE id = 4;
INSERT INTO directus_activity (action, "user", collection, item)
VALUES ('update', '00000000-0000-0000-0000-00000000000b', 'articles', '4');
COMMIT;
-- both items are b's now, alike
SELECT id, title, body, note, directus_sync_meta->>'b' = (SELECT clock FROM b_born) AS born_of_b
  FROM articles ORDER BY id;
RESET client_min_messages;
\c contrib_regression
DROP DATABASE regress_rv8_compact;
