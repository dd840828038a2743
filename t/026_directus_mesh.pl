# End to end with real Directus (12.4.0, 11.17.4 or 10.13.4 by
# DS_DIRECTUS_VERSION): three instances A, B and C on three databases of
# one cluster, in a full mesh (each one a remote of the other two, with
# forward_inbound), with per-field clocks on the collections (subscribe
# turns them on: each remote writes back).
# Every edit is made through Directus's REST API as a Directus user.
#
# Covers:
#   - the column and directus_fields row that subscribe makes (the remote
#     writes back, so the collection gets clocks) as Directus sees them
#     once its system cache is cleared (the hidden field; a sync user writes
#     it through the API);
#   - the failure case of value-based conflict resolution in a mesh: the same
#     field edited on A, then about 2 s later on B, with the links held; every
#     instance ends with B's (later) value, whichever value sorts last;
#   - concurrent edits of different fields of one item on A and C: both kept;
#   - a chain: A's edit reaching C only through B keeps its original clock,
#     and the change stops (no endless echo);
#   - an editor that is not a sync user cannot bring clocks through the API
#     (its write fails as a whole); a sync user can; what revisions show;
#   - a seeded random soak: edits on random instances while remotes are
#     paused and resumed at random; in the end all three hold the same rows,
#     each field the value written with the largest clock;
#   - a create reaching a Directus whose schema cache does not know the
#     field yet is refused there (it comes without clocks) and waits until
#     the cache is cleared; a later edit made elsewhere still wins;
#   - a table unsubscribed for a while keeps deciding by clocks, and local
#     edits after it is subscribed again are local edits;
#   - integer keys made on two instances at once (collections made through
#     Directus's API, serial keys): without key series the item born later
#     keeps the key, whole, the other is in the conflict log in full and
#     its instance's users to notify get a Directus notification; with key
#     series (set_instance) every item survives under a key of its own
#     instance's series, also after creates with explicit keys;
#   - update against delete, both ways, with the links held: an item
#     deleted on A and then edited on B comes back everywhere, whole, with
#     B's edit; an item edited on A and then deleted on B is gone
#     everywhere, each instance keeping a tombstone; the conflict log.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use DirectusE2E;
use IO::Socket::INET;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

my $script = e2e_script();
my $t_start = time();

# Directus's HTTP ports from 56500-56599 (other tests running on this
# machine at the same time take theirs elsewhere).
my %taken;
sub mesh_port
{
	for my $p (56500 .. 56599)
	{
		next if $taken{$p};
		my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Proto => 'tcp', ReuseAddr => 0);
		next unless $s;
		close $s;
		$taken{$p} = 1;
		return $p;
	}
	BAIL_OUT('no free port in 56500-56599');
}

my @names = qw(a b c);
my $node = e2e_node('mesh', map { "directus_$_" } @names);
my %D = map { ($_ => start_directus($node, "directus_$_", port => mesh_port())) } @names;
my ($A, $B, $C) = @D{@names};
sub sql { my ($x, $q) = @_; return run_sql($node, $q, "directus_$x") }

# articles for most cases; memos and notes for the integer keys made on two
# instances at once (sections 7 and 8), made here so that the sync users
# get their permissions as they get those of articles. All three as a real
# Directus collection is made: an integer auto-increment key id (serial).
for my $x (@names)
{
	create_collection($D{$x}, $_, [ 'id', 'integer' ], [ [ 'title', 'string' ], [ 'body', 'text' ] ])
	  for qw(articles memos notes);
}
# $sync{x}{y}: the user on x that y writes to x as (x's inbound user for y).
my %sync;
for my $x (@names)
{
	for my $y (grep { $_ ne $x } @names)
	{
		$sync{$x}{$y} = create_sync_user($D{$x}, "sync-from-$y\@example.com", "token-$y-writes-$x", qw(articles memos notes));
	}
}
for my $x (@names)
{
	for my $y (grep { $_ ne $x } @names)
	{
		connect_remotes($D{$x}, $D{$y}, $y, $sync{$y}{$x}, $sync{$x}{$y}, forward_inbound => 'true');
		# the remote writes here too: subscribe turns clocks on (articles
		# has integer keys; key series come in section 8)
		sql($x, "SELECT directus_sync.subscribe('$y', 'articles', ARRAY['title', 'body'], key_series => false)");
	}
}
my %node_id = map { ($_ => sql($_, 'SELECT directus_sync._node_id()')) } @names;

