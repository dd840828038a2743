# A worker that starts while remote_state.in_flight > 0 holds that remote
# for request_timeout_ms (src/worker_txn.c hold_unanswered), in a
# transaction of its own. A hold that fails (cancelled, a deadlock, any
# error) is tried again at the next round, and nothing is sent before it
# is done: a request of the dead worker's window still on its way must not
# land after a newer change of its item. (An adversarial review found that
# a failed hold was taken as done, and the worker resent at once.) Here the
# hold waits for a session's lock on remote_state, a DBA cancels the
# waiting query, and the lock goes.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $fake = start_fake(collections => { a1 => { pk => 'id' } });
# No worker visits at the poll (the test nodes poll every 0.5 s): a worker
# that came between the test's check that none is there and its UPDATE of
# in_flight held nothing, then waited for the lock while claiming (seen
# under load, on PostgreSQL 17 and 18 in CI). Commits and resume() still
# start one at once.
my $node = new_sync_node('hold_fails', extra_conf => "directus_sync.poll_interval = '1h'\n");
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE a1 (id int PRIMARY KEY, title text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}', request_timeout_ms => 30000)");
sql(q{SELECT directus_sync.subscribe('b', 'a1', ARRAY['title'])});
sql(q{INSERT INTO a1 VALUES (100, 'warm-up')});
ok(wait_drained($node, 'b'), 'warm-up delivered');
my $worker_pid_sql = q{SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'};
ok(wait_for('the worker to leave', sub { sql($worker_pid_sql) == 0 }, timeout => 30), 'the idle worker left');

# As a worker that died mid-window leaves it: a window in flight. Round 1
# (control): the hold waits for the lock and then holds the remote. Round 2:
# the waiting hold is cancelled.
for my $round (1, 2)
{
	my $id = $round;
	ok(wait_for('the worker to leave', sub { sql($worker_pid_sql) == 0 }, timeout => 30),
		"round $round: the idle worker left");
	sql(q{UPDATE directus_sync.remote_state SET in_flight = 1});
	my $lock = $node->background_psql('postgres');
	$lock->query_safe(q{BEGIN; SELECT remote_id FROM directus_sync.remote_state FOR UPDATE});
	sql("INSERT INTO a1 VALUES ($id, 'queued after the window left unanswered')");
	my $pid;
	ok(wait_for('the hold to wait', sub {
		$pid = sql(q{SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'
			AND wait_event_type = 'Lock' AND query = 'waiting for requests left on their way'}) }, timeout => 30),
		"round $round: the new worker's hold waits for the lock");
	if ($round == 2)
	{
		is(sql("SELECT pg_cancel_backend($pid)"), 't', "round $round: its query is cancelled");
		sleep(0.5);
	}
	$lock->query_safe('COMMIT');
	$lock->quit;

	my $t0 = time;
	my $early = wait_for("item $id", sub { exists fake_item_map($fake, 'a1', 'id')->{$id} }, timeout => 5);
	ok(!$early, "round $round: the remote waits for the unanswered window (request_timeout_ms 30 s): nothing sent within 5 s")
		or diag(sprintf("item $id arrived %.1f s after the lock went", time - $t0));
	is(sql(q{SELECT (retry_at > now() + interval '10 s')::text FROM directus_sync.remote_state}), 'true',
		"round $round: the remote is held (retry_at about 30 s ahead)");
	sql(q{SELECT directus_sync.resume('b')});    # ends the wait (docs/replication.md)
	ok(wait_for("item $id", sub { exists fake_item_map($fake, 'a1', 'id')->{$id} }, timeout => 30),
		"round $round: delivered after resume()");
}
$node->stop;
done_testing();
