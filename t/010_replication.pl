# Replication, the happy paths: what the worker sends to a (fake) Directus
# for each kind of change, how it batches and coalesces, that it keeps the
# order of each item's changes, that applying is idempotent (creates of
# existing items, updates and deletes of missing ones), other kinds of keys
# and singletons, resync, the status view, loop prevention and wake().
#
# Each assertion compares what the fake received (its request log) or holds
# (its items) with what the tables hold. Waits poll with a deadline.
use strict;
use warnings;
use utf8;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use List::Util qw(sum0);
use POSIX qw(ceil);

my $true = JSON::PP::true;
my $false = JSON::PP::false;

my $fake = start_fake(collections => {
	articles => { pk => 'id' },
	pages => { pk => 'slug' },
	things => { pk => 'uid' },
	settings => { pk => 'id', singleton => $true },
	wide => { pk => 'id' },
	big => { pk => 'id' },
});
# A second Directus, for the loop prevention with two remotes.
my $fake_c = start_fake(collections => { articles => { pk => 'id' }, notes => { pk => 'id' } });

my $node = new_sync_node('replication');
sub sql { return run_sql($node, $_[0]) }

# Every type whose JSON rendering matters, and a column that is not
# subscribed (secret).
sql(q{
	CREATE TABLE articles (id int PRIMARY KEY, title text, views int, price numeric(10,2),
		published boolean, published_at timestamptz, meta jsonb, doc json, ref uuid, secret text);
	CREATE TABLE pages (slug text PRIMARY KEY, title text, body text);
	CREATE TABLE things (uid uuid PRIMARY KEY, name text);
	CREATE TABLE settings (id int PRIMARY KEY, site_name text, theme text);
	CREATE TABLE wide (id int PRIMARY KEY, body text);
	CREATE TABLE big (id int PRIMARY KEY, val text);
	INSERT INTO big SELECT g, 'row ' || g FROM generate_series(1, 5000) g;
});
my @article_fields = qw(title views price published published_at meta doc ref);
my $article_cols = join(', ', 'id', @article_fields);
my $fields_sql = 'ARRAY[' . join(', ', map { "'$_'" } @article_fields) . ']';
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token', forward_inbound => false)");
sql("SELECT directus_sync.subscribe('b', 'articles', $fields_sql, clocks => false)");
sql(q{SELECT directus_sync.subscribe('b', 'pages', ARRAY['title'], clocks => false);
	SELECT directus_sync.subscribe('b', 'things', ARRAY['name'], clocks => false);
	SELECT directus_sync.subscribe('b', 'settings', ARRAY['site_name', 'theme'], singleton => true, clocks => false);
	SELECT directus_sync.subscribe('b', 'wide', ARRAY['body'], clocks => false)});

# The article rows as the fake should hold them: key and subscribed fields.
sub articles_in_table
{
	my ($where) = @_;
	return table_rows($node, "SELECT $article_cols FROM articles" . ($where ? " WHERE $where" : ''), 'id');
}

sub articles_on_fake
{
	my ($filter) = @_;
	my $items = fake_items($fake, 'articles');
	return $filter ? [ grep { $filter->($_) } @$items ] : $items;
}

# ---------------------------------------------------------------------------
# Every kind of change, and how values are rendered

my $mark = last_seq($fake);
sql(q{INSERT INTO articles VALUES
	(1, 'Hello', 42, 12.50, true, '2024-01-02 03:04:05+00', '{"a": [1, 2], "b": null}', '{"x": "y"}',
	 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'hidden'),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)});
