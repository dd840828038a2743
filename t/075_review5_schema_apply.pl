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
# The fix: the event trigger directus_sync_reserve_app_tables refuses a table
# of one of the names without directus_sync's CHECKs in Directus's schema, so
# the apply fails as a whole (one transaction); with the app config enabled
# first, the snapshot applies. The same for the app status's collections.
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
# POST /schema/diff then /schema/apply; the apply's status (0: no diff).
sub apply_snapshot
{
	my ($snap) = @_;
	my ($st_d, $diff) = api($A, 'POST', '/schema/diff?force=true', $snap);
	diag("diff: $st_d");
	return 0 unless $st_d == 200;
	my ($st_a, $ans_a) = api($A, 'POST', '/schema/apply', $diff->{data});
	diag("apply: $st_a " . (ref $ans_a ? json_encode($ans_a) : $ans_a // ''));
	return $st_a;
}
my $st_apply = apply_snapshot($snapshot);
api_ok($A, 'POST', '/utils/cache/clear?system=true');
diag('sync_remotes now: ' . sql(q{SELECT coalesce(to_regclass('sync_remotes')::text, 'none')
	|| ' made by directus_sync: ' || (directus_sync._app_table('sync_remotes', 'config') IS NOT NULL)}));

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
ok($st_apply >= 400, 'the apply is refused where the app config is not enabled (directus_sync_reserve_app_tables)');

# The way out the error's hint gives: with the app config enabled, the same
# snapshot applies.
api_ok($A, 'POST', '/utils/cache/clear?system=true');
my $st_again = apply_snapshot($snapshot);
ok($st_again == 0 || ($st_again >= 200 && $st_again < 300), 'with the app config enabled the snapshot applies');
is(sql(q{SELECT count(*) FROM unnest(ARRAY['sync_remotes', 'sync_remotes_notify_users', 'sync_subscriptions']) AS t
	WHERE directus_sync._app_table(t, 'config') IS NOT NULL}), '3', 'the app config\'s tables are still directus_sync\'s');

# The app status's collections: the same.
sql('SELECT directus_sync.enable_app_status()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');
my $snapshot_status = api_ok($A, 'GET', '/schema/snapshot');
ok((grep { $_->{collection} eq 'sync_remotes_status' } @{ $snapshot_status->{collections} }),
	'the snapshot carries the app status\'s collections');
# Only the app status's collections (and user collections), as a snapshot of
# an instance with the app status but no app config would be.
my %config = map { $_ => 1 } qw(sync_config sync_remotes sync_remotes_notify_users sync_subscriptions);
$snapshot_status->{collections} = [ grep { !$config{ $_->{collection} } } @{ $snapshot_status->{collections} } ];
$snapshot_status->{fields} = [ grep { !$config{ $_->{collection} } } @{ $snapshot_status->{fields} } ];
$snapshot_status->{relations} = [ grep { !$config{ $_->{collection} } && !$config{ $_->{related_collection} // '' } }
	@{ $snapshot_status->{relations} } ];
sql('SELECT directus_sync.disable_app_status()');
sql('SELECT directus_sync.disable_app_config()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');
my $st_status = apply_snapshot($snapshot_status);
ok($st_status >= 400, 'the apply of the app status\'s collections is refused where it is not enabled');
api_ok($A, 'POST', '/utils/cache/clear?system=true');
is(sql(q{SELECT count(*) FROM unnest(ARRAY['sync_remotes_status', 'sync_remotes_history', 'sync_dead_letters', 'sync_conflicts']) AS t
	WHERE to_regclass(t) IS NOT NULL}), '0', 'no plain table of the app status made');
($ret, $out, $err) = $node->psql('directus_a', 'SELECT directus_sync.enable_app_status()');
is($ret, 0, 'enable_app_status works after the apply') or diag($err);

done_testing();
