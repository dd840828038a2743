# directus_sync.create_sync_user against real Directus (the version of
# DS_DIRECTUS_VERSION: 12.4.0 in the tap layer of scripts/test.sh, 11.17.4
# and 10.13.4 in e2e@directus11 and e2e@directus10). The user and token
# made by SQL in B's database work against B's REST API at once, with
# Directus's caches on (CACHE_ENABLED with the memory store, CACHE_SCHEMA)
# and off, warmed before the user was made: GET /users/me, create, read,
# update and delete of an item of its collections, 403 on another
# collection and on Directus's users. A re-run adds a collection, which
# Directus sees after POST /utils/cache/clear?system=true (11 and 12 cache
# permissions per policy, whatever CACHE_ENABLED says); rotate_token
# replaces the token at once. Then A replicates to B with that token
# (add_remote and subscribe on A), and B's remote to A takes the sync user
# as inbound user. The token is never returned by the API, not to the sync
# user, not to a non-admin who may read every field of directus_users (nor
# to the admin: Directus conceals tokens), and no filter finds it; another
# PostgreSQL role reads neither it nor directus_sync.sync_user; the server
# log, with every statement of the calling sessions logged, never holds it.
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
my $node = e2e_node('sync_user', qw(directus_a directus_b));
my $release = directus_release();
diag("Directus $release");

my %caches_on = (CACHE_ENABLED => 'true', CACHE_STORE => 'memory', CACHE_SCHEMA => 'true',
	CACHE_AUTO_PURGE => 'false', CACHE_TTL => '30m');
my %caches_off = (CACHE_ENABLED => 'false', CACHE_SCHEMA => 'false');
# The test clusters log every statement; Directus's own look-ups of a token
# send it as a bind parameter, which such a log shows. B's Directus is
# kept out of the log, so that what is left of it is the calls' own.
$node->safe_psql('postgres', q{ALTER DATABASE directus_b SET log_statement = 'none'});
my $A = start_directus($node, 'directus_a');
my $B = start_directus($node, 'directus_b', env => \%caches_on);

sub sql_a { return run_sql($node, $_[0], 'directus_a') }
sub sql_b { return run_sql($node, $_[0], 'directus_b') }

# A call of create_sync_user on B, its statement logged (log_statement is
# judged per statement: the SET goes first, on its own).
sub create_sync_user_sql
{
	my ($args) = @_;
	return sql_b("SET log_statement = 'all';\nSET log_min_error_statement = 'debug5';\n"
		  . "SELECT directus_sync.create_sync_user($args);");
}

for my $d ($A, $B)
{
	create_collection($d, 'articles', [ 'id', 'integer' ], [ [ 'title', 'string' ] ]);
	create_collection($d, 'tags', [ 'id', 'integer' ], [ [ 'name', 'string' ] ]);
}
create_collection($B, 'secrets', [ 'id', 'integer' ], [ [ 'text', 'string' ] ]);
api_ok($B, 'POST', '/items/secrets', { text => 'not for the sync user' });

# Warm B's caches as a busy instance has them: schema, permissions, data.
for my $path ('/items/articles', '/items/tags', '/users', '/collections', '/users/me')
{
	api_ok($B, 'GET', $path);
}