ok(wait_drained($node, 'b'), 'insert: delivered');
my $log = fake_requests($fake, $mark, 'articles');
is(scalar @$log, 1, 'insert: two rows of one transaction in one request');
is("$log->[0]{method} $log->[0]{path} $log->[0]{status}", 'POST /items/articles 200', 'insert: POST /items/articles');
is(json_canon($log->[0]{body}), json_canon([
	{ id => 1, title => 'Hello', views => 42, price => 12.5, published => $true,
	  published_at => '2024-01-02T03:04:05+00:00', meta => { a => [ 1, 2 ], b => undef },
	  doc => { x => 'y' }, ref => 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' },
	{ id => 2, map { $_ => undef } @article_fields } ]),
	'insert: array of key + subscribed fields (no "secret"); integer, numeric, boolean, ISO timestamptz, '
	. 'jsonb and json as JSON, uuid as string, NULL as null');
compare_items(articles_on_fake(), articles_in_table(), 'id', 'insert: fake holds the rows');

my $st = remote_status($node, 'b');
is_deeply([ @$st{qw(queued in_flight delivered failed dead)} ], [ 0, 0, 2, 0, 0 ],
	'remote_status: nothing queued or in flight, 2 delivered, no failure, no dead letter');
ok(defined $st->{last_success_at}, 'remote_status: last_success_at set');
ok(!defined $st->{lag} && !defined $st->{last_error} && !defined $st->{retry_at} && !defined $st->{resync},
	'remote_status: no lag when the queue is empty, no error, no backoff, no resync');
ok($st->{enabled} && !$st->{paused}, 'remote_status: enabled, not paused');

$mark = last_seq($fake);
sql(q{UPDATE articles SET title = 'Hello again', views = views + 1, meta = NULL, secret = 'also changed' WHERE id = 1});
ok(wait_drained($node, 'b'), 'update: delivered');
$log = fake_requests($fake, $mark, 'articles');
is(scalar @$log, 1, 'update: one request');
is("$log->[0]{method} $log->[0]{path}", 'PATCH /items/articles', 'update: PATCH /items/articles');
is(json_canon($log->[0]{body}), json_canon([ { id => 1, title => 'Hello again', views => 43, meta => undef } ]),
	'update: array of objects with the key and only the changed subscribed fields, NULL as null');
compare_items(articles_on_fake(), articles_in_table(), 'id', 'update: fake holds the rows');

# Updates that change no subscribed field queue nothing. Paused, so that
# the queue can be looked at before the worker would take anything.
sql(q{SELECT directus_sync.pause('b')});
sql(q{UPDATE articles SET secret = 'changed' WHERE id = 1});
is(outbox_count($node, 'b'), 0, 'update of an unsubscribed column only: nothing queued');
sql(q{UPDATE articles SET title = title, views = views, price = price, meta = meta, doc = doc});
is(outbox_count($node, 'b'), 0, 'no-op update (SET x = x): nothing queued');
sql(q{UPDATE articles SET price = 12.5 WHERE id = 1});
is(outbox_count($node, 'b'), 0, 'update to an equal value (12.5 into 12.50): nothing queued');
$mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});
sql(q{UPDATE articles SET views = 7 WHERE id = 2});
ok(wait_drained($node, 'b'), 'sentinel update delivered');
$log = fake_requests($fake, $mark);
is(json_canon([ map { [ $_->{method}, $_->{body} ] } @$log ]), json_canon([ [ 'PATCH', [ { id => 2, views => 7 } ] ] ]),
	'after resume only the sentinel update was shipped');

$mark = last_seq($fake);
sql(q{DELETE FROM articles WHERE id = 2});
ok(wait_drained($node, 'b'), 'delete: delivered');
$log = fake_requests($fake, $mark, 'articles');
is(json_canon([ map { [ "$_->{method} $_->{path}", $_->{body} ] } @$log ]),
	json_canon([ [ 'DELETE /items/articles', [2] ] ]), 'delete: DELETE /items/articles with a JSON array of keys');
compare_items(articles_on_fake(), articles_in_table(), 'id', 'delete: item gone from the fake');

# A change of the key: Directus sees another item.
sql(q{INSERT INTO articles (id, title, views) VALUES (5, 'five', 5)});
ok(wait_drained($node, 'b'), 'item 5 delivered');
$mark = last_seq($fake);
sql(q{UPDATE articles SET id = 6 WHERE id = 5});
ok(wait_drained($node, 'b'), 'key change: delivered');
$log = fake_requests($fake, $mark, 'articles');
is(json_canon([ map { [ $_->{method}, $_->{body} ] } @$log ]),
	json_canon([ [ 'DELETE', [5] ], [ 'POST', articles_in_table('id = 6') ] ]),
	'key change: a delete of the old key, then a create of the whole row under the new one');
