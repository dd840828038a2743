# The permission clean-up (directus_sync.remove_permission_duplicates) on
# the system tables of a database bootstrapped by a real Directus: the
# version of DS_DIRECTUS_VERSION (12.4.0 in the tap layer of
# scripts/test.sh, 11.17.4 in e2e@directus11, 10.13.4 in e2e@directus10).
# The fixtures of sql/permissions.sql copy the tables' layout; here Directus
# made them, and the duplicated rows too: they are POSTed through its REST
# API, which accepts them on every version.
#
# Directus 11 and 12 hold permissions by policy, 10 by role (the public
# role is a NULL role there, a group of its own; on 11+ the public policy
# is a policy like the others). Covers: the table has the owner column of
# its version; the dry run reports exactly the groups computed from the
# table's rows (keep last and first), with the owner in the policy column
# on 11+ and in role on 10, and deletes nothing; the real run deletes
# exactly the rows the dry run named; the other rows are untouched (the
# bootstraps of 10.13.4, 11.17.4 and 12.4.0 make no permission rows: the
# admin has admin access, the app users' minimum is not in the table); a
# second run finds nothing; on 11+ GET /permissions lists the same rows
# (10's merges a group into one row without an id); Directus still serves
# the user whose permissions were cleaned.
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
my $node = e2e_node('permissions', 'perm');
my $D = start_directus($node, 'perm');
my $release = directus_release();
my $major = directus_major();
my $by_role = $major < 11;
my $owner = $by_role ? 'role' : 'policy';
diag("Directus $release: permissions by $owner");

sub sql { return run_sql($node, $_[0], 'perm') }

is(sql(q{SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute
	WHERE attrelid = 'directus_permissions'::regclass AND attname IN ('policy', 'role') AND NOT attisdropped}),
	$owner, "Directus $release made directus_permissions with a $owner column (and not the other)");

# ---------------------------------------------------------------------------
# Set-up through the REST API: two collections, two owners (policies on
# 11+, roles on 10), a user of the first; duplicated permission rows.

for my $c (qw(articles tags))
{
	create_collection($D, $c, [ 'id', 'integer' ], [ [ 'title', 'string' ] ]);
}
my %owner_id;
for my $name (qw(Editors Viewers))
{
	$owner_id{$name} = $by_role
	  ? api_ok($D, 'POST', '/roles', { name => $name, admin_access => JSON::PP::false, app_access => JSON::PP::false })->{id}
	  : api_ok($D, 'POST', '/policies', { name => $name, admin_access => JSON::PP::false, app_access => JSON::PP::false })->{id};
}
my $editor = api_ok($D, 'POST', '/users', { email => 'editor@example.com', token => 'editor-token',
		$by_role ? (role => $owner_id{Editors}) : (policies => { create => [ { policy => $owner_id{Editors} } ] }) });

my $bootstrap_rows = sql('SELECT count(*) FROM directus_permissions');
# [owner, collection, action, fields]; undef owner: the public role (10) or
# the public policy (11+: a policy like any other, made by the bootstrap).
my $public = $by_role ? undef
  : sql(q{SELECT id FROM directus_policies WHERE name = '$t:public_label'});
my @rows = (
	[ 'Editors', 'articles', 'read', 'id' ],
	[ 'Editors', 'articles', 'read', 'id,title' ],
	[ 'Editors', 'articles', 'read', '*' ],
	[ 'Editors', 'articles', 'update', '*' ],    # alone
	[ 'Editors', 'tags', 'read', '*' ],
	[ 'Viewers', 'articles', 'read', '*' ],      # same collection and action, other owner: alone
	[ 'Editors', 'tags', 'read', 'title' ],
	[ undef, 'tags', 'read', '*' ],
	[ undef, 'tags', 'read', 'id' ],
	[ undef, 'articles', 'read', '*' ],          # alone
);
for my $r (@rows)
{
	my ($who, $coll, $action, $fields) = @$r;
	# Directus 12 without a licence refuses a field list other than * (403
	# RESOURCE_RESTRICTED "custom_permission_rules_enabled is a restricted
	# resource."): the rows of a group are equal there.
	$fields = '*' if $major >= 12;
	my $id = defined $who ? $owner_id{$who} : $public;
	api_ok($D, 'POST', '/permissions', { $owner => $id, collection => $coll, action => $action,
			fields => [ split /,/, $fields ], permissions => {}, validation => {} });
}

