# Replication when things go wrong: the remote goes away for a while,
# answers 503 or 429 with Retry-After, refuses one item for good (400: dead
# letter, replay) or for now (500: that item backs off alone), refuses the
# token; failures notify Directus users, rate-limited; the token stays out
# of logs, views and reach of other roles. Last, the library used without
# shared_preload_libraries, as README says works for the SyncID map and
# capture.
use strict;
use warnings;
use utf8;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# A token that can be looked for in the log, and a wrong one: random, from
# a seed the log shows (DS_TEST_SEED=N repeats a run).
my $seed = $ENV{DS_TEST_SEED} // int(rand(1_000_000_000));
srand($seed);
note("random seed $seed");
my $token = 'tok-S3cr3t-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 16);
my $wrong_token = 'wrong-T0ken-' . join('', map { ('a' .. 'z')[ rand 26 ] } 1 .. 16);

my $fake = start_fake(token => $token, collections => { articles => { pk => 'id' }, alerts => { pk => 'id' } });
# notify_interval: one notification per remote and minute at most.
my $node = new_sync_node('failures', extra_conf => "directus_sync.notify_interval = 60\n");
sub sql { return run_sql($node, $_[0]) }

sql(q{
	CREATE TABLE articles (id int PRIMARY KEY, title text, v int NOT NULL DEFAULT 1);
	CREATE TABLE alerts (id int PRIMARY KEY, msg text);
	-- Directus's tables the notifications go to, as far as they matter here.
	CREATE TABLE directus_users (id uuid PRIMARY KEY);
	CREATE TABLE directus_notifications (id serial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
		status varchar(255) DEFAULT 'inbox',
		recipient uuid NOT NULL REFERENCES directus_users ON DELETE CASCADE,
		sender uuid, subject varchar(255), message text, collection varchar(64), item varchar(255));
});
# log_statement = all (the test default) would log the statement itself,
# token and all: that is the server logging what it is given, not the
# extension. The test checks that nothing else ever logs the token.
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$fake->{url}', '$token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'v'])});

sub articles_in_table { return table_rows($node, 'SELECT id, title, v FROM articles', 'id') }

# ---------------------------------------------------------------------------
# The remote goes away for 5 seconds while changes are made (the worker,
# woken by their commits, meets it down well before). A window
# gathers every queued row of its items, up to a window's rows of each:
# small batches make small windows (8 rows per batch item: 16 rows), so that
# each item's 21 changes go out in two requests, in two windows: their order
# is then the worker's to keep.

sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 2)});
my $mark = last_seq($fake);
ctl($fake, 'POST', 'down', { seconds => 5 });
sql(q{INSERT INTO articles (id, title) SELECT g, 'new' FROM generate_series(1, 10) g});
for my $step (1 .. 20)
{
	sql("UPDATE articles SET v = v + 1, title = 'step $step'");
}
sql(q{DELETE FROM articles WHERE id = 10; INSERT INTO articles (id, title) VALUES (11, 'late')});
my $down_status;
ok(wait_for('remote_status to show the failure', sub {
		$down_status = remote_status($node, 'b');
		$down_status->{failed} > 0 && defined $down_status->{last_error} && defined $down_status->{retry_at};
	}, timeout => 10, interval => 0.05),
	'remote down: remote_status shows failed > 0, last_error and retry_at');
like($down_status->{last_error} // '', qr/connect|refused/i, 'remote down: last_error tells of the connection failure');
ok($down_status->{queued} > 0, 'remote down: the changes stay queued');
ok(wait_drained($node, 'b'), 'remote back: the queue drains');
compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', 'remote back: final state equals the table');
my $after_outage = fake_requests($fake, $mark, 'articles');
my @backwards = order_violations($after_outage, 'id', 'v');
ok(!@backwards, 'remote back: each item\'s changes arrived in order') or diag(join("\n", grep { defined } @backwards[0 .. 4]));
# The order check had something to check: items that got several values.
my %values_of;
for my $req (grep { $_->{status} < 300 && ref $_->{body} eq 'ARRAY' } @$after_outage)
{
	$values_of{ $_->{id} }{ $_->{v} } = 1 for grep { ref $_ eq 'HASH' && defined $_->{v} } @{ $req->{body} };
}
my $several = grep { keys %{ $values_of{$_} } >= 2 } keys %values_of;
ok($several >= 3, "remote back: $several items received their changes in more than one request");
sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 500)});
my $st = remote_status($node, 'b');
ok(!defined $st->{retry_at} && $st->{failed} >= $down_status->{failed},
	'remote back: no backoff any more; the failed count is kept');

