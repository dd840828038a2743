# The library itself: it exports only what PostgreSQL calls (the SQL-callable
# functions, _PG_init, the worker's entry point, the magic block), and its
# worker serves a database only when the extension there is at the version
# the library was built for, saying once why it waits otherwise.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The version the library was built for: the control file's default_version.
my ($library_version) = slurp_file('directus_sync.control')
  =~ /^default_version = '([^']+)'/m;
ok(defined $library_version, "the control file names the current version ($library_version)");

my $node = PostgreSQL::Test::Cluster->new('library');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'directus_sync'
directus_sync.databases = 'postgres'
directus_sync.poll_interval = 100
});
$node->start;

# ---------------------------------------------------------------------------
# Exported symbols

my $libdir = $node->config_data('--pkglibdir');
my @symbols = sort map { /^\S+ T (\S+)$/ ? $1 : () }
  split /\n/, `nm -D --defined-only $libdir/directus_sync.so`;
my @expected = sort qw(Pg_magic_func _PG_init directus_sync_worker_main directus_sync_launcher_main
  directus_sync_activity directus_sync_capture directus_sync_invalidate
  directus_sync_keep_map_on_drop directus_sync_wake directus_sync_wake_at_commit directus_sync_query_as_owner
  pg_finfo_directus_sync_activity pg_finfo_directus_sync_capture pg_finfo_directus_sync_invalidate
  pg_finfo_directus_sync_keep_map_on_drop pg_finfo_directus_sync_wake pg_finfo_directus_sync_wake_at_commit
  pg_finfo_directus_sync_query_as_owner directus_sync_hiding_statement pg_finfo_directus_sync_hiding_statement
  directus_sync_clock_tick directus_sync_clock_observe directus_sync_clock_time
  pg_finfo_directus_sync_clock_tick pg_finfo_directus_sync_clock_observe pg_finfo_directus_sync_clock_time
  directus_sync_app_token_hold directus_sync_app_token_take directus_sync_raise_hiding_statement
  pg_finfo_directus_sync_app_token_hold pg_finfo_directus_sync_app_token_take pg_finfo_directus_sync_raise_hiding_statement);
is_deeply(\@symbols, \@expected, 'the library exports exactly the entry points PostgreSQL calls')
  or diag("exported: @symbols");

# Every C function the install script names is among them.
$node->safe_psql('postgres', 'CREATE DATABASE probe');
$node->safe_psql('probe', 'CREATE EXTENSION directus_sync');
my @c_functions = split /\n/, $node->safe_psql('probe', q{
	SELECT DISTINCT p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	 WHERE l.lanname = 'c' AND p.probin LIKE '%directus_sync' ORDER BY 1});
my %exported = map { $_ => 1 } @symbols;
ok(@c_functions >= 8, 'the install script declares the C functions (' . scalar(@c_functions) . ')');
is(join(',', grep { !$exported{$_} } @c_functions), '', 'every C function of the install script is exported');

# ---------------------------------------------------------------------------
# The worker waits for the extension at the library's version

# A remote and a subscription at 0.2, a change queued for them; the remote
# is a closed port, so a worker that ships records a failure.
$node->safe_psql('postgres', q{
	CREATE EXTENSION directus_sync VERSION '0.1';
	ALTER EXTENSION directus_sync UPDATE TO '0.2';
	CREATE TABLE articles (id integer PRIMARY KEY, title text);
	SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't', connect_timeout_ms => 200);
	SELECT directus_sync.subscribe('b', 'articles', ARRAY['title']);
	INSERT INTO articles VALUES (1, 'queued at 0.2');
});
my $waiting = qr/extension "directus_sync" in database "postgres" is at version 0\.2, the library at \Q$library_version\E/;
ok(wait_for('the worker to say why it waits', sub { slurp_file($node->logfile) =~ $waiting }),
	'at 0.2 the worker logs that it waits for ALTER EXTENSION ... UPDATE');
like(slurp_file($node->logfile), qr/$waiting.*\n.*DETAIL:  The worker ships nothing from that database until they match\.\n.*HINT:  Run ALTER EXTENSION directus_sync UPDATE in that database\./,
	'... with a hint that says what to run');
sleep(1);    # ten poll intervals
my @said = slurp_file($node->logfile) =~ /$waiting/g;
is(scalar @said, 1, '... once, not at every poll');
is($node->safe_psql('postgres', 'SELECT count(*) FROM directus_sync.outbox'), '1',
	'... and ships nothing: the change stays queued');
is($node->safe_psql('postgres', q{SELECT last_error IS NULL FROM directus_sync.remote_status WHERE remote = 'b'}),
	't', '... with no delivery attempted');

$node->safe_psql('postgres', 'ALTER EXTENSION directus_sync UPDATE');
is($node->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'directus_sync'}),
	$library_version, 'ALTER EXTENSION ... UPDATE goes to the library version');
ok(wait_for('the worker to try the remote', sub {
		$node->safe_psql('postgres', q{SELECT last_error IS NOT NULL FROM directus_sync.remote_status WHERE remote = 'b'}) eq 't' }),
	'after the update the worker ships (and records the closed port as a failure)');

# A version change while the worker ships is seen at its next claim: the
# extension dropped and made again at 0.2 in one transaction.
my $log_offset = -s $node->logfile;
$node->safe_psql('postgres', q{
	BEGIN;
	DROP EXTENSION directus_sync;
	CREATE EXTENSION directus_sync VERSION '0.2';
	SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 't', connect_timeout_ms => 200);
	SELECT directus_sync.subscribe('b', 'articles', ARRAY['title']);
	COMMIT;
	INSERT INTO articles VALUES (2, 'queued at 0.2 again');
});
ok(wait_for('the worker to notice the version', sub { slurp_file($node->logfile, $log_offset) =~ $waiting }),
	'a running worker notices the extension went back to 0.2, and says so again');
sleep(1);
is($node->safe_psql('postgres', q{SELECT queued || ' queued, ' || coalesce(last_error, 'no error')
	FROM directus_sync.remote_status WHERE remote = 'b'}),
	'1 queued, no error', '... and ships nothing meanwhile');

$node->stop;
done_testing();
