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
SELECT directus_sync.add_remote('c', 'ftp://c.example.com', 'secret-token-c');      -- not http(s)
SELECT directus_sync.add_remote('c', 'file:///etc/passwd', 'secret-token-c');
SELECT directus_sync.add_remote('c', 'https://user:pw@c.example.com', 'secret-token-c');  -- credentials in URL
SELECT directus_sync.add_remote('c', 'https://c.example.com?x=1', 'secret-token-c');
SELECT directus_sync.add_remote('c', NULL, 'secret-token-c');
SELECT directus_sync.add_remote('c', 'https://c.example.com', '');                  -- empty token
SELECT directus_sync.add_remote('c', 'https://c.example.com', 'two words');         -- never echoed
SELECT directus_sync.add_remote('', 'https://c.example.com', 't');
SELECT directus_sync.add_remote(NULL, 'https://c.example.com', 't');
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', batch_max_items => 0);
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', batch_max_bytes => 10);
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', request_timeout_ms => -1);
SELECT directus_sync.add_remote('c', 'https://c.example.com', 't', notify_users => ARRAY[NULL]::uuid[]);
SELECT directus_sync.add_remote('c', 'http://c.example.com:8055', 'tc',
                                notify_users => ARRAY['8c1a3a3e-8f43-4d4e-b1a4-0b6a0c0d7e11']::uuid[]) AS id;

SELECT directus_sync.alter_remote('c', url => 'gopher://c');
SELECT directus_sync.alter_remote('nope', enabled => false);
SELECT directus_sync.alter_remote('c', new_name => 'b');
SELECT directus_sync.alter_remote('c', batch_max_items => 50, paused => true);     -- no such setting
SELECT directus_sync.alter_remote('c', batch_max_items => 50, new_name => 'c2');
SELECT name, url, batch_max_items, notify_users FROM directus_sync.remotes ORDER BY name;

-- Loop prevention needs Directus's activity table.
SELECT directus_sync.alter_remote('c2', inbound_user => '8c1a3a3e-8f43-4d4e-b1a4-0b6a0c0d7e11');

-- Subscriptions
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'status']);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND NOT tgisinternal;
SELECT directus_sync.subscribe('c2', 'articles', ARRAY['title']);
SELECT directus_sync.subscribe('b', 'tags', ARRAY['label']);
SELECT name, subscriptions FROM directus_sync.remotes ORDER BY name;
SELECT collection, key_column, key_is_number, fields, singleton FROM directus_sync.subscription ORDER BY 1, 2;

SELECT directus_sync.subscribe('nope', 'articles', ARRAY['title']);      -- unknown remote
SELECT directus_sync.subscribe('b', 'missing', ARRAY['title']);          -- unknown table
SELECT directus_sync.subscribe('b', 'article_view', ARRAY['title']);     -- not a table
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'nope']); -- unknown field
SELECT directus_sync.subscribe('b', 'articles', ARRAY['ctid']);          -- system column
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'title']);
SELECT directus_sync.subscribe('b', 'articles', ARRAY[]::text[]);
SELECT directus_sync.subscribe('b', 'articles', ARRAY[NULL]);
SELECT directus_sync.subscribe('b', 'articles', ARRAY[['title'], ['body']]);
SELECT directus_sync.subscribe('b', 'no_key', ARRAY['b']);               -- no primary key
SELECT directus_sync.subscribe('b', 'two_keys', ARRAY['label']);         -- composite key
SELECT directus_sync.subscribe('b', NULL, ARRAY['title']);

SELECT directus_sync.alter_remote('c2', url => 'https://elsewhere.example.com'); -- token needed too
CREATE TABLE parted (id integer PRIMARY KEY, label text) PARTITION BY RANGE (id);
SELECT directus_sync.subscribe('b', 'parted', ARRAY['label']);           -- partitioned

-- Subscribing again replaces the field list.
SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body']);
SELECT fields FROM directus_sync.subscription WHERE collection = 'articles' AND remote_id = 1;

-- Unsubscribe: the trigger stays while another remote subscribes, the last one removes it.
SELECT directus_sync.unsubscribe('b', 'articles');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND tgname = 'directus_sync_capture';
SELECT directus_sync.unsubscribe('c2', 'articles');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND tgname = 'directus_sync_capture';
SELECT directus_sync.unsubscribe('c2', 'articles');                      -- not subscribed
SELECT directus_sync.unsubscribe('nope', 'articles');

-- Operations on unknown remotes and collections.
SELECT directus_sync.pause('nope');
SELECT directus_sync.resume('nope');
SELECT directus_sync.resync('b', 'articles');
SELECT directus_sync.replay('nope');
SELECT directus_sync.pause('b');
SELECT remote, paused, queued, in_flight, delivered, dead FROM directus_sync.remote_status ORDER BY 1;

-- Without the library preloaded no worker runs: wake says so.
SELECT directus_sync.wake();

-- Removing a remote removes its subscriptions and, with the last one, the trigger.
SELECT directus_sync.remove_remote('b');
SELECT count(*) AS capture_triggers FROM pg_trigger WHERE tgrelid = 'tags'::regclass AND tgname = 'directus_sync_capture';
SELECT directus_sync.remove_remote('b');
SELECT name FROM directus_sync.remotes;

-- Tokens: nowhere in the views.
SELECT count(*) AS views_showing_tokens FROM information_schema.columns
 WHERE table_schema = 'directus_sync' AND column_name = 'token' AND table_name <> 'remote';

DROP EXTENSION directus_sync;
DROP TABLE directus_sync_id_map, articles, tags, no_key, two_keys, parted CASCADE;
