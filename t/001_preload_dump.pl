# A cluster with directus_sync in shared_preload_libraries: the library loads
# at server start, the extension works in a schema other than public, and a
# pg_dump/restore round trip (custom and plain formats) keeps every mapping.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('preload');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'directus_sync'");
$node->start;

unlike(slurp_file($node->logfile), qr/ERROR|FATAL|PANIC/, 'server started with the library, no error logged');

# Loaded at start: the module reserves the directus_sync.* prefix, so an
# unknown setting under it is refused instead of becoming a placeholder.
my ($ret, $out, $err) = $node->psql('postgres', 'SET directus_sync.no_such_setting = 1');
isnt($ret, 0, 'unknown directus_sync.* setting refused in a new session');
like($err, qr/invalid configuration parameter name/, '... because the preloaded module reserved the prefix');

# Directus configured with DB_SEARCH_PATH=cms keeps its tables in cms, owned
# by its own role; directus-extension-sync made the map table first. The
# extension adopts it, and the GRANT made with it (as README says) is what
# keeps directus-extension-sync working, also after a restore.
$node->safe_psql('postgres', 'CREATE ROLE directus LOGIN; CREATE DATABASE source');
$node->safe_psql('source', q{
	CREATE SCHEMA cms AUTHORIZATION directus;
	SET ROLE directus;
	CREATE TABLE cms.directus_sync_id_map (id serial PRIMARY KEY, "table" varchar(255) NOT NULL,
		sync_id varchar(255) NOT NULL, local_id varchar(255) NOT NULL, created_at timestamptz DEFAULT CURRENT_TIMESTAMP);
	ALTER TABLE cms.directus_sync_id_map ADD CONSTRAINT directus_sync_id_map_table_sync_id_unique UNIQUE ("table", sync_id);
	ALTER TABLE cms.directus_sync_id_map ADD CONSTRAINT directus_sync_id_map_table_local_id_unique UNIQUE ("table", local_id);
	CREATE INDEX directus_sync_id_map_created_at_index ON cms.directus_sync_id_map (created_at);
	INSERT INTO cms.directus_sync_id_map ("table", sync_id, local_id) VALUES ('flows', 'made-by-node', 'f-1');
	RESET ROLE;
	BEGIN;
	CREATE EXTENSION directus_sync SCHEMA cms;
	GRANT SELECT, INSERT, DELETE ON cms.directus_sync_id_map TO directus;
	GRANT USAGE ON SEQUENCE cms.directus_sync_id_map_id_seq TO directus;
	COMMIT;
	SELECT directus_sync.create_mapping('roles', 'b1c2d3e4-0000-4000-8000-00000000abcd', '_sync_default_admin_role');
	SELECT directus_sync.create_mapping('permissions', '17');
	SELECT directus_sync.create_mapping('items:articles', 'üñí-ключ-名前', repeat('s', 255));
	SELECT count(*) FROM directus_sync.create_mappings('items:bulk',
		ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g));
	SELECT directus_sync.delete_by_local_id('items:bulk', 'k2000');
	-- replication configuration: kept by pg_dump (no worker runs in this database)
	CREATE TABLE cms.articles (id integer PRIMARY KEY, title text);
	SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 'token-b', batch_max_items => 50);
	SELECT directus_sync.subscribe('b', 'articles', ARRAY['title']);
});
is($node->safe_psql('source', q{SELECT to_regclass('public.directus_sync_id_map') IS NULL
	AND to_regclass('cms.directus_sync_id_map') IS NOT NULL}),
	't', 'map table created in the schema given to CREATE EXTENSION');

# The whole map, ids and timestamps included, as one digest (a failure
# should not print thousands of rows).
my $map_query = q{SELECT count(*) || ' rows, ' || md5(string_agg(format('%s|%s|%s|%s|%s',
	id, "table", sync_id, local_id, created_at), E'\n' ORDER BY id)) FROM cms.directus_sync_id_map};
my $source_rows = $node->safe_psql('source', $map_query);
my $source_count = $node->safe_psql('source', 'SELECT count(*) FROM cms.directus_sync_id_map');
is($source_count, 2003, 'source holds every mapping');
# The last id (k2000) was deleted: the sequence is ahead of max(id).
my $source_seq = $node->safe_psql('source', 'SELECT last_value FROM cms.directus_sync_id_map_id_seq');
# The remotes as the superuser sees them, token included: a dump holds the
# tokens and a restore brings them back (docs/operations.md).
my $remotes_query = q{SELECT string_agg(format('%s|%s|%s|%s', name, url, token, batch_max_items), E'\n' ORDER BY name)
	FROM directus_sync.remote};
