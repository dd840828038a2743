# The databases of directus_sync.databases and their workers: a launcher
# starts a database's worker when a commit queues changes there (and at each
# poll); an idle worker leaves its database, so that the database can be
# dropped or copied as a template; a database that does not exist yet is
# reported once, and served once it is created, without a restart.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('databases', extra_conf => "directus_sync.databases = 'postgres, later'\n"
	  . "directus_sync.poll_interval = '60s'\n");
sub sql { return run_sql($node, $_[0], $_[1]) }
my $workers = q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'};

# A database not there yet: said once, no failing worker every few seconds.
sleep(2);
my $log = slurp_file($node->logfile);
my @missing = $log =~ /database "later" named in directus_sync\.databases does not exist/g;
is(scalar @missing, 1, 'a missing database is reported once');
unlike($log, qr/FATAL/, 'no FATAL in the log');

sub replicate_into
{
	my ($db) = @_;
	sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)}, $db);
	sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}')", $db);
	sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])}, $db);
}
replicate_into('postgres');

# A commit wakes a worker, even with the fallback poll a minute away.
my $start = time();
sql(q{INSERT INTO articles VALUES (1, 'woken at commit')});
ok(wait_for('the item', sub { exists fake_item_map($fake, 'articles', 'id')->{1} }, timeout => 30),
	'a commit has its change delivered');
my $took = time() - $start;
ok($took < 10, sprintf('... at once, not at the next poll (%.1f s, the poll is 60 s)', $took));

# Idle, the worker leaves the database: it can be copied as a template.
ok(wait_for('the worker to leave', sub { sql($workers) eq '0' }, timeout => 30), 'an idle worker leaves its database');
$node->safe_psql('postgres', 'CREATE DATABASE staging TEMPLATE postgres');
pass('CREATE DATABASE ... TEMPLATE of a replicated database works');

# A commit after it left: the launcher starts a worker again.
sql(q{INSERT INTO articles VALUES (2, 'after the worker left')});
ok(wait_for('the second item', sub { exists fake_item_map($fake, 'articles', 'id')->{2} }, timeout => 30),
	'a commit after the worker left is delivered');

# The database created after the start is served without a restart.
$node->safe_psql('postgres', 'CREATE DATABASE later');
sql(q{CREATE EXTENSION directus_sync}, 'later');
replicate_into('later');
sql(q{INSERT INTO articles VALUES (3, 'from the database created later')}, 'later');
$start = time();
ok(wait_for('the item from later', sub { exists fake_item_map($fake, 'articles', 'id')->{3} }, timeout => 90),
	'a database created after the start is served, without a restart');
$took = time() - $start;
ok($took < 10, sprintf('... from its first commit on (%.1f s, the poll is 60 s)', $took));

# And it can be dropped once its worker is idle.
ok(wait_for('the worker to leave', sub { sql($workers) eq '0' }, timeout => 30), 'its worker leaves when idle');
$node->safe_psql('postgres', 'DROP DATABASE later');
pass('DROP DATABASE of a replicated database works');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
