# directus_sync.enable_app_status against real Directus (the version of
# DS_DIRECTUS_VERSION: 12.4.0 in the tap layer of scripts/test.sh, 11.17.4
# and 10.13.4 in e2e@directus11 and e2e@directus10), which connects as a
# superuser here (as many installations do): the status collections appear
# to the admin through the REST API after POST /utils/cache/clear?system=true,
# with the folder, field metadata and default layouts; the figures follow
# deliveries to a remote (the fake Directus) within seconds, a refused item
# shows as a dead letter with its error and goes when discarded; no token in
# them; Insights' aggregate query works on the history; a non-admin user
# neither reads nor writes them, and the admin's writes are refused;
# disable_app_status leaves Directus without a trace of them.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use DirectusE2E;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $script = e2e_script();
my $node = e2e_node('app_status', qw(directus_a));
my $release = directus_release();
diag("Directus $release");
# Directus's HTTP port from the range this test may use (56600-56649).
my $A = start_directus($node, 'directus_a', port => 56610);
sub sql { return run_sql($node, $_[0], 'directus_a') }

create_collection($A, 'articles', [ 'id', 'integer' ], [ [ 'title', 'string' ] ]);
my $token = 'secret-token-of-b';
my $fake = start_fake(token => $token, collections => { articles => { pk => 'id' } });
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', '$token')");
sql(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'], clocks => false)});
my $sync_user = create_sync_user($A, 'editor@example.com', 'editor-token', 'articles');

my ($status) = api($A, 'GET', '/items/sync_remotes_status');
is($status, 403, 'before enable_app_status: no such collection (403)');

sql('SELECT directus_sync.enable_app_status()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');

# What the admin sees.
my $folder = api_ok($A, 'GET', '/collections/sync_status');
ok(!defined $folder->{schema}, 'folder sync_status: a collection without a table (a folder)');
for my $c (qw(sync_remotes_status sync_remotes_history sync_dead_letters sync_conflicts))
{
	my $coll = api_ok($A, 'GET', "/collections/$c");
	is($coll->{meta}{group}, 'sync_status', "$c: in folder sync_status");
	my $fields = api_ok($A, 'GET', "/fields/$c");
	ok(@$fields > 5 && !grep({ !$_->{meta}{readonly} } @$fields), "$c: every field registered read-only");
}
my $state = (grep { $_->{field} eq 'state' } @{ api_ok($A, 'GET', '/fields/sync_remotes_status') })[0];
is($state->{meta}{display}, 'labels', 'state: shown as labels');
my $rows = api_ok($A, 'GET', '/items/sync_remotes_status');
is(scalar @$rows, 1, 'sync_remotes_status: one row per remote');
is($rows->[0]{remote} . ' ' . $rows->[0]{state}, 'b idle', 'remote b, idle');
my $presets = api_ok($A, 'GET', '/presets?filter[collection][_eq]=sync_dead_letters');
is(scalar(@$presets) . ' ' . ($presets->[0]{refresh_interval} // ''), '1 10',
	'sync_dead_letters: a default layout refreshed every 10 s');

# Deliveries: the figures follow within seconds (app_status_interval and
# poll_interval at their defaults, 5 s).
sub status_row { return api_ok($A, 'GET', '/items/sync_remotes_status')->[0] }
my $t0 = time;
sql(q{INSERT INTO articles (title) SELECT 'article ' || g FROM generate_series(1, 5) g});
ok(wait_for('delivered 5 in the app', sub { status_row()->{delivered} == 5 }, timeout => 30),
	'five deliveries: sync_remotes_status.delivered is 5');
my $lag = time - $t0;
ok($lag < 12, sprintf('seen in the app %.1f s after the commit', $lag));

# A refused item: a dead letter with its error, the remote in error.
ctl($fake, 'POST', 'fail', { status => 400, code => 'INVALID_PAYLOAD', message => 'Invalid payload. "title" is not allowed.',
	key => 6, count => -1, collection => 'articles' });
$t0 = time;
sql(q{INSERT INTO articles (id, title) VALUES (6, 'refused')});
ok(wait_for('a dead letter in the app', sub { @{ api_ok($A, 'GET', '/items/sync_dead_letters') } == 1 }, timeout => 30),
	'the refused item: one row in sync_dead_letters');
$lag = time - $t0;
ok($lag < 12, sprintf('seen in the app %.1f s after the commit', $lag));
my $dead = api_ok($A, 'GET', '/items/sync_dead_letters')->[0];
is(join(' ', map { $dead->{$_} // '' } qw(remote operation collection item_key http_status error_code error_message)),
	'b create articles 6 400 INVALID_PAYLOAD Invalid payload. "title" is not allowed.',
	'the dead letter: remote, operation, item, status, code and message');
ok(wait_for('dead = 1', sub { status_row()->{dead} == 1 }, timeout => 30), 'sync_remotes_status counts it');
is(status_row()->{state}, 'error', 'and shows the remote in error');
my $all = join "\n", map { json_encode(api_ok($A, 'GET', "/items/$_?limit=-1")) }
  qw(sync_remotes_status sync_remotes_history sync_dead_letters sync_conflicts);
unlike($all, qr/\Q$token\E/, 'no token in any of the four collections');

# Insights' panels ask for aggregates grouped by time: they work on the history.
my $agg = api_ok($A, 'GET', '/items/sync_remotes_history?aggregate[max]=delivered&groupBy[]=remote');
is($agg->[0]{remote}, 'b', 'an aggregate over sync_remotes_history (as an Insights panel asks) answers');

# Read-only: the admin's writes are refused, a non-admin sees nothing.
my $before = sql('SELECT delivered FROM sync_remotes_status');
my ($st_patch) = api($A, 'PATCH', '/items/sync_remotes_status/1', { delivered => 0 });
ok($st_patch >= 400, "an admin's update is refused ($st_patch)");
my ($st_del) = api($A, 'DELETE', "/items/sync_dead_letters/$dead->{id}");
ok($st_del >= 400, "an admin's delete of a dead letter is refused ($st_del)");
is(sql('SELECT delivered FROM sync_remotes_status') . ' ' . sql('SELECT count(*) FROM sync_dead_letters'), "$before 1",
	'nothing changed');
for my $c (qw(sync_remotes_status sync_dead_letters sync_conflicts sync_remotes_history))
{
	my ($st_read) = api($A, 'GET', "/items/$c", undef, $sync_user->{token});
	is($st_read, 403, "a non-admin cannot read $c");
}
my ($st_create) = api($A, 'POST', '/items/sync_conflicts', { collection => 'x', item_key => '1', kind => 'update_update', winner => 'local' },
	$sync_user->{token});
is($st_create, 403, 'nor write them');

# Discarded: gone from the app within seconds.
$t0 = time;
sql(q{SELECT directus_sync.discard_dead_letters('b')});
ok(wait_for('no dead letter in the app', sub { @{ api_ok($A, 'GET', '/items/sync_dead_letters') } == 0 }, timeout => 30),
	'discard_dead_letters: the row leaves sync_dead_letters');
$lag = time - $t0;
ok($lag < 12, sprintf('seen in the app %.1f s after the discard', $lag));

# Removed: nothing left in Directus.
sql('SELECT directus_sync.disable_app_status()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');
($status) = api($A, 'GET', '/items/sync_remotes_status');
is($status, 403, 'after disable_app_status: the collection is gone (403)');
my @left = grep { $_->{collection} =~ /^sync_/ } @{ api_ok($A, 'GET', '/collections') };
is(scalar @left, 0, 'no sync_ collection left in Directus');
is(sql(q{SELECT (SELECT count(*) FROM directus_collections WHERE collection LIKE 'sync\_%')
	+ (SELECT count(*) FROM directus_fields WHERE collection LIKE 'sync\_%')
	+ (SELECT count(*) FROM directus_presets WHERE collection LIKE 'sync\_%')
	+ (SELECT count(*) FROM directus_permissions WHERE collection LIKE 'sync\_%')
	+ (SELECT count(*) FROM pg_class WHERE relname LIKE 'sync\_%' AND relnamespace = 'public'::regnamespace)}), '0',
	'no row of Directus about them, no table left');
api_ok($A, 'GET', '/items/articles');
pass('Directus goes on serving its collections');

done_testing();
