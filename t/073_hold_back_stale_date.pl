# Review 3: "never holds forever". The sender predicts what the remote's
# database refuses from the Date header of its HTTP answers. A Date that
# is not the remote database's clock (Directus's Node host and its database
# host disagree, a cache or proxy answers with a stale Date) must not hold
# changes that the remote takes back for ever: here the Date is a fixed
# hour-old text while the remote's database, whose clock is right, takes
# every change. Correct: after some bounded wait the sender tries (and a
# refusal would confirm the hold); today it holds them, pinging, for as long
# as the Date says so, with no failure and no last_error.
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

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
