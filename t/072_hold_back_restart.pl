# Review 3: hold-back after a restart across which this server's wall clock
# went back (an NTP step at boot, say). Changes stamped before the restart
# carry clocks ahead of both servers' clocks now; the remote (clock right)
# refuses them, so the sender must hold them back, never send them nor
# count failed attempts (docs/replication.md#holding-back-changes-the-
# remote-would-refuse). hold_back.c's cheap bound assumes every queued clock
# of before the start is at most max_clock_skew above the start's wall
# clock: here it is two minutes above, and the payloads are never read.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' }, notes => { pk => 'id' } });
my $node = new_sync_node('rv3_hold_restart');
sub sql { return run_sql($node, $_[0]) }
sub status { return remote_status($node, 'b') }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql(q{CREATE TABLE notes (id int PRIMARY KEY, body text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sql(q{SELECT directus_sync.subscribe('b', 'notes', ARRAY['body'])});
sql(q{SELECT directus_sync.enable_clocks('articles', key_series => false)});
# The remote's clock is right; its database refuses clocks more than 5 s ahead.
ctl($fake, 'POST', 'mode', { clock_offset_s => 0, clock_skew_ms => 5000 });
sql(q{INSERT INTO notes VALUES (1, 'first note')});
ok(wait_drained($node, 'b'), 'a first change tells the remote\'s clock');

# This server's wall clock runs two minutes fast while changes are made.
sql(q{SELECT directus_sync.pause('b')});
sql(q{ALTER SYSTEM SET directus_sync.test_clock_offset = '120s'});
sql(q{SELECT pg_reload_conf()});
ok(wait_for('the clock to run fast', sub { sql(q{SHOW directus_sync.test_clock_offset}) eq '2min' }),
	'this server\'s clock runs two minutes fast');
sql(q{INSERT INTO articles VALUES (1, 'one'), (2, 'two')});

# Its clock is set right while it is down (NTP at boot).
sql(q{ALTER SYSTEM RESET directus_sync.test_clock_offset});
$node->restart;
is(sql(q{SHOW directus_sync.test_clock_offset}), '0', 'the clock is right after the restart');
sleep(2);
my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});

# Both changes' clocks are two minutes ahead of the remote: held back.
my $held = wait_for('the two changes to be held back', sub {
	my $s = status();
	($s->{held} // 0) == 2 || ($s->{failed} // 0) > 0 },
	timeout => 30, on_timeout => sub { json_encode(status()) });
is(status()->{held}, 2, 'both changes are held back') or diag(json_encode(status()));
is(status()->{failed}, 0, 'no failed attempt counted');
is(sql(q{SELECT count(*) FILTER (WHERE attempts > 0) FROM directus_sync.outbox}), '0', 'no attempt of an item counted');
my @refused = grep { $_->{method} ne 'GET' && ($_->{status} // 0) >= 500 } @{ fake_requests($fake, $mark, 'articles') };
is(scalar(@refused), 0, 'no write the remote refuses was sent') or diag(json_encode(\@refused));

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
