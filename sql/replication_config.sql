-- Configuration API of replication: remotes and subscriptions, and every
-- configuration error the DBA can make, caught at configuration time.
SET client_min_messages = warning;
-- a fresh extension (the tests before leave theirs behind)
DROP EXTENSION IF EXISTS directus_sync;
DROP TABLE IF EXISTS directus_sync_id_map;
CREATE EXTENSION directus_sync;
\set SHOW_CONTEXT never

CREATE TABLE articles (id integer PRIMARY KEY, title text, body text, status varchar(20));
CREATE TABLE tags (slug text PRIMARY KEY, label text);
CREATE TABLE no_key (a integer, b text);
CREATE TABLE two_keys (a integer, b integer, label text, PRIMARY KEY (a, b));
CREATE VIEW article_view AS SELECT * FROM articles;

-- Remotes
SELECT directus_sync.add_remote('b', 'https://b.example.com/', 'secret-token-b') AS id;
SELECT name, url, enabled, paused, batch_max_items, batch_max_bytes, verify_tls FROM directus_sync.remotes;
SELECT directus_sync.add_remote('b', 'https://other.example.com', 'x');            -- duplicate name
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'ftp://c.example.com', 'secret-token-c');      -- not http(s)
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'file:///etc/passwd', 'secret-token-c');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://user:pw@c.example.com', 'secret-token-c');  -- credentials in URL
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com?x=1', 'secret-token-c');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', NULL, 'secret-token-c');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', '');                  -- empty token
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 'two words');         -- never echoed
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('', 'https://c.example.com', 't');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote(NULL, 'https://c.example.com', 't');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', batch_max_items => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', batch_max_bytes => 10);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', request_timeout_ms => -1);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', connect_timeout_ms => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', connect_timeout_ms => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', verify_tls => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote(repeat('n', 64), 'https://c.example.com', 't');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', notify_users => ARRAY[NULL]::uuid[]);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.add_remote('c', 'http://c.example.com:8055', 'tc',
                                notify_users => ARRAY['8c1a3a3e-8f43-4d4e-b1a4-0b6a0c0d7e11']::uuid[]) AS id;

SELECT directus_sync.alter_remote('c', url => 'gopher://c');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.alter_remote('nope', enabled => false);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.alter_remote('c', new_name => 'b');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.alter_remote('c', batch_max_items => 50, paused => true);     -- no such setting
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.alter_remote('c', batch_max_items => 50, new_name => 'c2');
SELECT name, url, batch_max_items, notify_users FROM directus_sync.remotes ORDER BY name;

-- Loop prevention needs Directus's activity table.
SELECT directus_sync.alter_remote('c2', inbound_user => '8c1a3a3e-8f43-4d4e-b1a4-0b6a0c0d7e11');
\echo :LAST_ERROR_SQLSTATE

-- Subscriptions
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'status']);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND NOT tgisinternal ORDER BY tgname;
SELECT directus_sync.subscribe('c2', 'articles', ARRAY['title']);
SELECT directus_sync.subscribe('b', 'tags', ARRAY['label']);
TRUNCATE tags;                                                           -- subscribed
\echo :LAST_ERROR_SQLSTATE
SELECT name, subscriptions FROM directus_sync.remotes ORDER BY name;
SELECT collection, key_column, key_is_number, fields, singleton FROM directus_sync.subscription ORDER BY 1, 2;

SELECT directus_sync.subscribe('nope', 'articles', ARRAY['title']);      -- unknown remote
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'missing', ARRAY['title']);          -- unknown table
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'article_view', ARRAY['title']);     -- not a table
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'nope']); -- unknown field
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'articles', ARRAY['ctid']);          -- system column
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'title']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'articles', ARRAY[]::text[]);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'articles', ARRAY[NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'articles', ARRAY[['title'], ['body']]);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'no_key', ARRAY['b']);               -- no primary key
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'two_keys', ARRAY['label']);         -- composite key
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', NULL, ARRAY['title']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', '', ARRAY['title']);
\echo :LAST_ERROR_SQLSTATE

SELECT directus_sync.alter_remote('c2', url => 'https://elsewhere.example.com'); -- token needed too
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE parted (id integer PRIMARY KEY, label text) PARTITION BY RANGE (id);
SELECT directus_sync.subscribe('b', 'parted', ARRAY['label']);           -- partitioned
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE parent (id integer PRIMARY KEY, label text);
CREATE TABLE child () INHERITS (parent);
SELECT directus_sync.subscribe('b', 'parent', ARRAY['label']);           -- table inheritance
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE priced (id integer PRIMARY KEY, net numeric, gross numeric GENERATED ALWAYS AS (net * 2) STORED);
SELECT directus_sync.subscribe('b', 'priced', ARRAY['net', 'gross']);    -- generated column
\echo :LAST_ERROR_SQLSTATE

