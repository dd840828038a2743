# The outbox fold (queue_coalesce.c) compares born clocks ("b"): a row
# whose born clock differs is of another item that took the key, and the
# fold starts its payload anew from that row. Replay and resync write the
# stored born clock whole ("hex@node"), capture writes a clock of this
# node as its 16 hex digits (the payload's "s" completes it): one clock,
# two texts. A replayed create of item 1, then a local edit of its title,
# queued for c (paused), which lacks the item: compared as written, the
# fold took the edit for another item's row and sent c a create that
# carried the title alone, and c kept item 1 without its notes. Found by
# the adversarial review of session 26; failed before the fix.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my %user = (a => 'aaaaaaaa-0000-4000-8000-00000000000a', c => 'aaaaaaaa-0000-4000-8000-00000000000c');
my $node = new_sync_node('fold_born_forms', databases => [qw(a c)]);
my $sql = sub { return run_sql($node, $_[1], $_[0]) };
my $tables = slurp_file('t/directus_tables.sql');
for my $db (qw(a c))
{
	$sql->($db, 'CREATE TABLE articles (id int PRIMARY KEY, title text, notes text)');
	$sql->($db, q{SELECT directus_sync.enable_clocks('articles')});
	$sql->($db, $tables);
}
my $peer_c = start_peer($node, 'c', tokens => { 'token-a-c' => $user{a} });
$sql->('c', "SELECT directus_sync.add_remote('a', 'http://127.0.0.1:1', 'x', inbound_user => '$user{a}', enabled => false)");
$sql->('c', q{SELECT directus_sync.subscribe('a', 'articles', ARRAY['title', 'notes'])});
# item 1 exists on a before c is subscribed (c lacks it); a dead letter of it
# (as after a refused create) is replayed while c's link is paused
$sql->('a', q{INSERT INTO articles VALUES (1, 'title', 'notes')});
$sql->('a', "SELECT directus_sync.add_remote('c', '$peer_c->{url}', 'token-a-c')");
$sql->('a', q{SELECT directus_sync.subscribe('c', 'articles', ARRAY['title', 'notes'])});
$sql->('a', q{SELECT directus_sync.pause('c')});
$sql->('a', q{INSERT INTO directus_sync.dead_letter (id, remote_id, collection, item_key, op, payload, queued_at)
               SELECT 1, id, 'articles', '1', 'c', '{}', now() FROM directus_sync.remote WHERE name = 'c'});
is($sql->('a', q{SELECT directus_sync.replay('c')}), '1', 'the dead letter is replayed');
$sql->('a', q{UPDATE articles SET title = 'title, edited' WHERE id = 1});
like($sql->('a', q{SELECT string_agg(o.payload->'directus_sync_meta'->>'b', ' ' ORDER BY o.id) FROM directus_sync.outbox o}),
	qr/^[0-9a-f]{16}\@[0-9a-f-]{36} [0-9a-f]{16}$/, "a's queue for c: the replayed create's born clock whole, the edit's as its digits");
$sql->('a', q{SELECT directus_sync.resume('c')});
ok(wait_for('a drained', sub { $sql->('a', q{SELECT queued = 0 AND in_flight = 0 FROM directus_sync.remote_status WHERE remote = 'c'}) eq 't' }),
	"a's queue for c drains");
my $row = q{SELECT coalesce((SELECT id || '|' || title || '|' || coalesce(notes, 'NULL') FROM articles WHERE id = 1), '-')};
is($sql->('c', $row), $sql->('a', $row), 'c holds item 1 as a does');
is(server_crash($node), '', 'no crash in the server log');
stop_peer($peer_c);
$node->stop;
done_testing();
