# "Never holds forever". The sender predicts what the remote's database
# refuses from the Date header of its HTTP answers. A Date that is not the
# remote database's clock (Directus's Node host and its database host
# disagree, a cache or proxy answers with a stale Date) must not hold
# changes that the remote takes back for ever: here the Date is a fixed
# hour-old text while the remote's database, whose clock is right, takes
# every change. After a minute of holding, the held change goes as a probe
# (docs/replication.md#holding-back-changes-the-remote-would-refuse); the
# remote takes it, which refutes its Date: the worker logs so, and holds
# nothing back for that remote while its Date stays behind what it takes.
# A Date that agrees again is trusted again.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use POSIX qw(strftime);
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' }, notes => { pk => 'id' } });
my $node = new_sync_node('rv3_stale_date');
sub sql { return run_sql($node, $_[0]) }
sub status { return remote_status($node, 'b') }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql(q{CREATE TABLE notes (id int PRIMARY KEY, body text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sql(q{SELECT directus_sync.subscribe('b', 'notes', ARRAY['body'])});
sql(q{SELECT directus_sync.enable_clocks('articles', key_series => false)});
my $stale = strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime(time() - 3600));
ctl($fake, 'POST', 'mode', { clock_offset_s => 0, clock_skew_ms => 5000, date_header => $stale });

# A change without clocks goes; its answer carries the stale Date.
sql(q{INSERT INTO notes VALUES (1, 'note')});
ok(wait_drained($node, 'b'), 'a change without clocks goes');
ok(defined status()->{clock_offset}, 'the remote\'s Date was read') or diag(json_encode(status()));
sql(q{INSERT INTO articles VALUES (1, 'one')});
ok(wait_for('the change to be held or delivered', sub {
	(status()->{held} // 0) > 0 || defined fake_item_map($fake, 'articles', 'id')->{1} }, timeout => 30),
	'the sender held the change or delivered it') or diag(json_encode(status()));
ok(wait_for('the change to arrive', sub { defined fake_item_map($fake, 'articles', 'id')->{1} },
	timeout => 90, on_timeout => sub { json_encode(status()) }),
	'a change the remote takes is not held back for ever on a Date alone');

is(status()->{failed}, 0, 'no failed attempt counted');
is(status()->{held}, 0, 'nothing held any more');
like(slurp_file($node->logfile), qr/remote "b" took a change whose clocks its Date header said it would refuse/,
	'the worker logs that the remote\'s Date is refuted');

# While its Date stays behind what it takes, changes go at once.
sql(q{INSERT INTO articles VALUES (2, 'two')});
ok(wait_for('the next change to arrive', sub { defined fake_item_map($fake, 'articles', 'id')->{2} }, timeout => 15),
	'the next change is not held back');
is(status()->{held}, 0, '... nor counted as held');

# The Date agrees again (the cache is gone): it is trusted again.
ctl($fake, 'POST', 'mode', { date_header => undef });
sql(q{INSERT INTO notes VALUES (2, 'another note')});
ok(wait_for('the Date to be trusted again', sub {
	sql(q{SELECT date_refuted_below_ms IS NULL FROM directus_sync.remote_state}) eq 't' }),
	'a Date that agrees with what the remote takes is trusted again');
like(slurp_file($node->logfile), qr/the Date header of remote "b" agrees again/, '... and the worker says so');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
