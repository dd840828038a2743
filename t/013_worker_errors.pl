# The worker sleeps while it waits for answers, and survives an error
# outside its transactions: a cancel
# (pg_cancel_backend) while a request is on its way is logged, the windows
# in flight are given up with their rows still queued, and the same worker
# process ships them again. Before 0.3 such an error was FATAL: the worker
# died and the postmaster started another one 5 s later.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('worker_errors');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}', request_timeout_ms => 5000)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});

# The worker leaves its database when idle: its pid is read while it works.
my $worker_pid_sql = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'};

# Warm up: one change delivered, so the cancel below meets a request, not start-up.
sql(q{INSERT INTO articles VALUES (1, 'first')});
ok(wait_drained($node, 'b'), 'a first change is delivered');

# The next request stalls in the fake for 3 s; cancel the worker meanwhile.
ctl($fake, 'POST', 'stall', { seconds => 3, count => 1 });
my $log_offset = -s $node->logfile;
sql(q{INSERT INTO articles VALUES (2, 'sent while the worker is cancelled')});
ok(wait_for('the create to be on its way', sub { remote_status($node, 'b')->{in_flight} > 0 },
		timeout => 10, interval => 0.02),
	'the create is in flight');
my $pid = sql($worker_pid_sql);
is(sql("SELECT pg_cancel_backend($pid)"), 't', 'pg_cancel_backend reaches the worker');

ok(wait_for('the cancel to be logged', sub {
		slurp_file($node->logfile, $log_offset) =~ /ERROR:  canceling statement due to user request/ }),
	'the cancel is logged as an ERROR');
is(sql("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid"), '1',
	'the cancelled worker process carried on (no restart)');
ok(wait_drained($node, 'b'), 'the change is delivered after all');
is_deeply([ map { $_->{id} } @{ fake_items($fake, 'articles') } ], [ 1, 2 ], 'the remote holds both items');

# While a request is on its way the worker sleeps in one wait on libcurl's
# sockets and its latch: a 3 s stall costs a few wake-ups, not one every
# 20 ms (about 150) as polling libcurl did.
ctl($fake, 'POST', 'stall', { seconds => 3, count => 1 });
sql(q{INSERT INTO articles VALUES (3, 'a slow answer')});
ok(wait_for('the create to be on its way', sub { remote_status($node, 'b')->{in_flight} > 0 },
		timeout => 10, interval => 0.02),
	'a slow request is in flight');
$pid = sql($worker_pid_sql);
my $switches = sub { slurp_file("/proc/$pid/status") =~ /^voluntary_ctxt_switches:\s+(\d+)/m ? $1 : undef };
my $before = $switches->();
sleep(2);
my $woken = $switches->() - $before;
ok($woken < 30, "the worker sleeps while it waits for an answer ($woken wake-ups in 2 s)");
ok(wait_drained($node, 'b'), 'the slow answer is taken');

my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/FATAL:  canceling|background worker "directus_sync worker" \(PID \d+\) exited with exit code/,
	'the cancel did not end the worker');
is(server_crash($node), '', 'no crash in the server log');

$node->stop;
done_testing();
