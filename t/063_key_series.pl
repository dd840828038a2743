# Items created with integer keys on two instances at the same moment, with
# clocks: two databases a and b in one cluster, each behind a peer Directus
# (t/peer_directus.py) and replicating to the other, links held while both
# create. With instance numbers (set_instance) each makes keys of its own
# series and both items survive everywhere; without, the two items get one
# key: the one created later keeps it on both sides, whole, and the other
# is in the conflict log (insert_insert), never merged. Last, a remote whose
# collection has no clock field: deliveries fail with an error that says so.
use strict;
use warnings;
use lib 't';
use DirectusSyncTest;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

plan skip_all => 'the peer Directus needs python3-psycopg2' unless have_psycopg2();

my %user = (a => 'aaaaaaaa-0000-4000-8000-00000000000a', b => 'aaaaaaaa-0000-4000-8000-00000000000b');
my $node = new_sync_node('key_series', databases => [qw(a b)]);
sub sql { my ($db, $q) = @_; return run_sql($node, $q, $db) }
my $tables = slurp_file('t/directus_tables.sql');
my %peer;
for my $db (qw(a b))
{
	sql($db, $tables);
	sql($db, 'CREATE TABLE notes (id serial PRIMARY KEY, body text); CREATE TABLE memos (id serial PRIMARY KEY, body text);
		CREATE TABLE plain (id serial PRIMARY KEY, body text);
		CREATE TABLE directus_notifications (id serial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
			status varchar(255) DEFAULT \'inbox\', recipient uuid NOT NULL, sender uuid, subject varchar(255) NOT NULL,
			message text, collection varchar(64), item varchar(255))');
	my $other = $db eq 'a' ? 'b' : 'a';
	$peer{$db} = start_peer($node, $db, tokens => { "token-$other" => $user{$other} },
		collections => { notes => { pk => 'id' }, memos => { pk => 'id' }, plain => { pk => 'id' } });
}
# Each remote writes back: subscribe gives notes clocks and, the instances
# being numbered, key series (the default); memos clocks without series;
# plain neither (clocks => false, as 0.2 replicated).
sql('a', 'SELECT directus_sync.set_instance(1, 2)');
sql('b', 'SELECT directus_sync.set_instance(2, 2)');
for my $db (qw(a b))
{
	my $other = $db eq 'a' ? 'b' : 'a';
	sql($db, "SET log_statement = 'none'; SELECT directus_sync.add_remote('$other', '$peer{$other}{url}', 'token-$db',
		inbound_user => '$user{$other}', forward_inbound => true,
		notify_users => ARRAY['00000000-0000-4000-8000-0000000000$db$db']::uuid[])");
	sql($db, "SELECT directus_sync.subscribe('$other', 'notes', ARRAY['body'])");
	sql($db, "SELECT directus_sync.subscribe('$other', 'memos', ARRAY['body'], key_series => false)");
	sql($db, "SELECT directus_sync.subscribe('$other', 'plain', ARRAY['body'], clocks => false)");
}

sub rows { my ($db, $t) = @_; return sql($db, "SELECT string_agg(id || ':' || body, ',' ORDER BY id) FROM $t") }
sub drain
{
	for my $db (qw(a b))
	{
		wait_for("$db to drain", sub { sql($db, q{SELECT bool_and(queued = 0 AND in_flight = 0) FROM directus_sync.remote_status}) eq 't' })
		  or BAIL_OUT("$db did not drain");
	}
}

# Both create while neither hears of the other.
sql($_, q{SELECT directus_sync.pause(r.name) FROM directus_sync.remote r}) for qw(a b);
sql('a', q{INSERT INTO notes (body) VALUES ('made on a'); INSERT INTO memos (body) VALUES ('made on a')});
sql('b', q{INSERT INTO notes (body) VALUES ('made on b'); INSERT INTO memos (body) VALUES ('made on b')});
sql($_, q{SELECT directus_sync.resume(r.name) FROM directus_sync.remote r}) for qw(a b);
drain();

is(rows('a', 'notes'), '1:made on a,2:made on b', 'key series: each instance made a key of its own series; both items are on a');
is(rows('b', 'notes'), rows('a', 'notes'), '... and on b');

is(rows('a', 'memos'), '1:made on b', 'one key, no series: the item created later (on b) keeps the key on a');
is(rows('b', 'memos'), '1:made on b', '... and on b: never merged field by field');
is(sql('a', q{SELECT kind || ' ' || winner || ' ' || (local_value->>'body') || ' / ' || (remote_value->>'body')
	FROM directus_sync.conflict WHERE collection = 'memos'}),
	'insert_insert remote made on a / made on b', 'a logs the conflict with its own item in full');
is(sql('a', q{SELECT recipient || ' ' || item || ' ' || subject FROM directus_notifications}),
	'00000000-0000-4000-8000-0000000000aa 1 Two items with one key in memos',
	"a's users to notify hear that a's item lost its key");
like(sql('a', q{SELECT message FROM directus_notifications}), qr/kept in full in directus_sync.conflict/, '... and where it is kept');
is(sql('b', q{SELECT count(*) FROM directus_notifications}), '0', "b, whose item kept the key, notifies no one");
is(sql('b', q{SELECT count(*) FROM directus_sync.conflict WHERE collection = 'memos' AND kind = 'insert_insert' AND winner = 'local'}),
	sql('b', q{SELECT count(*) FROM directus_sync.conflict WHERE collection = 'memos'}),
	'b, where the later item was made, logs it (if at all) as won');
# plain has clocks on a only: b's collection lacks the field.
sql('a', q{SELECT directus_sync.enable_clocks('plain', key_series => false)});
sql('a', q{INSERT INTO plain (id, body) VALUES (100, 'x')});
drain();
sql('a', q{UPDATE plain SET body = 'y' WHERE id = 100});
ok(wait_for('the failure to show', sub {
	sql('a', q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}) =~ /no field directus_sync_meta/ }),
	'a remote whose collection lacks the clock field: remote_status.last_error says so')
  or diag(sql('a', q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}));
like(sql('a', q{SELECT last_error FROM directus_sync.remote_status WHERE remote = 'b'}),
	qr/run SELECT directus_sync.enable_clocks\('plain'\) in its database/, '... and what to do');
is(sql('a', q{SELECT count(*) FROM directus_sync.dead_letter}), '0', '... its changes wait (no dead letter)');
is(sql('b', q{SELECT body FROM plain WHERE id = 100}), 'x', '... and b is not changed the old way');

is(server_crash($node), '', 'no crash in the server log');
stop_peer($peer{$_}) for qw(a b);
done_testing();
