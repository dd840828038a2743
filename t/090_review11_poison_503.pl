# Review 11 #4: since issue 10's flake fix (69a4ada), an answer that refused
# a request as a whole (503, 429, 401, ...) costs the items in flight no
# attempt. A remote that answers 503 to every request carrying one item (a
# hook or a gateway rule that chokes on that item's payload, while every
# other request succeeds) was then a remote "down" for ever: the batch that
# held the item was retried whole after each backoff, the items queued with
# it never went, and the item never became a dead letter, whatever
# max_item_attempts says (docs/replication.md#failures: max_item_attempts is
# there so that items at fault "do not hold the remote back for ever").
# Now, once the remote has failed 5 windows in a row, a 503 of a write is
# checked with GET /server/ping: the remote answers it, so the refusal is
# the batch's, which is split; the item alone counts an attempt.
# Here: items 1, 2, 3 updated together, every PATCH that carries item 2
# answered 503 (the ping answered), max_item_attempts = 2, retries after
# 20-100 ms. Checked: items 1 and 3 reach the remote, item 2 ends a dead
# letter, and the server log says why. (Failed before the fix: the batch
# was retried whole, 503 each time.) Then a remote that refuses everything,
# its ping too, for ten rounds: no attempt counted, delivered afterwards.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('review11_poison_503', extra_conf => qq{
directus_sync.retry_min_delay = 20
directus_sync.retry_max_delay = 100
directus_sync.poll_interval = 200
directus_sync.max_item_attempts = 2
});
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql(q{SELECT directus_sync.enable_clocks('articles', key_series => false)});
sql(q{INSERT INTO articles VALUES (1, 'one'), (2, 'two'), (3, 'three')});
ctl($fake, 'POST', 'seed/articles', [ { id => 1, title => 'one' }, { id => 2, title => 'two' }, { id => 3, title => 'three' } ]);
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
is(outbox_count($node, 'b'), '0', 'nothing queued to start with');

my $mark = last_seq($fake);
ctl($fake, 'POST', 'fail', { status => 503, code => 'SERVICE_UNAVAILABLE', message => 'Under pressure.',
		method => 'PATCH', key => 2, count => 100000 });
sql(q{UPDATE articles SET title = title || ', edited'});
ok(wait_for('items 1 and 3 at the remote', sub {
			my $m = fake_item_map($fake, 'articles', 'id');
			$m->{1}{title} eq 'one, edited' && $m->{3}{title} eq 'three, edited' }, timeout => 30),
	'the items queued with the poisoned one reach the remote');
ok(wait_for('item 2 a dead letter', sub {
			sql(q{SELECT count(*) FROM directus_sync.dead_letter WHERE item_key = '2'}) eq '1' }, timeout => 10),
	'the item the remote always refuses with 503 ends a dead letter (max_item_attempts)');
my $n503 = grep { $_->{status} == 503 } @{ fake_requests($fake, $mark, 'articles') };
diag("503 answers so far: $n503; attempts of item 2: "
	  . sql(q{SELECT coalesce(max(attempts), -1) FROM directus_sync.outbox WHERE item_key = '2'}));
like(slurp_file($node->logfile), qr/remote "b" refused \d+ items of "articles" with HTTP 503 after \d+ failed rounds, but answers GET \/server\/ping/,
	'the server log tells why the refusal counted');
ctl($fake, 'DELETE', 'fail');

# A remote that refuses every request, its ping too (a link down, Directus's
# own pressure limiter): however long, no attempt (t/086's rule holds).
$mark = last_seq($fake);
ctl($fake, 'POST', 'fail', { status => 503, code => 'SERVICE_UNAVAILABLE', message => 'Under pressure.',
		count => 100000 });
sql(q{UPDATE articles SET title = 'one, again' WHERE id = 1});
ok(wait_for('ten rounds of 503', sub { (grep { $_->{status} == 503 } @{ fake_requests($fake, $mark, 'articles') }) >= 10 },
		timeout => 30),
	'the remote refused ten rounds in a row');
is(sql(q{SELECT max(attempts) FROM directus_sync.outbox WHERE item_key = '1'}), '0',
	'no attempt counted: the ping was refused too');
like(remote_status($node, 'b')->{last_error} // '', qr{GET /server/ping: HTTP 503},
	'last_error tells that the ping was refused too');
ctl($fake, 'DELETE', 'fail');
ok(wait_drained($node, 'b'), 'delivered once the remote answers again');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter WHERE item_key = '1'}), '0', 'item 1 is no dead letter');
is(fake_item_map($fake, 'articles', 'id')->{1}{title}, 'one, again', 'the remote holds the edit');
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
