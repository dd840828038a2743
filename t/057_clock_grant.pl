# clock_now() and clock_time() (docs/sql-api.md) are, like every function
# of the extension, executable by its owner only until granted
# (docs/security.md); once granted they work: clock_now is SECURITY DEFINER,
# as every API function that calls internal ones, since the grantee may not
# run _clock_tick() or _node_id(). (An adversarial review found it was not.)
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = new_sync_node('clock_grant');
run_sql($node, q{CREATE ROLE app LOGIN;
GRANT USAGE ON SCHEMA directus_sync TO app;
GRANT EXECUTE ON FUNCTION directus_sync.clock_now(), directus_sync.clock_time(text) TO app});
sub as_app
{
	my ($ret, $out, $err) = $node->psql('postgres', $_[0], extra_params => [ '-U', 'app' ]);
	return $ret == 0 ? $out : "ERROR: $err";
}
like(as_app(q{SELECT directus_sync.clock_time('0000000000000000')}), qr/^1970-01-01/,
	'a role granted clock_time uses it');
like(as_app(q{SELECT directus_sync.clock_now()}), qr/^[0-9a-f]{16}@[0-9a-f-]{36}$/,
	'a role granted clock_now uses it');
is(as_app(q{SELECT directus_sync._clock_observe('0000000000000000')}) =~ /permission denied/ ? 1 : 0, 1,
	'... and still may not observe clocks (not granted)');
$node->stop;
done_testing();
