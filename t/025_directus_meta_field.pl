# What convergent replication's transport needs from real Directus
# (docs/directus-behaviour.md#a-hidden-field-for-clocks): per item clocks
# ride in a hidden json field, directus_sync_meta, which Directus keeps only
# because it is a column. Checked here as a non-admin sync user:
#   - batched POST and PATCH put each item's own meta into the column, as
#     sent (a BEFORE trigger of the database sees it);
#   - a BEFORE trigger that moves the meta out of the row (clears the
#     column) leaves Directus's answers 2xx, and the read-back shows null;
#   - a BEFORE trigger that refuses a row (returns NULL): what Directus
#     answers for a create and for an update;
#   - revisions record the meta sent (an audit trail of clocks);
#   - field-level permissions are a licensed feature of Directus 12
#     (custom_permission_rules_enabled): a policy can only allow every
#     field, so any user who may edit the collection can also write the
#     meta field through the API. Who sent a clock must be checked in the
#     database (by the user of the write's activity row), not left to
#     Directus's permissions. On 10 and 11 a permission without the field
#     keeps an editor from writing it.
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
my $node = e2e_node('e2e_meta', qw(directus_b));
my $B = start_directus($node, 'directus_b');
sub sql_b { return run_sql($node, $_[0], 'directus_b') }
my $json_text = JSON::PP->new->canonical;

create_collection($B, 'articles', [ 'id', 'integer' ], [ [ 'title', 'string' ] ]);
my ($status, $body) = api($B, 'POST', '/fields/articles', { field => 'directus_sync_meta', type => 'json',
		meta => { hidden => JSON::PP::true, readonly => JSON::PP::true, note => 'directus_sync clocks' },
		schema => {} });
is($status, 200, 'a hidden json field directus_sync_meta is added through the API') or diag(json_canon($body));
my $sync = create_sync_user($B, 'sync-meta@example.com', 'token-meta', 'articles');

# An editor of the collection, by a policy (a role on Directus 10), which
# may only name fields on Directus 10 and 11.
my $by_role = directus_major() < 11;
my $owner = api_ok($B, 'POST', $by_role ? '/roles' : '/policies', { name => 'editors',
		admin_access => JSON::PP::false, app_access => JSON::PP::true })->{id};
my %of_owner = (($by_role ? 'role' : 'policy') => $owner);
($status, $body) = api($B, 'POST', '/permissions', { %of_owner, collection => 'articles', action => 'update',
		fields => [qw(id title)], permissions => {}, validation => {} });
my $fields_licensed = directus_major() >= 12;
if ($fields_licensed)
{
	is_deeply([ $status, $body->{errors}[0]{extensions}{code}, $body->{errors}[0]{extensions}{category} ],
		[ 403, 'RESOURCE_RESTRICTED', 'custom_permission_rules_enabled' ],
		'a permission limited to some fields is refused: a licensed feature of Directus 12');
	api_ok($B, 'POST', '/permissions', { %of_owner, collection => 'articles', action => 'update',
			fields => ['*'], permissions => {}, validation => {} });
}
else
{
	is($status, 200, 'Directus ' . directus_major() . ': a permission limited to some fields is taken');
}
api_ok($B, 'POST', '/permissions', { %of_owner, collection => 'articles', action => $_,
		fields => ['*'], permissions => {}, validation => {} }) for qw(create read);
api_ok($B, 'POST', '/users', { email => 'editor@example.com', token => 'token-editor',
		$by_role ? (role => $owner) : (policies => { create => [ { policy => $owner } ] }) });
my $editor = { token => 'token-editor' };

sub meta_of { return sql_b("SELECT id || ' ' || coalesce(directus_sync_meta::jsonb::text, 'null') FROM articles"
		  . " WHERE id = $_[0]") }
sub meta_json { return $json_text->decode(sql_b("SELECT coalesce(directus_sync_meta::text, 'null') FROM articles WHERE id = $_[0]")) }
my %meta = map { ($_ => { o => "node-$_", f => { title => sprintf('%016x@node-%d', 1000 + $_, $_) } }) } 1 .. 3;

# ---------------------------------------------------------------------------
# Batched writes as the sync user

($status, $body) = api($B, 'POST', '/items/articles?fields=id',
	[ map { { id => $_, title => "t$_", directus_sync_meta => $meta{$_} } } 1 .. 3 ], $sync->{token});
is($status, 200, 'sync user: a batched POST with meta per item is accepted') or diag(json_canon($body));
is_deeply([ map { meta_json($_) } 1 .. 3 ], [ map { $meta{$_} } 1 .. 3 ],
	'sync user: each item\'s own meta is in its column, as sent');

