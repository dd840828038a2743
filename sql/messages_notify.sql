-- Failure notifications are markdown, which Directus's app renders (marked,
-- then DOMPurify, which lets images and http links through). What others
-- wrote (the remote's error, an item key, a collection name) goes in as
-- inline code: no image, link or HTML of theirs is live. A failure to notify
-- is a WARNING with the reason as DETAIL. No worker runs for this database.
CREATE EXTENSION directus_sync;
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE TABLE directus_users (id uuid PRIMARY KEY);
CREATE TABLE directus_notifications (id serial PRIMARY KEY, status text, recipient uuid, subject text,
    message text, collection text, item text);
INSERT INTO directus_users VALUES ('0b5e4a5c-1111-4222-8333-444455556666');
SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't',
       notify_users => ARRAY['0b5e4a5c-1111-4222-8333-444455556666']::uuid[]) IS NOT NULL AS added;

-- A code span: its fence one backtick longer than the longest run inside,
-- control characters (a blank line would end the span) as spaces.
SELECT what, directus_sync._md_code(t) AS code
  FROM (VALUES ('plain', 'plain'), ('backticks inside', 'a `b` c'), ('runs of 2 and 3', '``x```'),
               ('backticks at both ends', '`edge`'), ('line breaks, CR, ESC', E'two\n\nlines\r\x1b[31m'),
               ('bidi override, U+2028, U+0085', E'bidi \u202e \u2028 \u0085 end'), ('empty', ''),
               ('NULL', NULL)) v(what, t);

SELECT directus_sync._notify(r.id, 'articles', E'k`1\n\n# heading', 'create',
       'HTTP 400 INVALID_PAYLOAD: ![x](http://evil.example/x.png) [click](javascript:alert(1)) <img src=x> ``')
  FROM directus_sync.remote r WHERE r.name = 'b';
SELECT subject, message, collection, to_json(item) AS item FROM directus_notifications;

-- The insert fails: a WARNING, and the bookkeeping goes on.
UPDATE directus_sync.remote_state SET last_notified_at = NULL;
ALTER TABLE directus_notifications ADD CONSTRAINT refused CHECK (subject IS NULL) NOT VALID;
SELECT directus_sync._notify(r.id, 'articles', '2', 'update', 'HTTP 400 X: y')
  FROM directus_sync.remote r WHERE r.name = 'b';
SELECT last_notified_at IS NOT NULL AS notified_at_set FROM directus_sync.remote_state;

SET directus_sync.keep_map_on_drop = off;
DROP EXTENSION directus_sync;
RESET directus_sync.keep_map_on_drop;
DROP TABLE directus_notifications, directus_users;
