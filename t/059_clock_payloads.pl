# What the worker sends for a table with clocks (enable_clocks), against the
# fake Directus: each item's fields with their clocks in directus_sync_meta,
# queued changes of one item folded into one request whose clocks are each
# field's latest and whose "p" (the clock a change replaced) is the first
# change's; a delete as an update that carries the delete's clock, even
# when its create was never sent; a remote that lacks an item it is told to
# delete needs nothing more.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' }, notes => { pk => 'id' } });
my $node = new_sync_node('clock_payloads');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text, body text, secret text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'])});
sql(q{SELECT directus_sync.enable_clocks('articles')});
my $node_id = sql(q{SELECT directus_sync._node_id()});
# A clock of this node as a payload carries it: its 16 hex digits (the receiver adds "s").
sub short { return substr($_[0], 0, 16) }
# Every item sent with clocks carries their signature, "g" (src/sync_signature.c):
# counted (64 hexadecimal digits), then left out of the comparisons.
my ($signed, $unsigned) = (0, 0);
sub unsigned
{
	my ($requests) = @_;
	for my $r (@$requests)
	{
		for my $item (ref $r->{body} eq 'ARRAY' ? @{ $r->{body} } : ($r->{body} // ()))
		{
			next unless ref $item eq 'HASH' && ref $item->{directus_sync_meta} eq 'HASH';
			my $g = delete $item->{directus_sync_meta}{g};
			(defined $g && $g =~ /^[0-9a-f]{64}$/) ? $signed++ : $unsigned++;
		}
	}
	return $requests;
}
sub clock_of { my ($id, $member, $field) = @_;
	return sql("SELECT directus_sync_meta->'$member'->>'$field' FROM articles WHERE id = $id") }

# One item created, then its two fields changed twice, while the remote is paused.
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO articles VALUES (1, 't0', 'b0', 's')});
my %created = (title => clock_of(1, 'f', 'title'), body => clock_of(1, 'f', 'body'));
my $born = sql(q{SELECT directus_sync_meta->>'b' FROM articles WHERE id = 1});
sql(q{UPDATE articles SET title = 't1'});
my $title1 = clock_of(1, 'f', 'title');
sql(q{UPDATE articles SET title = 't2', body = 'b2'});
my %final = (title => clock_of(1, 'f', 'title'), body => clock_of(1, 'f', 'body'));
ok($final{title} gt $title1 && $title1 gt $created{title}, 'each change of a field stamps a later clock');
# "p": the write the changes followed; a chain of changes made here is one step (review 6: a retry
# of a write two local edits back is no conflict), so after t1 and t2 it is still the create's
is(clock_of(1, 'p', 'title'), $created{title}, 'the row keeps as "p" the clock its chain of local changes replaced');

