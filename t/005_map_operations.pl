# The SyncID map's operational promises that need clusters of their own
# (docs/sql-api.md, docs/operations.md, docs/settings.md):
# - remove_permission_duplicates' dry run works on a hot standby and returns
#   what it returns on the primary; the real run there fails cleanly with a
#   read-only error (25006) and changes nothing;
# - in single-user mode event triggers do not fire, so DROP EXTENSION takes
#   the map along, and SELECT directus_sync._detach_map() before it keeps it
#   with every row (a later CREATE EXTENSION adopts it again);
# - without shared_preload_libraries, the directus_sync.* prefix is reserved
#   once the library is loaded in a session: by a call of its C code (wake(),
#   the capture trigger), not by the map functions, which are PL/pgSQL.
# None of these clusters preloads the library.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The whole map, every column of every row in id order, as one digest.
my $map_digest = q{SELECT count(*) || ' rows ' || md5(string_agg(format('%s|%s|%s|%s|%s',
	id, "table", sync_id, local_id, created_at), E'\n' ORDER BY id)) FROM directus_sync_id_map};

# The output of SQL that should succeed, or its error: a failing check shows
# as "not ok" with the error instead of ending the test file.
sub sql
{
	my ($node, $db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql, on_error_stop => 1);
	return $ret == 0 ? $out : "error: $err";
}

