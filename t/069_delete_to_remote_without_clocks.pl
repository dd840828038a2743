# A delete of an item that a remote lacks, when the remote's collection has
# no directus_sync_meta (its instance has not run enable_clocks yet): the
# delete is not sent as a create of the key alone, which such a remote would
# keep as an empty item. The probe asks for the field too, and the peer
# (like Directus 11 and 12) answers 403 naming it: the remote fails as a
# whole, saying to run enable_clocks there, and nothing is lost.
# (Review: the ring fix of t/068 first created an empty item 1 there.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my $node = new_sync_node('no_field_delete', databases => [qw(a b)]);
my $sql = sub { return run_sql($node, $_[1], $_[0]) };
my $tables = slurp_file('t/directus_tables.sql');
for my $db (qw(a b))
{
	$sql->($db, 'CREATE TABLE articles (id integer PRIMARY KEY, title text, body text)');
	$sql->($db, $tables);
}
$sql->('a', q{SELECT directus_sync.enable_clocks('articles', key_series => false)});
my $peer = start_peer($node, 'b', tokens => { 'token-a-on-b' => 'aaaaaaaa-0000-4000-8000-00000000000a' });
$sql->('a', "SET log_statement = 'none'; SELECT directus_sync.add_remote('b', '$peer->{url}', 'token-a-on-b')");
$sql->('a', q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'])});
$sql->('a', q{SELECT directus_sync.pause('b')});
$sql->('a', q{INSERT INTO articles VALUES (1, 'one', 'x')});
$sql->('a', q{DELETE FROM articles WHERE id = 1});
$sql->('a', q{SELECT directus_sync.resume('b')});

ok(wait_for('the remote to fail', sub {
	$sql->('a', q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}) =~ /has no field directus_sync_meta/ }),
	'remote_status.last_error: the remote\'s collection has no field directus_sync_meta');
like($sql->('a', q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}),
	qr/run SELECT directus_sync\.enable_clocks\('articles'\)/, '... and says what to do');
is($sql->('b', 'SELECT count(*) FROM articles'), '0', 'the remote holds no empty item');
is($sql->('a', 'SELECT count(*) FROM directus_sync.dead_letter'), '0', 'no dead letter');
ok($sql->('a', q{SELECT count(*) FROM directus_sync.outbox WHERE item_key = '1'}) > 0, 'the delete waits in the queue');

is(server_crash($node), '', 'no crash in the server log');
stop_peer($peer);
$node->stop;
done_testing();
