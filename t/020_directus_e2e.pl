# End to end with real Directus (12.4.0, or 11.17.4 with DS_DIRECTUS_VERSION=11): two instances, A and B, on two
# databases of one cluster, each with directus_sync, subscribed to each
# other; everything done through Directus's REST API as a user would,
# unless the test says SQL. Each side writes to the other as a non-admin
# sync user with a static token, and knows the other's sync user as the
# remote's inbound user (loop prevention). Without clocks (subscribe's
# clocks => false, as 0.2 replicated): t/026 covers them, the default of a
# remote that writes back.
#
# Covers: create/update/delete both ways; only subscribed fields travel; a
# change crosses exactly once (activity rows and delivered counts); a plain
# SQL change travels; sequences move past keys that arrive; a string key;
# a singleton; 5,000 items through the API; B stopped for a while; an error
# on B gives a dead letter and a notification that /notifications returns;
# concurrent edits of one field end equal on both sides, by the documented
# rule, with the conflict logged; resync into a fresh instance C; and the
# fake Directus's contract test passing against the real one.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use DirectusE2E;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $script = e2e_script();
my $node = e2e_node('e2e', qw(directus_a directus_b directus_c));
my $A = start_directus($node, 'directus_a');
my $B = start_directus($node, 'directus_b');

sub sql_a { return run_sql($node, $_[0], 'directus_a') }
sub sql_b { return run_sql($node, $_[0], 'directus_b') }

# ---------------------------------------------------------------------------
# Set-up: the same collections on both; sync users; remotes; subscriptions

for my $d ($A, $B)
{
	create_collection($d, 'articles', [ 'id', 'integer' ],
		[ [ 'title', 'string' ], [ 'body', 'text' ], [ 'secret', 'string' ] ]);
	create_collection($d, 'tags', [ 'slug', 'string' ], [ [ 'label', 'string' ] ]);
	create_collection($d, 'site', [ 'id', 'integer' ], [ [ 'headline', 'string' ] ], singleton => JSON::PP::true);
}
# On B, the user A writes as; on A, the user B writes as.
my $a_on_b = create_sync_user($B, 'sync-from-a@example.com', 'token-a-writes-b', qw(articles tags site));
my $b_on_a = create_sync_user($A, 'sync-from-b@example.com', 'token-b-writes-a', qw(articles tags site));
my $admin_a = admin_user_id($A);
connect_remotes($A, $B, 'b', $a_on_b, $b_on_a, notify_users => 'ARRAY[' . quote_literal($admin_a) . ']::uuid[]');
connect_remotes($B, $A, 'a', $b_on_a, $a_on_b);
for ([ \&sql_a, 'b' ], [ \&sql_b, 'a' ])
{
	my ($sql, $remote) = @$_;
	$sql->("SELECT directus_sync.subscribe('$remote', 'articles', ARRAY['title', 'body'], clocks => false)");
	$sql->("SELECT directus_sync.subscribe('$remote', 'tags', ARRAY['label'], clocks => false)");
	$sql->("SELECT directus_sync.subscribe('$remote', 'site', ARRAY['headline'], clocks => false)");
}
is(sql_a(q{SELECT singleton FROM directus_sync.subscription WHERE collection = 'site'}), 't',
	'set-up: the singleton is known as one from directus_collections');

sub articles { my ($d) = @_; return api_ok($d, 'GET', '/items/articles?fields=id,title,body&sort=id&limit=-1') }
sub article { my ($d, $id) = @_; my ($s, $r) = api($d, 'GET', "/items/articles/$id?fields=id,title,body,secret");
	return $s == 200 ? $r->{data} : undef }
# Both queues empty at once: what one side applies can queue more on it.
sub drained
{
	for (1 .. 10)
	{
		return 0 unless wait_drained($node, 'b', db => 'directus_a') && wait_drained($node, 'a', db => 'directus_b');
		return 1 if outbox_count($node, 'b', 'directus_a') == 0;
	}
	return 0;
}
sub delivered { my ($sql, $r) = @_; return $sql->("SELECT delivered FROM directus_sync.remote_status WHERE remote = '$r'") }
sub activity_by
{
	my ($sql, $user, $coll, $item) = @_;
	return $sql->("SELECT string_agg(action, ',' ORDER BY id) FROM directus_activity WHERE \"user\" = '$user->{id}'"
		  . " AND collection = '$coll'" . (defined $item ? " AND item = '$item'" : ''));
}

