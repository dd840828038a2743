# Hold-back after a restart across which this server's wall clock went
# back (an NTP step at boot, say). Changes stamped before the restart
# carry clocks ahead of both servers' clocks now; the remote (clock right)
# refuses them, so the sender must hold them back, never send them nor
# count failed attempts (docs/replication.md#holding-back-changes-the-
# remote-would-refuse). No bound on the queued clocks from this server's
# clock holds across such a restart: the sender reads every payload
# (review 3 found a cheap bound that assumed one, and sent them).
# Then: a ping that fails is told (last_error, held_reason) without
# counting a failure; after a minute of holding, one held change goes as a
# probe, which the remote refuses as the Date foretold: it is held again,
# counting nothing; and the changes go once the remote's clock has caught up.
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


# A ping that fails: the remote may be down as well as behind. Told in
# last_error and held_reason; no failure, no attempt counted.
ctl($fake, 'POST', 'fail', { status => 500, method => 'GET', count => -1 });
ok(wait_for('a failed ping to be told', sub { (status()->{last_error} // '') =~ m{GET /server/ping: HTTP 500} },
	on_timeout => sub { json_encode(status()) }), 'last_error tells of the failed ping');
like(status()->{held_reason} // '', qr{^2 changes with clocks held back: .*; asking its time failed: GET /server/ping: HTTP 500},
	'held_reason too');
is(status()->{failed}, 0, 'a failed ping counts no failure');
ctl($fake, 'DELETE', 'fail');

# After a minute of holding, the change the remote should take soonest goes
# as a probe of the estimate; refused as its Date foretold, it is held again.
ok(wait_for('a held change to go as a probe', sub {
	grep { $_->{method} ne 'GET' } @{ fake_requests($fake, $mark, 'articles') } }, timeout => 90),
	'a held change goes as a probe after a minute');
my @probes = grep { $_->{method} ne 'GET' } @{ fake_requests($fake, $mark, 'articles') };
is(scalar(@probes), 1, 'one probe, alone') or diag(json_encode(\@probes));
is($probes[0]{items}, 1, '... carrying one item');
ok(wait_for('the probe to be held again', sub { (status()->{held} // 0) == 2 }), 'refused: held again');
is(status()->{failed}, 0, 'the refused probe counts no failure');
is(sql(q{SELECT count(*) FILTER (WHERE attempts > 0) FROM directus_sync.outbox}), '0', '... nor an attempt of its item');
ok(sql(q{SELECT date_refuted_below_ms IS NULL AND hold_probe_at > now() + interval '50 s'
	FROM directus_sync.remote_state}) eq 't', 'the Date is still trusted; the next probe is a minute away or more');

# Once the remote's clock has caught up with their clocks, they go.
ok(wait_drained($node, 'b', timeout => 120), 'delivered once the remote\'s clock has caught up');
is_deeply([ map { "$_->{id}:$_->{title}" } @{ fake_items($fake, 'articles') } ], [ '1:one', '2:two' ],
	'the remote has both');
is(status()->{failed}, 0, 'no failed attempt counted, first to last');
is(sql(q{SELECT count(*) FROM directus_sync.remote_state WHERE held = 0 AND held_since IS NULL AND hold_probe_at IS NULL}),
	'1', 'nothing held any more');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
