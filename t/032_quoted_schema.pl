# The extension in a schema whose name needs quoting ("Cms": mixed case).
# The install and upgrade scripts get @extschema@ already quoted ("Cms"), so
# SQL built from it must use it as it is, never quote it again (%I). Here,
# in a database of its own with a worker: subscribe, capture, shipping to
# the fake Directus, resync, the check of the fields Directus fills itself,
# and the loop guard on "Cms".directus_activity; then the same schema
# reached by the upgrade scripts from 0.1.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('quoted_schema');
$node->safe_psql('postgres', 'CREATE DATABASE cms');
$node->append_conf('postgresql.conf', "directus_sync.databases = 'postgres, cms'");
$node->restart;
sub sql { return run_sql($node, $_[0], 'cms') }

sql(q{
	CREATE SCHEMA "Cms";
	CREATE EXTENSION directus_sync SCHEMA "Cms";
	CREATE TABLE "Cms".articles (id int PRIMARY KEY, title text, created timestamptz);
	CREATE TABLE public.articles (id int PRIMARY KEY, title text);
});
is(sql(q{SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'directus_sync'}), '"Cms"',
	'the extension is in schema "Cms"');
is(sql(q{SELECT to_regclass('"Cms".directus_sync_id_map') IS NOT NULL}), 't', 'the map table is in "Cms"');

sql("SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}')");
sql(q{SELECT directus_sync.pause('b')});
# (without clocks: b gets an inbound user below, and this test is about the schema)
my ($ret, $out, $err) = $node->psql('cms', q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], clocks => false)});
is($ret, 0, 'subscribe finds the table in "Cms"') or diag($err);
is(sql(q{SELECT relid::regclass FROM directus_sync.subscription}), '"Cms".articles',
	'the subscription is of "Cms".articles, not public.articles');
is(sql(q{SELECT tgenabled FROM pg_trigger WHERE tgrelid = '"Cms".articles'::regclass AND tgname = 'directus_sync_capture'}),
	'A', 'the capture trigger is on "Cms".articles');

sql(q{INSERT INTO "Cms".articles VALUES (1, 'one'), (2, 'two'); INSERT INTO public.articles VALUES (3, 'not subscribed')});
is(sql(q{SELECT string_agg(format('%s %s %s %s', collection, item_key, op, payload), E'\n' ORDER BY id) FROM directus_sync.outbox}),
	qq{articles 1 c {"id":1,"title":"one"}\narticles 2 c {"id":2,"title":"two"}},
	'an insert into "Cms".articles is queued');

sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b', db => 'cms'), 'shipped');
compare_items(fake_items($fake, 'articles'), [ { id => 1, title => 'one' }, { id => 2, title => 'two' } ], 'id',
	'the fake holds the rows of "Cms".articles');

# Resync: an item deleted on the remote comes back.
is(api_request($fake, 'DELETE', '/items/articles/2')->{status}, 204, 'an item deleted on the remote');
is(sql(q{SELECT directus_sync.resync('b', 'articles')}), '2', 'resync counts the rows of "Cms".articles');
ok(wait_drained($node, 'b', db => 'cms'), 'resync shipped');
compare_items(fake_items($fake, 'articles'), [ { id => 1, title => 'one' }, { id => 2, title => 'two' } ], 'id',
	'resync: the fake holds every row again');

# Directus's own tables are found in "Cms" too.
sql(q{
	CREATE TABLE "Cms".directus_fields (id serial PRIMARY KEY, collection varchar(64), field varchar(64), special varchar(64));
	INSERT INTO "Cms".directus_fields (collection, field, special) VALUES ('articles', 'created', 'date-created');
	CREATE TABLE "Cms".directus_activity (id serial PRIMARY KEY, action varchar(45) NOT NULL, "user" uuid,
		timestamp timestamptz DEFAULT now(), collection varchar(64) NOT NULL, item varchar(255) NOT NULL);
});
($ret, $out, $err) = $node->psql('cms', q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'created'])});
like($err, qr/field "created" of collection "articles" is set by each Directus instance itself/,
	'"Cms".directus_fields is read: a date-created field is refused');
sql(q{SELECT directus_sync.alter_remote('b', inbound_user => '11111111-1111-1111-1111-111111111111')});
is(sql(q{SELECT tgenabled FROM pg_trigger WHERE tgrelid = '"Cms".directus_activity'::regclass AND tgname = 'directus_sync_loop_guard'}),
	'A', 'the loop guard is on "Cms".directus_activity');
sql(q{SELECT directus_sync.pause('b');
	BEGIN;
	UPDATE "Cms".articles SET title = 'from b' WHERE id = 1;
	INSERT INTO "Cms".directus_activity (action, "user", collection, item)
	VALUES ('update', '11111111-1111-1111-1111-111111111111', 'articles', '1');
	COMMIT;});
is(outbox_count($node, 'b', 'cms'), '0', 'the loop guard keeps b\'s own change from going back to it');

# The other road to 0.3: 0.1 in "Cms", then the upgrade scripts (no worker
# in this database: the queue stays as written).
$node->safe_psql('postgres', 'CREATE DATABASE cms_up');
run_sql($node, q{
	CREATE SCHEMA "Cms";
	CREATE EXTENSION directus_sync SCHEMA "Cms" VERSION '0.1';
	ALTER EXTENSION directus_sync UPDATE;
	CREATE TABLE "Cms".articles (id int PRIMARY KEY, title text);
	SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't');
}, 'cms_up');
($ret, $out, $err) = $node->psql('cms_up', q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
is($ret, 0, 'updated from 0.1: subscribe finds the table in "Cms"') or diag($err);
run_sql($node, q{INSERT INTO "Cms".articles VALUES (1, 'one')}, 'cms_up');
is(run_sql($node, q{SELECT format('%s %s', collection, payload) FROM directus_sync.outbox}, 'cms_up'),
	'articles {"id":1,"title":"one"}', 'updated from 0.1: an insert into "Cms".articles is queued');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