my $source_remotes = $node->safe_psql('source', $remotes_query);
is($source_remotes, 'b|http://127.0.0.1:9|token-b|50', 'source: the remote with its token');

# The output of SQL that should succeed, or its error: a failing check then
# shows as "not ok" with the error instead of ending the test file.
sub sql_or_error
{
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, on_error_stop => 1);
	return $ret == 0 ? $out : "error: $err";
}

my $dumpdir = PostgreSQL::Test::Utils::tempdir;
foreach my $format ('custom', 'plain')
{
	my $file = "$dumpdir/source.$format";
	my $target = "restored_$format";
	$node->command_ok([ 'pg_dump', "--format=$format", '--file', $file, '--dbname', $node->connstr('source') ],
		"pg_dump --format=$format");
	$node->safe_psql('postgres', "CREATE DATABASE $target");
	if ($format eq 'custom')
	{
		$node->command_ok([ 'pg_restore', '--exit-on-error', '--dbname', $node->connstr($target), $file ],
			'pg_restore of the custom dump, no error');
	}
	else
	{
		$node->command_ok([ 'psql', '--no-psqlrc', '--set', 'ON_ERROR_STOP=1', '--quiet',
			'--dbname', $node->connstr($target), '--file', $file ], 'psql restore of the plain dump, no error');
	}

	is($node->safe_psql($target, $map_query), $source_rows, "$format: every mapping back, ids and timestamps too");
	is($node->safe_psql($target, q{SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
		WHERE e.extname = 'directus_sync' AND d.objid = 'cms.directus_sync_id_map'::regclass AND d.deptype = 'e'}),
		'1', "$format: the table belongs to the extension again");
	is($node->safe_psql($target, q{SELECT sync_id FROM directus_sync.get_by_local_id('roles',
		'b1c2d3e4-0000-4000-8000-00000000abcd')}), '_sync_default_admin_role', "$format: API answers");
	# The sequence came back too: the next id follows the source's sequence.
	is(sql_or_error($target, q{SELECT directus_sync.create_mapping('roles', 'after-restore', 'sync-after-restore');
		SELECT id FROM directus_sync.get_by_local_id('roles', 'after-restore')}),
		"sync-after-restore\n" . ($source_seq + 1), "$format: sequence continues where the source's stood");
	is($node->safe_psql($target, q{SET ROLE directus;
		INSERT INTO cms.directus_sync_id_map ("table", sync_id, local_id) VALUES ('flows', 'node-after-restore', 'f-2');
		SELECT count(*) FROM cms.directus_sync_id_map WHERE "table" = 'flows'}),
		'2', "$format: Directus's role still reads and writes the map, as directus-extension-sync does");
	is($node->safe_psql($target, q{SELECT name || ' ' || batch_max_items || ' ' || subscriptions FROM directus_sync.remotes}),
		'b 50 {"articles": ["title"]}', "$format: remotes and subscriptions back");
	is($node->safe_psql($target, $remotes_query), $source_remotes, "$format: the remote's token is back too");
	is($node->safe_psql($target, q{INSERT INTO cms.articles VALUES (1, 'after restore');
		SELECT item_key || ' ' || op::text || ' ' || payload FROM directus_sync.outbox}),
		'1 c {"id":1,"title":"after restore"}', "$format: the capture trigger is back and queues changes");
}

