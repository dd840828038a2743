# End to end with real Directus: what the worker sends is applied by a real
# Directus as the fake applies it. t/010 checks value rendering and
# idempotent apply against the fake, which stores bodies as they come; here
# the remote is a real instance, with its types, coercions and permissions.
#
# A source database without Directus (tables made by SQL) ships to one
# Directus, B, through two remotes: one as B's admin, one as a non-admin
# sync user. Covers:
#   - typed fields (integer, bigInteger, decimal, float, boolean, date,
#     dateTime, timestamp, time, json, uuid, csv, string, text) arriving
#     equal, value by value, in B's own columns; null in every field;
#   - idempotent apply, as admin and as the sync user: a create that meets
#     an existing key, an update of an item B lacks, a delete of an item B
#     lacks, and a window that mixes them; no dead letter, B ends equal.
# Geometry is not covered: it needs PostGIS, which the test clusters do not
# have.
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
my $node = e2e_node('e2e_apply', qw(source directus_b));
my $B = start_directus($node, 'directus_b');

sub sql_a { return run_sql($node, $_[0], 'source') }
sub sql_b { return run_sql($node, $_[0], 'directus_b') }
# JSON text as psql gives it (characters, not bytes), decoded.
my $json_text = JSON::PP->new;
sub rows_of { return $json_text->decode($_[0]) }

# ---------------------------------------------------------------------------
# Set-up

# Directus's type of each field, and the column type the source gives it
# (the type Directus itself makes for it in PostgreSQL).
my @typed_fields = (
	[ i => 'integer', 'integer' ],
	[ bi => 'bigInteger', 'bigint' ],
	[ dec => 'decimal', 'numeric(10,5)' ],
	[ f => 'float', 'real' ],
	[ b => 'boolean', 'boolean' ],
	[ d => 'date', 'date' ],
	[ dt => 'dateTime', 'timestamp' ],
	[ ts => 'timestamp', 'timestamptz' ],
	[ t => 'time', 'time' ],
	[ j => 'json', 'json' ],
	[ u => 'uuid', 'uuid' ],
	[ c => 'csv', 'text' ],
	[ s => 'string', 'varchar(255)' ],
	[ tx => 'text', 'text' ],
);
create_collection($B, 'typed', [ 'id', 'integer' ], []);
for my $f (@typed_fields)
{
	# a csv field as the app makes it: cast to a list when read
	my %meta = $f->[1] eq 'csv' ? (meta => { special => ['cast-csv'] }) : ();
	my ($status, $body) = api($B, 'POST', '/fields/typed', { field => $f->[0], type => $f->[1], schema => {}, %meta });
	is($status, 200, "set-up: B takes a $f->[1] field") or diag(json_canon($body));
}
create_collection($B, $_, [ 'id', 'integer' ], [ [ 'title', 'string' ] ]) for qw(apply_admin apply_sync);
my $sync_user = create_sync_user($B, 'sync-from-source@example.com', 'token-source-writes-b', qw(typed apply_sync));

sql_a('CREATE TABLE typed (id integer PRIMARY KEY, '
	  . join(', ', map { "$_->[0] $_->[2]" } @typed_fields) . ')');
sql_a('CREATE TABLE apply_admin (id integer PRIMARY KEY, title varchar(255))');
sql_a('CREATE TABLE apply_sync (id integer PRIMARY KEY, title varchar(255))');
$node->safe_psql('source', "SET log_statement = 'none';"
	  . " SELECT directus_sync.add_remote('b_admin', " . quote_literal($B->{url}) . ', ' . quote_literal($B->{token}) . ');'
	  . " SELECT directus_sync.add_remote('b_sync', " . quote_literal($B->{url}) . ', ' . quote_literal($sync_user->{token}) . ')');