# An item that exists on the remote, changed twice.
sql(q{INSERT INTO articles VALUES (2, 'x0', 'y0', 's')});
sql(q{SELECT directus_sync.resume('b')});
wait_drained($node, 'b');
sql(q{SELECT directus_sync.pause('b')});
my $x0 = clock_of(2, 'f', 'title');
sql(q{UPDATE articles SET title = 'x1' WHERE id = 2});
sql(q{UPDATE articles SET title = 'x2' WHERE id = 2});
my $x2 = clock_of(2, 'f', 'title');
my $mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});
wait_drained($node, 'b');
my ($patch) = grep { $_->{method} eq 'PATCH' } @{ unsigned(fake_requests($fake, $mark, 'articles')) };
my ($object) = grep { $_->{id} == 2 } @{ $patch->{body} // [] };
is_deeply($object->{directus_sync_meta},
	{ s => $node_id, b => short(sql(q{SELECT directus_sync_meta->>'b' FROM articles WHERE id = 2})),
	  f => { title => short($x2) }, p => { title => short($x0) } },
	'two changes of a field go as one, with the latest clock and the clock the remote still has as "p"')
	or diag(explain($object));
is($object->{title}, 'x2', '... and the latest value');

# The created item went in one POST, with all its fields' latest clocks.
my ($post) = grep { $_->{method} eq 'POST' } @{ unsigned(fake_requests($fake, 0, 'articles')) };
my ($created) = grep { $_->{id} == 1 } @{ $post->{body} // [] };
is_deeply($created,
	{ id => 1, title => 't2', body => 'b2',
	  directus_sync_meta => { s => $node_id, b => short($born), f => { map { $_ => short($final{$_}) } keys %final },
		p => { title => short($created{title}), body => short($created{body}) } } },
	'a create folded with two updates: the latest values, each field\'s latest clock, the born clock')
	or diag(explain($created));
ok(!exists $created->{secret}, 'an unsubscribed column does not travel');

# A delete goes as an update that carries its clock (Directus's DELETE
# carries nothing else), and the born clock of the item it deleted.
$mark = last_seq($fake);
sql(q{DELETE FROM articles WHERE id = 2});
wait_drained($node, 'b');
my $deleted = sql(q{SELECT deleted FROM directus_sync.tombstone WHERE collection = 'articles' AND item_key = '2'});
ok($deleted gt $x2, 'the delete\'s clock is later than every clock of the item');
my @sent = @{ unsigned(fake_requests($fake, $mark, 'articles')) };
is_deeply([ map { $_->{method} } grep { $_->{method} ne 'GET' } @sent ], ['PATCH'], 'a delete with a clock is one PATCH, no DELETE');
my $born2 = sql(q{SELECT born FROM directus_sync.tombstone WHERE collection = 'articles' AND item_key = '2'});
is_deeply($sent[0]{body}, [ { id => 2, directus_sync_meta => { s => $node_id, b => short($born2), d => short($deleted) } } ],
	'... of the key, the delete\'s clock and the deleted item\'s born clock');

# A create and a delete folded before sending: the delete still goes (in a
# mesh the remote may have the item from another instance). The remote
# lacks the item (403, then a probe): the delete goes again as a create that
# carries it alone, which a database with clocks keeps as a tombstone and
# passes on (t/068: in a ring it would otherwise stop there).
$mark = last_seq($fake);
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO articles VALUES (3, 'gone', 'soon', 's')});
sql(q{DELETE FROM articles WHERE id = 3});
sql(q{SELECT directus_sync.resume('b')});
wait_drained($node, 'b');
my $deleted3 = sql(q{SELECT deleted FROM directus_sync.tombstone WHERE item_key = '3'});
my $born3 = sql(q{SELECT born FROM directus_sync.tombstone WHERE item_key = '3'});
is_deeply([ map { $_->{method} . ' ' . json_canon($_->{body}) } grep { $_->{method} ne 'GET' } @{ unsigned(fake_requests($fake, $mark, 'articles')) } ],
	[ 'PATCH ' . json_canon([ { id => 3, directus_sync_meta => { s => $node_id, b => short($born3), d => short($deleted3) } } ]),
	  'POST ' . json_canon([ { id => 3, directus_sync_meta => { s => $node_id, b => $born3, d => $deleted3, w => JSON::PP::false } } ]) ],
	'a create and a delete folded before sending: the delete with its clock goes; the remote lacking the item gets it alone, as a create');

# The remote lacks the item it is told to delete: probed, found missing, and
# the delete alone is created there (the fake keeps it as an item: it has no
# clocks; a database with them keeps a tombstone, t/068).
sql(q{INSERT INTO articles VALUES (4, 'four', 'x', 's')});
wait_drained($node, 'b');
ctl($fake, 'POST', 'reset');
sql(q{DELETE FROM articles WHERE id = 4});
wait_drained($node, 'b');
is_deeply([ map { join(',', sort keys %$_) } @{ fake_items($fake, 'articles') } ], [ 'directus_sync_meta,id' ],
	'the remote lacking the item: only the key and the delete are created, none of its fields');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter}), '0', 'no dead letters');
# The fake's Date header (whole seconds) against this server's clock: within a second and a half.
ok(sql(q{SELECT abs(extract(epoch FROM clock_offset)) <= 1.5 FROM directus_sync.remote_status WHERE remote = 'b'}) eq 't',
	'remote_status.clock_offset: the remote\'s clock from its Date header');

# A remote whose clock is behind ours by more than max_clock_skew refuses our
# clocks (its database sees them ahead of its own). A refusal (5xx) whose
# Date shows that is no failure: the change is held back until the clocks
# agree (t/070 has the rest of the hold-back).
my $failed_before = sql(q{SELECT failed FROM directus_sync.remote_status WHERE remote = 'b'});
ctl($fake, 'POST', 'mode', { clock_offset_s => -3600 });
ctl($fake, 'POST', 'fail', { status => 500, count => 1 });
sql(q{UPDATE articles SET title = 'skewed' WHERE id = 1});
ok(wait_for('the refused change to be held back', sub {
	sql(q{SELECT held FROM directus_sync.remote_status WHERE remote = 'b'}) eq '1' }),
	'a change refused by a remote whose clock is behind by more than max_clock_skew is held back');
like(sql(q{SELECT held_reason FROM directus_sync.remote_status WHERE remote = 'b'}),
	qr/^1 change with clocks held back: the remote's clock is 3(?:599|600)\d\d\d ms behind this server's/,
	'... remote_status.held_reason tells how far behind');