# What a token may do on B, right after create_sync_user made it.
sub check_token
{
	my ($token, $peer, $caches) = @_;
	my $uid = sql_b("SELECT user_id FROM directus_sync.sync_user WHERE peer = '$peer'");
	my ($status, $me) = api($B, 'GET', '/users/me', undef, $token);
	is($status, 200, "$caches: the token of \"$peer\" authenticates at once (GET /users/me)");
	is(ref $me eq 'HASH' ? $me->{data}{id} : undef, $uid, "$caches: as the user directus_sync.sync_user names");
	my ($st_fields, $me_token) = api($B, 'GET', '/users/me?fields=id,token', undef, $token);
	ok(!defined $me_token->{data}{token} || $me_token->{data}{token} ne $token,
		"$caches: the sync user does not read its own token (status $st_fields)");

	my ($st_create, $made) = api($B, 'POST', '/items/articles', { title => "by $peer" }, $token);
	is($st_create, 200, "$caches: it creates an item of articles");
	my $id = ref $made eq 'HASH' ? $made->{data}{id} : undef;
	my ($st_read, $read) = api($B, 'GET', "/items/articles/" . ($id // 0), undef, $token);
	is($st_read, 200, "$caches: reads it");
	my ($st_update) = api($B, 'PATCH', "/items/articles/" . ($id // 0), { title => "edited by $peer" }, $token);
	is($st_update, 200, "$caches: updates it");
	is(sql_b("SELECT title FROM articles WHERE id = " . ($id // 0)), "edited by $peer", "$caches: the edit is stored");
	my ($st_delete) = api($B, 'DELETE', "/items/articles/" . ($id // 0), undef, $token);
	is($st_delete, 204, "$caches: deletes it");
	is(sql_b("SELECT count(*) FROM articles WHERE id = " . ($id // 0)), '0', "$caches: the item is gone");
	my ($st_other) = api($B, 'GET', '/items/secrets', undef, $token);
	is($st_other, 403, "$caches: a collection it was not given is refused");
	my ($st_write_other) = api($B, 'POST', '/items/secrets', { text => 'x' }, $token);
	is($st_write_other, 403, "$caches: and cannot be written");
	my ($st_users) = api($B, 'GET', '/users', undef, $token);
	is($st_users, 403, "$caches: Directus's users are refused");
	return $uid;
}

# ---------------------------------------------------------------------------
# Caches on.

my $token_a = create_sync_user_sql(q{'a', ARRAY['articles']});
like($token_a, qr/^ds_[0-9a-f]{64}$/, 'create_sync_user returns a token (ds_ and 64 hex digits)');
my $uid_a = check_token($token_a, 'a', 'caches on');

# Again with tags: the same user and token, no token returned.
is(create_sync_user_sql(q{'a', ARRAY['articles', 'tags']}), '', 'a re-run returns no token');
is(sql_b(q{SELECT count(*) FROM directus_users WHERE first_name = 'Sync from' AND last_name = 'a'}), '1',
	'a re-run makes no second user');
api_ok($B, 'POST', '/utils/cache/clear?system=true');
my ($st_tag, $tag) = api($B, 'POST', '/items/tags', { name => 'added' }, $token_a);
is($st_tag, 200, 'after POST /utils/cache/clear?system=true the collection added by the re-run is writable');
my ($st_tags_read) = api($B, 'GET', '/items/tags', undef, $token_a);
is($st_tags_read, 200, 'and readable');
my ($st_still) = api($B, 'GET', '/users/me', undef, $token_a);
is($st_still, 200, 'the token is the same');

# rotate_token: the new one works at once, the old one no more.
my $rotated = create_sync_user_sql(q{'a', ARRAY['articles'], rotate_token => true});
like($rotated, qr/^ds_[0-9a-f]{64}$/, 'rotate_token returns a new token');
isnt($rotated, $token_a, 'another one');
my ($st_new) = api($B, 'GET', '/users/me', undef, $rotated);
is($st_new, 200, 'the new token works at once');
my ($st_old) = api($B, 'GET', '/users/me', undef, $token_a);
is($st_old, 401, 'the old one is refused at once');
my @tokens = ($token_a, $rotated);
$token_a = $rotated;

# ---------------------------------------------------------------------------
# Caches off.

stop_directus($B);
$B = start_directus($node, 'directus_b', reuse => $B, env => \%caches_off);
api_ok($B, 'GET', $_) for ('/items/articles', '/users');
my $token_c = create_sync_user_sql(q{'c', ARRAY['articles']});
like($token_c, qr/^ds_[0-9a-f]{64}$/, 'caches off: create_sync_user returns a token');
push @tokens, $token_c;
check_token($token_c, 'c', 'caches off');

# ---------------------------------------------------------------------------
# A replicates to B as the sync user, with its token; B's remote for A
# takes the sync user as inbound user.

sql_a("SET log_statement = 'none';\nSELECT directus_sync.add_remote('b', " . quote_literal($B->{url})
	  . ', ' . quote_literal($token_a) . ')');
sql_a(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title'])});
sql_b("SET log_statement = 'none';\nSELECT directus_sync.add_remote('a', " . quote_literal($A->{url})
	  . ', ' . quote_literal($A->{token}) . ')');
is(sql_b(q{SELECT r.inbound_user = s.user_id FROM directus_sync.remote r
	JOIN directus_sync.sync_user s ON s.peer = r.name WHERE r.name = 'a'}), 't',
	"B's remote for A takes the sync user as inbound user");
my $item = api_ok($A, 'POST', '/items/articles', { title => 'replicated from A' });
ok(wait_for('the item of A to reach B',
	sub { sql_b(q{SELECT count(*) FROM articles WHERE title = 'replicated from A'}) eq '1' }),
	'A replicates to B with the token create_sync_user made');
is(sql_b(q{SELECT a."user" FROM directus_activity a WHERE a.collection = 'articles' AND a.action = 'create'
	ORDER BY a.id DESC LIMIT 1}), $uid_a, 'B recorded the write as the sync user of "a"');
is(remote_status($node, 'b', 'directus_a')->{dead}, 0, 'nothing was refused');

# ---------------------------------------------------------------------------
# Nobody reads the token.

# A non-admin who may read every field of directus_users.
my $reader = create_sync_user($B, 'reader@example.com', 'reader-token', 'directus_users');
my ($st_reader, $seen) = api($B, 'GET', "/users/$uid_a?fields=id,token", undef, 'reader-token');
is($st_reader, 200, 'a non-admin with read on directus_users reads the sync user');
isnt($seen->{data}{token} // '', $token_a, 'but not its token');
is($seen->{data}{token}, '**********', 'Directus conceals it');
my ($st_filter) = api($B, 'GET', '/users?fields=id&filter[token][_eq]=' . $token_a, undef, 'reader-token');
is($st_filter, 400, 'no filter on the token is allowed');
my ($st_admin, $admin_seen) = api($B, 'GET', "/users/$uid_a?fields=token");
is($admin_seen->{data}{token}, '**********', 'not even the admin gets it back');

# Another PostgreSQL role.
sql_b('CREATE ROLE regress_other LOGIN');
my ($ret, $out, $err) = $node->psql('directus_b', 'SELECT token FROM directus_users',
	extra_params => [ '-U', 'regress_other' ]);
like($err, qr/permission denied for table directus_users/, 'another role cannot read directus_users');
($ret, $out, $err) = $node->psql('directus_b', 'SELECT * FROM directus_sync.sync_user',
	extra_params => [ '-U', 'regress_other' ]);
like($err, qr/permission denied for schema directus_sync/, 'nor directus_sync.sync_user');
($ret, $out, $err) = $node->psql('directus_b', q{SELECT directus_sync.create_sync_user('z', ARRAY['articles'])},
	extra_params => [ '-U', 'regress_other' ]);
like($err, qr/permission denied for schema directus_sync/, 'nor call create_sync_user');

# The server log: the calls are there, their tokens are not.
my $log = slurp_file($node->logfile);
like($log, qr/statement: SELECT directus_sync\.create_sync_user\('a'/, 'the calls were logged');
# (its first 24 characters: a DETAIL shows 64 characters of a value at most)
is(scalar(grep { index($log, substr($_, 0, 24)) >= 0 } @tokens), 0,
	'no token made by create_sync_user is in the server log');

done_testing();
