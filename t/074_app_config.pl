# directus_sync.enable_app_config against real Directus (the version of
# DS_DIRECTUS_VERSION), which connects as a superuser here: an admin adds a
# remote (the fake Directus) and a subscription through the REST API, as the
# app does, and changes replicate to it; the token is handed to
# directus_sync and never returned (not to the admin, not to a role someone
# granted read on the collection), nor stored in the app's table; the SQL
# functions' errors reach the admin with their message; a non-admin neither
# reads nor writes the collections; a remote added in SQL shows in the app;
# disable_app_config leaves Directus without a trace of them.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use DirectusE2E;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $script = e2e_script();
my $node = e2e_node('app_config', qw(directus_a));
my $release = directus_release();
diag("Directus $release");
# Directus's HTTP port from the range this test may use (56750-56799).
my $A = start_directus($node, 'directus_a', port => 56750 + directus_major() - 10);
sub sql { return run_sql($node, $_[0], 'directus_a') }

create_collection($A, 'articles', [ 'id', 'integer' ], [ [ 'title', 'string' ] ]);
my $token = 'secret-token-of-b';
my $fake = start_fake(token => $token, collections => { articles => { pk => 'id' } });
my $plain = create_sync_user($A, 'editor@example.com', 'editor-token', 'articles');

sql('SELECT directus_sync.enable_app_config()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');