compare_items(articles_on_fake(), articles_in_table(), 'id', 'key change: fake holds the rows');

# ---------------------------------------------------------------------------
# Batching: by count, then by bytes

sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 100)});
$mark = last_seq($fake);
sql(q{INSERT INTO wide SELECT g, 'narrow ' || g FROM generate_series(1, 1000) g});
ok(wait_drained($node, 'b'), 'batch by count: 1000 inserts delivered');
$log = fake_requests($fake, $mark, 'wide');
my $max_reqs = ceil(1000 / 100) + 1;
ok(@$log <= $max_reqs, "batch by count: 1000 inserts in at most $max_reqs requests (got " . scalar(@$log) . ')');
ok(!(grep { $_->{items} > 100 } @$log), 'batch by count: no request over batch_max_items = 100');
my %conns = map { ($_->{conn} => 1) } @$log;
ok(keys %conns <= 2, 'keep-alive: the requests of the batch share a connection (' . scalar(keys %conns) . ' used)');
is(sum0(map { $_->{items} } grep { $_->{method} eq 'POST' } @$log), 1000, 'batch by count: every row posted once');
compare_items(fake_items($fake, 'wide'), table_rows($node, 'SELECT id, body FROM wide', 'id'), 'id',
	'batch by count: fake holds the 1000 rows');

sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 500, batch_max_bytes => 20000)});
$mark = last_seq($fake);
sql(q{INSERT INTO wide SELECT g, repeat(chr(97 + g % 26), 300) FROM generate_series(1001, 2000) g});
ok(wait_drained($node, 'b'), 'batch by bytes: 1000 wide inserts delivered');
$log = fake_requests($fake, $mark, 'wide');
my ($bytes, $largest) = (0, 0);
for (@$log) { $bytes += $_->{bytes}; $largest = $_->{bytes} if $_->{bytes} > $largest }
# Each object is about 325 bytes: a request holds at least 20000 - 325.
$max_reqs = ceil($bytes / (20000 - 330)) + 1;
ok($largest <= 20000, "batch by bytes: no request body over batch_max_bytes = 20000 (largest $largest)");
ok(@$log > 1 && @$log <= $max_reqs,
	"batch by bytes: $bytes bytes in 2 to $max_reqs requests (got " . scalar(@$log) . ')');
ok(!(grep { $_->{items} >= 500 } @$log), 'batch by bytes: split by bytes, not by count');
compare_items(fake_items($fake, 'wide'), table_rows($node, 'SELECT id, body FROM wide', 'id'), 'id',
	'batch by bytes: fake holds the 2000 rows');
sql(q{SELECT directus_sync.alter_remote('b', batch_max_bytes => 1000000)});

# ---------------------------------------------------------------------------
# Coalescing: while paused, an item created and updated several times, and
# another created and deleted

sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO articles (id, title, views, price, published) VALUES (10, 'v1', 1, 1.25, true)});
sql(q{UPDATE articles SET title = 'v2' WHERE id = 10});
sql(q{UPDATE articles SET views = 5 WHERE id = 10});
sql(q{UPDATE articles SET title = 'v3', published = false WHERE id = 10});
sql(q{INSERT INTO articles (id, title) VALUES (11, 'short-lived')});
sql(q{DELETE FROM articles WHERE id = 11});
is(outbox_count($node, 'b'), 6, 'coalescing: six changes queued while paused');
$st = remote_status($node, 'b');
ok($st->{paused} && $st->{queued} == 6 && defined $st->{lag}, 'remote_status while paused: paused, 6 queued, a lag');
$mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b'), 'coalescing: delivered after resume');
$log = fake_requests($fake, $mark);
is(json_canon([ map { [ "$_->{method} $_->{path}", $_->{body} ] } @$log ]),
	json_canon([ [ 'POST /items/articles', [ { id => 10, title => 'v3', views => 5, price => 1.25,
		published => $false, published_at => undef, meta => undef, doc => undef, ref => undef } ] ] ]),
	'coalescing: one POST with the merged final values; nothing for the created-then-deleted item');