# A request whose answer never came (here: a timeout) may still have been
# applied by the remote. An item created then, and deleted here before the
# retry, must not be left on the remote: the create is no longer
# "unshipped", so the create and delete cannot cancel out to nothing.
# The worker waits as long again as the timeout before sending anything
# else, so a remote that answers within twice the timeout has applied the
# create before the delete arrives; no client can do better against a
# remote that takes longer still.
# (A 2 s timeout and a 3 s answer: the delete goes out 4 s after the create,
# a second after the remote applied it, on a loaded machine too.)
sql(q{SELECT directus_sync.alter_remote('b', request_timeout_ms => 2000)});
ctl($fake, 'POST', 'stall', { seconds => 3, count => 1 });
$mark = last_seq($fake);
sql(q{INSERT INTO articles (id, title) VALUES (25, 'created, then deleted')});
ok(wait_for('the create to be on its way', sub { remote_status($node, 'b')->{in_flight} > 0 },
		timeout => 10, interval => 0.02),
	'timeout: the create is in flight');
sql(q{DELETE FROM articles WHERE id = 25});
ok(wait_for('the timeout to be recorded', sub { (remote_status($node, 'b')->{last_error} // '') =~ /timeout|timed out/i },
		timeout => 10),
	'timeout: recorded as a failure of the remote');
ok(wait_for('the slow answer', sub { grep { $_->{method} eq 'POST' } @{ fake_requests($fake, $mark, 'articles') } },
		timeout => 10),
	'timeout: the remote applied the create after all (answering too late)');
ok(wait_drained($node, 'b'), 'timeout: the queue drains');
ok(!exists fake_item_map($fake, 'articles', 'id')->{25},
	'timeout: the remote does not keep an item created and deleted here while the create\'s fate was unknown');
sql(q{SELECT directus_sync.alter_remote('b', request_timeout_ms => 30000)});
api_request($fake, 'DELETE', '/items/articles/25');   # whatever happened, on with a clean remote

# ---------------------------------------------------------------------------
# 429 and 503 with Retry-After: the remote backs off at least that long

for my $case ([ 429, 2, 20 ], [ 503, 1, 21 ])
{
	my ($status, $after, $id) = @$case;
	ctl($fake, 'POST', 'fail', { status => $status, retry_after => $after, count => 1, collection => 'articles' });
	$mark = last_seq($fake);
	sql("INSERT INTO articles (id, title) VALUES ($id, 'retry after $after')");
	ok(wait_drained($node, 'b'), "$status with Retry-After: $after: delivered in the end");
	my $log = fake_requests($fake, $mark, 'articles');
	is(join(' ', map { $_->{status} } @$log), "$status 200", "$status: refused once, then accepted");
	my $gap = @$log >= 2 ? $log->[1]{ts} - $log->[0]{ts} : 0;
	ok($gap >= 0.9 * $after, sprintf('%d: the retry came after %.2f s, Retry-After said %d s', $status, $gap, $after));
	like(remote_status($node, 'b')->{last_error} // '', qr/$status/, "$status: last_error names the status");
}
compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', 'after 429 and 503: final state equals the table');

# ---------------------------------------------------------------------------
# A permanent 400 for one item of a batch: a dead letter, the rest goes on

my $bad_message = 'Invalid payload. "title" is not allowed.';
ctl($fake, 'POST', 'fail', { status => 400, code => 'INVALID_PAYLOAD', message => $bad_message,
	key => 55, count => -1, collection => 'articles' });
$mark = last_seq($fake);
sql(q{INSERT INTO articles (id, title) SELECT g, 'batch ' || g FROM generate_series(50, 59) g});
ok(wait_drained($node, 'b'), '400 for one item: the batch settles');
is(sql(q{SELECT item_key || ' ' || op::text || ' ' || http_status || ' ' || error_code || ' ' || error_message
	FROM directus_sync.dead_letter}), "55 c 400 INVALID_PAYLOAD $bad_message",
	'400 for one item: that item alone is a dead letter, with status, Directus error code and message');
is(sql(q{SELECT payload::jsonb = '{"id": 55, "title": "batch 55", "v": 1}' FROM directus_sync.dead_letter}), 't',
	'400 for one item: the dead letter keeps the payload');
compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title, v FROM articles WHERE id <> 55', 'id'),
	'id', '400 for one item: every other item of the batch delivered');
is(remote_status($node, 'b')->{dead}, 1, '400 for one item: remote_status counts one dead letter');
sql(q{INSERT INTO articles (id, title) VALUES (60, 'after the poison row'); UPDATE articles SET v = v + 1 WHERE id = 50});
ok(wait_drained($node, 'b'), 'later changes: delivered');
compare_items(fake_items($fake, 'articles'), table_rows($node, 'SELECT id, title, v FROM articles WHERE id <> 55', 'id'),
	'id', 'later changes keep flowing past the dead letter');
sql(q{UPDATE articles SET title = 'fixed locally', v = v + 1 WHERE id = 55});
ok(wait_drained($node, 'b'), 'update of the dead item: settled');
is(sql(q{SELECT string_agg(op::text || ' ' || http_status || ' ' || payload::jsonb::text, ' | ' ORDER BY id)
	FROM directus_sync.dead_letter WHERE item_key = '55'}),
	'c 400 {"v": 1, "id": 55, "title": "batch 55"} | u 400 {"v": 2, "id": 55, "title": "fixed locally"}',
	'update of the dead item: dead again while the remote refuses it (two dead letters of item 55)');
ctl($fake, 'DELETE', 'fail');
is(sql(q{SELECT directus_sync.replay('b')}), 1, 'replay: queues the item once for its two dead letters');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'replay: dead_letter is empty');
ok(wait_drained($node, 'b'), 'replay: delivered');
compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', 'replay: the item arrives with its current values');

# ---------------------------------------------------------------------------
# A 500 for one item: it backs off alone, the others are delivered

ctl($fake, 'POST', 'fail', { status => 500, key => 71, count => -1, collection => 'articles' });
sql(q{INSERT INTO articles (id, title) SELECT g, 'five hundred ' || g FROM generate_series(70, 74) g});
my $others = sub {
	my %f = %{ fake_item_map($fake, 'articles', 'id') };
	return !exists $f{71} && !(grep { !exists $f{$_} } 70, 72, 73, 74);
};
ok(wait_for('the items but 71 to arrive', $others), '500 for one item: the others are delivered');
ok(wait_for('item 71 to back off', sub {
		sql(q{SELECT attempts > 0 AND retry_at IS NOT NULL AND last_error ~ '500'
			FROM directus_sync.outbox WHERE item_key = '71'}) eq 't' }),
	'500 for one item: its queued row shows attempts > 0, retry_at and the error');
sql(q{UPDATE articles SET v = v + 1, title = 'moved on' WHERE id = 72});
ok(wait_for('item 72 to be updated', sub { (fake_item_map($fake, 'articles', 'id')->{72}{title} // '') eq 'moved on' }),
	'500 for one item: later changes of other items keep flowing');
ok(!defined remote_status($node, 'b')->{retry_at}, '500 for one item: the remote as a whole is not backed off');
ctl($fake, 'DELETE', 'fail');
ok(wait_drained($node, 'b'), '500 cleared: the item arrives');
compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', '500 cleared: final state equals the table');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, '500: never a dead letter');

# A hot item that keeps failing with 500 while its changes pile up must not
# hold back the other items queued behind them. Small batches make the
# worker's window of queued rows small (8 rows per batch item: 16 rows).
sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 2)});
ctl($fake, 'POST', 'fail', { status => 500, key => 80, count => -1, collection => 'articles' });
sql(q{INSERT INTO articles (id, title) VALUES (80, 'hot')});
ok(wait_for('item 80 to back off', sub {
		sql(q{SELECT count(*) FROM directus_sync.outbox WHERE item_key = '80' AND attempts > 0}) > 0 }),
	'hot item: its first failure is recorded');
sql(q{DO $$ BEGIN FOR i IN 1..30 LOOP UPDATE articles SET v = v + 1 WHERE id = 80; COMMIT; END LOOP; END $$});
sql(q{INSERT INTO articles (id, title) VALUES (81, 'behind the hot item')});
ok(wait_for('item 81 to arrive', sub { exists fake_item_map($fake, 'articles', 'id')->{81} }, timeout => 20,
		on_timeout => sub { 'queued: ' . sql(q{SELECT string_agg(item_key || ':' || op::text, ' ' ORDER BY id)
			FROM directus_sync.outbox}) }),
	'hot item failing with 500 and 31 queued changes: an item queued behind it is still delivered');
ctl($fake, 'DELETE', 'fail');
ok(wait_drained($node, 'b'), 'hot item: delivered once the remote accepts it');
compare_items(fake_items($fake, 'articles'), articles_in_table(), 'id', 'hot item: final state equals the table');
sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 500)});

