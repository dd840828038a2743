# The worker's life (docs/operations.md, "The worker"; docs/settings.md,
# directus_sync.databases): at most 32 databases (a longer list, or one
# that does not parse, stops the server at start), one worker for a name
# listed twice; a worker that ends in the middle of a request is started
# again by the launcher at the next poll at the latest, without a commit
# to wake it, and sends again what was in flight (at least once); a worker
# killed by a signal (kill -9) is a crash of the server: the postmaster
# ends every session and starts everything again, and a worker then ships
# the queue.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# ---------------------------------------------------------------------------
# directus_sync.databases: refused at start

sub try_start
{
	my ($name, $databases, $extra) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		"shared_preload_libraries = 'directus_sync'\ndirectus_sync.databases = '$databases'\n" . ($extra // ''));
	my $started = $node->start(fail_ok => 1);
	return ($node, $started, slurp_file($node->logfile));
}

my @names = ('postgres', map { "d$_" } 2 .. 33);
my ($node, $started, $log) = try_start('dbs33', join(',', @names), "max_worker_processes = 40\n");
ok(!$started, '33 databases: the server refuses to start');
like($log, qr/FATAL:.*directus_sync\.databases names 33 databases, at most 32 are supported/,
	'33 databases: the log says why');

($node, $started, $log) = try_start('dbs32', join(',', @names[ 0 .. 31 ]), "max_worker_processes = 40\n");
ok($started, '32 databases: the server starts');
ok(wait_for('the launcher to look for all 32', sub {
		my @missing = slurp_file($node->logfile) =~ /database "d\d+" named in directus_sync\.databases does not exist/g;
		@missing == 31 }),
	'32 databases: the launcher serves all 32 (the 31 that do not exist are reported)');
like(slurp_file($node->logfile), qr/directus_sync launcher started for 32 databases/, '... "launcher started for 32 databases"');
$node->stop;

($node, $started, $log) = try_start('dbs_syntax', 'postgres,"unterminated');
ok(!$started, 'a list that does not parse: the server refuses to start');
like($log, qr/FATAL:.*invalid list syntax in parameter "directus_sync\.databases"/, '... saying why');

# ---------------------------------------------------------------------------
# A worker that ends in the middle of a request: the launcher starts
# another at the next poll (500 ms here) without a commit to wake it, and
# that one sends again what was in flight.

my $fake = start_fake(collections => { articles => { pk => 'id' } });
$node = new_sync_node('lifecycle', extra_conf => "directus_sync.databases = 'postgres,postgres'\nrestart_after_crash = on\n");
sub sql { return run_sql($node, $_[0]) }
sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
# A short timeout: a worker that was cut off mid-request waits that long
# before it sends again (the create may still arrive).
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', request_timeout_ms => 2000)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
like(slurp_file($node->logfile), qr/directus_sync launcher started for 1 databases/, 'a database listed twice is served once');

sub worker_pid
{
	return sql(q{SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'}) // '';
}
# Kills the worker with $signal while it waits for the answer to the create
# of item $id; returns the worker's pid.
sub kill_in_flight
{
	my ($signal, $id) = @_;
	ctl($fake, 'POST', 'stall', { seconds => 3, count => 1 });
	my $mark = last_seq($fake);
	sql("INSERT INTO articles VALUES ($id, 'in flight')");
	my $pid;
	wait_for("the create of $id to be in flight", sub { ($pid = worker_pid()) =~ /^\d+$/
			&& remote_status($node, 'b')->{in_flight} > 0 }, timeout => 20, interval => 0.02)
	  or return undef;
	kill $signal, $pid;
	return $pid;
}
sub creates_of
{
	my ($id, $mark) = @_;
	return scalar grep { $_->{method} eq 'POST' && grep { $_->{id} == $id } @{ $_->{body} } }
	  @{ fake_requests($fake, $mark, 'articles') };
}

my $session = $node->background_psql('postgres');
$session->query_safe('SELECT 1');
my $mark = last_seq($fake);
my $pid = kill_in_flight('TERM', 1);
ok($pid, 'a worker is killed (SIGTERM) while its create is in flight');
my $new;
ok(wait_for('another worker', sub { ($new = worker_pid()) =~ /^\d+$/ && $new ne $pid }, timeout => 30),
	'the launcher starts another worker (no commit woke it)');
ok(wait_drained($node, 'b'), 'the queue drains');
# The stalled create is logged when the fake answers it, maybe after the
# second one.
ok(wait_for('both creates', sub { creates_of(1, $mark) >= 2 }, timeout => 20),
	'what was in flight was sent again: two creates of the item (at least once)')
  or diag(join("\n", map { "$_->{method} $_->{path} $_->{status} " . json_encode($_->{body}) } @{ fake_requests($fake, $mark) }));
like(slurp_file($node->logfile), qr/background worker "directus_sync worker" \(PID $pid\) exited with exit code 1/,
	'the postmaster logs the worker\'s exit');
is($session->query_safe('SELECT 2'), '2', 'no crash: the other sessions were not touched');
$session->quit;

# ---------------------------------------------------------------------------
# kill -9: a crash of the whole server, from which everything restarts

my $log_offset = -s $node->logfile;
$mark = last_seq($fake);
$pid = kill_in_flight('KILL', 2);
ok($pid, 'a worker is killed (SIGKILL) while its create is in flight');
ok(wait_for('the crash restart', sub {
		substr(slurp_file($node->logfile), $log_offset) =~ /all server processes terminated; reinitializing/ },
		timeout => 60),
	'kill -9 of the worker: the postmaster reinitializes the server');
my $crash_log = substr(slurp_file($node->logfile), $log_offset);
like($crash_log, qr/background worker "directus_sync worker" \(PID $pid\) was terminated by signal 9/,
	'... naming the worker');
like($crash_log, qr/terminating any other active server processes/, '... after ending every other server process');
ok(wait_for('the server to accept connections', sub { $node->psql('postgres', 'SELECT 1') == 0 }, timeout => 60),
	'the server accepts connections again');
ok(wait_drained($node, 'b'), 'a worker runs again and ships the queue');
ok(wait_for('both creates', sub { creates_of(2, $mark) >= 2 }, timeout => 20), 'what was in flight was sent again');
compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title FROM articles', 'id'), 'id',
	'the remote holds what the table holds');

is(server_crash($node, ignore_kill => 1), '', 'no crash in the server log but the test\'s own kill -9');
$node->stop;
done_testing();
