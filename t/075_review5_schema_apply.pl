# Review 5: Directus's own schema tooling and the app config. The app
# config's collections are ordinary collections to Directus: its schema
# snapshot (GET /schema/snapshot, `directus schema snapshot`, the documented
# way to carry a data model from staging to production) holds sync_remotes,
# sync_subscriptions and sync_remotes_notify_users with their fields, and
# applying it to an instance without the app config (or after
# disable_app_config) makes them there as plain tables: no trigger, no
# CHECK (token IS NULL). The collections then look as they did, an admin
# adds a remote with its token, the token is stored in clear in Directus's
# table (read back by anyone who reads the table, kept in every dump), and
# nothing replicates; enable_app_config then refuses to run ("was not made
# by directus_sync"). Correct: no token is ever stored in sync_remotes, and
# enable_app_config works after such an apply (or the snapshot does not
# carry the collections).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use DirectusE2E;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = e2e_node('review5_schema', qw(directus_a));
my $release = directus_release();
diag("Directus $release");
my $A = start_directus($node, 'directus_a', port => 56800 + directus_major() - 10);
sub sql { return run_sql($node, $_[0], 'directus_a') }

sql('SELECT directus_sync.enable_app_config()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');
my $snapshot = api_ok($A, 'GET', '/schema/snapshot');
my @carried = sort grep { /^sync_/ } map { $_->{collection} } @{ $snapshot->{collections} };
diag('collections in the snapshot: ' . join(', ', @carried));

# The instance the snapshot goes to has no app config (here: disabled).
sql('SELECT directus_sync.disable_app_config()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');
my ($st_d, $diff) = api($A, 'POST', '/schema/diff?force=true', $snapshot);
diag("diff: $st_d");
if ($st_d == 200)
{
	my ($st_a, $ans_a) = api($A, 'POST', '/schema/apply', $diff->{data});
	diag("apply: $st_a " . (ref $ans_a ? json_encode($ans_a) : $ans_a // ''));
}
api_ok($A, 'POST', '/utils/cache/clear?system=true');
diag('sync_remotes now: ' . sql(q{SELECT coalesce(to_regclass('sync_remotes')::text, 'none')
	|| ' made by directus_sync: ' || (directus_sync._app_config_table('sync_remotes') IS NOT NULL)}));

# An admin adds a remote in the collection as it looks.
my ($st_p, $ans_p) = api($A, 'POST', '/items/sync_remotes',
	{ name => 'b', url => 'http://127.0.0.1:9', token => 'secret-token-in-clear' });
diag("POST /items/sync_remotes: $st_p");
is(sql(q{SELECT CASE WHEN to_regclass('sync_remotes') IS NULL THEN '0'
	ELSE (xpath('/row/n/text()', query_to_xml('SELECT count(*) AS n FROM sync_remotes WHERE token IS NOT NULL', false, true, '')))[1]::text END}),
	'0', 'no token stored in sync_remotes');
ok(($st_p >= 400) || sql(q{SELECT count(*) FROM directus_sync.remote WHERE name = 'b'}) eq '1',
	'a remote the admin was told was added is a remote of directus_sync');
my ($ret, $out, $err) = $node->psql('directus_a', 'SELECT directus_sync.enable_app_config()');
is($ret, 0, 'enable_app_config works after the apply') or diag($err);

done_testing();