# Keys longer than the worker's item hash key once was (collection + key,
# 384 bytes): two keys of 401 characters that differ in the last one are
# two items, each created and updated while the remote is paused, so that
# each item's changes are folded in one window; a short key beside them.
sql(q{CREATE TABLE longkeys (k text PRIMARY KEY, label text)});
ctl($fake, 'POST', 'collections', { name => 'longkeys', pk => 'k' });
sql(q{SELECT directus_sync.subscribe('b', 'longkeys', ARRAY['label'])});
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO longkeys VALUES (repeat('k', 400) || 'a', 'long key a'), (repeat('k', 400) || 'b', 'long key b'),
	('short', 'short key')});
sql(q{UPDATE longkeys SET label = label || ', changed' WHERE k <> 'short'});
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b', timeout => 20), 'keys of 401 characters: settled');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter WHERE collection = 'longkeys'}), 0, 'keys of 401 characters: no dead letter');
compare_items(fake_items($fake, 'longkeys'), table_rows($node, 'SELECT k, label FROM longkeys', 'k'), 'k',
	'keys of 401 characters that differ in the last: two items on the remote, each with its own final value');
sql(q{SELECT directus_sync.unsubscribe('b', 'longkeys')});

# ---------------------------------------------------------------------------
# Notifications, rate-limited; a user to notify that does not exist