compare_items(articles_on_fake(), articles_in_table(), 'id', 'coalescing: fake holds the rows');

# ---------------------------------------------------------------------------
# Order per item: many small transactions updating a few items in turn,
# shipped in tiny batches while they commit

sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 2)});
sql(q{INSERT INTO articles (id, title, views) SELECT g, 'start', 0 FROM generate_series(100, 104) g});
$mark = last_seq($fake);
sql(q{DO $$ BEGIN
	FOR i IN 1..300 LOOP
		UPDATE articles SET views = i, title = 'step ' || i WHERE id = 100 + (i * 7) % 5;
		IF i % 10 = 0 THEN UPDATE articles SET views = i, title = 'all ' || i WHERE id BETWEEN 100 AND 104; END IF;
		COMMIT;
	END LOOP;
END $$});
ok(wait_drained($node, 'b'), 'order: delivered');
compare_items(articles_on_fake(sub { $_[0]{id} >= 100 && $_[0]{id} <= 104 }),
	articles_in_table('id BETWEEN 100 AND 104'), 'id', 'order: final state on the fake equals the table');
# views only grows per item: so must the values each item received.
my @backwards = order_violations(fake_requests($fake, $mark, 'articles'), 'id', 'views');
ok(!@backwards, 'order: no item received an older value after a newer one') or diag(join("\n", grep { defined } @backwards[0 .. 4]));
sql(q{SELECT directus_sync.alter_remote('b', batch_max_items => 500)});

# ---------------------------------------------------------------------------
# Idempotent apply

# (a) The remote already has the item: the create becomes an update.
ctl($fake, 'POST', 'seed/articles', { id => 20, title => 'remote', views => 99, secret_remote => 'kept' });
sql(q{INSERT INTO articles (id, title, views) VALUES (20, 'local', 1)});
ok(wait_drained($node, 'b'), 'create of an existing item: delivered');
is(json_canon(fake_item_map($fake, 'articles', 'id')->{20}), json_canon({ %{ articles_in_table('id = 20')->[0] },
	secret_remote => 'kept' }), 'create of an existing item: the remote item has the local values');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'create of an existing item: no dead letter');

# (b) One batch mixing keys the remote has and keys it lacks.
ctl($fake, 'POST', 'seed/articles', [ { id => 30, title => 'remote 30' }, { id => 32, title => 'remote 32' } ]);
$mark = last_seq($fake);
sql(q{INSERT INTO articles (id, title, views) SELECT g, 'local ' || g, g FROM generate_series(30, 34) g});
ok(wait_drained($node, 'b'), 'mixed batch: delivered');
compare_items(articles_on_fake(sub { $_[0]{id} >= 30 && $_[0]{id} <= 34 }),
	articles_in_table('id BETWEEN 30 AND 34'), 'id', 'mixed batch: every item ends with the local values');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'mixed batch: no dead letter');

