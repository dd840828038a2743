# Issue 10's intermittent dead letters of t/066, t/067 and t/077 (a 403
# "You don't have permission to perform "update"" at "attempt 10", 14, 19,
# 24 or 30 "of max_item_attempts = 10", with the databases equal), made
# deterministic against the fake. Two defects met there:
#
# 1. An update with clocks that the remote refused with 403 after a probe
#    had found the item (the item was deleted there in between: another
#    instance's delete, or the remote's own user) backed off as a failure
#    of the item, costing an attempt, instead of asking the remote again.
#    Here: max_item_attempts = 1, the update refused twice (403, as
#    Directus answers a non-admin's update of a key it lacks) while the
#    probe lists the item. Before the fix: a dead letter "(attempt 1 of
#    directus_sync.max_item_attempts = 1)".
# 2. A remote that failed as a whole with an answer that refused the
#    request (a link held down: 503) counted an attempt of the items in
#    flight each round, so that an item behind a long outage had used up
#    max_item_attempts and its first failure of its own made it a dead
#    letter. Here: max_item_attempts = 3, four rounds of 503, then one 500
#    of the item alone. Before the fix: attempts 4 after the 503s, and a
#    dead letter "(attempt 5 of directus_sync.max_item_attempts = 3)".
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('probed_update_vanished', extra_conf => qq{
directus_sync.retry_max_delay = 300
directus_sync.poll_interval = 200
});
sub sql { return run_sql($node, $_[0]) }
sub set_attempts
{
	sql("ALTER SYSTEM SET directus_sync.max_item_attempts = $_[0]");
	sql('SELECT pg_reload_conf()');
}
my $forbidden = q{You don't have permission to perform "update" for collection "articles" or it does not exist.};

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql(q{SELECT directus_sync.enable_clocks('articles', key_series => false)});
# the items exist on both sides before the remote is added: nothing is queued for them
sql(q{INSERT INTO articles VALUES (1, 'one'), (2, 'two')});
ctl($fake, 'POST', 'seed/articles', [ { id => 1, title => 'one' }, { id => 2, title => 'two' } ]);
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
is(outbox_count($node, 'b'), '0', 'nothing queued to start with');

# 1. The update refused twice although the probe finds the item.
set_attempts(1);
my $mark = last_seq($fake);
ctl($fake, 'POST', 'fail', { status => 403, code => 'FORBIDDEN', message => $forbidden,
		method => 'PATCH', key => 1, count => 2 });
sql(q{UPDATE articles SET title = 'one, edited' WHERE id = 1});
ok(wait_drained($node, 'b'), 'the update of item 1 settles');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), '0', 'no dead letter: a 403 after the probe found the item is asked again')
  or diag(sql('SELECT item_key, op, http_status, error_message FROM directus_sync.dead_letter'));
is(fake_item_map($fake, 'articles', 'id')->{1}{title}, 'one, edited', 'the remote holds the edit');
my @seen = map { "$_->{method} $_->{status}" } @{ fake_requests($fake, $mark, 'articles') };
is(join(', ', @seen), 'PATCH 403, GET 200, PATCH 403, GET 200, PATCH 200',
	'in one window: refused, probed (there), refused again, probed again, updated');
ok(slurp_file($node->logfile) =~ /remote "b" refused an update of 1 items of "articles" that it had said it has; asking again/,
	'the server log tells why the remote was asked again');
ctl($fake, 'DELETE', 'fail');

# 2. Rounds of 503 (the remote failing as a whole), then one 500 of the item alone.
set_attempts(3);
$mark = last_seq($fake);
ctl($fake, 'POST', 'fail', { status => 503, code => 'SERVICE_UNAVAILABLE', message => 'Under pressure.',
		method => 'PATCH', count => 4 });
ctl($fake, 'POST', 'fail', { status => 500, code => 'INTERNAL_SERVER_ERROR', message => 'An unexpected error occurred.',
		method => 'PATCH', key => 2, count => 1 });
sql(q{UPDATE articles SET title = 'two, edited' WHERE id = 2});
ok(wait_for('the four 503s', sub { (grep { $_->{status} == 503 } @{ fake_requests($fake, $mark, 'articles') }) >= 4 }),
	'the remote failed as a whole four times');
ok(wait_drained($node, 'b'), 'the update of item 2 settles');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter WHERE item_key = '2'}), '0',
	'no dead letter: the rounds the remote failed as a whole cost the item no attempt')
  or diag(sql('SELECT item_key, op, http_status, error_message FROM directus_sync.dead_letter'));
is(fake_item_map($fake, 'articles', 'id')->{2}{title}, 'two, edited', 'the remote holds the edit');
@seen = map { "$_->{method} $_->{status}" } @{ fake_requests($fake, $mark, 'articles') };
is(join(', ', @seen), 'PATCH 503, PATCH 503, PATCH 503, PATCH 503, PATCH 500, PATCH 200',
	'four 503s, the item\'s own 500, then delivered');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