# The rows of directus_permissions, and (11+) what GET /permissions lists.
# Directus 10's GET /permissions merges the rows that share (role,
# collection, action) into one without an id (and adds the permissions every
# app user gets): the table is read in SQL. On 11+ the list holds every row,
# plus the app users' permissions (id and policy null): left out here.
sub listed
{
	return json_decode(sql("SELECT coalesce(json_agg(json_build_object('id', id, 'owner', $owner,
		'collection', collection, 'action', action) ORDER BY id), '[]') FROM directus_permissions"));
}
sub rest_listed
{
	return [ map { { id => $_->{id}, owner => $_->{$owner}, collection => $_->{collection}, action => $_->{action} } }
		  grep { defined $_->{id} }
		  @{ api_ok($D, 'GET', "/permissions?fields=id,$owner,collection,action&limit=-1&sort=id") } ];
}
# A list of rows as text, one "id owner collection action" a line.
sub flat { return join("\n", map { join ' ', $_->{id}, $_->{owner} // 'NULL', $_->{collection}, $_->{action} } @{ $_[0] }) }
my $all = listed();
is(scalar @$all, $bootstrap_rows + @rows, 'directus_permissions holds every row POSTed (' . scalar(@rows)
	  . ' duplicated or not), next to the ' . $bootstrap_rows . ' rows of the bootstrap');
if ($by_role)
{
	my @merged = grep { ($_->{role} // '') eq $owner_id{Editors} && $_->{collection} eq 'articles' && $_->{action} eq 'read' }
	  @{ api_ok($D, 'GET', '/permissions?fields=id,role,collection,action&limit=-1') };
	is(json_canon([ map { $_->{id} } @merged ]), '[null]',
		'Directus 10: GET /permissions lists the three rows of a group as one, without an id');
}
else
{
	is(flat(rest_listed()), flat($all), 'GET /permissions lists the same rows');
}
is(scalar(grep { !defined $_->{owner} } @$all), $by_role ? 3 : 0,
	$by_role ? 'Directus 10 keeps the public role\'s rows with a NULL role' : 'Directus 11+ has no row without a policy');

sub expected
{
	my ($keep) = @_;
	my %group;
	push @{ $group{ join "\0", $_->{owner} // '', $_->{collection}, $_->{action} } }, $_ for @$all;
	my @out;
	for my $g (values %group)
	{
		next unless @$g > 1;
		my @ids = sort { $a <=> $b } map { $_->{id} } @$g;
		my $kept = $keep eq 'last' ? pop @ids : shift @ids;
		push @out, { policy => $by_role ? undef : $g->[0]{owner}, role => $by_role ? $g->[0]{owner} : undef,
			collection => $g->[0]{collection}, action => $g->[0]{action}, kept_id => $kept, deleted_ids => \@ids };
	}
	return json_canon([ sort { json_canon($a) cmp json_canon($b) } @out ]);
}
sub ours
{
	my ($keep, $dry) = @_;
	my $rows = json_decode(sql("SELECT coalesce(json_agg(r), '[]') FROM directus_sync.remove_permission_duplicates(keep => '$keep', dry_run => $dry) r"));
	return json_canon([ sort { json_canon($a) cmp json_canon($b) } @$rows ]);
}

# ---------------------------------------------------------------------------
# Dry runs, then the clean-up

my $groups = () = expected('last') =~ /"kept_id"/g;
is($groups, 3, 'set-up: three groups of duplicates ((Editors, articles, read), (Editors, tags, read), (public, tags, read))');
for my $keep (qw(last first))
{
	is(ours($keep, 'true'), expected($keep), "dry run, keep $keep: exactly the groups GET /permissions implies, "
		  . "the owner in the $owner column");
}
is(flat(listed()), flat($all), 'the dry runs deleted nothing');

my $predicted = json_decode(expected('last'));
is(ours('last', 'false'), expected('last'), 'the clean-up (keep last) reports what the dry run did');
my %gone = map { $_ => 1 } map { @{ $_->{deleted_ids} } } @$predicted;
is(scalar keys %gone, 4, '... four rows deleted');
is(flat(listed()), flat([ grep { !$gone{ $_->{id} } } @$all ]),
	'the rows left are exactly the ones it kept: the other rows are untouched');
is(flat(rest_listed()), flat(listed()), '... and GET /permissions lists them') unless $by_role;
is(ours('last', 'false'), '[]', 'a second run finds nothing');
is(ours('first', 'true'), '[]', '... nor does a dry run keeping the first');

# Directus goes on with the rows left (its permission cache cleared first,
# as after any change made by SQL).
api_ok($D, 'POST', '/utils/cache/clear?system=true');
api_ok($D, 'POST', '/items/articles', { id => 1, title => 'kept' });
my ($status, $answer) = api($D, 'GET', '/items/articles/1?fields=id,title', undef, 'editor-token');
is($status . ' ' . ($answer->{data}{title} // ''), '200 kept',
	'the editor still reads an article with the row kept (fields *)');
($status) = api($D, 'PATCH', '/items/articles/1', { title => 'by the editor' }, 'editor-token');
ok($status == 200 || $status == 204, "the editor still updates it (the update row was alone: status $status)");
($status) = api($D, 'DELETE', '/items/articles/1', undef, 'editor-token');
is($status, 403, 'and still may not delete it');

is(server_crash($node), '', 'no crash in the server log');
done_testing();