my $user = '0b5e4a5c-1111-4222-8333-444455556666';
my $ghost = '0b5e4a5c-9999-4999-8999-999999999999';
sql("INSERT INTO directus_users VALUES ('$user')");
sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('n', '$fake->{url}', '$token',
	notify_users => ARRAY['$user', '$ghost']::uuid[])");
sql(q{SELECT directus_sync.subscribe('n', 'alerts', ARRAY['msg'])});
ctl($fake, 'POST', 'fail', { status => 400, code => 'INVALID_PAYLOAD', message => 'bad alert',
	collection => 'alerts', count => -1 });
sql(q{INSERT INTO alerts VALUES (1, 'first')});
ok(wait_drained($node, 'n'), 'notify: the failure is recorded (the user that does not exist breaks nothing)');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id
	WHERE r.name = 'n'}), 1, 'notify: a dead letter');
my $n = json_decode(sql(q{SELECT coalesce(json_agg(n), '[]') FROM directus_notifications n}));
is(scalar @$n, 1, 'notify: one notification row (the existing user only)');
is(join('|', map { $_ // 'NULL' } @{ $n->[0] }{qw(recipient collection item status)}), "$user|alerts|1|inbox",
	'notify: recipient, collection, item, status inbox');
like($n->[0]{subject} // '', qr/\bn\b/, 'notify: the subject names the remote');
like($n->[0]{message} // '', qr/(?=.*\bn\b)(?=.*alerts)(?=.*\b1\b)(?=.*create)(?=.*bad alert)/s,
	'notify: the message names remote, collection, item, event and the error');
sql(q{INSERT INTO alerts VALUES (2, 'second')});
sql(q{INSERT INTO alerts VALUES (3, 'third')});
ok(wait_drained($node, 'n'), 'notify: two more failures recorded');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id
	WHERE r.name = 'n'}), 3, 'notify: three dead letters');
is(sql('SELECT count(*) FROM directus_notifications'), 1,
	'notify: failures within notify_interval make no more notifications');
unlike(slurp_file($node->logfile), qr/could not notify/, 'notify: no failed notification attempt logged');
ctl($fake, 'DELETE', 'fail');
is(sql(q{SELECT directus_sync.discard_dead_letters('n')}), 3, 'discard_dead_letters: removes them');

# ---------------------------------------------------------------------------
# A wrong token: 401 holds the remote back; a new token lets it go on