# (c) Update of an item the remote lost: a create of the whole current row.
sql(q{INSERT INTO articles VALUES (40, 'forty', 40, 4.00, true, '2024-05-06 07:08:09+00', '[1]', '"s"',
	'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'x')});
ok(wait_drained($node, 'b'), 'item 40 delivered');
is(api_request($fake, 'DELETE', '/items/articles/40')->{status}, 204, 'item 40 deleted on the remote behind our back');
$mark = last_seq($fake);
sql(q{UPDATE articles SET title = 'forty, changed' WHERE id = 40});
ok(wait_drained($node, 'b'), 'update of a missing item: settled');
$log = fake_requests($fake, $mark, 'articles');
my @posts = grep { $_->{method} eq 'POST' && $_->{status} < 300 } @$log;
# rendered as capture renders it: the JSON string of the json column doc
# goes as the string of its JSON text
my $row40 = { %{ articles_in_table('id = 40')->[0] }, doc => '"s"' };
is(json_canon([ map { $_->{body} } @posts ]), json_canon([ [$row40] ]),
	'update of a missing item: the remote gets a create of the full current row, rendered as capture does');
compare_items(articles_on_fake(sub { $_[0]{id} == 40 }), [$row40], 'id',
	'update of a missing item: the remote has it again');

# (d) Delete of an item the remote lacks: success.
sql(q{INSERT INTO articles (id, title) VALUES (41, 'forty-one')});
ok(wait_drained($node, 'b'), 'item 41 delivered');
api_request($fake, 'DELETE', '/items/articles/41');
sql(q{DELETE FROM articles WHERE id = 41});
ok(wait_drained($node, 'b'), 'delete of a missing item: settled');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'delete of a missing item: success, no dead letter');

# (e) The same with a non-admin token, for which Directus answers 403 to a
# PATCH or DELETE of a missing item.
sql(q{INSERT INTO articles (id, title) VALUES (42, 'forty-two'), (43, 'forty-three'), (44, 'forty-four'), (45, 'forty-five')});
ok(wait_drained($node, 'b'), 'items 42-45 delivered');
ctl($fake, 'POST', 'mode', { admin => $false });
api_request($fake, 'DELETE', "/items/articles/$_") for (42, 43, 45);
$mark = last_seq($fake);
sql(q{UPDATE articles SET title = 'forty-two, changed' WHERE id = 42});
ok(wait_drained($node, 'b'), 'non-admin, update of a missing item: settled');
compare_items(articles_on_fake(sub { $_[0]{id} == 42 }), articles_in_table('id = 42'), 'id',
	'non-admin, update of a missing item (403): created from the current row');
sql(q{DELETE FROM articles WHERE id = 43});
ok(wait_drained($node, 'b'), 'non-admin, delete of a missing item: settled');
sql(q{UPDATE articles SET title = title || ', changed' WHERE id IN (44, 45)});
ok(wait_drained($node, 'b'), 'non-admin, batch update of a present and a missing item: settled');
compare_items(articles_on_fake(sub { $_[0]{id} >= 42 && $_[0]{id} <= 45 }),
	articles_in_table('id BETWEEN 42 AND 45'), 'id', 'non-admin: items 42-45 end as in the table');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'non-admin: no dead letter');
ok((grep { $_->{status} == 403 } @{ fake_requests($fake, $mark, 'articles') }) >= 3,
	'non-admin: the remote did answer 403 to the PATCH/DELETE of missing items');
ctl($fake, 'POST', 'mode', { admin => $true });

# (f) A token that may write but not read back: creates and updates answer
# 204 (no data), and the update cannot be confirmed by a read either.
ctl($fake, 'POST', 'mode', { readback => $false });
sql(q{INSERT INTO articles (id, title) VALUES (46, 'no read-back')});
ok(wait_drained($node, 'b'), 'no read-back: create settled');
sql(q{UPDATE articles SET title = 'no read-back, changed' WHERE id = 46});
ok(wait_drained($node, 'b'), 'no read-back: update settled');
ctl($fake, 'POST', 'mode', { readback => $true });
compare_items(articles_on_fake(sub { $_[0]{id} == 46 }), articles_in_table('id = 46'), 'id',
	'no read-back (204 answers): the remote has the values');
is(sql('SELECT count(*) FROM directus_sync.dead_letter'), 0, 'no read-back: no dead letter');

# ---------------------------------------------------------------------------
# Other keys: a text key not named id, a uuid key, a singleton

$mark = last_seq($fake);
# One step at a time: queued together they would be coalesced.
for my $step (q{INSERT INTO pages VALUES ('hello-world', 'Hello', 'not shipped'), ('x/y ü&z', 'Odd key', NULL)},
	q{UPDATE pages SET title = 'Hello!' WHERE slug = 'hello-world'},
	q{DELETE FROM pages WHERE slug = 'x/y ü&z'})
{
	sql($step);
	ok(wait_drained($node, 'b'), 'text key: delivered: ' . (split ' ', $step)[0]);
}
$log = fake_requests($fake, $mark, 'pages');
is(json_canon([ map { [ $_->{method}, $_->{body} ] } @$log ]), json_canon([
	[ 'POST', [ { slug => 'hello-world', title => 'Hello' }, { slug => 'x/y ü&z', title => 'Odd key' } ] ],
	[ 'PATCH', [ { slug => 'hello-world', title => 'Hello!' } ] ],
	[ 'DELETE', ['x/y ü&z'] ] ]), 'text key "slug": POST, PATCH and DELETE carry the key as a string');
# Creates of items the remote has, in a batch: found by a GET whose filter
# carries the odd keys in the URL.
ctl($fake, 'POST', 'seed/pages', [ { slug => 'a b/c?d=1', title => 'remote' }, { slug => 'ü#1%', title => 'remote' } ]);
sql(q{INSERT INTO pages VALUES ('a b/c?d=1', 'local'), ('ü#1%', 'local'), ('new', 'local')});
ok(wait_drained($node, 'b'), 'text key, create of existing items: delivered');
compare_items(fake_items($fake, 'pages'), table_rows($node, 'SELECT slug, title FROM pages', 'slug'), 'slug',
	'text key: fake holds the rows, also after creates of existing items with odd keys');

$mark = last_seq($fake);
sql(q{BEGIN;
	INSERT INTO things VALUES ('11111111-2222-4333-8444-555555555555', 'one'),
		('66666666-7777-4888-9999-aaaaaaaaaaaa', 'two');
	UPDATE things SET name = 'uno' WHERE uid = '11111111-2222-4333-8444-555555555555';
	COMMIT});
ok(wait_drained($node, 'b'), 'uuid key: inserts delivered');
sql(q{DELETE FROM things WHERE uid = '66666666-7777-4888-9999-aaaaaaaaaaaa'});
ok(wait_drained($node, 'b'), 'uuid key: delete delivered');
$log = fake_requests($fake, $mark, 'things');
is(json_canon([ map { [ $_->{method}, $_->{body} ] } @$log ]), json_canon([
	[ 'POST', [ { uid => '11111111-2222-4333-8444-555555555555', name => 'uno' },
		{ uid => '66666666-7777-4888-9999-aaaaaaaaaaaa', name => 'two' } ] ],
	[ 'DELETE', ['66666666-7777-4888-9999-aaaaaaaaaaaa'] ] ]),
	'uuid key: creates (merged with the update of the same transaction) and delete carry the uuid as a string');
compare_items(fake_items($fake, 'things'), table_rows($node, 'SELECT uid, name FROM things', 'uid'), 'uid',
	'uuid key: fake holds the rows');

$mark = last_seq($fake);
sql(q{INSERT INTO settings VALUES (1, 'My site', 'dark')});
ok(wait_drained($node, 'b'), 'singleton: insert delivered');
sql(q{UPDATE settings SET theme = 'light'});
ok(wait_drained($node, 'b'), 'singleton: update delivered');
$log = fake_requests($fake, $mark, 'settings');
is(json_canon([ map { [ "$_->{method} $_->{path}", $_->{body} ] } @$log ]), json_canon([
	[ 'PATCH /items/settings', { site_name => 'My site', theme => 'dark' } ],
	[ 'PATCH /items/settings', { theme => 'light' } ] ]),
	'singleton: PATCH /items/settings without id, a body object without the key');
my $s = fake_items($fake, 'settings')->[0];
is(json_canon([ @$s{qw(site_name theme)} ]), json_canon([ 'My site', 'light' ]), 'singleton: the remote has the values');

# ---------------------------------------------------------------------------
# Resync of a table that had rows before it was subscribed

sql(q{SELECT directus_sync.subscribe('b', 'big', ARRAY['val'], clocks => false)});
is(outbox_count($node, 'b'), 0, 'resync: subscribing queues nothing of the existing rows');
# The remote answers slowly (0.3 s a request, 10 requests of 500 items),
# so that the progress is seen at several points on its way.
ctl($fake, 'POST', 'stall', { seconds => 0.3, count => 10 });
is(sql(q{BEGIN; SELECT directus_sync.resync('b', 'big');
	SELECT resync FROM directus_sync.remote_status WHERE remote = 'b'; COMMIT}),
	qq(5000\n{"big": {"done": 0, "total": 5000}}), 'resync: returns the row count; remote_status shows the job');
my (@progress, $resync_done);
$resync_done = wait_for('resync to finish', sub {
	my $r = remote_status($node, 'b');
	push @progress, $r->{resync} ? $r->{resync}{big}{done} : 'end';
	return !$r->{resync} && $r->{queued} == 0 && $r->{in_flight} == 0;
});
ok($resync_done, 'resync: the job disappears from remote_status and the queue drains');
my @done = grep { $_ ne 'end' } @progress;
my %seen_done = map { ($_ => 1) } @done;
my $seen = join(',', sort { $a <=> $b } keys %seen_done);
ok(keys %seen_done >= 3 && (grep { $_ > 0 && $_ < 5000 } keys %seen_done),
	"resync: progress seen at 3 points at least, one between 0 and 5000 (seen: $seen)");
ok(!(grep { $done[$_] < $done[ $_ - 1 ] } 1 .. $#done), 'resync: progress only grows (' . scalar(@done) . ' observations)')
  or diag('observed: ' . join(',', @progress));
compare_items(fake_items($fake, 'big'), table_rows($node, 'SELECT id, val FROM big', 'id'), 'id',
	'resync: the fake holds all 5000 rows');

# Every change queued for b so far, counted from the statements above:
# 2 inserts, 1 update, 1 sentinel update, 1 delete, 1 insert + 2 for the
# key change, 2 x 1000 wide inserts, 6 coalesced changes, 5 inserts + 450
# updates (order), 1 + 5 + 2 + 2 + 8 + 2 (idempotent apply), 4 + 3 pages,
# 3 + 1 things, 2 settings, 5000 resync upserts.
my $changes = 2 + 1 + 1 + 1 + 3 + 2000 + 6 + 455 + 20 + 7 + 4 + 2 + 5000;
$st = remote_status($node, 'b');
is($st->{delivered}, $changes, "remote_status after all this: delivered counts every change ($changes)");
ok($st->{failed} == 0 && !defined $st->{lag}, 'remote_status after all this: no failure, no lag');

# ---------------------------------------------------------------------------
# Loop prevention

my $inbound = 'aaaaaaaa-0000-4000-8000-000000000001';
my $other_user = 'aaaaaaaa-0000-4000-8000-000000000002';
sql(q{CREATE TABLE directus_activity (id serial PRIMARY KEY, action varchar(45), "user" uuid,
	collection varchar(64), item varchar(255), timestamp timestamptz DEFAULT now())});

# A second remote c subscribes articles and notes, a table b does not.
sql(q{CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'note')});
sql("SELECT directus_sync.add_remote('c', '$fake_c->{url}', 'test-token')");
sql("SELECT directus_sync.subscribe('c', 'articles', $fields_sql)");
sql(q{SELECT directus_sync.subscribe('c', 'notes', ARRAY['body'])});
sql(q{SELECT directus_sync.resync('c', 'articles'); SELECT directus_sync.resync('c', 'notes')});
ok(wait_drained($node, 'c'), 'remote c: initial resync delivered');

# A long-lived session (as Directus's connection pool keeps them) that
# wrote notes before any remote had an inbound user.
my $pool = $node->background_psql('postgres');
$pool->query_safe(q{UPDATE notes SET body = 'written by a pooled session' WHERE id = 1});
ok(wait_drained($node, 'c'), 'pooled session\'s change delivered to c');

sql("SELECT directus_sync.alter_remote('b', inbound_user => '$inbound')");
is(sql(q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'directus_activity'::regclass AND tgname = 'directus_sync_loop_guard'}),
	1, 'loop guard: trigger on directus_activity once a remote has an inbound user');

# What Directus does when a user saves an item: the item, then the
# activity row naming the user, in one transaction.
sub directus_update
{
	my ($user, $id, $title, %opt) = @_;
	my $coll = $opt{collection} // 'articles';
	my $set = $coll eq 'notes' ? "body = '$title'" : "title = '$title'";
	my $item = $opt{activity_item} // $id;
	my $sql = qq{BEGIN; UPDATE $coll SET $set WHERE id = $id;
		INSERT INTO directus_activity (action, "user", collection, item) VALUES ('update', '$user', '$coll', '$item');
		COMMIT;};
	return $opt{session} ? $opt{session}->query_safe($sql) : sql($sql);
}

sql(q{SELECT directus_sync.pause('b')});
directus_update($inbound, 1, 'by the inbound user');
is(outbox_count($node, 'b'), 0, 'loop guard: a change made by the remote\'s inbound user is not queued for it');
directus_update($other_user, 1, 'by another user');
is(outbox_count($node, 'b'), 1, 'loop guard: the same change by another user is queued');
directus_update($inbound, 10, 'inbound, activity names another item', activity_item => '11');
is(outbox_count($node, 'b'), 2, 'loop guard: an activity row about another item holds nothing back');
$mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b'), 'loop guard: delivered');
my @titles = map { $_->{title} // () } map { @{ ref $_->{body} eq 'ARRAY' ? $_->{body} : [] } }
	@{ fake_requests($fake, $mark, 'articles') };
is(json_canon([ sort @titles ]), json_canon([ 'by another user', 'inbound, activity names another item' ]),
	'loop guard: the remote never got the change its own user made');

# Two remotes.
ok(wait_drained($node, 'c'), 'remote c drained');
sql(q{SELECT directus_sync.pause('b'); SELECT directus_sync.pause('c')});
directus_update($inbound, 1, 'inbound, not forwarded');
is(outbox_count($node, 'b') . '/' . outbox_count($node, 'c'), '0/0',
	'loop guard, forward_inbound false: queued neither back to b nor forward to c');
sql(q{SELECT directus_sync.alter_remote('b', forward_inbound => true)});
directus_update($inbound, 1, 'inbound, forwarded');
is(outbox_count($node, 'b') . '/' . outbox_count($node, 'c'), '0/1',
	'loop guard, forward_inbound true: queued for c only');
$mark = last_seq($fake_c);
sql(q{SELECT directus_sync.resume('b'); SELECT directus_sync.resume('c')});
ok(wait_drained($node, 'c') && wait_drained($node, 'b'), 'two remotes: delivered');
@titles = map { $_->{title} // () } map { @{ ref $_->{body} eq 'ARRAY' ? $_->{body} : [] } }
	@{ fake_requests($fake_c, $mark, 'articles') };
is(json_canon(\@titles), json_canon(['inbound, forwarded']), 'two remotes: c got the forwarded change only');
is(fake_item_map($fake, 'articles', 'id')->{1}{title}, 'by another user', 'two remotes: b got neither');

# Back to forward_inbound false: the pooled session's notes change by b's
# inbound user must not go to c either, as in a new session.
sql(q{SELECT directus_sync.alter_remote('b', forward_inbound => false); SELECT directus_sync.pause('c')});
directus_update($inbound, 1, 'inbound, new session', collection => 'notes');
is(outbox_count($node, 'c'), 0, 'loop guard, new session: a change by b\'s inbound user to a table only c subscribes is not forwarded');
directus_update($inbound, 1, 'inbound, pooled session', collection => 'notes', session => $pool);
is(outbox_count($node, 'c'), 0,
	'loop guard, long-lived session that wrote the table before the inbound user was set: not forwarded either');
$pool->quit;
sql(q{DELETE FROM directus_sync.outbox; SELECT directus_sync.resume('c')});

# ---------------------------------------------------------------------------
# The worker

is(sql('SELECT directus_sync.wake()'), 't', 'wake(): true while the worker runs');
# (an idle worker may exit between a wake and the count: each try wakes it)
ok(wait_for('one worker backend', sub {
	sql('SELECT directus_sync.wake()');
	sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'directus_sync worker' AND datname = 'postgres'}) eq '1' },
	timeout => 30), 'pg_stat_activity: one "directus_sync worker" backend on database postgres');

unlike(slurp_file($node->logfile), qr/PANIC|TRAP|server process .* was terminated/, 'no crash in the server log');

$node->stop;
done_testing();