-- Fields each Directus fills itself (directus_fields.special, a comma-separated
-- list): every one of the five is refused, other specials are not.
CREATE TABLE directus_fields (id serial PRIMARY KEY, collection varchar(64) NOT NULL,
    field varchar(64) NOT NULL, special varchar(64));
CREATE TABLE stamped (id integer PRIMARY KEY, title text, created timestamptz, updated timestamptz,
    creator uuid, editor uuid, pass text, flag boolean, data json);
INSERT INTO directus_fields (collection, field, special) VALUES
    ('stamped', 'created', 'cast-timestamp,date-created'), ('stamped', 'updated', 'cast-timestamp,date-updated'),
    ('stamped', 'creator', 'user-created'), ('stamped', 'editor', 'user-updated'), ('stamped', 'pass', 'hash,conceal'),
    ('stamped', 'flag', 'cast-boolean'), ('stamped', 'data', 'cast-json'), ('stamped', 'title', NULL),
    ('other', 'title', 'date-created');
SELECT directus_sync.subscribe('b', 'stamped', ARRAY['title', 'created']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'stamped', ARRAY['updated', 'title']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'stamped', ARRAY['creator']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'stamped', ARRAY['editor']);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.subscribe('b', 'stamped', ARRAY['pass']);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS subscriptions FROM directus_sync.subscription WHERE collection = 'stamped';
SELECT directus_sync.subscribe('b', 'stamped', ARRAY['title', 'flag', 'data']);   -- other specials: fine
SELECT fields FROM directus_sync.subscription WHERE collection = 'stamped';
SELECT directus_sync.unsubscribe('b', 'stamped');
DROP TABLE directus_fields;

-- Subscribing again replaces the field list.
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body']);
SELECT fields FROM directus_sync.subscription WHERE collection = 'articles' AND remote_id = 1;

-- Unsubscribe: the trigger stays while another remote subscribes, the last one removes it.
SELECT directus_sync.unsubscribe('b', 'articles');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND tgname = 'directus_sync_capture';
SELECT directus_sync.unsubscribe('c2', 'articles');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND tgname = 'directus_sync_capture';
SELECT directus_sync.unsubscribe('c2', 'articles');                      -- not subscribed
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.unsubscribe('nope', 'articles');
\echo :LAST_ERROR_SQLSTATE

-- Operations on unknown remotes and collections.
SELECT directus_sync.pause('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.resume('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.resync('b', 'articles');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.replay('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.pause('b');
SELECT remote, paused, queued, in_flight, delivered, dead FROM directus_sync.remote_status ORDER BY 1;

-- No worker serves this database (contrib_regression is not in
-- directus_sync.databases, although the library is preloaded): wake says so.
SELECT directus_sync.wake();

-- Removing a remote removes its subscriptions and, with the last one, the trigger.
SELECT directus_sync.remove_remote('b');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'tags'::regclass AND tgname = 'directus_sync_capture';
SELECT directus_sync.remove_remote('b');
\echo :LAST_ERROR_SQLSTATE
SELECT name FROM directus_sync.remotes;

-- A collection Directus does not track (accountability null) and a remote
-- that writes to us (inbound_user): refused both ways round without clocks
-- (with them, t/071).
CREATE TABLE directus_collections (collection varchar(64) PRIMARY KEY, singleton boolean DEFAULT false,
    accountability varchar(255) DEFAULT 'all');
CREATE TABLE directus_activity (id serial PRIMARY KEY, "user" uuid, collection varchar(64), item varchar(255));
CREATE TABLE untracked (id integer PRIMARY KEY, title text);
INSERT INTO directus_collections VALUES ('untracked', false, NULL);
SELECT directus_sync.subscribe('c2', 'untracked', ARRAY['title'], clocks => false);
SELECT directus_sync.alter_remote('c2', inbound_user => '8c1a3a3e-8f43-4d4e-b1a4-0b6a0c0d7e11');
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.unsubscribe('c2', 'untracked');
SELECT directus_sync.alter_remote('c2', inbound_user => '8c1a3a3e-8f43-4d4e-b1a4-0b6a0c0d7e11');
SELECT directus_sync.subscribe('c2', 'untracked', ARRAY['title'], clocks => false);
\echo :LAST_ERROR_SQLSTATE
SELECT directus_sync.alter_remote('c2', clear_inbound_user => true);

-- Tokens: nowhere in the views.
SELECT count(*) AS views_showing_tokens FROM information_schema.columns
 WHERE table_schema = 'directus_sync' AND column_name = 'token' AND table_name <> 'remote';

DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map, articles, tags, no_key, two_keys, parted, parent, child, priced, stamped,
    directus_collections, directus_activity, untracked CASCADE;
