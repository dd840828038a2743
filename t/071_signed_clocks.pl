# Clocks on a collection whose accountability is off (directus_collections
# says NULL: Directus writes no activity and no revision for it), between two
# databases a and b, each behind a peer Directus (t/peer_directus.py) that
# writes no activity for it either. The loop guard cannot know a sync by its
# activity row there; the sender signs each item's clocks with the token it
# writes with (src/sync_signature.c), and the receiver checks the signature
# against its inbound users' tokens (directus_users.token).
#
# Covers: subscribe to a remote that writes back accepts such a collection
# once it has clocks (and refuses it without); creates, concurrent edits
# and deletes both ways end equal, the later edit winning, with no activity
# row anywhere; a change is not sent back to the remote whose sync made it;
# refused at commit: clocks from a user that is no sync, clocks a sync
# sends unsigned, clocks signed with another token.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(sleep);

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my %user = (a => 'aaaaaaaa-0000-4000-8000-00000000000a', b => 'aaaaaaaa-0000-4000-8000-00000000000b');
my $stranger = 'bbbbbbbb-0000-4000-8000-000000000001';
my $node = new_sync_node('signed_clocks', databases => [qw(a b)]);
sub sql { my ($db, $q) = @_; return run_sql($node, $q, $db) }
sub other { return $_[0] eq 'a' ? 'b' : 'a' }
my $tables = slurp_file('t/directus_tables.sql');
my %peer;
for my $db (qw(a b))
{
	my $other = other($db);
	sql($db, $tables);
	# what Directus keeps of users and collections, as far as this test needs
	sql($db, "SET log_statement = 'none'; CREATE TABLE directus_users (id uuid PRIMARY KEY, token varchar(255) UNIQUE);
		INSERT INTO directus_users VALUES ('$user{$other}', 'token-$other'), ('$stranger', 'token-stranger');
		CREATE TABLE directus_collections (collection varchar(64) PRIMARY KEY, singleton boolean DEFAULT false,
			accountability varchar(255) DEFAULT 'all');
		INSERT INTO directus_collections VALUES ('notes', false, NULL);
		CREATE TABLE notes (id uuid PRIMARY KEY, title text, body text)");
	$peer{$db} = start_peer($node, $db,
		tokens => { "token-$other" => $user{$other}, 'token-stranger' => $stranger },
		collections => { notes => { pk => 'id', accountability => undef } });
}
for my $db (qw(a b))
{
	my $other = other($db);
	sql($db, "SET log_statement = 'none'; SELECT directus_sync.add_remote('$other', '$peer{$other}{url}', 'token-$db',
		inbound_user => '$user{$other}')");
}

# Without clocks the loop guard would need activity rows: refused.
my ($rc, $out, $err) = $node->psql('a', q{SELECT directus_sync.subscribe('b', 'notes', ARRAY['title', 'body'], clocks => false)});
like($err, qr/collection "notes" is not tracked by Directus, and remote "b" writes to it/,
	'subscribe without clocks refuses a collection without accountability');
like($err, qr/give it clocks/, '... and says that clocks would do');
# With them (the default for a remote that writes back) it is taken.
sql($_, "SELECT directus_sync.subscribe('" . other($_) . "', 'notes', ARRAY['title', 'body'])") for qw(a b);
is(sql('a', q{SELECT count(*) FROM directus_sync.clocked_collection WHERE collection = 'notes'}), '1',
	'subscribe gave notes clocks');

sub drain
{
	for my $db (qw(a b))
	{
		wait_for("$db to drain", sub { sql($db, q{SELECT bool_and(queued = 0 AND in_flight = 0) FROM directus_sync.remote_status}) eq 't' })
		  or BAIL_OUT("$db did not drain");
	}
}
sub rows { my ($db) = @_; return sql($db, q{SELECT string_agg(id || ':' || coalesce(title, '-') || ':' || coalesce(body, '-'), ',' ORDER BY id) FROM notes}) }
sub delivered { my ($db) = @_; return sql($db, 'SELECT delivered FROM directus_sync.remote_status') }

my $n1 = 'c0000000-0000-4000-8000-000000000001';
my $n2 = 'c0000000-0000-4000-8000-000000000002';
sql('a', "INSERT INTO notes VALUES ('$n1', 'one', 'made on a')");
sql('b', "INSERT INTO notes VALUES ('$n2', 'two', 'made on b')");
drain();
is(rows('b'), "$n1:one:made on a,$n2:two:made on b", "a's create reached b and b's reached a: b");
is(rows('a'), rows('b'), '... a holds the same');
is(sql($_, 'SELECT count(*) FROM directus_activity'), '0', "$_: no activity row was written") for qw(a b);
is(delivered('a'), '1', "a delivered its create only: b's, applied on a, did not go back");
is(delivered('b'), '1', "b likewise");

# Concurrent edits, links held: the later one wins everywhere.
sql($_, "SELECT directus_sync.pause('" . other($_) . "')") for qw(a b);
sql('a', "UPDATE notes SET title = 'one by a', body = 'body by a' WHERE id = '$n1'");
sleep(0.05);
sql('b', "UPDATE notes SET title = 'one by b' WHERE id = '$n1'");
sql('b', "DELETE FROM notes WHERE id = '$n2'");
sql($_, "SELECT directus_sync.resume('" . other($_) . "')") for qw(a b);
drain();
is(rows('a'), "$n1:one by b:body by a", "the later edit of each field wins, b's delete went through: a");
is(rows('b'), rows('a'), '... b holds the same');
is(sql($_, q{SELECT count(*) FROM directus_sync.conflict WHERE kind = 'update_update' AND field = 'title'}), '1',
	"$_ logged the update/update conflict of title") for qw(a b);
is(sql($_, 'SELECT count(*) FROM directus_sync.dead_letter'), '0', "$_: no dead letter") for qw(a b);

# Writes through b's peer that bring clocks without a sync's signature.
my $clocks = sql('a', "SELECT directus_sync_meta FROM notes WHERE id = '$n1'");
sub forge
{
	my ($token, $meta, $what) = @_;
	my $res = api_request({ url => $peer{b}{url}, token => $token }, 'PATCH', "/items/notes/$n1",
		{ title => 'forged', directus_sync_meta => $meta });
	isnt($res->{status}, 200, "$what: refused ($res->{status})");
	is(sql('b', "SELECT title FROM notes WHERE id = '$n1'"), 'one by b', "$what: b is unchanged");
}
my $future = sub {
	my ($sign) = @_;
	my $stamp = sprintf('%012x0000', (time() + 3) * 1000);
	my $node_id = sql('a', 'SELECT directus_sync._node_id()');
	return { s => $node_id, f => { title => $stamp }, defined $sign ? (g => $sign) : () };
};
forge('token-stranger', $future->(undef), 'a user that is no sync, clocks unsigned');
forge('token-a', $future->(undef), "a's sync user, clocks unsigned (collection without activity)");
forge('token-a', $future->('0' x 64), "a's sync user, clocks signed with another token");
forge('token-stranger', $future->('0' x 64), 'a user that is no sync, a made-up signature');
like(slurp_file($node->logfile), qr/only a sync may write column "directus_sync_meta"/,
	'the server log says why');
unlike(slurp_file($node->logfile), qr/token-[ab]\b/, 'no token in the server log');

# And a sync's edit still goes through afterwards.
sql('a', "UPDATE notes SET body = 'last word of a' WHERE id = '$n1'");
drain();
is(rows('b'), "$n1:one by b:last word of a", 'a later edit on a reaches b');

stop_peer($peer{$_}) for qw(a b);
$node->stop;
done_testing();
