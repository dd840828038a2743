# A create that may have reached the remote is never coalesced away. The
# worker sends a create; the remote applies it but answers late; the worker
# is terminated before it hears back, and the item is deleted here. When the
# worker comes back, the queued create and delete must not cancel out to
# nothing (the item would stay on the remote for ever): the create is marked
# as sent before it goes out, so the delete is shipped; and not before a
# request sent then has timed out (request_timeout_ms), so that it cannot
# overtake the create the remote may still be working on.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('sent_create');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$fake->{token}', request_timeout_ms => 5000)");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sql(q{INSERT INTO articles VALUES (1, 'warm-up')});
ok(wait_drained($node, 'b'), 'a first change is delivered');

my $worker_pid_sql = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'};
ctl($fake, 'POST', 'stall', { seconds => 3, count => 1 });
sql(q{INSERT INTO articles VALUES (2, 'created, then deleted while the worker was away')});
ok(wait_for('the create to be on its way', sub { remote_status($node, 'b')->{in_flight} > 0 },
		timeout => 10, interval => 0.02),
	'the create is on its way');
is(sql(q{SELECT count(*) FROM directus_sync.outbox WHERE item_key = '2' AND sent_at IS NOT NULL}), '1',
	'its queued row is marked as sent before the answer');
sleep(0.5);    # the request reaches the fake, which holds it 3 s and then applies it
my $pid = sql($worker_pid_sql);
is(sql("SELECT pg_terminate_backend($pid)"), 't', 'the worker is terminated before the answer comes');
sql(q{DELETE FROM articles WHERE id = 2});

ok(wait_for('the remote to apply the create', sub { exists fake_item_map($fake, 'articles', 'id')->{2} },
		timeout => 10),
	'the remote applied the create after all');
ok(wait_for('a new worker', sub { my $p = sql($worker_pid_sql); $p ne '' && $p ne $pid }, timeout => 30),
	'the postmaster started the worker again');
ok(wait_drained($node, 'b'), 'the queue drains');
ok(!exists fake_item_map($fake, 'articles', 'id')->{2},
	'the remote does not keep the item that was deleted here');
is_deeply([ map { $_->{id} } @{ fake_items($fake, 'articles') } ], [1], 'the remote holds what the table holds');

# An item created and deleted before anything was sent still ships nothing.
sql(q{SELECT directus_sync.pause('b')});
my $mark = last_seq($fake);
sql(q{INSERT INTO articles VALUES (3, 'never sent'); DELETE FROM articles WHERE id = 3});
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b'), 'an unsent create and its delete drain');
is(scalar @{ fake_requests($fake, $mark, 'articles') }, 0, '... without a request: they cancel out');

$node->stop;
done_testing();
