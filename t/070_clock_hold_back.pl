# The sender holds back changes whose clocks the remote would refuse
# (docs/replication.md#clocks): when the remote's clock, estimated from the
# Date header of its answers, is behind ours so that a change's clock is
# more than directus_sync.max_clock_skew ahead of it, the change is not
# sent. It waits without counting a failed attempt, never becomes a dead
# letter, keeps its clocks, and goes once the remote's clock has caught up
# (the estimate is refreshed by GET /server/ping while nothing else goes).
# remote_status.held and held_reason say so. Changes without clocks to the
# same remote go on meanwhile.
#
# The fake Directus stands for a remote whose database has directus_sync:
# its Date header runs clock_offset_s behind, and it refuses (500) a write
# whose clocks are more than clock_skew_ms ahead of its own clock, as
# src/clock_row.c makes a real one do.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { articles => { pk => 'id' }, notes => { pk => 'id' } });
my $node = new_sync_node('clock_hold_back');
sub sql { return run_sql($node, $_[0]) }
sub status { return remote_status($node, 'b') }

sql(q{CREATE TABLE articles (id int PRIMARY KEY, title text)});
sql(q{CREATE TABLE notes (id int PRIMARY KEY, body text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sql(q{SELECT directus_sync.subscribe('b', 'notes', ARRAY['body'])});
sql(q{SELECT directus_sync.enable_clocks('articles', key_series => false)});
is(sql(q{SHOW directus_sync.max_clock_skew}), '5s', 'max_clock_skew is its default, 5 s');

# The remote's clock is an hour behind ours; it refuses clocks more than
# 5 s ahead of its own. (An hour, not a minute: a change held back for as
# long as the remote is behind would go on its own, rightly, in a test that
# a loaded machine slows to more than a minute.)
ctl($fake, 'POST', 'mode', { clock_offset_s => -3600, clock_skew_ms => 5000 });

# A change without clocks goes, and its answer tells the remote's clock.
sql(q{INSERT INTO notes VALUES (1, 'first note')});
wait_drained($node, 'b');
ok(sql(q{SELECT extract(epoch FROM clock_offset) BETWEEN -3601.5 AND -3598.5 FROM directus_sync.remote_status WHERE remote = 'b'}) eq 't',
	'remote_status.clock_offset: the remote is an hour behind');

# Changes with clocks (made now: an hour ahead of the remote's clock) are
# held back; a change without clocks made after them goes.
my $mark = last_seq($fake);
sql(q{INSERT INTO articles VALUES (1, 'one')});
sql(q{INSERT INTO articles VALUES (2, 'two')});
sql(q{UPDATE articles SET title = 'one, edited' WHERE id = 1});
sql(q{INSERT INTO notes VALUES (2, 'second note')});
ok(wait_for('the note made after the held changes to arrive', sub {
	defined fake_item_map($fake, 'notes', 'id')->{2} }), 'a change without clocks goes while changes with clocks are held back');
my @sent = grep { $_->{method} ne 'GET' } @{ fake_requests($fake, $mark, 'articles') };
is(scalar(@sent), 0, 'no write of a held change reached the remote')
	or diag(json_encode(\@sent));
is_deeply(fake_items($fake, 'articles'), [], 'the remote has none of them');
ok(wait_for('remote_status to show the held changes', sub { (status()->{held} // 0) == 2 },
	timeout => 30, on_timeout => sub { json_encode(status()) }), 'remote_status.held: the two items with clocks are held back');
like(status()->{held_reason} // '', qr/^2 changes with clocks held back: the remote's clock is 3(?:599|600|601)\d\d\d ms behind this server's/,
	'remote_status.held_reason says why, and by how much');
is(sql(q{SELECT string_agg(concat_ws(':', item_key, op, attempts, sent_at IS NULL), ' ' ORDER BY id)
	FROM directus_sync.outbox WHERE collection = 'articles'}), '1:c:0:t 2:c:0:t 1:u:0:t',
	'the held changes stay queued in their order, no attempt counted, not marked as sent');
is(status()->{failed}, 0, 'no failed attempt counted');
is(status()->{dead}, 0, 'no dead letter');
my $clocks_before = sql(q{SELECT string_agg(payload::text, ' ' ORDER BY id) FROM directus_sync.outbox WHERE collection = 'articles'});

# While held, the worker asks the remote's time without sending anything
# else: a GET /server/ping now and then, not a storm.
my $pings_mark = last_seq($fake);
ok(wait_for('a ping while the changes are held', sub {
	grep { $_->{path} eq '/server/ping' } @{ fake_requests($fake, $pings_mark) } }),
	'held changes: the estimate is refreshed with GET /server/ping');

# A forwarded change carries a third instance's clocks whole: its own
# clocks decide. One made half an hour ago is still too far ahead of the
# remote, one made two hours ago is not.
my $rid = sql(q{SELECT id FROM directus_sync.remote WHERE name = 'b'});
my $third = '0a0a0a0a-0000-4000-8000-00000000000c';
for my $case ([ 3, 1800 ], [ 4, 7200 ])
{
	my ($id, $ago) = @$case;
	sql(qq{INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload)
		SELECT $rid, 'articles', '$id', 'c', json_build_object('id', $id, 'title', 'forwarded',
			'directus_sync_meta', json_build_object('s', '$third',
				'b', c, 'f', json_build_object('title', c), 'p', '{}'::json))
		  FROM (SELECT lpad(to_hex(((extract(epoch FROM clock_timestamp()) * 1000)::bigint - $ago * 1000) << 16), 16, '0')
		               || '\@$third' AS c) x});
}
sql(q{SELECT directus_sync.wake()});
ok(wait_for('the forwarded change two hours old to arrive', sub {
	defined fake_item_map($fake, 'articles', 'id')->{4} }),
	'a forwarded change whose clocks the remote takes goes');
ok(wait_for('the forwarded change half an hour old to be held too', sub { (status()->{held} // 0) == 3 }),
	'a forwarded change whose clocks are still too far ahead of the remote is held back');
ok(!defined fake_item_map($fake, 'articles', 'id')->{3}, '... and not sent');

# A worker that starts again loses nothing, and still holds them back.
my $worker = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'});
sql("SELECT pg_terminate_backend($worker)");
sql(q{INSERT INTO notes VALUES (3, 'third note')});
ok(wait_for('a new worker to deliver the next note', sub {
	defined fake_item_map($fake, 'notes', 'id')->{3} }), 'a new worker started');
isnt(sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'directus_sync worker'}), $worker,
	'... it is another process');
ok(wait_for('the new worker to hold them back', sub { (status()->{held} // 0) == 3 }),
	'the new worker holds the same changes back');
is(sql(q{SELECT string_agg(payload::text, ' ' ORDER BY id) FROM directus_sync.outbox WHERE collection = 'articles' AND item_key IN ('1', '2')}),
	$clocks_before, 'the held changes keep their payloads and clocks (never clamped)');
is(sql(q{SELECT count(*) FILTER (WHERE attempts > 0) FROM directus_sync.outbox}), '0', 'still no attempt counted');
# (Held a minute, one of them goes alone as a probe of the remote's Date,
# hold_back.c: refused, it is held again.)
@sent = grep { $_->{method} ne 'GET' && json_encode($_->{body}) !~ /forwarded/ } @{ fake_requests($fake, $mark, 'articles') };
is(scalar(grep { ($_->{status} // 0) < 400 } @sent), 0, 'still none of the held changes taken by the remote')
	or diag(json_encode(\@sent));
ok(!grep({ defined fake_item_map($fake, 'articles', 'id')->{$_} } 1, 2), '... which has neither item');

# The remote's clock is set right: the next ping sees it, and the held
# changes go, in their order, with their clocks.
ctl($fake, 'POST', 'mode', { clock_offset_s => 0 });
my $fixed = last_seq($fake);
ok(wait_drained($node, 'b'), 'once the remote\'s clock is right, the held changes are delivered');
is_deeply([ map { "$_->{id}:$_->{title}" } @{ fake_items($fake, 'articles') } ],
	[ '1:one, edited', '2:two', '3:forwarded', '4:forwarded' ], 'the remote holds every item, as edited last');
is(sql(q{SELECT count(*) FROM directus_sync.remote_state WHERE held = 0 AND held_reason IS NULL}), '1',
	'remote_status: nothing held back any more');
is(status()->{failed}, 0, 'no failed attempt counted, first to last');
is(status()->{dead}, 0, 'no dead letter');
my @writes = grep { $_->{method} ne 'GET' } @{ fake_requests($fake, $fixed, 'articles') };
ok(@writes > 0 && !grep({ ($_->{status} // 0) >= 400 } @writes), 'the remote refused none of them');

# The remote's clock jumps back while we think it right: the first change
# sent is refused (500), and the answer's Date shows why: it is held back,
# with no failed attempt, instead of failing.
ctl($fake, 'POST', 'mode', { clock_offset_s => -3600 });
sql(q{UPDATE articles SET title = 'two, edited' WHERE id = 2});
ok(wait_for('the change refused for its clock to be held', sub { (status()->{held} // 0) == 1 },
	on_timeout => sub { json_encode(status()) }), 'a change refused by a remote whose clock jumped back is held back');
is(status()->{failed}, 0, '... counting no failed attempt');
is(sql(q{SELECT attempts FROM directus_sync.outbox WHERE collection = 'articles'}), '0', '... nor an attempt of the item');
ctl($fake, 'POST', 'mode', { clock_offset_s => 0 });
ok(wait_drained($node, 'b'), 'and goes once the remote\'s clock is right again');
is(fake_item_map($fake, 'articles', 'id')->{2}{title}, 'two, edited', 'the remote has the edit');

# Paused, nothing is sent, not even a ping.
sql(q{SELECT directus_sync.pause('b')});
ctl($fake, 'POST', 'mode', { clock_offset_s => -3600 });
$mark = last_seq($fake);
sql(q{UPDATE articles SET title = 'one, paused' WHERE id = 1});
sleep(2);
is(scalar(@{ fake_requests($fake, $mark) }), 0, 'a paused remote gets no request, not even a ping');
ctl($fake, 'POST', 'mode', { clock_offset_s => 0 });
sql(q{SELECT directus_sync.resume('b')});
ok(wait_drained($node, 'b'), 'resumed: delivered');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter}), '0', 'no dead letters at the end');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
