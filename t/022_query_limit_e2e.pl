# End to end with a real Directus 12.4.0 (or 11.17.4 with DS_DIRECTUS_VERSION=11) started with QUERY_LIMIT_MAX=100,
# as many production instances are: every answer lists at most 100 items,
# the read-back of a batch update included. A plain database (no Directus
# of its own) replicates to it as a non-admin sync user: 150 items created
# and then updated in one SQL statement each, and 600 more, all arrive,
# with no dead letter. Last, the fake Directus's contract test (t/002)
# runs against this Directus, QUERY_LIMIT_MAX checks included.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use DirectusE2E;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $script = e2e_script();
my $node = e2e_node('query_limit_e2e', qw(plain directus_b));
my $B = start_directus($node, 'directus_b', env => { QUERY_LIMIT_MAX => 100 });

sub sql_a { return run_sql($node, $_[0], 'plain') }
sub sql_b { return run_sql($node, $_[0], 'directus_b') }

create_collection($B, 'articles', [ 'id', 'integer' ], [ [ 'title', 'string' ], [ 'body', 'text' ] ]);
my $writer = create_sync_user($B, 'sync-from-plain@example.com', 'token-plain-writes-b', 'articles');
sql_a(q{CREATE TABLE articles (id integer PRIMARY KEY, title varchar(255), body text)});
sql_a("SET log_statement = 'none'; SELECT directus_sync.add_remote('b', " . quote_literal($B->{url}) . ', '
	  . quote_literal($writer->{token}) . ')');
sql_a(q{SELECT directus_sync.subscribe('b', 'articles', ARRAY['title', 'body'])});

my ($status, $answer) = api($B, 'GET', '/items/articles?limit=101');
is($status, 400, 'set-up: B refuses a limit over 100 (QUERY_LIMIT_MAX is in effect)');

sub rows
{
	my ($sql) = @_;
	return json_decode($sql->(q{SELECT coalesce(json_agg(t ORDER BY id), '[]') FROM (SELECT id, title, body FROM articles) t}));
}
sub dead_letters { return sql_a('SELECT count(*) FROM directus_sync.dead_letter') }
sub dead_detail
{
	return sql_a(q{SELECT string_agg(item_key || ' ' || op::text || ' ' || coalesce(http_status::text, '') || ' '
		|| coalesce(error_code, '') || ' ' || coalesce(error_message, ''), E'\n' ORDER BY id)
		FROM (SELECT * FROM directus_sync.dead_letter ORDER BY id LIMIT 5) d});
}

sql_a(q{INSERT INTO articles SELECT g, 'title ' || g, 'created' FROM generate_series(1, 150) g});
ok(wait_drained($node, 'b', db => 'plain', timeout => 120), '150 creates in one statement: delivered');
is(dead_letters(), 0, '150 creates: no dead letter') or diag(dead_detail());
is_deeply(rows(\&sql_b), rows(\&sql_a), '150 creates: B holds what A holds');

sql_a(q{UPDATE articles SET title = title || ' (updated)', body = 'updated' WHERE id <= 150});
ok(wait_drained($node, 'b', db => 'plain', timeout => 120), '150 updates in one statement: settled');
is(dead_letters(), 0, '150 updates: no dead letter') or diag(dead_detail());
is_deeply(rows(\&sql_b), rows(\&sql_a), '150 updates: B holds what A holds');

sql_a(q{INSERT INTO articles SELECT g, 'title ' || g, 'created' FROM generate_series(151, 750) g});
ok(wait_drained($node, 'b', db => 'plain', timeout => 120), '600 more creates: delivered');
sql_a(q{UPDATE articles SET body = 'updated again'});
ok(wait_drained($node, 'b', db => 'plain', timeout => 120), '750 updates in one statement: settled');
is(dead_letters(), 0, '750 updates: no dead letter') or diag(dead_detail());
is_deeply(rows(\&sql_b), rows(\&sql_a), '750 updates: B holds what A holds');
is(sql_b(q{SELECT count(*) FROM directus_activity WHERE action = 'create' AND collection = 'articles'}), 750,
	'B saw 750 creates: none was made twice, none was lost');

# The fake's contract test against this Directus, with its QUERY_LIMIT_MAX
# checks: the fake cuts and refuses as this Directus does.
create_collection($B, 'fidelity', [ 'id', 'integer' ], [ [ 'title', 'string' ] ]);
{
	local $ENV{DIRECTUS_URL} = $B->{url};
	local $ENV{DIRECTUS_TOKEN} = $B->{token};
	local $ENV{DIRECTUS_TEST_COLLECTION} = 'fidelity';
	local $ENV{DIRECTUS_QUERY_LIMIT_MAX} = 100;
	local $ENV{DIRECTUS_VERSION} = directus_major();
	my ($out, $err);
	my $ok = IPC::Run::run([ 'prove', '-v', 't/002_fake_directus.pl' ], '>', \$out, '2>', \$err);
	ok($ok, "the fake's contract test (t/002) passes against Directus " . directus_release() . ' with QUERY_LIMIT_MAX=100')
	  or diag("$out\n$err");
	like($out, qr/^\s+ok \d+ - max 100: GET limit=-1 lists at most 100/m, '... its QUERY_LIMIT_MAX checks ran');
}

is(server_crash($node), '', 'no crash in the server log');
done_testing();
