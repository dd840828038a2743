# Review 6: update against delete, with a field replicated to one remote
# only (sql/review6_asymmetric_delete.sql shows the mechanism; this runs it
# with workers and peers that apply like Directus). a ships title to b,
# title and notes to c; b ships title to a. b deletes an item while its link
# to a is held, and a's user then edits the item's notes (a field b does not
# replicate). On a the edit is later than the delete: the item stays and
# goes back to every remote; to b that is title alone, older than the
# delete, but it carries the item's alive clock ("a": the notes edit), so b
# takes the item back too. Every queue drains, a, b and c all hold the
# item, and b sent a handful of changes (once, a and b sent each other the
# write-back and the delete for ever: over 1,000 deliveries in 30 s).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my @dbs = qw(a b c);
my %user = map { $dbs[$_] => sprintf('aaaaaaaa-0000-4000-8000-%012x', 10 + $_) } 0 .. $#dbs;
sub token { return "token-$_[0]-on-$_[1]" }

my $node = new_sync_node('review6_asym', databases => [qw(a b c)]);
my $sql = sub { return run_sql($node, $_[1], $_[0]) };
my $tables = slurp_file('t/directus_tables.sql');
for my $db (@dbs)
{
	$sql->($db, 'CREATE TABLE articles (id uuid PRIMARY KEY, title text, notes text)');
	$sql->($db, q{SELECT directus_sync.enable_clocks('articles')});
	$sql->($db, $tables);
}
my %peer = (
	a => start_peer($node, 'a', tokens => { token('b', 'a') => $user{b} }),
	b => start_peer($node, 'b', tokens => { token('a', 'b') => $user{a} }),
	c => start_peer($node, 'c', tokens => { token('a', 'c') => $user{a} }));
my $add = sub
{
	my ($x, $y, $fields, %o) = @_;
	$sql->($x, "SET log_statement = 'none'; SELECT directus_sync.add_remote('$y', '$peer{$y}{url}', '"
		  . token($x, $y) . "'"
		  . ($o{inbound} ? ", inbound_user => '$user{$y}'" : '')
		  . ($o{disabled} ? ', enabled => false' : '') . ')');
	$sql->($x, "SELECT directus_sync.subscribe('$y', 'articles', ARRAY[$fields])");
};
$add->('a', 'b', q{'title'}, inbound => 1);
$add->('a', 'c', q{'title', 'notes'});
$add->('b', 'a', q{'title'}, inbound => 1);
# c takes a's changes (its clocks need a's user as an inbound user)
$add->('c', 'a', q{'title', 'notes'}, inbound => 1, disabled => 1);

my $drained = sub {
	for my $db (@dbs)
	{
		return 0 unless $sql->($db, q{SELECT coalesce(bool_and(queued = 0 AND in_flight = 0), true) FROM directus_sync.remote_status WHERE enabled}) eq 't';
	}
	return 1;
};
my $count = sub { my ($db, $id) = @_; return $sql->($db, "SELECT count(*) FROM articles WHERE id = '$id'") };

my $id = '11111111-1111-4111-8111-111111111111';
$sql->('a', "INSERT INTO articles VALUES ('$id', 'title', 'notes')");
ok(wait_for('the item on b and c', sub { $count->('b', $id) eq '1' && $count->('c', $id) eq '1' }),
	'the create reaches b and c');
ok(wait_for('a drained', sub { $drained->() }), 'every outbox drains after the create');

peer_ctl($peer{a}, 'POST', 'hold', { tokens => [ token('b', 'a') ] });
$sql->('b', "DELETE FROM articles WHERE id = '$id'");
select(undef, undef, undef, 0.05);
$sql->('a', "UPDATE articles SET notes = 'notes, edited after the delete' WHERE id = '$id'");
ok(wait_for('c has the edit', sub { $sql->('c', "SELECT notes FROM articles WHERE id = '$id'") =~ /edited/ }),
	"a's edit reaches c");
peer_ctl($peer{a}, 'POST', 'release', {});

my $before = $sql->('b', q{SELECT sum(delivered) FROM directus_sync.remote_status});
ok(wait_for('every outbox to drain', sub { $drained->() && sleep(1) && $drained->() }, timeout => 30),
	'every outbox drains');
my $after = $sql->('b', q{SELECT sum(delivered) FROM directus_sync.remote_status});
note("b delivered " . ($after - $before) . " changes to a since the release");
is(join(' ', map { $count->($_, $id) } @dbs), '1 1 1', 'a, b and c all hold the item (the edit was later than the delete)');
is($sql->('b', "SELECT title FROM articles WHERE id = '$id'"), 'title', 'b has its title, as a has it');
cmp_ok($after - $before, '<', 10, 'b sent a handful of changes, not an endless stream');

is(server_crash($node), '', 'no crash in the server log');
stop_peer($peer{$_}) for @dbs;
$node->stop;
done_testing();