# ---------------------------------------------------------------------------
# Create on A, edit on B, delete on A; exactly once each way

my $first = api_ok($A, 'POST', '/items/articles', { title => 'Hello', body => 'from A', secret => 'A only' });
my $id = $first->{id};
ok(wait_for('the article to reach B', sub { ((article($B, $id) // {})->{title} // '') eq 'Hello' }),
	'create on A: the item appears in B');
my $on_b = article($B, $id);
is_deeply([ $on_b->{title}, $on_b->{body}, $on_b->{secret} ], [ 'Hello', 'from A', undef ],
	'create on A: subscribed fields travel, the unsubscribed one does not');

api_ok($B, 'PATCH', "/items/articles/$id", { title => 'Edited on B' });
ok(wait_for('the edit to reach A', sub { ((article($A, $id) // {})->{title} // '') eq 'Edited on B' }),
	'update on B: the edit comes back to A');
is(article($A, $id)->{secret}, 'A only', 'update on B: A keeps its own unsubscribed field');
ok(drained(), 'both queues drain');
is(activity_by(\&sql_b, $a_on_b, 'articles', $id), 'create', "B: A's sync user wrote the item once (a create)");
is(activity_by(\&sql_a, $b_on_a, 'articles', $id), 'update', "A: B's sync user wrote the edit once");
is(delivered(\&sql_a, 'b') . '/' . delivered(\&sql_b, 'a'), '1/1',
	'no echo: each side shipped exactly one change (its own)');

api_ok($A, 'PATCH', "/items/articles/$id", { secret => 'still A only' });
ok(drained(), 'an unsubscribed field changed on A');
is(delivered(\&sql_a, 'b'), 1, 'a change of an unsubscribed field ships nothing');

api_ok($A, 'DELETE', "/items/articles/$id");
ok(wait_for('the delete to reach B', sub { sql_b("SELECT count(*) FROM articles WHERE id = $id") eq '0' }),
	'delete on A: the item is gone from B');
ok(drained(), 'queues drain after the delete');
is(delivered(\&sql_b, 'a'), 1, 'no echo of the delete');

# ---------------------------------------------------------------------------
# Plain SQL on A; sequences move past keys that arrive

my $sql_id = sql_a(q{INSERT INTO articles (title, body, secret) VALUES ('by psql', 'no Directus involved', 'x')
	RETURNING id});
ok(wait_for('the SQL insert to reach B', sub { ((article($B, $sql_id) // {})->{title} // '') eq 'by psql' }),
	'a change made by SQL on A appears in B');

api_ok($A, 'POST', '/items/articles', [ map { { title => "A batch $_" } } 1 .. 3 ]);
ok(drained(), 'three more items from A arrive');
my $max_id = sql_b('SELECT max(id) FROM articles');
my $local_b = api_ok($B, 'POST', '/items/articles', { title => 'made on B' });
ok($local_b->{id} > $max_id, "B's next own key ($local_b->{id}) is past the keys that arrived (up to $max_id)");
my $sql_b_id = sql_b(q{INSERT INTO articles (title) VALUES ('SQL on B') RETURNING id});
ok($sql_b_id > $local_b->{id}, 'a plain INSERT on B takes a free key too');
ok(drained(), "B's new items travel to A");
ok(wait_until_equal('A and B to hold the same articles', sub { articles($A) }, sub { articles($B) }),
	'integer keys made on both sides: both hold the same articles');

# ---------------------------------------------------------------------------
# A string key; a singleton

api_ok($A, 'POST', '/items/tags', { slug => 'pg', label => 'PostgreSQL' });
ok(wait_for('the tag to reach B', sub { sql_b(q{SELECT label FROM tags WHERE slug = 'pg'}) eq 'PostgreSQL' }),
	'string key: create travels');
api_ok($B, 'PATCH', '/items/tags/pg', { label => 'Postgres' });
ok(wait_for('the tag edit to reach A', sub { sql_a(q{SELECT label FROM tags WHERE slug = 'pg'}) eq 'Postgres' }),
	'string key: update travels back');
api_ok($A, 'DELETE', '/items/tags/pg');
ok(wait_for('the tag delete to reach B', sub { sql_b(q{SELECT count(*) FROM tags}) eq '0' }),
	'string key: delete travels');

api_ok($A, 'PATCH', '/items/site', { headline => 'Welcome' });
ok(wait_for('the singleton to reach B', sub { ((api_ok($B, 'GET', '/items/site') // {})->{headline} // '') eq 'Welcome' }),
	'singleton: set on A, B has it');
api_ok($B, 'PATCH', '/items/site', { headline => 'Welcome back' });
ok(wait_for('the singleton edit to reach A',
		sub { ((api_ok($A, 'GET', '/items/site') // {})->{headline} // '') eq 'Welcome back' }),
	'singleton: edited on B, A has it');

# ---------------------------------------------------------------------------
# 5,000 items through the API

for my $chunk (0 .. 9)
{
	api_ok($A, 'POST', '/items/articles',
		[ map { { title => "bulk $_", body => "item $_ of 5000" } } $chunk * 500 + 1 .. $chunk * 500 + 500 ]);
}
ok(wait_for('5,000 items to reach B', sub { sql_b(q{SELECT count(*) FROM articles WHERE title LIKE 'bulk %'}) eq '5000' },
		timeout => 600),
	'5,000 items created through the API on A all arrive in B');
ok(wait_until_equal('A and B to hold the same articles', sub { articles($A) }, sub { articles($B) }),
	'after the bulk: both hold the same articles, field by field');

# ---------------------------------------------------------------------------
# B stopped for a while

stop_directus($B);
my $down = api_ok($A, 'POST', '/items/articles', [ map { { title => "while B is down $_" } } 1 .. 50 ]);
sql_a(q{UPDATE articles SET body = 'edited while B is down' WHERE title LIKE 'bulk 1%'});
ok(wait_for('A to notice that B is down', sub { (remote_status($node, 'b', 'directus_a')->{last_error} // '') ne '' }),
	'B down: A records the failure');
ok(remote_status($node, 'b', 'directus_a')->{queued} > 0, 'B down: the changes stay queued');
start_directus($node, 'directus_b', reuse => $B);
ok(drained(), 'B back: the queue drains');
ok(wait_until_equal('A and B to hold the same articles', sub { articles($A) }, sub { articles($B) }),
	'B back: everything made while it was down arrived');

# ---------------------------------------------------------------------------
# An error on B: a dead letter on A, and a notification Directus returns

api_ok($A, 'POST', '/items/tags', { slug => 'broken', label => 'fine so far' });
ok(wait_for('the tag to reach B', sub { sql_b(q{SELECT label FROM tags WHERE slug = 'broken'}) eq 'fine so far' }),
	'a tag made on A arrives in B');
# Directus 11 and 12 refuse (403 FORBIDDEN) a non-admin's update of a field
# the collection lacks; Directus 10 ignores the field (200): there B's
# label is made too short for the new value instead (400 VALUE_TOO_LONG).
my $v10 = directus_major() < 11;
my $refusal = $v10 ? '400 VALUE_TOO_LONG' : '403 FORBIDDEN';
if ($v10) { api_ok($B, 'PATCH', '/fields/tags/label', { schema => { max_length => 20 } }) }
else { api_ok($B, 'DELETE', '/fields/tags/label') }
# (A create would arrive without the field: Directus ignores unknown fields
# in a create. An update of it is refused.)
api_ok($A, 'PATCH', '/items/tags/broken', { label => 'B has no label field now' });
ok(wait_for('the dead letter', sub { sql_a('SELECT count(*) FROM directus_sync.dead_letter') eq '1' }),
	$v10 ? 'a value too long for B: the update becomes a dead letter on A'
	: 'a field dropped on B: the update of it becomes a dead letter on A');
is(sql_a(q{SELECT http_status || ' ' || error_code FROM directus_sync.dead_letter}), $refusal,
	"the dead letter keeps B's HTTP status and Directus error code");
my $notes;
ok(wait_for('the notification', sub {
	$notes = api_ok($A, 'GET', "/notifications?filter[recipient][_eq]=$admin_a&filter[collection][_eq]=tags");
	@$notes > 0 }), "A's /notifications API returns a notification for the chosen user");
like($notes->[0]{subject}, qr/\bto b\b/, 'the notification names the remote');
is($notes->[0]{item}, 'broken', 'the notification names the item');
if ($v10) { api_ok($B, 'PATCH', '/fields/tags/label', { schema => { max_length => 255 } }) }
else { api_ok($B, 'POST', '/fields/tags', { field => 'label', type => 'string', schema => {} }) }
is(sql_a('SELECT directus_sync.replay()'), 1, 'replay, once the field is back on B');
ok(wait_for('the replayed change', sub { sql_b(q{SELECT label FROM tags WHERE slug = 'broken'}) eq 'B has no label field now' }),
	'the replayed change arrives');

# ---------------------------------------------------------------------------
# Concurrent edits of one field: both sides end equal, by the rule of
# README (a value beats null; else the JSON text that sorts last wins); the
# conflict is logged by the side whose change was still queued when the
# other's arrived (one or both), naming the same winner.

sub status_conflicts { my ($sql, $r) = @_; return $sql->("SELECT conflicts FROM directus_sync.remote_status WHERE remote = '$r'") }
# The conflict a side logged for the title of the item: its winner, given
# our value and theirs ('' when none is logged).
sub logged_winner
{
	my ($sql, $ours, $theirs) = @_;
	return $sql->("SELECT coalesce(string_agg(winner, ','), '') FROM directus_sync.conflict WHERE collection = 'articles'"
		  . " AND item_key = '$sql_id' AND field = 'title' AND local_value #>> '{}' = " . quote_literal($ours)
		  . " AND remote_value #>> '{}' = " . quote_literal($theirs));
}
my $seed = length($ENV{DS_TEST_SEED} // '') ? $ENV{DS_TEST_SEED} : int(rand(1_000_000_000));
note("random seed $seed (DS_TEST_SEED repeats it)");
srand($seed);
my @letters = ('a' .. 'z');
for my $round (1 .. 6)
{
	# Rounds 1-3 hold both queues, so both edits are surely concurrent;
	# rounds 4-6 race the two workers.
	my $hold = $round <= 3;
	my @status_before = (status_conflicts(\&sql_a, 'b'), status_conflicts(\&sql_b, 'a'));
	if ($hold) { sql_a(q{SELECT directus_sync.pause('b')}); sql_b(q{SELECT directus_sync.pause('a')}) }
	my ($va, $vb) = map { $letters[ int(rand(26)) ] . " round $round from $_" } qw(A B);
	api_ok($A, 'PATCH', "/items/articles/$sql_id", { title => $va });
	api_ok($B, 'PATCH', "/items/articles/$sql_id", { title => $vb });
	if ($hold) { sql_a(q{SELECT directus_sync.resume('b')}); sql_b(q{SELECT directus_sync.resume('a')}) }
	ok(drained(), "conflict round $round: queues drain");
	my ($ta, $tb) = (article($A, $sql_id)->{title}, article($B, $sql_id)->{title});
	is($ta, $tb, "conflict round $round: A and B end with the same title ($ta)");
	next unless $hold;
	is($ta, ($va gt $vb ? $va : $vb), "conflict round $round: the value that sorts last won");
	# The side whose change is still queued when the other's arrives logs
	# the conflict: one side or both, as the two workers race.
	my ($wa, $wb) = (logged_winner(\&sql_a, $va, $vb), logged_winner(\&sql_b, $vb, $va));
	ok($wa ne '' || $wb ne '', "conflict round $round: logged (A: '$wa', B: '$wb')");
	ok(($wa eq '' || $wa eq ($va gt $vb ? 'local' : 'remote')) && ($wb eq '' || $wb eq ($vb gt $va ? 'local' : 'remote')),
		"conflict round $round: each side that logged it names the value that won");
	my $rows = sub { my ($w) = @_; return $w eq '' ? 0 : scalar(split /,/, $w) };
	is((status_conflicts(\&sql_a, 'b') - $status_before[0]) . ' / ' . (status_conflicts(\&sql_b, 'a') - $status_before[1]),
		$rows->($wa) . ' / ' . $rows->($wb), "conflict round $round: remote_status counts what each side logged");
}
ok(wait_until_equal('A and B to hold the same articles', sub { articles($A) }, sub { articles($B) }),
	'after the conflicts: both hold the same articles');

# ---------------------------------------------------------------------------
# Resync into a fresh instance C

my $C = start_directus($node, 'directus_c');
create_collection($C, 'articles', [ 'id', 'integer' ],
	[ [ 'title', 'string' ], [ 'body', 'text' ], [ 'secret', 'string' ] ]);
my $a_on_c = create_sync_user($C, 'sync-from-a@example.com', 'token-a-writes-c', 'articles');
sql_a("SET log_statement = 'none'; SELECT directus_sync.add_remote('c', " . quote_literal($C->{url}) . ", 'token-a-writes-c')");
sql_a(q{SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'body'])});
ok(sql_a(q{SELECT directus_sync.resync('c', 'articles')}) > 5000, 'resync into C: every row of A is to be queued');
ok(wait_drained($node, 'c', db => 'directus_a', timeout => 600), 'resync into C: done');
ok(wait_until_equal('C to hold what A holds', sub { articles($A) }, sub { articles($C) }),
	'resync into C: C holds every article of A');

# ---------------------------------------------------------------------------
# The fake's contract test, against real Directus: same requests, same
# statuses and error codes.

create_collection($B, 'fidelity', [ 'id', 'integer' ], [ [ 'title', 'string' ] ]);
create_collection($B, 'fidelity_single', [ 'id', 'integer' ], [ [ 'site', 'string' ], [ 'color', 'string' ] ],
	singleton => JSON::PP::true);
# A non-admin user, as a remote's sync user, and one that may create and
# update the collection but not read it.
my $nonadmin = create_sync_user($B, 'fidelity-nonadmin@example.com', 'token-fidelity-nonadmin', 'fidelity');
my $noread = create_sync_user($B, 'fidelity-noread@example.com', 'token-fidelity-noread');
{
	my $by_role = directus_major() < 11;
	my $user = api_ok($B, 'GET', "/users/$noread->{id}?fields=" . ($by_role ? 'role' : 'policies.policy'));
	my %owner = $by_role ? (role => $user->{role}) : (policy => $user->{policies}[0]{policy});
	api_ok($B, 'POST', '/permissions', { %owner, collection => 'fidelity', action => $_, fields => ['*'],
			permissions => {}, validation => {} }) for qw(create update);
}
{
	local $ENV{DIRECTUS_URL} = $B->{url};
	local $ENV{DIRECTUS_TOKEN} = $B->{token};
	local $ENV{DIRECTUS_TEST_COLLECTION} = 'fidelity';
	local $ENV{DIRECTUS_NONADMIN_TOKEN} = $nonadmin->{token};
	local $ENV{DIRECTUS_NOREAD_TOKEN} = $noread->{token};
	local $ENV{DIRECTUS_TEST_SINGLETON} = 'fidelity_single';
	local $ENV{DIRECTUS_VERSION} = directus_major();
	my ($out, $err);
	my $ok = IPC::Run::run([ 'prove', '-v', 't/002_fake_directus.pl' ], '>', \$out, '2>', \$err);
	ok($ok, "the fake's contract test (t/002) passes against real Directus " . directus_release() . ' too') or diag("$out\n$err");
	my @ran = grep { $out =~ /^ok \d+ - \Q$_\E$/m } ('modes: non-admin, no read-back', 'singleton',
		'no token is the public role');
	is(scalar @ran, 3, "... its non-admin, no-read-back, singleton and public-role subtests ran there (not skipped): @ran");
}

is(server_crash($node), '', 'no crash in the server log');
done_testing();