sql_a(q{SELECT directus_sync.subscribe('b_sync', 'typed', ARRAY[}
	  . join(', ', map { quote_literal($_->[0]) } @typed_fields) . '])');
sql_a(q{SELECT directus_sync.subscribe('b_admin', 'apply_admin', ARRAY['title'])});
sql_a(q{SELECT directus_sync.subscribe('b_sync', 'apply_sync', ARRAY['title'])});

sub drained
{
	my $ok = 1;
	$ok &&= wait_drained($node, $_, db => 'source') for qw(b_admin b_sync);
	return $ok;
}
sub dead_letters
{
	return sql_a(q{SELECT coalesce(string_agg(format('%s %s %s: %s %s', r.name, d.collection, d.item_key,
			d.error_code, d.error_message), '; ' ORDER BY d.id), '')
		FROM directus_sync.dead_letter d JOIN directus_sync.remote r ON r.id = d.remote_id});
}

# ---------------------------------------------------------------------------
# Typed values, through the sync user

# Each value as text in a form that does not depend on how it is stored:
# the instant of a timestamptz, json as jsonb. Directus reads dateTime and
# timestamp values into JavaScript dates, which keep milliseconds: those
# two are compared to the millisecond (and the loss checked below).
my $typed_sql = 'SELECT id, i, bi, dec::text, f::text, b, d::text,'
  . " date_trunc('milliseconds', dt)::text AS dt, extract(epoch FROM date_trunc('milliseconds', ts))::text AS ts,"
  . ' t::text, j::jsonb::text AS j, u::text, c, s, tx FROM typed ORDER BY id';
sub typed_rows { my ($sql) = @_; return $sql->("SELECT coalesce(json_agg(r), '[]') FROM ($typed_sql) r") }

# Written in a session whose time zone is not the server's nor UTC: the
# instant must travel, not the wall-clock reading.
sql_a(q{SET TimeZone = 'America/St_Johns';
	INSERT INTO typed (id) VALUES (1);
	INSERT INTO typed VALUES (2, -2147483648, 9007199254740993, 12345.54321, 1.5, true, '2024-02-29',
		'2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.123+05:30', '23:59:59.5',
		'{"a": [1, 2.5, {"b": null}], "s": "quote \" and \\\\ backslash", "u": "\u00fc"}',
		'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a,b,c', 'ünïcödé ✓ 😀', E'line 1\nline 2\ttab');
	INSERT INTO typed VALUES (3, 0, -1, -0.00001, -0.25, false, '1970-01-01', '1999-12-31 00:00:00',
		'2000-01-01 00:00:00+00', '00:00:00', '[]', '00000000-0000-0000-0000-000000000000', '', '', '');
	INSERT INTO typed (id, j) VALUES (4, '"a JSON string"'), (5, '12.5'), (6, 'true'), (7, '{}');
	INSERT INTO typed (id, bi, dec) VALUES (8, 9223372036854775807, 99999.99999), (9, -9223372036854775808, -99999.99999)});
ok(drained(), 'typed: the queue drains');
is(dead_letters(), '', 'typed: no dead letter');
my $want = typed_rows(\&sql_a);
my $got = typed_rows(\&sql_b);
is_deeply(rows_of($got), rows_of($want), 'typed: B holds every value as the source does, in its own columns');

# An update of every field, then of every field to null.
sql_a(q{UPDATE typed SET i = i + 1, bi = bi - 1, dec = dec / 2, f = f * 2, b = NOT b, d = d + 1,
	dt = dt + interval '1 second', ts = ts + interval '1 hour', t = t - interval '1 minute',
	j = json_build_object('was', j), u = 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', c = c || ',z',
	s = s || '!', tx = tx || '!' WHERE id = 2});
sql_a(q{UPDATE typed SET i = NULL, bi = NULL, dec = NULL, f = NULL, b = NULL, d = NULL, dt = NULL, ts = NULL,
	t = NULL, j = NULL, u = NULL, c = NULL, s = NULL, tx = NULL WHERE id = 3});
ok(drained(), 'typed updates: the queue drains');
is(dead_letters(), '', 'typed updates: no dead letter');
is_deeply(rows_of(typed_rows(\&sql_b)), rows_of(typed_rows(\&sql_a)),
	'typed updates: B holds every value as the source does (changed values and nulls)');

# What Directus's API gives back for them, as a Directus user reads them.
is(sql_b(q{SELECT dt FROM typed WHERE id = 2}), '2024-03-01 00:00:00.123',
	'typed: Directus keeps milliseconds of a dateTime (.123456 arrived as .123), as documented');
my $item2 = api_ok($B, 'GET', '/items/typed/2');
is_deeply($item2->{c}, [qw(a b c z)], 'typed: the csv field reads back as a list through the API');
is_deeply($item2->{j}, { was => { a => [ 1, 2.5, { b => undef } ], s => "quote \" and \\ backslash", u => "\x{fc}" } },
	'typed: the json field reads back as the object written');

# ---------------------------------------------------------------------------
# Idempotent apply, as admin and as the sync user

for my $case ([ 'b_admin', 'apply_admin', 'admin' ], [ 'b_sync', 'apply_sync', 'sync user' ])
{
	my ($remote, $coll, $who) = @$case;
	my $on_b = sub {
		return rows_of(sql_b("SELECT coalesce(json_agg(r ORDER BY id), '[]') FROM (SELECT id, title FROM $coll) r"));
	};
	my $on_a = sub {
		return rows_of(sql_a("SELECT coalesce(json_agg(r ORDER BY id), '[]') FROM (SELECT id, title FROM $coll) r"));
	};

	# B already has the key: the create becomes an update of it.
	api_ok($B, 'POST', "/items/$coll", { id => 1, title => 'made on B first' });
	sql_a("INSERT INTO $coll VALUES (1, 'created on the source')");
	# Items that B will lose before their update or delete.
	sql_a("INSERT INTO $coll VALUES (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five'), (6, 'six')");
	ok(drained(), "$who: the creates drain");
	is_deeply($on_b->(), $on_a->(), "$who: a create that met an existing key took the source's values");

	api_ok($B, 'DELETE', "/items/$coll/2");
	sql_a("UPDATE $coll SET title = 'two, updated' WHERE id = 2");
	ok(drained(), "$who: an update of an item B lacks drains");
	is_deeply($on_b->(), $on_a->(), "$who: the update of an item B lacked created it, with the source's values");

	api_ok($B, 'DELETE', "/items/$coll/3");
	sql_a("DELETE FROM $coll WHERE id = 3");
	ok(drained(), "$who: a delete of an item B lacks drains");
	is_deeply($on_b->(), $on_a->(), "$who: the delete of an item B lacked is settled");

	# One window: an update of an item B has and of one it lacks, a delete of
	# one it has, a create of a key it has.
	api_ok($B, 'DELETE', "/items/$coll/5");
	api_ok($B, 'POST', "/items/$coll", { id => 7, title => 'seven, on B' });
	sql_a("BEGIN; UPDATE $coll SET title = title || ', again' WHERE id IN (4, 5); DELETE FROM $coll WHERE id = 6;"
		  . " INSERT INTO $coll VALUES (7, 'seven'); COMMIT");
	ok(drained(), "$who: a mixed window drains");
	is_deeply($on_b->(), $on_a->(), "$who: after a mixed window B holds what the source holds");
	is(dead_letters(), '', "$who: no dead letter");
}

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
