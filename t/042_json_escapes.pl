# A json column may hold what PostgreSQL's JSON parser refuses to de-escape
# ("\u0000", a lone surrogate "\ud800"; json_in keeps them as written) and
# Directus takes. Folding an item's update into its create merges their
# payloads: the merge copies names and values as written, so such a value
# never stops a remote's claims (before, every claim of the window failed
# with "unsupported Unicode escape sequence", for every item of the remote).
# Found by an adversarial review (t/092 of its branch).
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $fake = start_fake(collections => { docs => { pk => 'id' } });
my $node = new_sync_node('json_escapes');
sub sql { return run_sql($node, $_[0]) }

sql(q{CREATE TABLE docs (id int PRIMARY KEY, data json, v int NOT NULL DEFAULT 0)});
sql("SELECT directus_sync.add_remote('b', '$fake->{url}', 'test-token')");
sql(q{SELECT directus_sync.subscribe('b', 'docs', ARRAY['data', 'v'])});

# Created and updated while the remote is paused: one create each, merged.
sql(q{SELECT directus_sync.pause('b')});
sql(q{INSERT INTO docs VALUES (1, '{"x": "a\u0000b", "q": "\"quoted\" \\\\ {not: [a, container]}"}'),
	(2, '{"x": "\ud800"}'), (3, '{"x": "plain"}')});
sql(q{UPDATE docs SET v = 1});
sql(q{SELECT directus_sync.resume('b')});

ok(wait_drained($node, 'b', timeout => 20), 'the queue drains');
is(sql(q{SELECT count(*) FROM directus_sync.dead_letter}), '0', 'no dead letter');
my $res = api_request($fake, 'GET', '/items/docs?fields=id,v&sort=id');
is_deeply(json_decode($res->{content})->{data}, [ map { { id => $_, v => 1 } } 1 .. 3 ],
	'every item arrived, created with its update folded in');
$res = api_request($fake, 'GET', '/items/docs/1?fields=data');
is_deeply(json_decode($res->{content})->{data}{data}, { x => "a\x{0}b", q => '"quoted" \\ {not: [a, container]}' },
	'item 1: its value with \u0000, quotes and brackets inside a string, as written');
$res = api_request($fake, 'GET', '/items/docs/2?fields=data');
like($res->{content}, qr/"data":\{"x":"\\ud800"\}/, 'item 2: its lone surrogate, as written');
my ($errors) = slurp_file($node->logfile) =~ /(ERROR: .*(?:Unicode|json).*)/;
ok(!$errors, 'the worker logs no JSON error') or diag($errors);
is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