is(sql(q{SELECT failed FROM directus_sync.remote_status WHERE remote = 'b'}), $failed_before,
	'... and no failed attempt is counted');
ok(sql(q{SELECT extract(epoch FROM clock_offset) BETWEEN -3601.5 AND -3598.5 FROM directus_sync.remote_status WHERE remote = 'b'}) eq 't',
	'... and remote_status.clock_offset shows it');

# A change whose clocks the remote takes (here a forwarded one, made two
# hours ago) goes; when it fails all the same (a remote whose own
# max_clock_skew is smaller, say), its failure says that the clocks differ.
my $rid = sql(q{SELECT id FROM directus_sync.remote WHERE name = 'b'});
ctl($fake, 'POST', 'fail', { status => 500, count => 1, key => 7 });
sql(qq{INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
	SELECT $rid, 'articles', '7', 'c', json_build_object('id', 7, 'title', 'old',
		'directus_sync_meta', json_build_object('s', n, 'b', c, 'f', json_build_object('title', c)))
	  FROM (SELECT '0a0a0a0a-0000-4000-8000-00000000000c' AS n,
	               lpad(to_hex(((extract(epoch FROM clock_timestamp()) * 1000)::bigint - 7200000) << 16), 16, '0')
	               || '\@0a0a0a0a-0000-4000-8000-00000000000c' AS c) x});
sql(q{SELECT directus_sync.wake()});
wait_for('the failure to be recorded', sub {
	sql(q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}) =~ /clock/ });
like(sql(q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}),
	qr/the remote's clock is 3(?:599|600)\d\d\d ms behind this server's, more than directus_sync.max_clock_skew/,
	'a change the remote takes by its clocks, failing with a 5xx: last_error says the clocks differ');
ctl($fake, 'POST', 'mode', { clock_offset_s => 0 });
wait_drained($node, 'b');
is(sql(q{SELECT held FROM directus_sync.remote_status WHERE remote = 'b'}), '0',
	'once the clocks agree the held change goes');
is(fake_item_map($fake, 'articles', 'id')->{1}{title}, 'skewed', '... and arrives');

# A resync sends the stored clocks; with sender_wins, a new clock of ours for every field.
sql(q{SELECT directus_sync.pause('b')});
my $stored = clock_of(1, 'f', 'body');
sql(q{SELECT directus_sync.resync('b', 'articles')});
wait_for('the resync to queue', sub { sql(q{SELECT count(*) FROM directus_sync.resync_job}) eq '0' });
is(sql(q{SELECT payload::jsonb->'directus_sync_meta'->'f'->>'body' FROM directus_sync.outbox WHERE item_key = '1' ORDER BY id DESC LIMIT 1}),
	$stored, 'resync: the stored clocks go');
sql(q{DELETE FROM directus_sync.outbox});
my $before = sql(q{SELECT directus_sync.clock_now()});
sql(q{SELECT directus_sync.resync('b', 'articles', sender_wins => true)});
wait_for('the resync to queue', sub { sql(q{SELECT count(*) FROM directus_sync.resync_job}) eq '0' });
my $fresh = json_decode(sql(q{SELECT payload->'directus_sync_meta'->'f' FROM directus_sync.outbox WHERE item_key = '1' ORDER BY id DESC LIMIT 1}));
# (a resync's payloads are SQL's: whole clocks)
ok($fresh->{title} gt $before && $fresh->{body} eq $fresh->{title},
	'resync(..., sender_wins => true): every field goes with one new clock, later than any before')
	or diag(explain($fresh));
is(clock_of(1, 'f', 'body'), $stored, '... the row keeps its clocks');
sql(q{DELETE FROM directus_sync.outbox; SELECT directus_sync.resume('b')});

# The worker's idle round trims the conflict log and old tombstones.
sql(q{ALTER SYSTEM SET directus_sync.conflict_retention = '1d'; SELECT pg_reload_conf()});
sql(q{INSERT INTO directus_sync.conflict (remote_id, collection, item_key, field, winner, detected_at)
	VALUES (1, 'articles', 'old', 'title', 'local', now() - interval '2 days'),
	       (1, 'articles', 'new', 'title', 'local', now());
	INSERT INTO directus_sync.tombstone (collection, item_key, deleted, deleted_at)
	VALUES ('articles', 'old', '0000000000000001@00000000-0000-0000-0000-000000000001', now() - interval '8 days'),
	       ('articles', 'queued', '0000000000000001@00000000-0000-0000-0000-000000000001', now() - interval '8 days'),
	       ('articles', 'recent', '0000000000000001@00000000-0000-0000-0000-000000000001', now() - interval '6 days');
	SELECT directus_sync.pause('b');
	INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op) VALUES (1, 'articles', 'queued', 'd')});
