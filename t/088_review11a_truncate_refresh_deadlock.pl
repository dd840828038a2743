# Review 11a: review 9 #5 made TRUNCATE of directus_sync.dead_letter wait
# for a fold of dead_letter_count under way (its trigger takes
# dead_letter_count IN EXCLUSIVE MODE, after the TRUNCATE's ACCESS
# EXCLUSIVE lock on dead_letter). The app status refresh folds the counts
# first (row locks on dead_letter_count) and reads dead_letter after, in
# the same transaction: a TRUNCATE arriving between the two deadlocked.
# The fold now takes ACCESS SHARE on dead_letter first (same lock order).
# Checked: a TRUNCATE arriving after the fold waits for the refresh, both
# end without an error, and dead = 0 after. Failed before the fix
# ("deadlock detected" in the TRUNCATE, which rolled back: dead stayed 3).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# No worker (no database named): a worker refreshes the app status, and
# folds the counts, as it starts; under load one folded the rows below
# between their writes and the test's refresh.
my $node = new_sync_node('review11a_truncate_refresh_deadlock', extra_conf => qq{
directus_sync.databases = ''
deadlock_timeout = 200ms
});
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE ROLE r11t_directus; ALTER SCHEMA public OWNER TO r11t_directus});
my $fixture = slurp_file('t/directus12_system.sql');
sql("SET ROLE r11t_directus;\n$fixture\nRESET ROLE;");
sql(q{SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 'tok-b', enabled => false)});
sql(q{SET client_min_messages = warning; SELECT directus_sync.enable_app_status()});
is(sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'directus_sync%'}), '0',
	'no launcher and no worker (diagnostic)');
# three statements: three rows of dead_letter_count for remote b, to fold
for my $i (1 .. 3)
{
	sql(qq{INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, queued_at)
		SELECT $i, id, 'articles', '$i', 'c', now() FROM directus_sync.remote WHERE name = 'b'});
}
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter_count}), '3', 'three count rows to fold (diagnostic)');

my $refresh = $node->background_psql('postgres', on_error_stop => 0);
my $admin = $node->background_psql('postgres', on_error_stop => 0);
# the refresh's first step (what _app_status_refresh does first), in its transaction
$refresh->query_safe(q{BEGIN; SELECT directus_sync._fold_dead_counts()});
$admin->query_until(qr/truncating\n/, "\\echo truncating\nTRUNCATE directus_sync.dead_letter;\n\\echo truncated\n");
ok(wait_for('the TRUNCATE to wait for the fold', sub {
	sql(q{SELECT count(*) FROM pg_stat_activity
		WHERE query LIKE 'TRUNCATE directus_sync.dead_letter%' AND wait_event_type = 'Lock'}) eq '1';
}), 'the TRUNCATE waits for the fold (diagnostic)');
# the rest of the refresh, in the same transaction
my ($out, $err) = ('', '');
$out = $refresh->query(q{SELECT directus_sync._app_status_refresh() IS NOT NULL AS refreshed; COMMIT});
$err = $refresh->{stderr};
# (either may be the one cancelled: the detector runs in whichever waits longer than deadlock_timeout)
unlike($err, qr/deadlock/, 'the refresh ends without a deadlock') or diag($err);
my $tout = $admin->query_until(qr/truncated\n/, '');
unlike($admin->{stderr}, qr/ERROR/, 'the TRUNCATE ends without an error') or diag($admin->{stderr});
$refresh->quit;
$admin->quit;
is(sql(q{SELECT dead FROM directus_sync.remote_status WHERE remote = 'b'}), '0', 'dead = 0 after the TRUNCATE');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
