# A delete that reaches an instance lacking the item, in a ring of four
# (a->b->c->d->a, forwarding; t/065 found it at random): an item created on
# a reaches b, and b deletes it while its link to c is held, so b's create
# and delete for c fold into one delete. c lacks the item: Directus answers
# 403 to the PATCH that carries the delete, the probe finds the item
# missing, and b sends the delete again as a create that carries it alone
# ({"s", "d"}). c keeps it as a tombstone and passes it on, round the ring
# to a, which created the item. (Before, b settled it as delivered: c got
# no tombstone, and c, d and a kept the item for good.)
#
# Also: a Directus user who is not a sync user cannot plant a tombstone
# (which would travel as deletes to every other instance).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my @dbs = qw(a b c d);
my %user = map { $dbs[$_] => sprintf('aaaaaaaa-0000-4000-8000-%012x', 10 + $_) } 0 .. $#dbs;
my $stranger = 'bbbbbbbb-0000-4000-8000-000000000001';
my %next = (a => 'b', b => 'c', c => 'd', d => 'a');
my %prev = reverse %next;
sub token { return "token-$_[0]-on-$_[1]" }

my $node = new_sync_node('ring_delete', databases => [qw(a b c d)]);
my $sql = sub { return run_sql($node, $_[1], $_[0]) };
my $tables = slurp_file('t/directus_tables.sql');
for my $db (@dbs)
{
	$sql->($db, 'CREATE TABLE articles (id uuid PRIMARY KEY, title text, body text, n integer)');
	$sql->($db, q{SELECT directus_sync.enable_clocks('articles')});
	$sql->($db, $tables);
}
# Each peer takes the previous instance's token; c's also a stranger's.
my %peer = map {
	my $y = $_;
	$y => start_peer($node, $y, tokens => { token($prev{$y}, $y) => $user{ $prev{$y} },
			($y eq 'c' ? ('token-stranger' => $stranger) : ()) })
} @dbs;
# Each database ships to the next; the previous one is a disabled remote
# that names the user it writes here as.
for my $x (@dbs)
{
	my ($y, $w) = ($next{$x}, $prev{$x});
	$sql->($x, "SET log_statement = 'none'; SELECT directus_sync.add_remote('$y', '$peer{$y}{url}', '"
		  . token($x, $y) . "', forward_inbound => true)");
	$sql->($x, "SELECT directus_sync.subscribe('$y', 'articles', ARRAY['title', 'body', 'n'])");
	$sql->($x, "SET log_statement = 'none'; SELECT directus_sync.add_remote('$w', '$peer{$w}{url}', '"
		  . token($x, $w) . "', enabled => false, inbound_user => '$user{$w}', forward_inbound => true)");
}
my $drained = sub {
	for my $db (@dbs)
	{
		return 0 unless $sql->($db, q{SELECT bool_and(queued = 0 AND in_flight = 0) FROM directus_sync.remote_status}) eq 't';
	}
	return 1;
};
my $count = sub { my ($db, $id) = @_; return $sql->($db, "SELECT count(*) FROM articles WHERE id = '$id'") };
my $tombstone = sub
{
	my ($db, $id) = @_;
	return $sql->($db, "SELECT deleted FROM directus_sync.tombstone WHERE item_key = '$id'") || 'none';
};

my $id = '11111111-1111-4111-8111-111111111111';
peer_ctl($peer{c}, 'POST', 'hold', { tokens => [ token('b', 'c') ] });
$sql->('a', "INSERT INTO articles VALUES ('$id', 'x', 'y', 1)");
ok(wait_for('the item on b', sub { $count->('b', $id) eq '1' }), 'the create reaches b');
$sql->('b', "DELETE FROM articles WHERE id = '$id'");
is($sql->('b', "SELECT string_agg(op::text, ',' ORDER BY id) FROM directus_sync.outbox"), 'c,d',
	"b holds the item's create and delete for c (they go as one delete)");
peer_ctl($peer{c}, 'POST', 'release', {});
ok(wait_for('every outbox to drain', sub { $drained->() && sleep(1) && $drained->() }), 'every outbox drains');
is(join(' ', map { $count->($_, $id) } @dbs), '0 0 0 0', 'the item is gone from a, b, c and d');
my $deleted = $tombstone->('b', $id);
is(join(' ', map { $tombstone->($_, $id) eq $deleted ? 'same' : $tombstone->($_, $id) } @dbs), 'same same same same',
	"every instance keeps b's delete as its tombstone");
is(join(' ', map { $sql->($_, 'SELECT count(*) FROM directus_sync.dead_letter') } @dbs), '0 0 0 0', 'no dead letter');

# A stranger (not the inbound user of any remote) brings a delete alone for
# an item c does not have: refused, no tombstone, nothing passed on.
my $other = '22222222-2222-4222-8222-222222222222';
my $clock = $sql->('a', 'SELECT directus_sync.clock_now()');
my $res = api_request({ url => $peer{c}{url}, token => 'token-stranger' }, 'POST', '/items/articles',
	[ { id => $other, directus_sync_meta => { s => (split /@/, $clock)[1], d => $clock } } ]);
isnt($res->{status}, 200, "a stranger's delete alone is refused ($res->{status})");
is($tombstone->('c', $other), 'none', '... c keeps no tombstone');
is($sql->('c', "SELECT count(*) FROM directus_sync.outbox WHERE item_key = '$other'"), '0', '... and passes nothing on');

is(server_crash($node), '', 'no crash in the server log');
stop_peer($peer{$_}) for @dbs;
$node->stop;
done_testing();