sub remotes_of { my ($x) = @_; return grep { $_ ne $x } @names }
sub delivered { my ($x, $r) = @_; return sql($x, "SELECT delivered FROM directus_sync.remote_status WHERE remote = '$r'") }
sub all_delivered { return { map { my $x = $_; map { ("$x>$_" => delivered($x, $_)) } remotes_of($x) } @names } }
sub pause { my ($x, $r) = @_; sql($x, "SELECT directus_sync.pause('$r')") }
sub resume { my ($x, $r) = @_; sql($x, "SELECT directus_sync.resume('$r')") }
# Every queue of every instance empty at once (applying a change can queue
# more, to be forwarded).
sub drained_all
{
	for (1 .. 10)
	{
		for my $x (@names)
		{
			for my $r (remotes_of($x))
			{
				return 0 unless wait_drained($node, $r, db => "directus_$x");
			}
		}
		return 1 unless grep { my $x = $_; grep { outbox_count($node, $_, "directus_$x") != 0 } remotes_of($x) } @names;
	}
	return 0;
}
# Every queue of the instances named empty (the others' remotes may be held).
sub drained_from
{
	for my $x (@_)
	{
		for my $r (remotes_of($x))
		{
			return 0 unless wait_drained($node, $r, db => "directus_$x");
		}
	}
	return 1;
}
# Links held: every remote of each instance named paused (its changes
# queue), then resumed.
sub hold { my @x = @_; for my $x (@x) { pause($x, $_) for remotes_of($x) } }
sub release { my @x = @_; for my $x (@x) { resume($x, $_) for remotes_of($x) } }
# An item of a collection as { title, body }, undef when the instance lacks it.
sub item_of
{
	my ($x, $coll, $id) = @_;
	my $r = sql($x, "SELECT coalesce(json_build_object('title', title, 'body', body), 'null') FROM $coll WHERE id = $id");
	return $r eq '' ? undef : json_decode($r);
}
sub row_of { my ($x, $id) = @_; return item_of($x, 'articles', $id) }
sub born_of { my ($x, $coll, $id) = @_; return sql($x, "SELECT directus_sync_meta->>'b' FROM $coll WHERE id = $id") }
# The delete clock of an item's tombstone ('' when there is none).
sub tombstone_of
{
	my ($x, $coll, $id) = @_;
	return sql($x, "SELECT deleted FROM directus_sync.tombstone WHERE collection = '$coll' AND item_key = '$id'");
}
# An item's rows of the conflict log as "kind winner local_clock remote_clock".
sub conflicts_of
{
	my ($x, $coll, $id) = @_;
	return sql($x, "SELECT coalesce(string_agg(concat_ws(' ', kind, winner, local_clock, remote_clock), '; ' ORDER BY id), 'none')"
		  . " FROM directus_sync.conflict WHERE collection = '$coll' AND item_key = '$id'");
}
sub field_clock { my ($x, $id, $f) = @_; return sql($x, "SELECT directus_sync_meta->'f'->>'$f' FROM articles WHERE id = $id") }
sub titles { my ($id) = @_; return join(' | ', map { (row_of($_, $id) // {})->{title} // '(none)' } @names) }
sub dead_letters { return join(' ', map { sql($_, 'SELECT count(*) FROM directus_sync.dead_letter') } @names) }
sub explore_dead
{
	diag("$_: dead letters: " . sql($_, "SELECT coalesce(string_agg(r.name || ' ' || d.op::text || ' ' || d.item_key || ' ' || d.http_status || ' ' || coalesce(d.error_code, '') || ' ' || left(coalesce(d.error_message, ''), 200) || ' ' || d.payload::text, '; '), 'none') FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id")) for @names;
}
sub patch { my ($d, $id, $body, $token) = @_; return api_ok($d, 'PATCH', "/items/articles/$id", $body, $token) }
# The default of a collection's key column (its sequence, or the key series).
sub key_default
{
	my ($x, $coll) = @_;
	return sql($x, "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid"
		  . " AND a.attnum = d.adnum WHERE d.adrelid = '$coll'::regclass AND a.attname = 'id'");
}

# ---------------------------------------------------------------------------
# Clocks on: subscribe made the column and Directus's field row by SQL;
# then Directus's system cache cleared so that it knows the field.

is(join(' ', map { sql($_, q{SELECT format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'articles'::regclass AND attname = 'directus_sync_meta'}) } @names),
	'jsonb jsonb jsonb', 'subscribe to a remote that writes back: each database has the jsonb column');
{
	# Before the cache is cleared, Directus does not know the field.
	my ($status) = api($A, 'GET', '/fields/articles/directus_sync_meta');
	note("GET /fields/articles/directus_sync_meta before the cache is cleared: $status");
}
for my $x (qw(a c))
{
	my ($status, $body) = api($D{$x}, 'POST', '/utils/cache/clear?system=true');
	is($status, 200, "$x: POST /utils/cache/clear?system=true as admin") or diag(json_canon($body));
}
# The window between subscribe turning clocks on and clearing a
# Directus's cache: B's Directus does not know the field yet and drops it
# from a sync's create (Directus 12 and 10; 11.17.4 was seen to keep it).
# B's database refuses a sync's change that brings no clocks (stamped there it would beat C's later
# edit), so the create waits at A until B's cache is cleared; then C's
# later edit wins everywhere and every instance holds A's born clock.
# (Deterministic: A's remote b and C's remotes are paused meanwhile.)
my $wid;
{
	pause('a', 'b');
	pause('c', $_) for qw(a b);
	$wid = api_ok($A, 'POST', '/items/articles', { title => 'window create', body => 'made on A' })->{id};
	my $born_a = sql('a', "SELECT directus_sync_meta->>'b' FROM articles WHERE id = $wid");
	ok(wait_drained($node, 'c', db => 'directus_a'), 'window: the create reaches C');
	patch($C, $wid, { title => 'window edit on C' });
	my $v11 = directus_major() == 11;
	resume('a', 'b');
	SKIP:
	{
		skip 'Directus 11 kept the field of a create with its schema cache not cleared (seen on 11.17.4)', 2 if $v11;
		ok(wait_for("A's delivery to B to fail", sub {
			(sql('a', q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}) // '') =~ /HTTP 500/ }),
			'window: B refuses the create that its Directus stripped of clocks (A sees HTTP 500 and retries)');
		ok(!defined row_of('b', $wid), '... and B does not hold the item meanwhile');
	}
	my ($status, $body) = api($B, 'POST', '/utils/cache/clear?system=true');
	is($status, 200, "b: POST /utils/cache/clear?system=true as admin") or diag(json_canon($body));
	resume('c', $_) for qw(a b);
	ok(drained_all(), 'window: every queue drains once B\'s cache is cleared');
	is(dead_letters(), '0 0 0', 'window: no dead letter') or explore_dead();
	my @t = map { (row_of($_, $wid) // {})->{title} // '(none)' } @names;
	is("@t", join(' ', ('window edit on C') x 3), "window: C's later edit wins on A, B and C");
	is(join(' ', map { sql($_, "SELECT directus_sync_meta->>'b' FROM articles WHERE id = $wid") } @names),
		join(' ', ($born_a) x 3), "window: A, B and C hold A's born clock");
}

for my $x (@names)
{
	my ($status, $f) = api($D{$x}, 'GET', '/fields/articles/directus_sync_meta');
	$f = ref $f eq 'HASH' ? $f->{data} : undef;
	is_deeply([ $status, $f && $f->{type}, $f && $f->{meta}{hidden}, $f && $f->{meta}{readonly},
			$f && $f->{meta}{interface}, $f && $f->{meta}{special} ],
		[ 200, 'json', JSON::PP::true, JSON::PP::true, 'input-code', ['cast-json'] ],
		"$x: Directus serves the field: json, hidden, read-only, input-code, cast-json")
	  or diag("$status " . json_canon($f));
	my ($s2, $items) = api($D{$x}, 'GET', '/items/articles?limit=1');
	is($s2, 200, "$x: the collection's items are served with the field in place");
	my ($s3, $fields) = api($D{$x}, 'GET', '/fields/articles');
	is($s3, 200, "$x: GET /fields/articles answers") or diag(json_canon($fields));
}


# ---------------------------------------------------------------------------
# An item made on A reaches B and C, with clocks

my $id = api_ok($A, 'POST', '/items/articles', { title => 'first', body => 'made on A' })->{id};
ok(drained_all(), 'create on A: every queue drains');
is(titles($id), 'first | first | first', 'create on A: the item is in A, B and C');
my $born = sql('a', "SELECT directus_sync_meta->>'b' FROM articles WHERE id = $id");
like($born, qr/^[0-9a-f]{16}\@\Q$node_id{a}\E$/, "A stamped the item's born clock with its own node ($born)");
is(join(' ', map { sql($_, "SELECT directus_sync_meta->>'b' FROM articles WHERE id = $id") } qw(b c)),
	"$born $born", 'B and C keep the born clock A gave');
is(join(' ', map { field_clock($_, $id, 'title') eq field_clock('a', $id, 'title') ? 'same' : 'differs' } qw(b c)),
	'same same', "B and C hold A's title clock");

# ---------------------------------------------------------------------------
# 1. The same field edited on A, then ~2 s later on B, links held: B's
#    later value wins everywhere, whichever value sorts last.
#    (Before clocks, A and B ended with A's value and C with B's when A's
#    value sorted last.)

for my $case ([ 'z: earlier edit on A, sorts last', 'a: later edit on B, sorts first' ],
	[ 'a: earlier edit on A, sorts first', 'z: later edit on B, sorts last' ])
{
	my ($va, $vb) = @$case;
	my $label = $va =~ /sorts last/ ? 'earlier value sorts last' : 'later value sorts last';
	pause('a', $_) for qw(b c);
	pause('b', $_) for qw(a c);
	patch($A, $id, { title => $va });
	my $clock_a = field_clock('a', $id, 'title');
	sleep(2);
	patch($B, $id, { title => $vb });
	my $clock_b = field_clock('b', $id, 'title');
	ok(($clock_b cmp $clock_a) > 0, "$label: B's edit has the later clock ($clock_b > $clock_a)");
	resume('a', $_) for qw(b c);
	resume('b', $_) for qw(a c);
	ok(drained_all(), "$label: every queue drains");
	is(titles($id), "$vb | $vb | $vb", "$label: A, B and C all hold B's later value");
	is(join(' ', map { field_clock($_, $id, 'title') } @names), join(' ', ($clock_b) x 3),
		"$label: A, B and C all hold B's clock for the title");
	is(dead_letters(), '0 0 0', "$label: no dead letter") or explore_dead();
}

# ---------------------------------------------------------------------------
# 2. Different fields of one item edited concurrently on A and on C: both
#    survive everywhere.

pause('a', $_) for qw(b c);
pause('c', $_) for qw(a b);
patch($A, $id, { body => 'body from A' });
patch($C, $id, { title => 'title from C' });
resume('a', $_) for qw(b c);
resume('c', $_) for qw(a b);
ok(drained_all(), 'different fields: every queue drains');
is_deeply([ map { row_of($_, $id) } @names ], [ ({ title => 'title from C', body => 'body from A' }) x 3 ],
	"different fields: A, B and C hold C's title and A's body");
is(join(' ', map { field_clock($_, $id, 'body') =~ /\@\Q$node_id{a}\E$/ ? 'A' : '?' } @names)
	  . ' / ' . join(' ', map { field_clock($_, $id, 'title') =~ /\@\Q$node_id{c}\E$/ ? 'C' : '?' } @names),
	'A A A / C C C', "different fields: everywhere the body's clock is A's and the title's C's");

# ---------------------------------------------------------------------------
# 3. A chain: A's remote c paused, an edit on A reaches C only through B,
#    with A's clock; then nothing bounces for ever.

ok(drained_all(), 'chain: quiet before');
my $before = all_delivered();
my $activity_max = { map { ($_ => sql($_, 'SELECT max(id) FROM directus_activity')) } @names };
pause('a', 'c');
patch($A, $id, { title => 'chain from A' });
my $chain_clock = field_clock('a', $id, 'title');
like($chain_clock, qr/\@\Q$node_id{a}\E$/, "chain: A stamped the edit with its own node");
ok(wait_for('the edit to reach C through B', sub { (row_of('c', $id) // {})->{title} eq 'chain from A' }),
	'chain: the edit reaches C while A\'s remote c is paused');
is(field_clock('b', $id, 'title') . ' ' . field_clock('c', $id, 'title'), "$chain_clock $chain_clock",
	"chain: B and C hold A's original clock for the title");
is(sql('c', "SELECT string_agg(u.email, ',' ORDER BY a.id) FROM directus_activity a JOIN directus_users u ON u.id = a.\"user\""
	  . " WHERE a.id > $activity_max->{c} AND a.collection = 'articles' AND a.item = '$id'"),
	'sync-from-b@example.com', 'chain: C got the edit from B\'s sync user');
resume('a', 'c');
ok(drained_all(), 'chain: every queue drains once A\'s remote c is resumed');
sleep(2);
ok(drained_all(), 'chain: still drained 2 s later');
my $after = all_delivered();
my %delta = map { ($_ => $after->{$_} - $before->{$_}) } keys %$after;
note('chain: delivered per remote: ' . join(', ', map { "$_ +$delta{$_}" } sort keys %delta));
# What each remote ships: A its edit to B and (after the resume) to C; B
# forwards A's change to C, not back to A; C forwards what B brought to A
# (its own inbound from B), not back to B; C takes A's late copy, which
# changes nothing, and A takes C's copy of its own edit, which changes
# nothing: neither ships anything more.
is_deeply(\%delta, { 'a>b' => 1, 'a>c' => 1, 'b>a' => 0, 'b>c' => 1, 'c>a' => 1, 'c>b' => 0 },
	'chain: each remote shipped the change at most once, and it stopped');
is(titles($id), 'chain from A | chain from A | chain from A', 'chain: A, B and C hold the edit');
is(join(' ', map { field_clock($_, $id, 'title') } @names), join(' ', ($chain_clock) x 3),
	"chain: A, B and C hold A's clock");
my $activity_after = { map { ($_ => sql($_, "SELECT count(*) FROM directus_activity WHERE id > $activity_max->{$_}"
	  . " AND collection = 'articles'")) } @names };
my $settled = { %$activity_after };
sleep(2);
is_deeply({ map { ($_ => sql($_, "SELECT count(*) FROM directus_activity WHERE id > $activity_max->{$_}"
		  . " AND collection = 'articles'")) } @names }, $settled, 'chain: activity rows stay put after draining');
note('chain: activity rows since the edit: ' . join(', ', map { "$_ $activity_after->{$_}" } @names));

# ---------------------------------------------------------------------------
# 4. Only a sync brings clocks: an editor's PATCH with directus_sync_meta
#    fails as a whole; the sync user's passes.

my $by_role = directus_major() < 11;
my $owner = api_ok($A, 'POST', $by_role ? '/roles' : '/policies', { name => 'editors',
		admin_access => JSON::PP::false, app_access => JSON::PP::true })->{id};
api_ok($A, 'POST', '/permissions', { ($by_role ? 'role' : 'policy') => $owner, collection => 'articles',
		action => $_, fields => ['*'], permissions => {}, validation => {} }) for qw(create read update);
api_ok($A, 'POST', '/users', { email => 'editor@example.com', token => 'token-editor',
		$by_role ? (role => $owner) : (policies => { create => [ { policy => $owner } ] }) });
api_ok($A, 'POST', '/utils/cache/clear?system=true');
ok(drained_all(), 'forging: quiet before');
my $row_before = row_of('a', $id);
my $meta_before = sql('a', "SELECT directus_sync_meta::text FROM articles WHERE id = $id");
my $ahead = sql('b', 'SELECT directus_sync.clock_now()');
my ($status, $body) = api($A, 'PATCH', "/items/articles/$id", { title => 'forged',
		directus_sync_meta => { s => $node_id{b}, f => { title => $ahead } } }, 'token-editor');
my $code = ref $body eq 'HASH' ? ($body->{errors}[0]{extensions}{code} // '') : '';
is("$status $code", '500 INTERNAL_SERVER_ERROR',
	'forging: an editor\'s PATCH with clocks from a sender is answered 500 INTERNAL_SERVER_ERROR')
  or diag(ref $body ? json_canon($body) : $body);
note('forging: Directus answered ' . (ref $body ? json_canon($body) : $body // ''));
is_deeply(row_of('a', $id), $row_before, 'forging: the item keeps its values');
is(sql('a', "SELECT directus_sync_meta::text FROM articles WHERE id = $id"), $meta_before,
	'forging: the item keeps its clocks');
like(slurp_file($node->logfile), qr/only a sync may write column "directus_sync_meta"/,
	'forging: the server log says why the transaction failed');
# Clocks without a sender are no sync's: ignored, the write is a local edit.
($status, $body) = api($A, 'PATCH', "/items/articles/$id", { title => 'editor without sender',
		directus_sync_meta => { f => { title => '0000000000000001@' . $node_id{b} } } }, 'token-editor');
is($status, 200, 'forging: clocks without a sender ("s") are accepted as a plain edit');
my $editor_clock = field_clock('a', $id, 'title');
ok($editor_clock =~ /\@\Q$node_id{a}\E$/ && ($editor_clock cmp $chain_clock) > 0,
	"forging: ... the title gets a new clock of A ($editor_clock), not the one sent");
ok(drained_all(), 'forging: the editor\'s edit drains');
is(titles($id), 'editor without sender | editor without sender | editor without sender',
	'forging: the editor\'s plain edit reaches B and C');

# The sync user's write with clocks passes (as B's sync user on A: a clock of B).
# It names the item by its born clock, as every sync's does: without one it
# would stand for an item from before the clocks, which A's (born later)
# beats whole.
my $sync_clock = sql('b', 'SELECT directus_sync.clock_now()');
($status, $body) = api($A, 'PATCH', "/items/articles/$id", { title => 'by sync user',
		directus_sync_meta => { s => $node_id{b}, b => born_of('a', 'articles', $id), f => { title => $sync_clock } } },
	$sync{a}{b}{token});
is($status, 200, 'sync user: a PATCH with clocks is accepted') or diag(ref $body ? json_canon($body) : $body);
is(row_of('a', $id)->{title} . ' ' . field_clock('a', $id, 'title'), "by sync user $sync_clock",
	'sync user: the value and its clock are kept');
ok(drained_all(), 'sync user: drained');
is((row_of('c', $id) // {})->{title} . ' ' . field_clock('c', $id, 'title'), "by sync user $sync_clock",
	'sync user: A forwards it to C with its clock');

# What B's revisions show for a synced change (A's edit, delivered by A's
# worker as A's sync user on B).
patch($A, $id, { title => 'for the revision' });
my $rev_clock = field_clock('a', $id, 'title');
ok(drained_all(), 'revisions: drained');
# (C may forward the same change to B as well, a write that changes nothing
# but still gets an activity row and a revision on B: the revision of A's
# own delivery is the one of A's sync user.)
my $all_revs = api_ok($B, 'GET', "/revisions?filter[collection][_eq]=articles&filter[item][_eq]=$id&sort=-id&limit=3"
	  . '&fields=id,activity.user,delta');
note('revisions: the last ones on B: ' . json_canon($all_revs));
my $revs = api_ok($B, 'GET', "/revisions?filter[collection][_eq]=articles&filter[item][_eq]=$id"
	  . "&filter[activity][user][_eq]=$sync{b}{a}{id}&sort=-id&limit=1&fields=delta,data");
my $delta = $revs->[0]{delta} // {};
my $dmeta = $delta->{directus_sync_meta};
note('revisions: delta of the synced change on B: ' . json_canon($delta));
$dmeta = eval { json_decode($dmeta) } // $dmeta if defined $dmeta && !ref $dmeta;
is_deeply([ $delta->{title}, ref $dmeta eq 'HASH' ? ($dmeta->{s}, $dmeta->{f}) : ($dmeta) ],
	[ 'for the revision', $node_id{a}, { title => substr($rev_clock, 0, 16) } ],
	"revisions: the delta of the synced change holds the title and the clocks as sent (sender A, A's clock as its 16 hex digits)");
my $rdata = $revs->[0]{data} // {};
$rdata = eval { json_decode($rdata) } // $rdata unless ref $rdata;
my $data_meta = ref $rdata eq 'HASH' ? $rdata->{directus_sync_meta} : undef;
$data_meta = eval { json_decode($data_meta) } // $data_meta if defined $data_meta && !ref $data_meta;
note('revisions: data of the synced change on B: ' . json_canon($data_meta));
is(json_canon($data_meta), json_canon(json_decode(sql('b', "SELECT directus_sync_meta::text FROM articles WHERE id = $id"))),
	"revisions: the revision's data holds the clocks as stored (no sender), as read back after the write");

# ---------------------------------------------------------------------------
# 5. A seeded random soak: edits on random instances, remotes paused and
#    resumed at random; in the end every instance holds, field by field, the
#    value written with the largest clock.

my $seed = length($ENV{DS_TEST_SEED} // '') ? $ENV{DS_TEST_SEED} : int(rand(1_000_000_000));
diag("random seed $seed (DS_TEST_SEED repeats it)");
srand($seed);
# Made on A, B, C, A, B, each after the one before arrived everywhere (two
# instances making the same integer key at once is another matter).
my @items;
for my $i (1 .. 5)
{
	push @items, api_ok($D{ $names[ ($i - 1) % 3 ] }, 'POST', '/items/articles', { title => "soak $i", body => "soak body $i" })->{id};
	ok(drained_all(), "soak: item $items[-1] made on " . uc($names[ ($i - 1) % 3 ]) . ' reaches every instance');
}
my %paused;
my %written;    # "$item/$field" => [ [clock, value, edit] ... ]
my @log;
# DS_MESH_SOAK_EDITS: more edits, for a longer hunt (default 60).
my $soak_edits = $ENV{DS_MESH_SOAK_EDITS} || 60;
for my $n (1 .. $soak_edits)
{
	if (rand() < 0.3)
	{
		my $x = $names[ int(rand(3)) ];
		my @r = remotes_of($x);
		my $r = $r[ int(rand(2)) ];
		if ($paused{"$x>$r"}) { resume($x, $r); delete $paused{"$x>$r"}; push @log, "resume $x>$r" }
		else { pause($x, $r); $paused{"$x>$r"} = 1; push @log, "pause $x>$r" }
	}
	my $x = $names[ int(rand(3)) ];
	my $item = $items[ int(rand(@items)) ];
	my $which = int(rand(3));
	my @fields = $which == 0 ? ('title') : $which == 1 ? ('body') : ('title', 'body');
	my %set = map { ($_ => sprintf('%s %d on %s %s', $_, $n, $x, join('', map { ('a' .. 'z')[ int(rand(26)) ] } 1 .. 4))) } @fields;
	patch($D{$x}, $item, \%set);
	for my $f (@fields)
	{
		my $clock = field_clock($x, $item, $f);
		push @{ $written{"$item/$f"} }, [ $clock, $set{$f}, $n ];
	}
	push @log, "edit $n on $x item $item: " . join(', ', map { "$_=$set{$_}" } sort keys %set);
	sleep(rand($ENV{DS_MESH_SOAK_PAUSE} // 0.3));
}
for my $k (sort keys %paused) { my ($x, $r) = split />/, $k; resume($x, $r) }
ok(drained_all(), 'soak: every queue drains once every remote is resumed');
is(dead_letters(), '0 0 0', 'soak: no dead letter') or explore_dead();
my $rows = sub {
	my ($x) = @_;
	return json_decode(sql($x, "SELECT json_agg(json_build_object('id', id, 'title', title, 'body', body,"
		  . " 'clocks', directus_sync_meta->'f') ORDER BY id) FROM articles WHERE id IN (" . join(',', @items) . ')'));
};
my $ok_same = 1;
for my $x (qw(b c))
{
	$ok_same &&= compare_items($rows->($x), $rows->('a'), 'id', "soak: $x holds what A holds, field by field, clocks too");
}
my @want;
for my $item (@items)
{
	my $row = { id => $item };
	for my $f (qw(title body))
	{
		my $w = $written{"$item/$f"};
		if (!$w) { $row->{$f} = row_of('a', $item)->{$f}; $row->{clocks}{$f} = field_clock('a', $item, $f); next }
		my ($best) = sort { $b->[0] cmp $a->[0] } @$w;
		$row->{$f} = $best->[1];
		$row->{clocks}{$f} = $best->[0];
	}
	push @want, $row;
}
my $ok_lww = compare_items($rows->('a'), \@want, 'id', 'soak: each field holds the value written with the largest clock');
# On one server every later edit has a later clock: the largest clock is
# the last edit.
my @not_last = grep { my $w = $written{$_}; my ($best) = sort { $b->[0] cmp $a->[0] } @$w; $best->[2] != $w->[-1][2] } sort keys %written;
is("@not_last", '', 'soak: the largest clock of each field is its last edit (one server, one clock)');
diag(join("\n", 'soak log (seed ' . $seed . '):', @log)) unless $ok_same && $ok_lww;

# ---------------------------------------------------------------------------
# 6. A table without subscriptions for a while (or clocks enabled before the
#    first subscribe) keeps its clock trigger: a sync's write is decided by
#    clocks and leaves no sender mark; once subscribed again, a local edit
#    is a local edit.

{
	my $xid = api_ok($A, 'POST', '/items/articles', { title => 'six', body => 'made on A' })->{id};
	ok(drained_all(), 'unsubscribed: the item reaches every instance');
	sql('b', "SELECT directus_sync.unsubscribe('$_', 'articles')") for qw(a c);
	is(sql('b', q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND tgname = 'directus_sync_clock'}),
		'1', 'unsubscribed: B keeps its clock trigger (a table with clocks decides by clocks while not subscribed)');
	patch($A, $xid, { title => 'six, while B has no subscription' });
	ok(drained_all(), 'unsubscribed: drained');
	is(row_of('b', $xid)->{title}, 'six, while B has no subscription', 'unsubscribed: the edit reaches B');
	is(sql('b', "SELECT directus_sync_meta->>'s' IS NOT NULL FROM articles WHERE id = $xid"), 'f',
		'unsubscribed: B stores no sender mark (its trigger took the clocks)');
	sql('b', "SELECT directus_sync.subscribe('$_', 'articles', ARRAY['title', 'body'])") for qw(a c);
	is(sql('b', q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'articles'::regclass AND tgname = 'directus_sync_clock'}),
		'1', 'subscribed again: B has its clock trigger');
	my ($st, $bd) = api($B, 'PATCH', "/items/articles/$xid", { title => 'six, edited on B' });
	note("subscribed again: B's admin PATCH: $st " . (ref $bd ? json_canon($bd) : $bd // ''));
	is($st, 200, "subscribed again: an admin's edit of the item on B is accepted");
}

# ---------------------------------------------------------------------------
# 7. Integer keys, no key series (memos: subscribe(..., key_series =>
#    false)): an item created on A and, ~1 s later, another on B with the
#    links held get the same key. The one born later (B's) keeps the key,
#    whole, everywhere; A's is kept in full in A's conflict log
#    (insert_insert, lost) and A's users to notify get a Directus
#    notification. Released in two steps, A's links first, so that C holds
#    A's item when B's arrives: C made neither item and has none of its own
#    to lose, so it notifies no one.

my %admin = map { ($_ => admin_user_id($D{$_})) } @names;
for my $x (@names)
{
	sql($x, "SELECT directus_sync.subscribe('$_', 'memos', ARRAY['title', 'body'], key_series => false)") for remotes_of($x);
	api_ok($D{$x}, 'POST', '/utils/cache/clear?system=true');
	# Each instance's admin hears of what its remotes bring.
	sql($x, "SELECT directus_sync.alter_remote('$_', notify_users => ARRAY['$admin{$x}']::uuid[])") for remotes_of($x);
}
{
	hold(qw(a b));
	my $ka = api_ok($A, 'POST', '/items/memos', { title => 'memo made on A', body => "body of A's memo" })->{id};
	my $born_a = born_of('a', 'memos', $ka);
	sleep(1);
	my $kb = api_ok($B, 'POST', '/items/memos', { title => 'memo made on B', body => "body of B's memo" })->{id};
	my $born_b = born_of('b', 'memos', $kb);
	is($kb, $ka, "one key: A and B made their items with the same key ($ka)");
	ok(($born_b cmp $born_a) > 0, "one key: B's item is born later ($born_b > $born_a)");
	release('a');
	ok(drained_from(qw(a c)),
		"one key: A's item reaches C (and B), B's links still held");
	is((item_of('c', 'memos', $ka) // {})->{title}, 'memo made on A', "one key: C holds A's item first");
	release('b');
	ok(drained_all(), 'one key: every queue drains');
	is(dead_letters(), '0 0 0', 'one key: no dead letter') or explore_dead();
	is_deeply([ map { item_of($_, 'memos', $ka) } @names ],
		[ ({ title => 'memo made on B', body => "body of B's memo" }) x 3 ],
		"one key: A, B and C hold B's (later) item under the key, whole (never merged field by field)");
	is(join(' ', map { born_of($_, 'memos', $ka) } @names), join(' ', ($born_b) x 3),
		"one key: ... with B's born clock");
	is(join(' ', map { sql($_, 'SELECT count(*) FROM memos') } @names), '1 1 1', 'one key: one item on each instance');
	my $lost = sql('a', q{SELECT json_agg(json_build_object('kind', kind, 'winner', winner, 'field', field,
		'id', local_value->'id', 'title', local_value->>'title', 'body', local_value->>'body',
		'born', local_value->'directus_sync_meta'->>'b', 'winner_title', remote_value->>'title'))
		FROM directus_sync.conflict WHERE collection = 'memos'});
	is_deeply(json_decode($lost || 'null'), [ { kind => 'insert_insert', winner => 'remote', field => undef, id => $ka,
				title => 'memo made on A', body => "body of A's memo", born => $born_a, winner_title => 'memo made on B' } ],
		"one key: A's conflict log holds A's item in full (insert_insert, lost to B's)");
	is(sql('b', q{SELECT string_agg(kind || ' ' || winner || ' ' || (remote_value->>'title'), '; ')
		FROM directus_sync.conflict WHERE collection = 'memos'}),
		'insert_insert local memo made on A', "one key: B logs A's item, which lost to its own (insert_insert, won here)");
	note("one key: C's conflict log: " . sql('c', q{SELECT string_agg(kind || ' ' || winner || ' '
		|| (local_value->>'title') || ' / ' || (remote_value->>'title'), '; ') FROM directus_sync.conflict WHERE collection = 'memos'}));
	my $told = sub {
		my ($x) = @_;
		return sql($x, "SELECT count(*) FROM directus_notifications WHERE recipient = '$admin{$x}'"
			  . " AND subject = 'Two items with one key in memos'");
	};
	is(join(' ', map { $told->($_) } @names), '1 0 0',
		"one key: A's admin is notified that A's item lost its key; B's (whose item kept it) and C's (which made neither) are not");
	my $n = api_ok($A, 'GET', '/notifications?filter[subject][_eq]=' . 'Two%20items%20with%20one%20key%20in%20memos'
		  . '&fields=recipient,collection,item,message');
	is(join(' ', map { "$_->{recipient} $_->{collection} $_->{item}" } @$n), "$admin{a} memos $ka",
		"one key: A's GET /notifications serves the notification to A's admin, naming the collection and the item");
	like($n->[0]{message} // '', qr/kept in full in directus_sync\.conflict/, "one key: ... and it says where A's item is kept");
}

# ---------------------------------------------------------------------------
# 8. Integer keys with key series: A, B and C numbered 1, 2, 3 of 3
#    (set_instance), then subscribe gives notes a series per instance
#    (a sequence the key column does not own). Items created at the same
#    moment on all three, links held, get keys of their own instance's
#    series and all survive everywhere. Directus moves the column's own
#    sequence after a create with an explicit key (setval of
#    pg_get_serial_sequence, also when a sync's create arrives with its
#    key): the series stays, and passes a key of its own given by value
#    (src/key_series.c): the next create takes the key after it, also when
#    the explicit key was the series' very next key.

my %number = (a => 1, b => 2, c => 3);
for my $x (@names)
{
	sql($x, "SELECT directus_sync.set_instance($number{$x}, 3)");
	sql($x, "SELECT directus_sync.subscribe('$_', 'notes', ARRAY['title', 'body'])") for remotes_of($x);
	api_ok($D{$x}, 'POST', '/utils/cache/clear?system=true');
}
is(join(' ', map { key_default($_, 'notes') } @names), join(' ', ("nextval('notes_directus_sync_keys'::regclass)") x 3),
	"key series: notes's key takes its default from the series on A, B and C");
my $notes = sub { my ($x) = @_; return sql($x, q{SELECT string_agg(id || ':' || title || ':' || body, ', ' ORDER BY id) FROM notes}) };
my $own_seq = sub { my ($x) = @_; return sql($x, q{SELECT pg_get_serial_sequence('notes', 'id')}) };
my $last = sub { my ($x, $seq) = @_; return sql($x, "SELECT last_value FROM $seq") };
{
	hold(@names);
	my %k = map { ($_ => api_ok($D{$_}, 'POST', '/items/notes', { title => 'note made on ' . uc($_), body => "body $_" })->{id}) } @names;
	is(join(' ', map { $k{$_} % 3 } @names), '1 2 0',
		"key series: at the same moment A, B and C made keys of their own series ($k{a}, $k{b}, $k{c})");
	release(@names);
	ok(drained_all(), 'key series: every queue drains');
	is(dead_letters(), '0 0 0', 'key series: no dead letter') or explore_dead();
	my $want = join(', ', map { "$k{$_}:note made on " . uc($_) . ":body $_" } sort { $k{$a} <=> $k{$b} } @names);
	is(join(' / ', map { $notes->($_) } @names), join(' / ', ($want) x 3), 'key series: A, B and C hold all three items');
	is(join(' ', map { sql($_, q{SELECT count(*) FROM directus_sync.conflict WHERE collection = 'notes'}) } @names), '0 0 0',
		'key series: no conflict');

	# An explicit key through Directus on A, far above the others; a key of
	# A's series (1000 = 1 + 3 * 333), which the series passes.
	my $seq_a = $own_seq->('a');
	my %series_before = map { ($_ => $last->($_, 'notes_directus_sync_keys')) } qw(b c);
	my $explicit = api_ok($A, 'POST', '/items/notes', { id => 1000, title => 'explicit key on A', body => 'body' })->{id};
	is($explicit, 1000, 'explicit key: A keeps the key given');
	is($last->('a', $seq_a) . ' ' . $last->('a', 'notes_directus_sync_keys'), "1000 1000",
		"explicit key: Directus moved the column's own sequence ($seq_a) to it, and A's series passed it (a key of its own)");
	my $next = api_ok($A, 'POST', '/items/notes', { title => 'after the explicit key on A', body => 'body' })->{id};
	is($next % 3, 1, "explicit key: A's next create takes a key of A's series ($next)");
	ok(drained_all(), 'explicit key: every queue drains');
	is(join(' ', map { $last->($_, $own_seq->($_)) } qw(b c)), "$next $next",
		"explicit key: on B and C Directus moved the column's own sequence to the highest key a sync's create brought ($next)");
	is(join(' ', map { $last->($_, 'notes_directus_sync_keys') } qw(b c)), "$series_before{b} $series_before{c}",
		"explicit key: B's and C's series stay where they were (the key is of A's series)");
	my $kb2 = api_ok($B, 'POST', '/items/notes', { title => 'after the explicit key, on B', body => 'body' })->{id};
	is($kb2 % 3, 2, "explicit key: B's next create still takes a key of B's series ($kb2)");

	# An explicit key that is the next of A's own series: Directus moves
	# only the column's own sequence; the clock trigger passes the series
	# past it (src/key_series.c), which would hand it out again otherwise.
	my $taken = sql('a', q{SELECT CASE WHEN is_called THEN last_value + 3 ELSE last_value END FROM notes_directus_sync_keys});
	is(api_ok($A, 'POST', '/items/notes', { id => $taken, title => 'explicit key of the series', body => 'body' })->{id},
		$taken, "explicit key of A's series: A keeps the key given ($taken)");
	my ($st, $bd) = api($A, 'POST', '/items/notes', { title => 'after an explicit key of the series', body => 'body' });
	my $after = ref $bd eq 'HASH' && ref $bd->{data} eq 'HASH' ? $bd->{data}{id} : undef;
	ok($st == 200 && defined $after && $after == $taken + 3,
		"explicit key of A's series: A's next create through Directus succeeds, with the next key of A's series ($taken + 3)")
	  or diag("POST /items/notes on A: $st " . (ref $bd ? json_canon($bd) : $bd // ''));
	ok(drained_all(), 'explicit keys: every queue drains');
	is(dead_letters(), '0 0 0', 'explicit keys: no dead letter') or explore_dead();
	is(join(' / ', map { $notes->($_) } qw(b c)), join(' / ', ($notes->('a')) x 2), 'explicit keys: B and C hold what A holds');
}

# ---------------------------------------------------------------------------
# 9. Update against delete: an item deleted on A (through Directus, by its
#    admin), then ~1.5 s later a field of it edited on B, with A's and B's
#    links held. The later edit wins: every instance holds the item again,
#    with B's edit and every other field as B has it (B's update reaches A,
#    and maybe C, which lack the item: it becomes a create, whose later clock
#    beats their tombstone). B, where A's delete met the later edit, logs it
#    (update_delete, won here); A logs the create that brought the item back
#    (update_delete, won by the remote).

{
	my $xid = api_ok($A, 'POST', '/items/articles', { title => 'nine', body => 'body of nine' })->{id};
	ok(drained_all(), 'delete, then edit: the item reaches every instance');
	hold(qw(a b));
	my ($st, $bd) = api($A, 'DELETE', "/items/articles/$xid");
	is($st, 204, "delete, then edit: A's admin deletes the item through the API")
	  or diag(ref $bd ? json_canon($bd) : $bd // '');
	my $deleted = tombstone_of('a', 'articles', $xid);
	like($deleted, qr/^[0-9a-f]{16}\@\Q$node_id{a}\E$/, "delete, then edit: A keeps a tombstone with a clock of its own");
	sleep(1.5);
	patch($B, $xid, { title => 'nine, edited on B after A deleted it' });
	my $edit = field_clock('b', $xid, 'title');
	ok(($edit cmp $deleted) > 0, "delete, then edit: B's edit has the later clock ($edit > $deleted)");
	release(qw(a b));
	ok(drained_all(), 'delete, then edit: every queue drains');
	is(dead_letters(), '0 0 0', 'delete, then edit: no dead letter') or explore_dead();
	is_deeply([ map { row_of($_, $xid) } @names ],
		[ ({ title => 'nine, edited on B after A deleted it', body => 'body of nine' }) x 3 ],
		"delete, then edit: A, B and C hold the item again, with B's edit and its other field");
	is(join(' ', map { field_clock($_, $xid, 'title') } @names), join(' ', ($edit) x 3),
		"delete, then edit: A, B and C hold B's clock for the title");
	is(conflicts_of('b', 'articles', $xid), "update_delete local $edit $deleted",
		"delete, then edit: B logs A's delete, which lost to B's later edit (update_delete, won here)");
	is(conflicts_of('a', 'articles', $xid), "update_delete remote $deleted $edit",
		"delete, then edit: A logs the create that brought the item back over its delete (update_delete, won by the remote)");
	note("delete, then edit: C's conflict log: " . conflicts_of('c', 'articles', $xid)
		  . '; tombstones: ' . join(', ', map { "$_ " . (tombstone_of($_, 'articles', $xid) || 'none') } @names));
}

# ---------------------------------------------------------------------------
# 10. Delete against update: an item edited on A, then ~1.5 s later deleted on
#     B (through Directus, by its admin), links held. The later delete wins:
#     no instance holds the item, each keeps a tombstone with B's delete
#     clock. Released in two steps, A's links first: A's edit reaches B
#     (directly, and through C), which lacks the item, as a create older
#     than the tombstone: skipped, and logged there (update_delete, won
#     here). (Released at once, B's delete may reach A before A's worker
#     sends its edit on: then A has nothing left to send, and no instance
#     logs a conflict.)

{
	my $yid = api_ok($A, 'POST', '/items/articles', { title => 'ten', body => 'body of ten' })->{id};
	ok(drained_all(), 'edit, then delete: the item reaches every instance');
	hold(qw(a b));
	patch($A, $yid, { title => 'ten, edited on A before B deleted it' });
	my $edit = field_clock('a', $yid, 'title');
	sleep(1.5);
	my ($st, $bd) = api($B, 'DELETE', "/items/articles/$yid");
	is($st, 204, "edit, then delete: B's admin deletes the item through the API")
	  or diag(ref $bd ? json_canon($bd) : $bd // '');
	my $deleted = tombstone_of('b', 'articles', $yid);
	ok(($deleted cmp $edit) > 0, "edit, then delete: B's delete has the later clock ($deleted > $edit)");
	release('a');
	ok(drained_from(qw(a c)),
		"edit, then delete: A's edit reaches B and C, B's links still held");
	release('b');
	ok(drained_all(), 'edit, then delete: every queue drains');
	is(dead_letters(), '0 0 0', 'edit, then delete: no dead letter') or explore_dead();
	is(join(' ', map { defined row_of($_, $yid) ? 'holds it' : 'gone' } @names), 'gone gone gone',
		'edit, then delete: no instance holds the item');
	is(join(' ', map { tombstone_of($_, 'articles', $yid) } @names), join(' ', ($deleted) x 3),
		"edit, then delete: A, B and C keep a tombstone with B's delete clock");
	is(conflicts_of('b', 'articles', $yid), "update_delete local $deleted $edit",
		"edit, then delete: B logs A's edit, which lost to B's later delete (update_delete, won here)");
	note("edit, then delete: conflict logs of A and C: " . conflicts_of('a', 'articles', $yid) . ' / '
		  . conflicts_of('c', 'articles', $yid));
}

is(server_crash($node), '', 'no crash in the server log');
note(sprintf('026 took %.0f s', time() - $t_start));
done_testing();
