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

# Directus configured with DB_SEARCH_PATH=cms keeps its tables in cms.
$node->safe_psql('postgres', 'CREATE DATABASE source');
$node->safe_psql('source', q{
	CREATE SCHEMA cms;
	CREATE EXTENSION directus_sync SCHEMA cms;
	SELECT directus_sync.create_mapping('roles', 'b1c2d3e4-0000-4000-8000-00000000abcd', '_sync_default_admin_role');
	SELECT directus_sync.create_mapping('permissions', '17');
	SELECT directus_sync.create_mapping('items:articles', 'üñí-ключ-名前', repeat('s', 255));
	SELECT count(*) FROM directus_sync.create_mappings('items:bulk',
		ARRAY(SELECT 'k' || g FROM generate_series(1, 2000) g));
	SELECT directus_sync.delete_by_local_id('items:bulk', 'k2000');
});
is($node->safe_psql('source', q{SELECT to_regclass('public.directus_sync_id_map') IS NULL
	AND to_regclass('cms.directus_sync_id_map') IS NOT NULL}),
	't', 'map table created in the schema given to CREATE EXTENSION');

my $map_query = q{SELECT id, "table", sync_id, local_id, created_at FROM cms.directus_sync_id_map ORDER BY id};
my $source_rows = $node->safe_psql('source', $map_query);
my $source_count = $node->safe_psql('source', 'SELECT count(*) FROM cms.directus_sync_id_map');
is($source_count, 2002, 'source holds every mapping');
# The last id (k2000) was deleted: the sequence is ahead of max(id).
my $source_seq = $node->safe_psql('source', 'SELECT last_value FROM cms.directus_sync_id_map_id_seq');

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
	is($node->safe_psql($target, q{SELECT directus_sync.create_mapping('roles', 'after-restore', 'sync-after-restore');
		SELECT id FROM directus_sync.get_by_local_id('roles', 'after-restore')}),
		"sync-after-restore\n" . ($source_seq + 1), "$format: sequence continues where the source's stood");
}

$node->stop;
done_testing();