my %meta2 = map { ($_ => { o => "node-$_", f => { title => sprintf('%016x@node-%d', 2000 + $_, $_) } }) } 1 .. 3;
($status, $body) = api($B, 'PATCH', '/items/articles?fields=id',
	[ map { { id => $_, title => "t$_ again", directus_sync_meta => $meta2{$_} } } 1 .. 3 ], $sync->{token});
is($status, 200, 'sync user: a batched PATCH with meta per item is accepted') or diag(json_canon($body));
is_deeply([ map { meta_json($_) } 1 .. 3 ], [ map { $meta2{$_} } 1 .. 3 ],
	'sync user: a batched PATCH puts each item\'s own meta in its column');

# Revisions keep what was sent.
my $revs = api_ok($B, 'GET', '/revisions?filter[collection][_eq]=articles&filter[item][_eq]=2&sort=id&fields=delta');
is(scalar @$revs, 2, 'revisions: one per write of item 2');
# (Directus 10 keeps a json field in a delta as its JSON text, 11 and 12 as JSON.)
my $delta = $revs->[1]{delta}{directus_sync_meta};
$delta = $json_text->decode($delta) if defined $delta && !ref $delta;
is_deeply($delta, $meta2{2}, 'revisions: the delta of the PATCH holds the meta sent');

# ---------------------------------------------------------------------------
# The editor: on Directus 12 it can write the hidden field too; on 10 and 11
# a permission without the field keeps it out

($status, $body) = api($B, 'PATCH', '/items/articles/1', { title => 'by editor', directus_sync_meta => { o => 'forged' } },
	$editor->{token});
if ($fields_licensed)
{
	is($status, 200, 'editor: a PATCH that sends the meta field is accepted by Directus');
	is(meta_of(1), '1 {"o": "forged"}', '... and lands in the column: the database must check who sent it');
}
else
{
	is($status, 403, 'editor: a PATCH that sends the meta field is refused (the field is not in its permission)');
	is_deeply(meta_json(1), $meta2{1}, '... and the column keeps what the sync user wrote');
}

# ---------------------------------------------------------------------------
# A BEFORE trigger that takes the meta out of the row, as the apply
# trigger will

sql_b(q{
	CREATE TABLE taken_meta (id integer, meta jsonb);
	CREATE FUNCTION take_meta() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.directus_sync_meta IS NOT NULL THEN
			INSERT INTO taken_meta VALUES (NEW.id, NEW.directus_sync_meta::jsonb);
			NEW.directus_sync_meta := NULL;
		END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER take_meta BEFORE INSERT OR UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION take_meta();
});
($status, $body) = api($B, 'POST', '/items/articles', [ { id => 4, title => 't4', directus_sync_meta => { o => 'n4' } } ],
	$sync->{token});
is($status, 200, 'taken by a trigger: the POST is answered 200');
is_deeply([ map { $_->{directus_sync_meta} } @{ $body->{data} // [] } ], [undef], '... and reads back null');
($status, $body) = api($B, 'PATCH', '/items/articles', [ { id => 4, title => 't4 again', directus_sync_meta => { o => 'n4b' } } ],
	$sync->{token});
is($status, 200, 'taken by a trigger: the PATCH is answered 200');
is(sql_b(q{SELECT string_agg(id || ' ' || meta::text, '; ' ORDER BY meta::text) FROM taken_meta}),
	'4 {"o": "n4"}; 4 {"o": "n4b"}', 'the trigger saw each write\'s meta');
is(meta_of(4), '4 null', 'the column stays empty');

# ---------------------------------------------------------------------------
# A BEFORE trigger that refuses a row (an older write than the one stored)

sql_b(q{
	CREATE FUNCTION refuse_old() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		IF NEW.title LIKE 'old%' THEN RETURN NULL; END IF;
		RETURN NEW;
	END $$;
	CREATE TRIGGER refuse_old BEFORE INSERT OR UPDATE ON articles FOR EACH ROW EXECUTE FUNCTION refuse_old();
});
($status, $body) = api($B, 'PATCH', '/items/articles', [ { id => 4, title => 'old value' } ], $sync->{token});
is_deeply([ $status, [ map { $_->{title} } @{ $body->{data} // [] } ] ], [ 200, ['t4 again'] ],
	'a refused update of one item: 200, the item read back as it stays');
is(sql_b(q{SELECT title FROM articles WHERE id = 4}), 't4 again', '... and the row keeps its value');
($status, $body) = api($B, 'POST', '/items/articles', [ { id => 5, title => 'old item' } ], $sync->{token});
is_deeply([ $status, $body ], [ 200, { data => [] } ],
	'a refused create: 200 with no item read back (the create looks done)');
is(sql_b(q{SELECT count(*) FROM articles WHERE id = 5}), '0', '... and no row is made');

is(server_crash($node), '', 'no crash in the server log');
$node->stop;
done_testing();