ok(wait_for('the old conflict to go', sub {
	sql(q{SELECT count(*) FROM directus_sync.conflict WHERE item_key = 'old'}) eq '0' }),
	'a conflict older than directus_sync.conflict_retention is removed');
is(sql(q{SELECT string_agg(item_key, ',' ORDER BY item_key) FROM directus_sync.conflict WHERE item_key IN ('old', 'new')}),
	'new', '... a newer one stays');
ok(wait_for('the old tombstone to go', sub {
	sql(q{SELECT count(*) FROM directus_sync.tombstone WHERE item_key = 'old'}) eq '0' }),
	'a tombstone older than directus_sync.tombstone_retention, every remote having had a delivery since, is removed');
is(sql(q{SELECT string_agg(item_key, ',' ORDER BY item_key) FROM directus_sync.tombstone WHERE item_key IN ('queued', 'recent')}),
	'queued,recent', '... one whose item is still queued, and a recent one, stay');
sql(q{DELETE FROM directus_sync.outbox WHERE item_key = 'queued'; SELECT directus_sync.resume('b')});
# A create whose fields all have its born clock, of a table that ships every
# column, goes compact: {"s", "b"} alone (src/capture.c). One folded with a
# later update goes in full, as if both had been (src/queue_coalesce.c).
sql(q{CREATE TABLE notes (id int PRIMARY KEY, title text, body text)});
sql(q{SELECT directus_sync.subscribe('b', 'notes', ARRAY['title', 'body'])});
sql(q{SELECT directus_sync.enable_clocks('notes')});
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO notes VALUES (1, 'n0', 'm0'), (2, 'n0', 'm0')});
sql(q{UPDATE notes SET title = 'n1' WHERE id = 2});
my %nborn = map { $_ => sql("SELECT directus_sync_meta->>'b' FROM notes WHERE id = $_") } (1, 2);
my $ntitle = sql(q{SELECT directus_sync_meta->'f'->>'title' FROM notes WHERE id = 2});
ok($ntitle gt $nborn{2}, 'the update stamped a clock later than the born one');
$mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});
wait_drained($node, 'b');
my @posted = map { @{ ref $_->{body} eq 'ARRAY' ? $_->{body} : [$_->{body}] } }
	grep { $_->{method} eq 'POST' } @{ unsigned(fake_requests($fake, $mark, 'notes')) };
my ($n1) = grep { $_->{id} == 1 } @posted;
my ($n2) = grep { $_->{id} == 2 } @posted;
is_deeply($n1->{directus_sync_meta}, { s => $node_id, b => short($nborn{1}) },
	'a create whose fields all have its born clock carries "s" and "b" alone')
	or diag(explain(\@posted));
is_deeply($n2->{directus_sync_meta},
	{ s => $node_id, b => short($nborn{2}), f => { title => short($ntitle), body => short($nborn{2}) },
	  p => { title => short($nborn{2}) } },
	'a compact create folded with an update goes in full: the update\'s field at its clock, the other at the born clock')
	or diag(explain(\@posted));
is($n2->{title}, 'n1', '... with the update\'s value');
# A queued create whose meta carries "d" (a delete alone, {"s", "d", "b"}) is
# no compact create: folded with an update, it gets no clocks of its fields
# at "b" (queue_coalesce.c expand_create), which would make it a create.
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO notes VALUES (3, 'n0', 'm0')});
sql(q{UPDATE directus_sync.outbox
	SET payload = jsonb_set(payload::jsonb, '{directus_sync_meta,d}', payload::jsonb->'directus_sync_meta'->'b')::json
	WHERE collection = 'notes' AND item_key = '3'});
sql(q{UPDATE notes SET title = 'n1' WHERE id = 3});
$mark = last_seq($fake);
sql(q{SELECT directus_sync.resume('b')});
wait_drained($node, 'b');
my ($n3) = grep { $_->{id} == 3 } map { @{ ref $_->{body} eq 'ARRAY' ? $_->{body} : [$_->{body}] } }
	grep { $_->{method} eq 'POST' } @{ unsigned(fake_requests($fake, $mark, 'notes')) };
ok(defined $n3->{directus_sync_meta}{d} && !exists $n3->{directus_sync_meta}{f}{body},
	'a create carrying a delete, folded with an update, gets no clocks at its born clock')
	or diag(explain($n3));

is(server_crash($node), '', 'no crash in the server log');

ok($signed > 0 && $unsigned == 0, "every item sent with clocks was signed ($signed signed, $unsigned not)");
done_testing();
