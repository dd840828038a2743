# Review 7: Directus's role may hold a lock on an app status table for as
# long as it likes: it owns Directus's schema, so it may DROP one of the
# tables (an admin deleting the collection in the app, a schema apply whose
# snapshot lacks it, or a hostile session) and keep its transaction open.
# The worker's refresh (LOCK TABLE sync_remotes_status, in the worker's
# loop) gives up on such a lock after 100 ms (lock_timeout, spi_run_nowait
# in src/worker_txn.c), is skipped until a later round, and the changes
# queued for the remotes of the database are still delivered. (Failed
# before the fix: the refresh waited without a timeout, and every delivery
# of the database with it.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('review7_app_status_lock_stall', extra_conf => qq{
directus_sync.app_status_interval = 500
});
sub sql { return run_sql($node, $_[0]) }

# Directus's role owns the schema and Directus's tables (Directus 12's fixture).
sql(q{CREATE ROLE r7_directus LOGIN; ALTER SCHEMA public OWNER TO r7_directus});
my $fixture = slurp_file('t/directus12_system.sql');
sql("SET ROLE r7_directus;\n$fixture\n"
	. "CREATE TABLE articles (id serial PRIMARY KEY, title text);\n"
	. "INSERT INTO directus_collections (collection, accountability) VALUES ('articles', NULL);\n"
	. "RESET ROLE;");

my $fake = start_fake(token => 'tok-b', collections => { articles => { pk => 'id' } });
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'tok-b')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], clocks => false)});
sql(q{SET client_min_messages = warning; SELECT directus_sync.enable_app_status()});

sql(q{INSERT INTO articles (title) SELECT 'before ' || g FROM generate_series(1, 3) g});
ok(wait_for('the first three delivered', sub { @{ fake_items($fake, 'articles') } == 3 }, timeout => 30),
	'before: the worker delivers');
ok(wait_for('the app status to show them', sub {
	sql(q{SELECT delivered FROM sync_remotes_status WHERE remote = 'b'}) eq '3' }, timeout => 30),
	'before: the app status follows');

# Directus's role drops a status table and keeps its transaction open.
my $directus = $node->background_psql('postgres');
$directus->query_safe(q{SET ROLE r7_directus; BEGIN; DROP TABLE sync_remotes_status});

# The worker's next refresh (at once when idle after deliveries, else every
# app_status_interval) meets the lock.
ok(wait_for('the worker to refresh', sub {
	sql(q{SELECT count(*) FROM pg_stat_activity
		WHERE backend_type LIKE '%directus_sync%' AND wait_event_type = 'Lock'}) ne '0' }, timeout => 20),
	'the worker\'s refresh waits for the lock of Directus\'s role (diagnostic)');
sql(q{INSERT INTO articles (title) SELECT 'during ' || g FROM generate_series(1, 3) g});
ok(wait_for('the next three delivered', sub { @{ fake_items($fake, 'articles') } == 6 }, timeout => 20),
	'while Directus\'s role holds the table: the worker still delivers')
  or diag('outbox: ' . sql(q{SELECT count(*) FROM directus_sync.outbox}) . '; waiting for a lock: '
	. sql(q{SELECT string_agg(backend_type || ': ' || left(query, 60), '; ')
		FROM pg_stat_activity WHERE wait_event_type = 'Lock'}));

$directus->query_safe('ROLLBACK');
$directus->quit;
ok(wait_for('all six delivered', sub { @{ fake_items($fake, 'articles') } == 6 }, timeout => 30),
	'after the rollback: all delivered');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
