# Whatever the outbox holds, the worker does not crash. A create or update
# row whose payload is SQL NULL (nothing in the extension writes one; only
# the extension's owner could) is sent as JSON null, which the remote
# refuses (a dead letter), as it refuses a payload that is a JSON null or an
# array; the rest is delivered. (An adversarial review found that such a row
# crashed the worker, and with it the server, at every claim.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { docs => { pk => 'id' } });
my $node = new_sync_node('null_payload');
sub sql { return run_sql($node, $_[0]) }
sql(q{CREATE TABLE docs (id int PRIMARY KEY, t text)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'docs', ARRAY['t'])});
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO docs VALUES (1, 'a'), (2, 'a'), (3, 'a')});
my $ok = eval {
	sql(q{INSERT INTO directus_sync.outbox (remote_id, collection, item_key, op, payload) VALUES
	  (1, 'docs', '1', 'u', NULL), (1, 'docs', '2', 'u', 'null'), (1, 'docs', '3', 'u', '[1]')});
	1;
};
if ($ok)
{
	sql(q{UPDATE docs SET t = 'c'});
	sql(q{SELECT directus_sync.resume('b')});
	ok(eval { wait_drained($node, 'b', timeout => 30) }, 'the queue drains (or the NULL row is refused)') or diag($@);
}
else
{
	pass('the outbox refuses an update without a payload');
}
is(server_crash($node), '', 'no server process crashed');
$node->stop;
done_testing();
