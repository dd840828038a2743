# The low-water mark of a remote's queue (src/queue_mark.c) never moves
# past a row whose transaction was running at the scan, even when that
# transaction's xid is at or above the scan's snapshot xmax. (An adversarial
# review found that it did: the mark waited for a later snapshot's xmin to
# pass the scan's xmax, but a snapshot's xip lists only the running xids
# below its xmax (latestCompletedXid + 1), so a transaction that drew its
# xid after the newest completed one is running and in neither. The mark now
# waits for the next xid as it stood after the scan.) Here:
#
#   U: BEGIN; write another table (U gets xid x)
#   T: BEGIN; INSERT an article (T gets xid x+1, draws outbox id L)
#   U: INSERT an article (draws H > L); COMMIT
#
# The claim after U's commit sees H and not L; its snapshot's xmax is x+1
# (T is not in xip). The next claim's xmin is x+1 (T, still running), which
# "passes" x+1: the mark moves to H, above L, while T is still open. T's
# commit then reaches the remote only at the next scan from the start (up
# to 10 s later), not promptly, as a row committed late with a low id
# should (docs/replication.md, t/040's "late id" case).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('late_xid', extra_conf => q{
directus_sync.poll_interval = 60000
});
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql(q{CREATE TABLE other (id int)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', batch_max_items => 10)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sub has_item { return exists fake_item_map($fake, 'articles', 'id')->{ $_[0] } }

sql(q{INSERT INTO articles VALUES (1, 'warm up')});
ok(wait_for('item 1', sub { has_item(1) }, timeout => 30), 'warm up delivered');

my $next = 1000;
for my $round (1 .. 2)
{
	# a worker that starts afresh: its first scan is one from the start
	ok(wait_for('the idle worker to leave', sub {
		sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'directus_sync worker%'}) == 0 },
		timeout => 30), "round $round: the idle worker left");

	my ($low, $high) = ($next, $next + 1);
	$next += 100;
	my $u = $node->background_psql('postgres');
	my $t = $node->background_psql('postgres');
	$u->query_safe(q{BEGIN; INSERT INTO other VALUES (1)});
	$t->query_safe("BEGIN; INSERT INTO articles VALUES ($low, 'committed late')");
	my ($xu, $xt) = (
		$u->query_safe('SELECT txid_current()') + 0,
		$t->query_safe('SELECT txid_current()') + 0);
	ok($xt > $xu, "round $round: T drew its xid after U ($xt > $xu)");
	$u->query_safe("INSERT INTO articles VALUES ($high, 'committed early'); COMMIT");
	ok(wait_for("item $high", sub { has_item($high) }, timeout => 20),
		"round $round: the higher id, committed first, is delivered");

	# traffic: later claims, while T is still open
	for my $i (1 .. 5)
	{
		my $k = $high + $i;
		sql("INSERT INTO articles VALUES ($k, 'traffic')");
		wait_for("item $k", sub { has_item($k) }, timeout => 20);
	}
	$t->query_safe('COMMIT');
	my $committed = time();
	my $arrived = 0;
	for my $i (6 .. 60)
	{
		sql("INSERT INTO articles VALUES (" . ($high + $i) . ", 'traffic')");
		last if ($arrived = has_item($low));
		sleep(0.1);
	}
	$arrived ||= wait_for("item $low", sub { has_item($low) }, timeout => 15);
	my $secs = time() - $committed;
	ok($arrived && $secs < 3,
		sprintf("round $round: the row committed late arrives %.1f s after its commit (under 3 s)", $secs));
	$u->quit;
	$t->quit;
	ok(wait_drained($node, 'b'), "round $round: drained");
}

compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title FROM articles', 'id'), 'id',
	'the remote holds the table');
ok(!server_crash($node), 'no server process crashed');
$node->stop;
done_testing();