# psql's error of a statement that must fail, as "SQLSTATE: message".
sub sql_error
{
	my ($node, $db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY verbose\n$sql");
	return $ret == 0 ? "no error: $out" : ($err =~ /ERROR:\s+(\w{5}: [^\n]*)/ ? $1 : $err);
}

# ---------------------------------------------------------------------------
# remove_permission_duplicates on a hot standby

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', 'CREATE DATABASE directus');
# Directus 11's tables (as in 12.4.0): one policy with a group of three
# duplicates, another with a pair, and a unique row.
$primary->safe_psql('directus', q{
	CREATE TABLE directus_policies (
		id uuid PRIMARY KEY, name varchar(100) NOT NULL, icon varchar(64) NOT NULL DEFAULT 'badge',
		description text, ip_access text, enforce_tfa boolean NOT NULL DEFAULT false,
		admin_access boolean NOT NULL DEFAULT false, app_access boolean NOT NULL DEFAULT false);
	CREATE TABLE directus_permissions (
		id serial PRIMARY KEY, collection varchar(64) NOT NULL, action varchar(10) NOT NULL,
		permissions json, validation json, presets json, fields text,
		policy uuid NOT NULL REFERENCES directus_policies (id) ON DELETE CASCADE);
	INSERT INTO directus_policies (id, name) VALUES
		('aaaaaaaa-0000-4000-8000-000000000001', 'Editors'),
		('aaaaaaaa-0000-4000-8000-000000000002', 'Viewers');
	INSERT INTO directus_permissions (policy, collection, action, fields) VALUES
		('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', '*'),
		('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', '*'),
		('aaaaaaaa-0000-4000-8000-000000000001', 'articles', 'read', '*'),
		('aaaaaaaa-0000-4000-8000-000000000002', 'articles', 'read', '*'),
		('aaaaaaaa-0000-4000-8000-000000000002', 'articles', 'read', '*'),
		('aaaaaaaa-0000-4000-8000-000000000002', 'articles', 'update', '*');
	CREATE EXTENSION directus_sync;
});
my $groups = q{SELECT string_agg(format('%s %s %s kept %s deleted %s', policy, collection, action, kept_id, deleted_ids),
	E'\n' ORDER BY policy) FROM directus_sync.remove_permission_duplicates(dry_run => true)};
my $on_primary = $primary->safe_psql('directus', $groups);
is($on_primary, "aaaaaaaa-0000-4000-8000-000000000001 articles read kept 3 deleted {1,2}\n"
	. "aaaaaaaa-0000-4000-8000-000000000002 articles read kept 5 deleted {4}",
	'primary: the dry run finds the two groups');

$primary->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'backup', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is(sql($standby, 'directus', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is(sql($standby, 'directus', $groups), $on_primary, 'standby: the dry run returns the same groups');
is(sql_error($standby, 'directus', 'SELECT * FROM directus_sync.remove_permission_duplicates()'),
	'25006: cannot execute LOCK TABLE during recovery',
	'standby: the real run fails with a read-only error (25006) at its lock');
is(sql($standby, 'directus', 'SELECT count(*) FROM directus_permissions'), 6, 'standby: nothing deleted');
# The same real run on the primary, in a read-only transaction.
is(sql_error($primary, 'directus', "BEGIN TRANSACTION READ ONLY;\nSELECT * FROM directus_sync.remove_permission_duplicates();"),
	'25006: cannot execute SELECT in a read-only transaction',
	'primary, read-only transaction: the real run fails with 25006 too (at its DELETE)');
is(sql($primary, 'directus', 'SELECT count(*) FROM directus_sync.remove_permission_duplicates()'), 2,
	'primary: the real run removes the two groups');
$primary->wait_for_catchup($standby);
is(sql($standby, 'directus', "SELECT string_agg(id::text, ',' ORDER BY id) FROM directus_permissions"),
	'3,5,6', 'standby: after replay, the rows the primary kept');
$standby->stop;
$primary->stop;

# ---------------------------------------------------------------------------
# Single-user mode: no event trigger, so _detach_map() first

my $single = PostgreSQL::Test::Cluster->new('single');
$single->init;
$single->start;
my %digest;
foreach my $db (qw(detached control))
{
	$single->safe_psql('postgres', "CREATE DATABASE $db");
	$single->safe_psql($db, q{CREATE EXTENSION directus_sync;
		SELECT count(*) FROM directus_sync.create_mappings('items:articles', ARRAY(SELECT 'k' || g FROM generate_series(1, 100) g));
		SELECT directus_sync.create_mapping('roles', 'r1', '_sync_default_admin_role')});
	$digest{$db} = $single->safe_psql($db, $map_digest);
	like($digest{$db}, qr/^101 rows /, "$db: 101 mappings");
}
$single->stop;

# Runs SQL lines in single-user mode; returns (ok, output).
sub single_user
{
	my ($db, $sql) = @_;
	my ($out, $err);
	# log_min_messages = notice: a stand-alone backend writes NOTICEs to its log (stderr) only.
	my $ok = IPC::Run::run([ 'postgres', '--single', '-D', $single->data_dir, '-F', '-c', 'exit_on_error=true',
			'-c', 'log_min_messages=notice', $db ],
		'<', \$sql, '>', \$out, '2>', \$err, IPC::Run::timeout(120));
	return ($ok, ($out // '') . ($err // ''));
}

my ($ok, $out) = single_user('detached', "SELECT directus_sync._detach_map();\nDROP EXTENSION directus_sync;\n");
ok($ok, 'single-user mode: _detach_map() and DROP EXTENSION run') or diag($out);
like($out, qr/NOTICE:  table public\.directus_sync_id_map keeps its 101 mappings after DROP EXTENSION directus_sync/,
	'... _detach_map() says it keeps the map');
($ok, $out) = single_user('control', "DROP EXTENSION directus_sync;\n");
ok($ok, 'single-user mode: DROP EXTENSION alone runs') or diag($out);
unlike($out, qr/keeps its/, '... and nothing says the map is kept: the event trigger did not fire');

$single->start;
is(sql($single, 'detached', q{SELECT count(*) FROM pg_extension WHERE extname = 'directus_sync'}), 0,
	'detached: the extension is gone');
is(sql($single, 'detached', $map_digest), $digest{detached}, 'detached: the map stayed, every row as it was');
is(sql($single, 'control', q{SELECT to_regclass('public.directus_sync_id_map') IS NULL}), 't',
	'control: without _detach_map() the map went with the extension');
sql($single, 'detached', 'CREATE EXTENSION directus_sync');
is(sql($single, 'detached', q{SELECT sync_id FROM directus_sync.get_by_local_id('roles', 'r1')}),
	'_sync_default_admin_role', 'detached: CREATE EXTENSION adopts the kept map again');
is(sql($single, 'detached', $map_digest), $digest{detached}, '... with every row as it was');
$single->stop;

# ---------------------------------------------------------------------------
# The directus_sync.* prefix without preloading

my $plain = PostgreSQL::Test::Cluster->new('no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', q{CREATE EXTENSION directus_sync;
	CREATE TABLE articles (id integer PRIMARY KEY, title text);
	SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 'token-b');
	SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
is(sql($plain, 'postgres', 'SHOW shared_preload_libraries'), '', 'no library preloaded');

# Each case runs in a new session (psql), so starts without the library.
is(sql($plain, 'postgres', "SET directus_sync.no_such = 1;\nSHOW directus_sync.no_such"), 1,
	'before the library is loaded, a misspelled directus_sync.* setting is a placeholder');
like(sql($plain, 'postgres', q{SELECT count(*) FROM directus_sync.get_all('roles');
	SELECT directus_sync.create_mapping('roles', 'r1');
	SET directus_sync.no_such = 1; SHOW directus_sync.no_such}), qr/^0\n[0-9a-f-]{36}\n1$/,
	'the map functions (PL/pgSQL) do not load the library: still a placeholder after them');
foreach my $case ([ 'wake()', 'SELECT directus_sync.wake()' ],
	[ 'the capture trigger', q{INSERT INTO articles VALUES (1, 'one')} ])
{
	my ($what, $call) = @$case;
	my ($ret, $stdout, $stderr) = $plain->psql('postgres', "\\set VERBOSITY verbose\n$call;\nSET directus_sync.no_such = 1;");
	like($stderr, qr/ERROR:  42602: invalid configuration parameter name "directus_sync\.no_such"\nDETAIL:  "directus_sync" is a reserved prefix\./,
		"after $what (C code) in the session, a misspelled directus_sync.* setting is an error (42602)");
}
# A placeholder set before the library loads is removed, with a WARNING.
{
	my ($ret, $stdout, $stderr) = $plain->psql('postgres',
		"SET directus_sync.no_such = 1;\nSELECT directus_sync.wake();\nSHOW directus_sync.no_such;");
	like($stderr, qr/WARNING:  invalid configuration parameter name "directus_sync\.no_such", removing it\nDETAIL:  "directus_sync" is now a reserved prefix\./,
		'a placeholder set before the library loads is removed with a WARNING');
	like($stderr, qr/ERROR:  unrecognized configuration parameter "directus_sync\.no_such"/, '... and is gone');
}
$plain->stop;

done_testing();
