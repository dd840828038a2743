# Items with more rows than a window (8 x batch_max_items), with deletes
# and creates again, some items failing now and then, while changes keep
# coming (written by an adversarial review of the claim). What the remote
# holds in the end must be what the table holds, and no item may see its
# changes out of order (v only grows; nothing but a create after a delete).
# Random, from a seed the log shows (DS_TEST_SEED=N repeats a run).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = length($ENV{DS_TEST_SEED} // '') ? $ENV{DS_TEST_SEED} : int(rand(1_000_000_000));
note("random seed $seed");
srand($seed);

my $fake = start_fake(collections => { articles => { pk => 'id' }, notes => { pk => 'key' } });
my $node = new_sync_node('long_items');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text, v int NOT NULL)});
sql(q{CREATE TABLE notes (key text PRIMARY KEY, title text, v int NOT NULL)});
# 2 items per batch: a window reads 16 rows, gathers 32.
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', batch_max_items => 2)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'v'])});
sql(q{SELECT directus_sync.subscribe('b', 'notes', ARRAY['title', 'v'])});

my $v = 0;
my %exists;
# A random history of changes: each statement its own transaction.
sub churn
{
	my ($n) = @_;
	my @stmts;
	for (1 .. $n)
	{
		my $k = 1 + int(rand(6));
		my ($table, $col, $key) = rand() < 0.5 ? ('articles', 'id', $k) : ('notes', 'key', "'$k'");
		my $id = "$table/$k";
		$v++;
		if (!$exists{$id}) { push @stmts, "INSERT INTO $table VALUES ($key, 't$v', $v)"; $exists{$id} = 1 }
		elsif (rand() < 0.15) { push @stmts, "DELETE FROM $table WHERE $col = $key"; $exists{$id} = 0 }
		else { push @stmts, "UPDATE $table SET v = $v, title = 't$v' WHERE $col = $key" }
	}
	sql(join(";\n", @stmts));
}

sql(q{SELECT directus_sync.pause('b')});
churn(300);
# now and then an item fails alone, and is retried
for my $k (1 .. 3)
{
	ctl($fake, 'POST', 'fail', { status => 500, key => $k, count => 2, collection => 'articles' });
}
sql(q{SELECT directus_sync.resume('b')});
churn(100) for 1 .. 5;
ok(wait_drained($node, 'b'), 'drained');
compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title, v FROM articles', 'id'), 'id',
	'articles: the remote holds the table');
compare_items(fake_items($fake, 'notes'), table_rows($node, 'SELECT key, title, v FROM notes', 'key'), 'key',
	'notes: the remote holds the table');
my @bad = order_violations(fake_requests($fake, 0, 'articles'), 'id', 'v');
push @bad, order_violations(fake_requests($fake, 0, 'notes'), 'key', 'v');
is(scalar @bad, 0, 'no item got its changes out of order') or diag(join("\n", @bad[ 0 .. 9 ]));
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'no dead letter');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
