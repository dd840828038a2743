# Failures of the whole remote that come as item errors: a remote that
# answers 500 to everything (its database down) and one that answers 403
# to everything (the sync user lost its permissions) back off as a whole,
# after a few requests per round, with nothing dead-lettered and no item
# backing off alone. An item that fails with 500 for ever becomes a dead
# letter after directus_sync.max_item_attempts attempts while the others
# are delivered; so do two items that fail alike, first and last of a
# batch, without holding the remote back for ever.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' } });
my $node = new_sync_node('remote_failures');
sub sql { return run_sql($node, $_[0]) }

my $user = '0b5e4a5c-1111-4222-8333-444455556666';
sql(qq{
	CREATE TABLE articles (id int PRIMARY KEY, title text, v int NOT NULL DEFAULT 1);
	-- Directus's tables the notifications go to, as far as they matter here.
	CREATE TABLE directus_users (id uuid PRIMARY KEY);
	CREATE TABLE directus_notifications (id serial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
		status varchar(255) DEFAULT 'inbox',
		recipient uuid NOT NULL REFERENCES directus_users ON DELETE CASCADE,
		sender uuid, subject varchar(255), message text, collection varchar(64), item varchar(255));
	INSERT INTO directus_users VALUES ('$user');
});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', notify_users => ARRAY['$user']::uuid[])");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'v'])});

sub state_of
{
	return json_decode(sql(q{SELECT row_to_json(s) FROM directus_sync.remote_state s
		JOIN directus_sync.remote r ON r.id = s.remote_id WHERE r.name = 'b'}));
}
sub dead_letters { return sql('SELECT count(*) FROM directus_sync.dead_letter') }
sub items_backing_off { return sql('SELECT count(*) FROM directus_sync.outbox WHERE retry_at IS NOT NULL') }
sub rows { return table_rows($node, "SELECT id, title, v FROM articles WHERE $_[0]", 'id') }
sub on_fake { my ($lo, $hi) = @_; return [ grep { $_->{id} >= $lo && $_->{id} <= $hi } @{ fake_items($fake, 'articles') } ] }

# Waits for $rounds failed rounds of the remote, then checks that each took
# a few requests only and left the items alone.
sub whole_remote_backs_off
{
	my ($what, $mark, $rounds) = @_;
	my $st;
	ok(wait_for("$what: $rounds failed rounds of the remote", sub {
			$st = state_of();
			$st->{consecutive_failures} >= $rounds }, timeout => 30,
			on_timeout => sub { json_encode(state_of()) . "\nrequests: " . scalar(@{ fake_requests($fake, $mark, 'articles') })
				  . "\nitems backing off: " . items_backing_off() . ', dead letters: ' . dead_letters() }),
		"$what: the remote backs off as a whole, round after round");
	my $requests = scalar @{ fake_requests($fake, $mark, 'articles') };
	$st = state_of();
	my $per_round = $requests / ($st->{consecutive_failures} + 1);
	ok($per_round <= 6, sprintf('%s: %d requests in %d rounds (and one maybe under way): a few per round',
			$what, $requests, $st->{consecutive_failures}));
	ok(defined $st->{retry_at}, "$what: remote_state.retry_at is set");
	is(dead_letters(), 0, "$what: no dead letter");
	is(items_backing_off(), 0, "$what: no item backs off alone");
	return $st;
}

# ---------------------------------------------------------------------------
# 500 to everything

