# When the worker runs (docs/replication.md, "The path of a change" and
# "Capture"; docs/operations.md, "The worker"; docs/settings.md,
# poll_interval): a commit that queued changes has it run at once (woken,
# or started by the launcher when it had left its database), an open
# transaction's change is not shipped before its commit, a prepared
# transaction wakes nobody and is found by the fallback poll, wake() wakes
# it, and a reload (SIGHUP) changes poll_interval without a restart.
#
# The cluster polls once an hour: whatever arrives within seconds was
# woken. Every bound on time is a deadline of 20 s, far from the hour of a
# missed wake-up, so a slow machine makes the test slower, not wrong.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('wake', extra_conf => "directus_sync.poll_interval = '1h'\nmax_prepared_transactions = 5\n");
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
is(sql(q{SHOW directus_sync.poll_interval}), '1h', 'the fallback poll is an hour');

sub on_fake { return exists fake_item_map($fake, 'articles', 'id')->{ $_[0] } }

# No worker runs (an idle worker leaves its database after a second).
sub no_worker
{
	return sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'}) eq '0';
}
# How many times a worker has started so far.
sub worker_starts
{
	my @starts = slurp_file($node->logfile) =~ /directus_sync worker started for database "postgres"/g;
	return scalar @starts;
}

# Delivered within 20 s: woken, not polled.
sub delivered_soon
{
	my ($id, $name) = @_;
	my $t0 = time;
	my $ok = wait_for("item $id on the remote", sub { on_fake($id) }, timeout => 20);
	ok($ok, sprintf('%s (after %.1f s)', $name, time - $t0));
}

sub prepared_insert
{
	my ($id) = @_;
	sql("BEGIN; INSERT INTO articles VALUES ($id, 'prepared'); PREPARE TRANSACTION 'p$id'");
	sql("COMMIT PREPARED 'p$id'");
}

# Not there for $seconds (an absence takes its time).
sub absent_for
{
	my ($id, $seconds) = @_;
	my $until = time + $seconds;
	while (time < $until) { return 0 if on_fake($id); sleep 0.1 }
	return !on_fake($id);
}

# ---------------------------------------------------------------------------
# A commit has the worker run at once

ok(wait_for('no worker to run', \&no_worker), 'no worker runs: the idle worker has left its database');
for my $id (1, 2)
{
	sql("INSERT INTO articles VALUES ($id, 'committed')");
	delivered_soon($id, "commit $id: delivered within 20 s, poll_interval 1 h");
	ok(wait_for('the worker to leave', \&no_worker), 'the worker leaves again');
}

# ---------------------------------------------------------------------------
# Not before commit: a worker runs its rounds while a transaction holds a
# change, and ships nothing; the commit then has one run again.

my $open = $node->background_psql('postgres');
$open->query_safe(q{BEGIN; INSERT INTO articles VALUES (10, 'held open')});
my $starts = worker_starts();
is(sql('SELECT directus_sync.wake()'), 't', 'wake(): true, the launcher is there to act');
ok(wait_for('a worker to start and leave again', sub { worker_starts() > $starts && no_worker() }),
	'a worker started after the uncommitted change, found nothing, and left');
ok(!on_fake(10), 'an uncommitted change is not shipped');
$open->query_safe('COMMIT');
delivered_soon(10, 'its commit has a worker run: delivered');
$open->quit;

# A transaction of many rows, one statement each: one create after the commit.
ok(wait_for('the worker to leave', \&no_worker), 'the worker leaves');
my $mark = last_seq($fake);
sql(q{BEGIN; } . join('', map { "INSERT INTO articles VALUES ($_, 'row $_');" } 11 .. 30) . q{ COMMIT});
delivered_soon(30, 'a transaction of 20 inserts: delivered after its commit');
is(join(' ', map { "$_->{method}:$_->{items}" } @{ fake_requests($fake, $mark, 'articles') }), 'POST:20',
	'... all 20 rows in one request');

# ---------------------------------------------------------------------------
# A prepared transaction wakes nobody; wake() does

ok(wait_for('the worker to leave', \&no_worker), 'the worker leaves');
prepared_insert(40);
ok(absent_for(40, 3), 'COMMIT PREPARED wakes nobody: not delivered within 3 s with the poll at 1 h');
is(sql('SELECT directus_sync.wake()'), 't', 'wake(): true');
delivered_soon(40, 'wake() has a worker run: the prepared change is delivered');

# ---------------------------------------------------------------------------
# A reload sets the poll to 300 ms, without a restart: the fallback poll
# finds a prepared transaction's change, the poll already scheduled an hour
# ahead (by the worker that left) included

my $launcher = $node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync launcher'});
ok(wait_for('the worker to leave', \&no_worker), 'the worker leaves, its next visit an hour ahead');
sql(q{ALTER SYSTEM SET directus_sync.poll_interval = '300ms'});
$node->reload;   # SIGHUP
ok(wait_for('the reload', sub { sql(q{SHOW directus_sync.poll_interval}) eq '300ms' }), 'SIGHUP: poll_interval is 300 ms');
prepared_insert(50);
delivered_soon(50, 'the visit scheduled an hour ahead is brought forward: a prepared change is found');
ok(wait_for('the worker to leave', \&no_worker), 'the worker leaves');
prepared_insert(51);
delivered_soon(51, 'the fallback poll, 300 ms after the reload, finds a prepared change');
is($node->safe_psql('postgres', q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync launcher'}),
	$launcher, '... with the same launcher: no restart');

compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title FROM articles', 'id'), 'id',
	'the remote holds what the table holds');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
