# The peer Directus (t/peer_directus.py) against the contract: t/002's
# assertions run against it as against a real Directus, with a non-admin
# token (DIRECTUS_NONADMIN_ONLY); then what only the peer does: the rows it
# writes (the item, directus_activity, directus_revisions) in one
# transaction per request, database errors, BEFORE triggers, and its faults.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my $node = PostgreSQL::Test::Cluster->new('peer');
$node->init;
$node->append_conf('postgresql.conf', "timezone = 'UTC'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE peer');
sub sql { return run_sql($node, $_[0], 'peer') }
sql('CREATE TABLE articles (id integer PRIMARY KEY, title text)');
sql(slurp_file('t/directus_tables.sql'));

my $user = 'aaaaaaaa-0000-4000-8000-0000000000aa';
my $peer = start_peer($node, 'peer', tokens => { 'peer-token' => $user }, seed => 1);
my $http = HTTP::Tiny->new(timeout => 30, keep_alive => 0, agent => 'peer-test/1');

# ---------------------------------------------------------------------------
# t/002's contract

{
	local $ENV{DIRECTUS_URL} = $peer->{url};
	local $ENV{DIRECTUS_TOKEN} = 'peer-token';
	local $ENV{DIRECTUS_NONADMIN_ONLY} = 1;
	local $ENV{DIRECTUS_VERSION} = 12;
	my ($out, $err);
	my $ok = IPC::Run::run([ 'prove', '-v', 't/002_fake_directus.pl' ], '>', \$out, '2>', \$err);
	ok($ok, "the fake's contract test (t/002) passes against the peer") or diag("$out\n$err");
	my @ran = grep { $out =~ /^\s*ok \d+ - \Q$_\E$/m } ('create', 'update', 'read', 'delete', 'errors',
		'what Directus 12 answers its own way', 'no token is the public role');
	is(scalar @ran, 7, "... its subtests on what the worker sends ran there: @ran");
}
sql('TRUNCATE directus_revisions, directus_activity, articles');

# ---------------------------------------------------------------------------
# The rows each request writes

sub api
{
	my ($method, $path, $body, %headers) = @_;
	my $res = $http->request($method, "$peer->{url}$path", { headers => { 'Content-Type' => 'application/json',
				Authorization => 'Bearer peer-token', %headers },
			defined $body ? (content => json_encode($body)) : () });
	$res->{data} = eval { json_decode($res->{content}) } if length($res->{content} // '');
	return $res;
}
sub activity
{
	return sql(q{SELECT string_agg(concat_ws(' ', action, "user", collection, item, ip, user_agent, origin), '; ' ORDER BY id)
		FROM directus_activity WHERE id > } . ($_[0] // 0));
}
sub revisions
{
	return sql(q{SELECT string_agg(concat_ws(' ', r.item, a.action, r.data::jsonb, r.delta::jsonb), '; ' ORDER BY r.id)
		FROM directus_revisions r JOIN directus_activity a ON a.id = r.activity WHERE r.activity > } . ($_[0] // 0));
}
sub last_activity { return sql('SELECT coalesce(max(id), 0) FROM directus_activity') }

my $res = api('POST', '/items/articles?fields=id', [ { id => 1, title => 'one', other => 'x' }, { id => 2 } ],
	Origin => 'http://origin.test');
is_deeply([ $res->{status}, $res->{data} ], [ 200, { data => [ { id => 1 }, { id => 2 } ] } ],
	'a batch create: 200, the keys read back');
is(sql('SELECT string_agg(id || coalesce(title, \'-\'), \',\' ORDER BY id) FROM articles'), '1one,2-',
	'... the rows written, fields that are no column left out');
is(activity(), "create $user articles 1 127.0.0.1 peer-test/1 http://origin.test; "
	  . "create $user articles 2 127.0.0.1 peer-test/1 http://origin.test",
	'... an activity row per item: create, the token\'s user, collection, key, ip, user agent, origin');
is(revisions(), '1 create {"id": 1, "title": "one"} {"id": 1, "title": "one"}; 2 create {"id": 2} {"id": 2}',
	'... a revision per item: data and delta are the fields written');

my $mark = last_activity();
$res = api('PATCH', '/items/articles?fields=id&limit=-1', [ { id => 2, title => 'two' }, { id => 1, title => 'uno' } ]);
is_deeply([ $res->{status}, $res->{data} ], [ 200, { data => [ { id => 2 }, { id => 1 } ] } ],
	'a batch update: 200, the keys read back');
is(activity($mark), "update $user articles 2 127.0.0.1 peer-test/1; update $user articles 1 127.0.0.1 peer-test/1",
	'... an update activity per item, in the order sent');
is(revisions($mark), '2 update {"id": 2, "title": "two"} {"title": "two"}; 1 update {"id": 1, "title": "uno"} {"title": "uno"}',
	'... revisions: data is the row after the change, delta the fields sent');

$mark = last_activity();
my $err = api('PATCH', '/items/articles', [ { id => 1, title => 'not' }, { id => 3, title => 'ghost' } ]);
is_deeply([ $err->{status}, $err->{data}{errors}[0]{extensions}{code} ], [ 403, 'FORBIDDEN' ],
	'a batch update with a missing key: 403 FORBIDDEN');
is_deeply([ sql('SELECT title FROM articles WHERE id = 1'), activity($mark) ], [ 'uno', '' ],
	'... nothing changed, no activity');
$err = api('PATCH', '/items/articles', [ { id => 1, nope => 1 } ]);
is_deeply([ $err->{status}, $err->{data}{errors}[0]{extensions}{code} ], [ 403, 'FORBIDDEN' ],
	'an update of a field that is no column: 403 FORBIDDEN');

$err = api('POST', '/items/articles', [ { id => 5, title => 'five' }, { id => 1, title => 'again' } ]);
is(json_canon($err->{data}), json_canon({ errors => [ { message => 'Value "1" for field "id" in collection "articles" has to be unique.',
				extensions => { code => 'RECORD_NOT_UNIQUE', collection => 'articles', field => 'id', value => 1 } } ] }),
	'a create of an existing key: 400 RECORD_NOT_UNIQUE, Directus\'s body') or diag($err->{content});
is($err->{status}, 400, '... status 400');
is_deeply([ sql('SELECT count(*) FROM articles WHERE id = 5'), activity($mark) ], [ 0, '' ],
	'... nothing of the batch committed, no activity');

$res = api('DELETE', '/items/articles', [2]);
is($res->{status}, 204, 'a delete: 204');
is_deeply([ sql('SELECT count(*) FROM articles WHERE id = 2'), activity($mark), revisions($mark) ],
	[ 0, "delete $user articles 2 127.0.0.1 peer-test/1", '' ], '... the row gone, a delete activity, no revision');

# Triggers of the database: one that raises, one that refuses a row.
sql(q{CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN IF NEW.title = 'boom' THEN RAISE EXCEPTION 'boom'; END IF;
	IF NEW.title LIKE 'old%' THEN RETURN NULL; END IF; RETURN NEW; END $$;
	CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION boom()});
$mark = last_activity();
$err = api('POST', '/items/articles', [ { id => 6, title => 'six' }, { id => 7, title => 'boom' } ]);
is_deeply([ $err->{status}, $err->{data} ], [ 500, { errors => [ { message => 'An unexpected error occurred.',
					extensions => { code => 'INTERNAL_SERVER_ERROR' } } ] } ],
	'a trigger that raises: 500 INTERNAL_SERVER_ERROR, what Directus tells a non-admin');
is_deeply([ sql('SELECT count(*) FROM articles WHERE id IN (6, 7)'), activity($mark) ], [ 0, '' ],
	'... nothing committed');
$res = api('POST', '/items/articles?fields=id', [ { id => 8, title => 'old item' } ]);
is_deeply([ $res->{status}, $res->{data} ], [ 200, { data => [] } ],
	'a create a BEFORE trigger refuses: 200 with nothing read back, as Directus');
is_deeply([ sql('SELECT count(*) FROM articles WHERE id = 8'), activity($mark) ],
	[ 0, "create $user articles 8 127.0.0.1 peer-test/1" ], '... no row, but the activity row (Directus does not look)');
$res = api('PATCH', '/items/articles?fields=id,title&limit=-1', [ { id => 1, title => 'old value' } ]);
is_deeply([ $res->{status}, $res->{data} ], [ 200, { data => [ { id => 1, title => 'uno' } ] } ],
	'an update a BEFORE trigger refuses: 200, the item read back as it stays');
sql('DROP TRIGGER boom ON articles');

# ---------------------------------------------------------------------------
# Faults

peer_ctl($peer, 'POST', 'reset');
peer_ctl($peer, 'POST', 'hold', { tokens => ['peer-token'] });
$err = api('POST', '/items/articles', [ { id => 10 } ]);
is_deeply([ $err->{status}, $err->{data}{errors}[0]{extensions}{code} ], [ 503, 'SERVICE_UNAVAILABLE' ],
	'a held token: 503 SERVICE_UNAVAILABLE');
is(sql('SELECT count(*) FROM articles WHERE id = 10'), 0, '... and nothing is applied');
peer_ctl($peer, 'POST', 'release', {});
is(api('POST', '/items/articles', [ { id => 10 } ])->{status}, 200, 'released: applied again');

peer_ctl($peer, 'POST', 'faults', { fail_before => 1 });
is(api('POST', '/items/articles', [ { id => 11 } ])->{status}, 503, 'fail_before: 503');
is(sql('SELECT count(*) FROM articles WHERE id = 11'), 0, '... nothing applied');
peer_ctl($peer, 'POST', 'faults', { fail_before => 0, fail_after => 1 });
is(api('POST', '/items/articles', [ { id => 12 } ])->{status}, 503, 'fail_after: 503');
is(sql('SELECT count(*) FROM articles WHERE id = 12'), 1, '... after the change was committed');
peer_ctl($peer, 'POST', 'faults', { fail_after => 0, drop_after => 1 });
$res = api('POST', '/items/articles', [ { id => 13 } ]);
is($res->{status}, 599, 'drop_after: the connection closes without an answer') or diag($res->{content});
is(sql('SELECT count(*) FROM articles WHERE id = 13'), 1, '... after the change was committed');
peer_ctl($peer, 'POST', 'faults', { drop_after => 0 });
is_deeply(peer_ctl($peer, 'GET', 'stats'), { requests => 5, applied => 3, failed => 4, held => 1, dropped => 1, errors => 0 },
	'stats count requests, applied, failed, held and dropped');

$node->stop;
done_testing();
