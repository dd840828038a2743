# A worker that starts after another died mid-window waits until the
# window's requests have timed out, its last request too: a window sends
# its steps one after another (one request in flight per window), so a
# request that went out later than the claim may still be applied after
# claim + timeout. (An adversarial review found that the wait covered the
# first request only; it now lasts request_timeout_ms from the new worker's
# start.)
#
#   - one window: a create in collection a1 (first step), then a create in
#     b1 (second step), timeout 3 s;
#   - the fake holds each request 2.5 s, then applies it: the second is
#     applied at about claim + 5 s, within its own timeout (sent at
#     claim + 2.5 s, given up at claim + 5.5 s);
#   - the worker is terminated at claim + 3 s, while the second request is
#     on its way, and the b1 item is deleted here;
#   - the new worker must not ship the delete before the create has landed
#     (with the old wait, until claim + 3 s, already past, it did: the
#     remote kept an item the table no longer has).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $fake = start_fake(collections => { a1 => { pk => 'id' }, b1 => { pk => 'id' } });
my $node = new_sync_node('hold_window');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE a1 (id int PRIMARY KEY, title text); CREATE TABLE b1 (id int PRIMARY KEY, title text)});
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}', request_timeout_ms => 3000)");
sql(q{SELECT directus_sync.subscribe('b', 'a1', ARRAY['title']); SELECT directus_sync.subscribe('b', 'b1', ARRAY['title'])});
sql(q{INSERT INTO a1 VALUES (100, 'warm-up'); INSERT INTO b1 VALUES (100, 'warm-up')});
ok(wait_drained($node, 'b'), 'warm-up delivered');

my $worker_pid_sql = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'};
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO a1 VALUES (1, 'first step')});
sql(q{INSERT INTO b1 VALUES (1, 'second step: deleted while the worker was away')});
ctl($fake, 'POST', 'stall', { seconds => 2.5, count => 1 });
ctl($fake, 'POST', 'stall', { seconds => 2.5, count => 1 });
sql(q{SELECT directus_sync.resume('b')});
ok(wait_for('the window to be claimed', sub { remote_status($node, 'b')->{in_flight} > 0 },
		timeout => 10, interval => 0.02), 'the window is on its way');
my $claimed = time();
my $pid = sql($worker_pid_sql);
sleep(3.0 - (time() - $claimed));    # the first step answered at 2.5 s, the second on its way
is(sql("SELECT pg_terminate_backend($pid)"), 't', 'the worker is terminated while the second step is on its way');
sql(q{DELETE FROM b1 WHERE id = 1});

ok(wait_for('a new worker', sub { my $p = sql($worker_pid_sql); $p ne '' && $p ne $pid }, timeout => 30),
	'the postmaster started the worker again');
ok(wait_for('the remote to apply the late create', sub { exists fake_item_map($fake, 'b1', 'id')->{1} },
		timeout => 15), 'the remote applied the second step\'s create after all');
sleep(1);
ok(wait_drained($node, 'b'), 'the queue drains');
my @b1 = map { $_->{id} } @{ fake_items($fake, 'b1') };
is("@b1", '100', 'the remote does not keep the b1 item deleted here (its delete waited for the create on its way)')
  or diag(join("\n", map { "$_->{seq} $_->{method} $_->{path} $_->{status} ts=$_->{ts}" } @{ fake_requests($fake, 0) }));

ok(!server_crash($node, ignore_kill => 1), 'no server process crashed');
$node->stop;
done_testing();