# A dump of one schema or of the map table (pg_dump -n, -t) holds the map's
# rows but not CREATE EXTENSION; with -e directus_sync it holds both and
# restores into an empty database, sequence and remotes included
# (docs/operations.md, "pg_dump and restore").
my @partial = ([ 'schema', '-n', 'cms' ], [ 'table', '-t', 'cms.directus_sync_id_map' ]);
foreach my $p (@partial)
{
	my ($what, @selection) = @$p;
	my $file = "$dumpdir/source_$what.sql";
	$node->command_ok([ 'pg_dump', @selection, '--file', $file, '--dbname', $node->connstr('source') ],
		"pg_dump @selection");
	my $text = slurp_file($file);
	like($text, qr/^COPY cms\.directus_sync_id_map \(id, "table", sync_id, local_id, created_at\) FROM stdin;\n/m,
		"pg_dump @selection: holds the map's rows");
	unlike($text, qr/CREATE EXTENSION/, "pg_dump @selection: holds no CREATE EXTENSION");

	$file = "$dumpdir/source_${what}_e.sql";
	my $target = "restored_${what}_e";
	$node->command_ok([ 'pg_dump', @selection, '-e', 'directus_sync', '--file', $file,
		'--dbname', $node->connstr('source') ], "pg_dump @selection -e directus_sync");
	like(slurp_file($file), qr/^CREATE EXTENSION IF NOT EXISTS directus_sync WITH SCHEMA cms;$/m,
		"pg_dump @selection -e directus_sync: holds CREATE EXTENSION");
	$node->safe_psql('postgres', "CREATE DATABASE $target");
	# The table's dump creates no schema and no other table, but with -e it
	# holds the subscription to cms.articles, whose row names that table: the
	# target has them already, as a Directus database whose map is restored.
	$node->safe_psql($target, 'CREATE SCHEMA cms; CREATE TABLE cms.articles (id integer PRIMARY KEY, title text)')
	  if $what eq 'table';
	$node->command_ok([ 'psql', '--no-psqlrc', '--set', 'ON_ERROR_STOP=1', '--quiet',
		'--dbname', $node->connstr($target), '--file', $file ], "$what dump with -e: restored, no error");
	is($node->safe_psql($target, $map_query), $source_rows, "$what dump with -e: every mapping back, ids and timestamps too");
	is(sql_or_error($target, q{SELECT directus_sync.create_mapping('roles', 'after-restore', 'sync-after-restore');
		SELECT id FROM directus_sync.get_by_local_id('roles', 'after-restore')}),
		"sync-after-restore\n" . ($source_seq + 1), "$what dump with -e: sequence continues where the source's stood");
	is($node->safe_psql($target, $remotes_query), $source_remotes, "$what dump with -e: the remote and its token back");
}
# The other way the docs give: create the extension, then restore the dump
# of the table and its sequence into it. The table alone holds no sequence
# position: new mappings would take ids already used.
unlike(slurp_file("$dumpdir/source_table.sql"), qr/setval/, 'table dump without -e: no sequence position in it');
my $table_seq_file = "$dumpdir/source_table_seq.sql";
$node->command_ok([ 'pg_dump', '-t', 'cms.directus_sync_id_map', '-t', 'cms.directus_sync_id_map_id_seq',
	'--file', $table_seq_file, '--dbname', $node->connstr('source') ], 'pg_dump -t the map -t its sequence');
$node->safe_psql('postgres', 'CREATE DATABASE restored_table_into_extension');
$node->safe_psql('restored_table_into_extension', 'CREATE SCHEMA cms; CREATE EXTENSION directus_sync SCHEMA cms');
$node->command_ok([ 'psql', '--no-psqlrc', '--set', 'ON_ERROR_STOP=1', '--quiet',
	'--dbname', $node->connstr('restored_table_into_extension'), '--file', $table_seq_file ],
	'table and sequence dump without -e: restored into a database with the extension, no error');
is($node->safe_psql('restored_table_into_extension', $map_query), $source_rows,
	'table and sequence dump without -e, extension created first: every mapping back, ids and timestamps too');
is(sql_or_error('restored_table_into_extension',
		q{SELECT directus_sync.create_mapping('roles', 'after-restore', 'sync-after-restore');
		SELECT id FROM directus_sync.get_by_local_id('roles', 'after-restore')}),
	"sync-after-restore\n" . ($source_seq + 1),
	'table and sequence dump without -e: the sequence continues where the source\'s stood');

# pg_restore --clean into the same database drops and re-creates the
# extension. With the default setting the map is kept, so the restore stops
# at the schema that still holds it: it fails loudly and no mapping is lost;
# CREATE EXTENSION adopts the map again. With the setting off, as README
# says, the map returns to exactly what was dumped.
my $dump = "$dumpdir/source.custom";
$node->safe_psql('source', q{SELECT directus_sync.create_mapping('roles', 'made-after-dump')});
# It fails at the first DROP that meets the kept table: the schema cms.
$node->command_fails_like([ 'pg_restore', '--clean', '--if-exists', '--exit-on-error',
	'--dbname', $node->connstr('source'), $dump ],
	qr/ERROR:  cannot drop schema cms because other objects depend on it\nDETAIL:  table cms\.directus_sync_id_map depends on schema cms\n/,
	'pg_restore --clean with the map kept fails: the kept map holds its schema');
is($node->safe_psql('source', 'SELECT count(*) FROM cms.directus_sync_id_map'), $source_count + 1,
	'... and every mapping is still there');
$node->safe_psql('source', 'CREATE EXTENSION IF NOT EXISTS directus_sync SCHEMA cms');
{
	local $ENV{PGOPTIONS} = '-c directus_sync.keep_map_on_drop=off';
	$node->command_ok([ 'pg_restore', '--clean', '--if-exists', '--exit-on-error',
		'--dbname', $node->connstr('source'), $dump ], 'pg_restore --clean with keep_map_on_drop=off');
}
is($node->safe_psql('source', $map_query), $source_rows, '... gives back exactly the dumped map');

$node->stop;
done_testing();