sql("SET log_statement = 'none'; SELECT directus_sync.add_remote('bad', '$fake->{url}', '$wrong_token')");
sql(q{SELECT directus_sync.subscribe('bad', 'alerts', ARRAY['msg'])});
sql(q{INSERT INTO alerts VALUES (4, 'fourth')});
ok(wait_for('the 401 to be recorded', sub { (remote_status($node, 'bad')->{last_error} // '') =~ /401/ }),
	'wrong token: remote_status shows the 401');
like(remote_status($node, 'bad')->{last_error}, qr/INVALID_CREDENTIALS/, 'wrong token: with Directus\'s error code');
ok(remote_status($node, 'bad')->{queued} > 0, 'wrong token: the change stays queued');
sql("SET log_statement = 'none'; SELECT directus_sync.alter_remote('bad', token => '$token')");
ok(wait_drained($node, 'bad') && wait_drained($node, 'n'), 'new token: delivered');
# (alerts 1-3 were dead letters, discarded)
compare_items(fake_items($fake, 'alerts'), table_rows($node, 'SELECT id, msg FROM alerts WHERE id > 3', 'id'), 'id',
	'new token: the fake holds the alert');

# ---------------------------------------------------------------------------
# Configuration while the worker records failures of the same remote: the
# two lock the remote and its state row in one order, so never deadlock (a
# deadlock report would also print the statement, token and all, in the log).

{
	my $script = "$PostgreSQL::Test::Utils::tmp_check/reconfigure.sql";
	open my $fh, '>', $script or die "$script: $!";
	print $fh "SET log_statement = 'none';\n";
	for my $i (1 .. 150)
	{
		my $t = $i % 2 ? $wrong_token : $token;
		my $name = $i % 2 ? 'bad2' : 'bad';
		my $from = $i % 2 ? 'bad' : 'bad2';
		print $fh "INSERT INTO alerts VALUES (100 + $i, 'again');\n",
		  "SELECT directus_sync.alter_remote('$from', token => '$t', new_name => '$name');\n",
		  "SELECT directus_sync.pause('$name'); SELECT directus_sync.resume('$name');\n";
	}
	close $fh;
	my ($rc, $stdout, $stderr) = $node->psql('postgres', undef, extra_params => [ '-f', $script ]);
	is($rc, 0, 'reconfiguring a failing remote 150 times: every call succeeds') or diag($stderr);
	unlike(slurp_file($node->logfile), qr/deadlock detected/, 'reconfiguring a failing remote: no deadlock');
	ok(wait_drained($node, 'bad'), 'reconfiguring a failing remote: with the right token at last, delivered');
}

# ---------------------------------------------------------------------------
# The token: not in views, not readable by other roles, never logged

my $views = sql(q{SELECT string_agg(row_to_json(r)::text, E'\n') FROM directus_sync.remotes r})
  . sql(q{SELECT string_agg(row_to_json(s)::text, E'\n') FROM directus_sync.remote_status s})
  . sql(q{SELECT string_agg(row_to_json(d)::text, E'\n') FROM directus_sync.dead_letter d});
unlike($views, qr/\Q$token\E|\Q$wrong_token\E/, 'token: in none of the views remotes, remote_status, dead_letter');
sql('CREATE ROLE plain LOGIN');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT token FROM directus_sync.remote',
	extra_params => [ '-U', 'plain' ]);
ok($ret != 0 && $err =~ /permission denied/, 'token: an ordinary role cannot read directus_sync.remote')
  or diag("ret $ret, out $out, err $err");
my $log = slurp_file($node->logfile);
# On failure, show the lines that give it away (and what precedes them).
for my $t ([ $token, 'token: never in the server log' ], [ $wrong_token, 'wrong token: never in the server log either' ])
{
	my @lines = split /\n/, $log;
	my @hits = grep { index($lines[$_], $t->[0]) >= 0 } 0 .. $#lines;
	ok(!@hits, $t->[1])
	  or diag(join("\n", map { @lines[ ($_ > 3 ? $_ - 3 : 0) .. $_ ] } @hits));
}
like($log, qr/LOG:  remote "b" failed; retrying later/, '(the log does tell of the failures)');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;

# ---------------------------------------------------------------------------
# Without shared_preload_libraries: README says the SyncID map and capture
# work (the changes wait for a worker); loading the library on demand must
# not end the session.

my $plain_node = PostgreSQL::Test::Cluster->new('no_preload');
$plain_node->init;
$plain_node->start;
($ret, $out, $err) = $plain_node->psql('postgres', 'CREATE EXTENSION directus_sync');
is($ret, 0, 'without preload: CREATE EXTENSION works') or diag($err);
($ret, $out, $err) = $plain_node->psql('postgres', q{
	CREATE TABLE articles (id int PRIMARY KEY, title text);
	SELECT directus_sync.add_remote('b', 'http://127.0.0.1:9', 'some-token');
	SELECT directus_sync.subscribe('b', 'articles', ARRAY['title']);
	INSERT INTO articles VALUES (1, 'queued');
	SELECT count(*) FROM directus_sync.outbox});
is((split /\n/, $out)[-1], '1', 'without preload: a change is captured into the outbox') or diag($err);
$plain_node->stop;

done_testing();