ctl($fake, 'POST', 'fail', { status => 500, code => 'INTERNAL_SERVER_ERROR', message => 'database down', count => -1 });
my $mark = last_seq($fake);
sql(q{INSERT INTO articles (id, title) SELECT g, 'new' FROM generate_series(1, 50) g});
my $st = whole_remote_backs_off('500 to everything', $mark, 3);
like($st->{last_error} // '', qr/500 INTERNAL_SERVER_ERROR: database down/, '500 to everything: last_error tells');
is(remote_status($node, 'b')->{queued}, 50, '500 to everything: the 50 changes stay queued');
my $n = json_decode(sql(q{SELECT coalesce(json_agg(n), '[]') FROM directus_notifications n}));
ok(@$n == 1 && $n->[0]{message} =~ /500/, '500 to everything: the users to notify are told');
ctl($fake, 'DELETE', 'fail');
ok(wait_drained($node, 'b'), '500 cleared: the queue drains');
compare_items(on_fake(1, 50), rows('id BETWEEN 1 AND 50'), 'id', '500 cleared: every item arrived');
is(state_of()->{consecutive_failures}, 0, '500 cleared: the remote no longer backs off');

# ---------------------------------------------------------------------------
# 403 to everything: creates, updates and deletes

ctl($fake, 'POST', 'fail', { status => 403, code => 'FORBIDDEN', message => "You don't have permission to access this.",
	count => -1 });
$mark = last_seq($fake);
sql(q{UPDATE articles SET v = v + 1 WHERE id <= 30;
	INSERT INTO articles (id, title) SELECT g, 'new' FROM generate_series(51, 60) g;
	DELETE FROM articles WHERE id BETWEEN 41 AND 50});
whole_remote_backs_off('403 to everything', $mark, 3);
like(state_of()->{last_error} // '', qr/403 FORBIDDEN/, '403 to everything: last_error tells');
ctl($fake, 'DELETE', 'fail');
ok(wait_drained($node, 'b'), '403 cleared: the queue drains');
compare_items(on_fake(1, 60), rows('id BETWEEN 1 AND 60'), 'id', '403 cleared: the remote holds what the table holds');

# ---------------------------------------------------------------------------
# One item failing with 500 for ever: a dead letter after
# max_item_attempts (3) attempts; the others are delivered.

sql(q{ALTER SYSTEM SET directus_sync.max_item_attempts = 3; SELECT pg_reload_conf()});

ctl($fake, 'POST', 'fail', { status => 500, code => 'INTERNAL_SERVER_ERROR', message => 'a trigger fails',
	key => 77, count => -1 });
$mark = last_seq($fake);
sql(q{INSERT INTO articles (id, title) SELECT g, 'new' FROM generate_series(70, 79) g});
ok(wait_drained($node, 'b', timeout => 30), 'a permanent 500 for one item: the queue settles');
is(sql(q{SELECT item_key || ' ' || http_status || ' ' || error_code FROM directus_sync.dead_letter}),
	'77 500 INTERNAL_SERVER_ERROR', 'a permanent 500 for one item: that item is a dead letter');
like(sql(q{SELECT error_message FROM directus_sync.dead_letter}), qr/a trigger fails.*max_item_attempts/,
	'... whose message names max_item_attempts');
my @alone = grep { $_->{method} eq 'POST' && $_->{items} == 1 && $_->{body}[0]{id} == 77 }
  @{ fake_requests($fake, $mark, 'articles') };
is(scalar @alone, 3, '... after 3 attempts of it alone');
compare_items(on_fake(70, 79), rows('id BETWEEN 70 AND 79 AND id <> 77'), 'id',
	'a permanent 500 for one item: the others are delivered');
ctl($fake, 'DELETE', 'fail');
sql('DELETE FROM directus_sync.dead_letter');

# Two items failing alike for ever, the first and the last of a batch: the
# others show it is not the remote; alone in later rounds, the two look
# like a failing remote, but not for ever: dead letters after 3 attempts.
for my $key (90, 99)
{
	ctl($fake, 'POST', 'fail', { status => 500, code => 'INTERNAL_SERVER_ERROR', message => 'a trigger fails',
		key => $key, count => -1 });
}
$mark = last_seq($fake);
sql(q{INSERT INTO articles (id, title) SELECT g, 'new' FROM generate_series(90, 99) g});
ok(wait_drained($node, 'b', timeout => 60), 'two items failing alike: the queue settles');
is(sql(q{SELECT string_agg(item_key || ' ' || http_status, ', ' ORDER BY item_key) FROM directus_sync.dead_letter}),
	'90 500, 99 500', 'two items failing alike: both are dead letters');
compare_items(on_fake(90, 99), rows('id BETWEEN 91 AND 98'), 'id', 'two items failing alike: the others are delivered');
ctl($fake, 'DELETE', 'fail');
sql('DELETE FROM directus_sync.dead_letter');

# A remote that refuses everything for longer than max_item_attempts
# rounds: the two items each round tries alone use up their attempts and
# become dead letters, two at a time; the others wait, the remote backs off.
ctl($fake, 'POST', 'fail', { status => 403, code => 'FORBIDDEN', message => "You don't have permission to access this.",
	count => -1 });
sql(q{UPDATE articles SET v = v + 1 WHERE id BETWEEN 1 AND 30});
ok(wait_for('8 failed rounds', sub { state_of()->{consecutive_failures} >= 8 }, timeout => 60),
	'403 for longer: the remote keeps backing off');
my $dead = dead_letters();
ok($dead >= 2 && $dead <= 10, "403 for longer: $dead of the 30 items are dead letters, two per few rounds");
is(items_backing_off(), 0, '403 for longer: no item backs off alone');
ctl($fake, 'DELETE', 'fail');
ok(wait_drained($node, 'b'), '403 cleared: the others are delivered');

is(server_crash($node), '', 'no crash in the server log');
done_testing();