my $folder = api_ok($A, 'GET', '/collections/sync_config');
ok(!defined $folder->{schema}, 'folder sync_config: a collection without a table');
my $tok_field = (grep { $_->{field} eq 'token' } @{ api_ok($A, 'GET', '/fields/sync_remotes') })[0];
is(($tok_field->{meta}{special} // [])->[0] // '', 'conceal', 'token: a concealed field');
ok($tok_field->{meta}{options}{masked}, 'token: masked input');

# The admin adds the remote and a subscription, as the app does.
my $remote = api_ok($A, 'POST', '/items/sync_remotes', { name => 'b', url => "$fake->{url}/", token => $token });
ok($remote->{id}, "created through the API (id $remote->{id})");
ok(!defined $remote->{token}, 'the answer holds no token');
is(sql("SELECT id || ' ' || url || ' ' || (token = '$token') FROM directus_sync.remote WHERE name = 'b'"),
	"$remote->{id} $fake->{url} true", 'directus_sync.remote has it: the same id, the URL normalised, the token');
is(sql('SELECT count(*) FROM sync_remotes WHERE token IS NOT NULL'), '0', 'the app table holds no token');
my $sub = api_ok($A, 'POST', '/items/sync_subscriptions', { remote => $remote->{id}, collection => 'articles', fields => ['title'] });
is(sql(q{SELECT collection || ' ' || array_to_string(fields, ',') FROM directus_sync.subscription}), 'articles title',
	'the subscription: subscribe was called');

# It replicates.
api_ok($A, 'POST', '/items/articles', { title => 'from the app' });
ok(wait_for('the article at b', sub { grep { ($_->{title} // '') eq 'from the app' } @{ fake_items($fake, 'articles') } },
	timeout => 60), 'a remote added through the app receives the changes');

# The token is never returned.
my $all = join "\n", map { json_encode(api_ok($A, 'GET', "/items/$_?limit=-1&fields=*.*")) }
  qw(sync_remotes sync_subscriptions);
unlike($all, qr/\Q$token\E/, 'no token in what the admin reads');
my ($st) = api($A, 'GET', '/items/sync_remotes', undef, $plain->{token});
is($st, 403, 'a non-admin cannot read sync_remotes');
($st) = api($A, 'POST', '/items/sync_remotes', { name => 'x', url => 'http://127.0.0.1:9', token => 't' }, $plain->{token});
is($st, 403, 'nor add a remote');
($st) = api($A, 'DELETE', "/items/sync_remotes/$remote->{id}", undef, $plain->{token});
is($st, 403, 'nor remove one');
# A role someone granted read on the collection still sees no token.
my $reader = create_sync_user($A, 'reader@example.com', 'reader-token', 'sync_remotes');
my ($st_r, $ans_r) = api($A, 'GET', '/items/sync_remotes', undef, $reader->{token});
is($st_r, 200, 'a role granted read on sync_remotes reads it');
unlike(json_encode($ans_r), qr/\Q$token\E/, 'but no token');

# Errors of the SQL functions reach the admin with their message.
my ($st_e, $ans_e) = api($A, 'POST', '/items/sync_remotes', { name => 'c', url => 'ftp://127.0.0.1:9', token => 'x' });
diag("bad URL: $st_e " . json_encode($ans_e));
ok($st_e >= 400, "a bad URL is refused ($st_e)");
like(json_encode($ans_e), qr/must be an http or https URL/, "with add_remote's message");
($st_e, $ans_e) = api($A, 'POST', '/items/sync_remotes', { name => 'b', url => 'http://127.0.0.1:9', token => 'x' });
diag("name taken: $st_e " . json_encode($ans_e));
like(json_encode($ans_e), qr/remote \\?"b\\?" already exists/, "a taken name: add_remote's message (not Directus's own)");
($st_e, $ans_e) = api($A, 'PATCH', "/items/sync_remotes/$remote->{id}", { url => 'http://127.0.0.1:9' });
diag("new URL without token: $st_e " . json_encode($ans_e));
like(json_encode($ans_e), qr/needs its token too/, "a new URL without its token: alter_remote's message");
($st_e, $ans_e) = api($A, 'PATCH', "/items/sync_subscriptions/$sub->{id}", { fields => ['nope'] });
diag("unknown field: $st_e " . json_encode($ans_e));
like(json_encode($ans_e), qr/column \\?"nope\\?"/, "an unknown field: subscribe's message");
# A second row for a subscribed collection: the table's UNIQUE refuses it
# before any subscribe (the triggers act on rows written), nothing changes.
($st_e, $ans_e) = api($A, 'POST', '/items/sync_subscriptions', { remote => $remote->{id}, collection => 'articles', fields => ['body'] });
diag("subscribed twice: $st_e " . json_encode($ans_e));
like(json_encode($ans_e), qr/has to be unique/, 'a collection subscribed twice: refused');
is(sql(q{SELECT collection || ' ' || array_to_string(fields, ',') FROM directus_sync.subscription}), 'articles title',
	'the subscription as it was');
($st_e, $ans_e) = api($A, 'POST', '/items/sync_remotes', { name => 'd', url => 'http://127.0.0.1:9', token => 'x' }, $plain->{token});
diag("non-admin: $st_e " . json_encode($ans_e));

# Changes in the app: pause, users to notify, the token.
my $admin = admin_user_id($A);
api_ok($A, 'PATCH', "/items/sync_remotes/$remote->{id}", { paused => JSON::PP::true,
		notify_users => { create => [ { directus_users_id => $admin } ], update => [], delete => [] } });
is(sql(q{SELECT paused || ' ' || array_to_string(notify_users, ',') FROM directus_sync.remote WHERE name = 'b'}), "true $admin",
	'paused, the admin notified');
api_ok($A, 'PATCH', "/items/sync_remotes/$remote->{id}", { paused => JSON::PP::false, token => 'a-new-token' });
is(sql(q{SELECT paused || ' ' || (token = 'a-new-token') FROM directus_sync.remote WHERE name = 'b'}), 'false true',
	'resumed, the token replaced');
unlike(json_encode(api_ok($A, 'GET', "/items/sync_remotes/$remote->{id}")), qr/a-new-token/, 'and not returned');
api_ok($A, 'PATCH', "/items/sync_remotes/$remote->{id}", { token => $token });

# One request with nested relations, as the app's form sends it: a remote
# with its subscriptions and users to notify.
my $nested = api_ok($A, 'POST', '/items/sync_remotes', { name => 'nested', url => 'http://127.0.0.1:9', token => 'secret-token-nested',
		subscriptions => { create => [ { collection => 'articles', fields => ['title'] } ], update => [], delete => [] },
		notify_users => { create => [ { directus_users_id => $admin } ], update => [], delete => [] } });
is(sql(q{SELECT array_to_string(r.notify_users, ',') || ' ' || string_agg(s.collection, ',')
	FROM directus_sync.remote r JOIN directus_sync.subscription s ON s.remote_id = r.id WHERE r.name = 'nested' GROUP BY r.id}),
	"$admin articles", 'nested create: add_remote, subscribe and the users to notify');
api_ok($A, 'DELETE', "/items/sync_remotes/$nested->{id}");
is(sql(q{SELECT count(*) FROM directus_sync.remote WHERE name = 'nested'}), '0', 'and deleted with them');

# SQL shows in the app.
sql(q{SELECT directus_sync.add_remote('fromsql', 'http://127.0.0.1:9', 'secret-token-sql')});
my @names = sort map { $_->{name} } @{ api_ok($A, 'GET', '/items/sync_remotes') };
is("@names", 'b fromsql', 'a remote added in SQL shows in the app');
api_ok($A, 'DELETE', '/items/sync_remotes/' . sql(q{SELECT id FROM directus_sync.remote WHERE name = 'fromsql'}));
is(sql(q{SELECT count(*) FROM directus_sync.remote WHERE name = 'fromsql'}), '0', 'deleted in the app: remove_remote');

# Nothing of the token in Directus's activity or revisions.
is(sql(qq{SELECT count(*) FROM directus_revisions WHERE data::text LIKE '%$token%' OR delta::text LIKE '%$token%'}), '0',
	'no revision holds the token');

# The server log. Directus sends values as bind parameters, which
# log_statement = 'all' (the test framework's setting) logs with the
# statement: the token with them (docs/directus-app.md says so). With
# log_parameter_max_length = 0, the recipe given there, no token is logged,
# for a write that succeeds or fails.
like(slurp_file($node->logfile), qr/parameters: .*\Q$token\E/,
	"log_statement = 'all': Directus's INSERT is logged with its parameters, the token among them");
my $offset = -s $node->logfile;
sql(q{ALTER SYSTEM SET log_parameter_max_length = 0});
sql(q{SELECT pg_reload_conf()});
sleep 1;
api_ok($A, 'POST', '/items/sync_remotes', { name => 'e', url => 'http://127.0.0.1:9', token => 'secret-token-quiet' });
my ($st_f) = api($A, 'POST', '/items/sync_remotes', { name => 'f', url => 'ftp://x', token => 'secret-token-failing' });
ok($st_f >= 400, 'a refused remote');
api_ok($A, 'PATCH', "/items/sync_remotes/$remote->{id}", { token => 'secret-token-patched' });
my $log = substr(slurp_file($node->logfile), $offset);
like($log, qr/insert into "sync_remotes"/, 'the statements are logged');
unlike($log, qr/secret-token-(quiet|failing|patched)/, 'log_parameter_max_length = 0: no token in the log');
api_ok($A, 'DELETE', '/items/sync_remotes/' . sql(q{SELECT id FROM directus_sync.remote WHERE name = 'e'}));

# pg_dump and pg_restore: the copy has the app's tables as they were, in
# step with its remotes, and working.
my $dump = $node->basedir . '/app_config.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('directus_a') ], 'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE app_copy');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('app_copy'), $dump ], 'pg_restore, no error');
is($node->safe_psql('app_copy', q{SELECT string_agg(r.id || r.name || coalesce(m.name, '-') || (m.token IS NULL), ',' ORDER BY r.id)
	FROM directus_sync.remote r FULL JOIN sync_remotes m USING (id)}),
	$node->safe_psql('directus_a', q{SELECT string_agg(r.id || r.name || coalesce(m.name, '-') || (m.token IS NULL), ',' ORDER BY r.id)
	FROM directus_sync.remote r FULL JOIN sync_remotes m USING (id)}), 'the copy: the same remotes in the app table');
$node->safe_psql('app_copy', q{SELECT directus_sync.add_remote('incopy', 'http://127.0.0.1:9', 'secret-token-copy')});
is($node->safe_psql('app_copy', q{SELECT count(*) FROM sync_remotes WHERE name = 'incopy'}), '1', 'and kept in step there');
$node->safe_psql('postgres', 'DROP DATABASE app_copy');

sql('SELECT directus_sync.disable_app_config()');
api_ok($A, 'POST', '/utils/cache/clear?system=true');
my @left = grep { $_->{collection} =~ /^sync_/ } @{ api_ok($A, 'GET', '/collections') };
is(scalar @left, 0, 'no sync_ collection left in Directus');
is(sql(q{SELECT (SELECT count(*) FROM directus_relations WHERE many_collection LIKE 'sync\_%' OR one_collection LIKE 'sync\_%')
	+ (SELECT count(*) FROM directus_fields WHERE collection LIKE 'sync\_%')}), '0', 'no relation nor field left');
is(sql(q{SELECT count(*) FROM directus_sync.remote}), '1', 'the remote stays');

done_testing();
