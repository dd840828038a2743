# The real SyncID tooling on our map table: Directus 12.4.0 (or 11.17.4 with
# DS_DIRECTUS_VERSION=11) with the real
# directus-extension-sync 3.0.6 loaded, and the real directus-sync 3.4.1 CLI.
#
# Covers:
# - A and B get directus_sync first; the Node extension, loaded after, uses
#   the extension's table (it makes no table of its own).
# - A configured through the REST API (collections, roles, a policy with
#   permissions, a dashboard with a panel, a flow with two operations, a
#   preset, a folder, a translation, settings); the CLI pulls it from A and
#   pushes it to B; B then holds A's configuration, and both maps hold the
#   sync ids of the dump.
# - On A and B, for every "table" value in the map: GET table/:t equals
#   get_all(t), and for every row GET .../sync_id/:s equals get_by_sync_id
#   and GET .../local_id/:l equals get_by_local_id; not found (REST 404, SQL
#   no row) agrees too.
# - Mappings made by create_mapping are served by the REST endpoints, those
#   made by POST table/:t are returned by the SQL functions, deletes both
#   ways, conflicts both ways.
# - A second push of the same dump to B changes nothing.
# - The permission-duplicates helper: a dry run of remove_permission_duplicates
#   predicts exactly what DELETE helpers/permissions/duplicates deletes
#   (keep last and first), and after ours the REST helper finds nothing.
# - Adoption: Directus with the Node extension runs first, as its own
#   non-superuser role, on a database without directus_sync (the Node
#   extension creates the table), gets mappings from a CLI push and REST,
#   stops; CREATE EXTENSION keeps every row as it was and its HINT's GRANT
#   gives Directus's role its access back; Directus restarted on it serves
#   the same answers, which agree with the SQL functions, and new mappings
#   work both ways.
#
# How the Node extension renders a row (it sends knex's row to res.json):
# id a JSON number, "table", sync_id and local_id strings, created_at a JS
# Date, so ISO 8601 in UTC with milliseconds (node-postgres truncates the
# microseconds). Our rows are rendered the same way in SQL (as_node below)
# and compared as canonical JSON, every column our functions return
# included. GET table/:t has no ORDER BY in the Node extension (heap order);
# get_all is documented as ordered by id: the REST list is sorted by id
# before the comparison, and get_all's order is checked on its own.
use strict;
use warnings;
use utf8;
use lib 't';
use DirectusSyncTest;
use DirectusE2E;
use Encode ();
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $script = e2e_script();
plan skip_all => 'Directus ' . directus_release() . ': the directus-sync CLI 3.4.1 and directus-extension-sync 3.0.6 need Directus 11 or later'
  if directus_major() < 11;
my $node = e2e_node('syncid', qw(syncid_a syncid_b));
# The adoption path's database: no directus_sync in it before Directus,
# which connects as its own role, the database's owner, as in production.
$node->safe_psql('postgres', 'CREATE ROLE directus_c LOGIN; CREATE DATABASE syncid_adopt OWNER directus_c');

my $json = JSON::PP->new->canonical->allow_nonref;
my $EXT = '/directus-extension-sync';

sub sql { my ($d, $q) = @_; return run_sql($node, $q, $d->{db}) }
sub sql_json { my ($d, $q) = @_; return $json->decode(sql($d, $q)) }

# A URL path segment.
sub seg
{
	my $s = Encode::encode('UTF-8', $_[0]);
	$s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
	return $s;
}

# A map row as the Node extension renders it (see the header).
my $as_node = q{(to_jsonb(r) - 'ordinality') || jsonb_build_object('created_at',
	to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))};

# The rows a set-returning call of ours returns, in its order, rendered so.
sub sql_rows
{
	my ($d, $call) = @_;
	return sql_json($d, "SELECT coalesce(jsonb_agg($as_node ORDER BY ordinality), '[]')
		FROM $call WITH ORDINALITY r");
}
sub sql_call { my ($fn, @args) = @_; return "directus_sync.$fn(" . join(', ', map { quote_literal($_) } @args) . ')' }

# The error of a statement that must fail, as "SQLSTATE: message".
sub sql_error
{
	my ($d, $q) = @_;
	my ($ret, $out, $err) = $node->psql($d->{db}, "\\set VERBOSITY verbose\n$q");
	return $ret == 0 ? 'no error' : ($err =~ /ERROR:\s+(\w{5}: [^\n]*)/ ? $1 : $err);
}

# A REST call to the Node extension: (status, body).
sub rest { my ($d, $method, $path, $body) = @_; return api($d, $method, "$EXT$path", $body) }

# Directus does not await an endpoint's registration, and the Node
# extension registers its routes only after its init (the table check or
# creation): wait until they answer.
sub wait_extension_routes
{
	my ($d) = @_;
	return wait_for("the routes of directus-extension-sync on $d->{name}",
		sub { (rest($d, 'GET', '/table/__probe__'))[0] == 200 });
}

# ---------------------------------------------------------------------------
# REST endpoints against SQL functions, for every row of an instance's map.
# Rows with an empty key (the Node extension accepts them on POST) cannot
# be looked up by either side: they are checked apart.

sub compare_all
{
	my ($d, $what) = @_;
	my $tables = sql_json($d, q{SELECT coalesce(json_agg(DISTINCT "table"), '[]') FROM directus_sync_id_map});
	my (@problems, $rows);
	for my $t (@$tables)
	{
		my ($status, $rest) = rest($d, 'GET', '/table/' . seg($t));
		my $ours = sql_rows($d, sql_call('get_all', $t));
		my @sorted = ref $rest eq 'ARRAY' ? sort { $a->{id} <=> $b->{id} } @$rest : ();
		push @problems, "get_all($t): REST $status " . $json->encode($rest) . "\n  SQL " . $json->encode($ours)
		  unless $status == 200 && $json->encode(\@sorted) eq $json->encode($ours);
		my @ids = map { $_->{id} } @$ours;
		push @problems, "get_all($t) is not ordered by id: @ids"
		  unless join(',', @ids) eq join(',', sort { $a <=> $b } @ids);
		for my $row (@$ours)
		{
			$rows++;
			for my $key (qw(sync_id local_id))
			{
				next if $row->{$key} eq '';
				my ($s, $r) = rest($d, 'GET', '/table/' . seg($t) . "/$key/" . seg($row->{$key}));
				my $o = sql_rows($d, sql_call("get_by_$key", $t, $row->{$key}));
				push @problems, "get_by_$key($t, $row->{$key}): REST $s " . $json->encode($r) . ', SQL ' . $json->encode($o)
				  unless $s == 200 && @$o == 1 && $json->encode($r) eq $json->encode($o->[0])
				  && $json->encode($r) eq $json->encode($row);
			}
		}
	}
	ok(@$tables > 0 && !@problems, "$d->{name} $what: REST and SQL agree on all " . scalar(@$tables)
		  . " tables and $rows rows (get_all, get_by_sync_id, get_by_local_id)")
	  or diag(join("\n", grep { defined } @problems[ 0 .. 9 ]));
	return $tables;
}

# get_all's order must be able to show: the CLI and the Node extension insert
# in id order, so heap order equals id order and a get_all without its ORDER
# BY would pass. Rewriting the table (CLUSTER) along a throwaway index on
# ("table", id DESC) puts every table's rows in reverse id order in the heap.
sub reverse_heap
{
	my ($d) = @_;
	sql($d, q{CREATE INDEX regress_reverse_id ON directus_sync_id_map ("table", id DESC);
		CLUSTER directus_sync_id_map USING regress_reverse_id; DROP INDEX regress_reverse_id});
	# "tables whose heap order is id order / tables of two rows or more"
	like(sql($d, q{SELECT count(*) FILTER (WHERE heap = by_id) || '/' || count(*) FROM (
		SELECT array_agg(id ORDER BY ctid) AS heap, array_agg(id ORDER BY id) AS by_id
		  FROM directus_sync_id_map GROUP BY "table" HAVING count(*) > 1) t}), qr{^0/[1-9]\d*$},
		"$d->{name}: heap order differs from id order in every table of two rows or more");
}

# Not found: REST answers 404 "No id map found"; SQL returns no row. An
# unknown table: both an empty list.
sub compare_not_found
{
	my ($d) = @_;
	for my $key (qw(sync_id local_id))
	{
		my ($s, $r) = rest($d, 'GET', "/table/roles/$key/no-such-$key");
		my $o = sql_rows($d, sql_call("get_by_$key", 'roles', "no-such-$key"));
		is($s . ' ' . $json->encode($r) . ' / ' . scalar(@$o), '404 {"message":"No id map found"} / 0',
			"$d->{name}: unknown $key: REST 404, SQL no row");
	}
	my ($s, $r) = rest($d, 'GET', '/table/no-such-table');
	my $o = sql_rows($d, sql_call('get_all', 'no-such-table'));
	is($s . ' ' . $json->encode($r) . ' / ' . $json->encode($o), '200 [] / []',
		"$d->{name}: unknown table: REST empty list, SQL no row");
}

# ---------------------------------------------------------------------------
# The directus-sync CLI

my ($cli_node, $cli) = split /\n/, `bash -c 'eval "\$("\$1" env)" && printf "%s\\n%s\\n" "\$DS_NODE" "\$DS_DIRECTUS_SYNC_CLI"' _ '$script'`;
BAIL_OUT("scripts/directus.sh env failed") unless $cli && -f $cli;
my $dump = "$PostgreSQL::Test::Utils::tmp_check/syncid_dump";
# The CLI looks for a config file in its working directory: an empty one.
my $cli_dir = "$PostgreSQL::Test::Utils::tmp_check/syncid_cli";
mkdir $cli_dir;

# Runs `directus-sync $command` against $d as admin; returns (ok, output).
sub directus_sync
{
	my ($command, $d) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run([ $cli_node, $cli, $command, '--directus-url', $d->{url}, '--directus-token', $d->{token},
			'--dump-path', $dump ], '<', \undef, '>', \$out, '2>', \$err,
		init => sub { chdir $cli_dir or die "chdir: $!" }, IPC::Run::timeout(600));
	my $all = ($out // '') . ($err // '');
	$all =~ s/\e\[[0-9;]*m//g;
	return ($ok && $all =~ /Done!/, $all);
}

# The sync ids of each collection file of the dump: { table => [sorted] }.
sub dump_sync_ids
{
	my %ids;
	for my $file (glob "$dump/collections/*.json")
	{
		my ($t) = $file =~ m{/(\w+)\.json$};
		$ids{$t} = [ sort map { $_->{_syncId} } @{ $json->decode(Encode::decode('UTF-8', slurp_file($file))) } ];
	}
	return \%ids;
}

# The same from an instance's map table, for the tables of the dump.
sub map_sync_ids
{
	my ($d, $tables) = @_;
	my %ids;
	for my $t (@$tables)
	{
		$ids{$t} = [ sort @{ sql_json($d, 'SELECT coalesce(json_agg(sync_id), \'[]\') FROM directus_sync_id_map
			WHERE "table" = ' . quote_literal($t)) } ];
	}
	return \%ids;
}

# ---------------------------------------------------------------------------
# A non-trivial configuration, made through the REST API

sub make_config
{
	my ($d) = @_;
	create_collection($d, 'articles', [ 'id', 'integer' ], [ [ 'title', 'string' ], [ 'body', 'text' ] ]);
	create_collection($d, 'tags', [ 'slug', 'string' ], [ [ 'label', 'string' ] ]);
	my $editors = api_ok($d, 'POST', '/roles', { name => 'Editors', icon => 'edit' })->{id};
	api_ok($d, 'POST', '/roles', { name => 'Reviewers', parent => $editors });
	my $policy = api_ok($d, 'POST', '/policies', { name => 'Editing', app_access => JSON::PP::true,
			admin_access => JSON::PP::false, roles => [ { role => $editors } ] })->{id};
	api_ok($d, 'POST', '/permissions', { policy => $policy, collection => $_->[0], action => $_->[1], fields => ['*'] })
	  for [ 'articles', 'create' ], [ 'articles', 'read' ], [ 'articles', 'update' ], [ 'tags', 'read' ];
	my $dash = api_ok($d, 'POST', '/dashboards', { name => 'Ops', icon => 'space_dashboard' })->{id};
	api_ok($d, 'POST', '/panels', { dashboard => $dash, name => 'Note', type => 'label', position_x => 1,
			position_y => 1, width => 6, height => 4, options => { text => 'hello' } });
	my $flow = api_ok($d, 'POST', '/flows', { name => 'Notify', icon => 'bolt', status => 'active',
			trigger => 'manual', options => { collections => ['articles'] } })->{id};
	my $second = api_ok($d, 'POST', '/operations', { flow => $flow, key => 'log_done', name => 'Log done',
			type => 'log', position_x => 37, position_y => 1, options => { message => 'done' } })->{id};
	my $first = api_ok($d, 'POST', '/operations', { flow => $flow, key => 'log_start', name => 'Log start',
			type => 'log', position_x => 19, position_y => 1, options => { message => 'start' }, resolve => $second })->{id};
	api_ok($d, 'PATCH', "/flows/$flow", { operation => $first });
	api_ok($d, 'POST', '/presets', { bookmark => 'Drafts', collection => 'articles', layout => 'tabular',
			filter => { title => { _contains => 'draft' } } });
	api_ok($d, 'POST', '/folders', { name => 'Images' });
	api_ok($d, 'POST', '/translations', { key => 'greeting', language => 'en-US', value => 'Hello' });
	api_ok($d, 'PATCH', '/settings', { project_name => 'SyncID test' });
}

# What an instance holds of such a configuration, without local ids.
sub config_of
{
	my ($d) = @_;
	my $get = sub { api_ok($d, 'GET', $_[0]) };
	my $names = sub { [ sort map { $_->{ $_[1] } // '' } @{ $get->($_[0]) } ] };
	return {
		collections => [ sort grep { !/^directus_/ } map { $_->{collection} } @{ $get->('/collections') } ],
		roles => [ sort map { "$_->{name} < " . ($_->{parent} ? $_->{parent}{name} : '-') }
			  @{ $get->('/roles?fields=name,parent.name&limit=-1') } ],
		policies => { map { $_->{name} => [ sort((map { "$_->{collection} $_->{action}" } @{ $_->{permissions} }),
					(map { 'role ' . ($_->{role} ? $_->{role}{name} : '-') } @{ $_->{roles} })) ] }
			  @{ $get->('/policies?fields=name,permissions.collection,permissions.action,roles.role.name&limit=-1') } },
		dashboards => { map { $_->{name} => [ sort map { "$_->{name} $_->{type}" } @{ $_->{panels} } ] }
			  @{ $get->('/dashboards?fields=name,panels.name,panels.type&limit=-1') } },
		flows => { map { $_->{name} => ($_->{operation} ? "$_->{operation}{key} -> "
					  . ($_->{operation}{resolve} ? $_->{operation}{resolve}{key} : '-') : '-') }
			  @{ $get->('/flows?fields=name,operation.key,operation.resolve.key&limit=-1') } },
		presets => $names->('/presets?limit=-1', 'bookmark'),
		folders => $names->('/folders?limit=-1', 'name'),
		translations => [ sort map { "$_->{key} $_->{language} $_->{value}" } @{ $get->('/translations?limit=-1') } ],
		project_name => $get->('/settings')->{project_name},
	};
}

# Everything the CLI syncs, ids and dates included, plus the map: to see
# that a push changed nothing.
sub full_state
{
	my ($d) = @_;
	my %s = map { $_ => api_ok($d, 'GET', "/$_?limit=-1&sort=id") }
	  qw(roles policies permissions dashboards panels flows operations presets folders translations);
	$s{settings} = api_ok($d, 'GET', '/settings');
	$s{map} = sql_json($d, q{SELECT json_agg(t ORDER BY id) FROM directus_sync_id_map t});
	return $json->encode(\%s);
}

# ---------------------------------------------------------------------------
# A and B: directus_sync first, then Directus with the Node extension

my $A = start_directus($node, 'syncid_a', extension_sync => 1);
my $B = start_directus($node, 'syncid_b', extension_sync => 1);

my $member = q{SELECT count(*) FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
	WHERE d.classid = 'pg_class'::regclass AND d.objid = 'directus_sync_id_map'::regclass
	AND d.deptype = 'e' AND e.extname = 'directus_sync'};
my $map_tables = q{SELECT count(*) FROM pg_class WHERE relname = 'directus_sync_id_map' AND relkind = 'r'};
for my $d ($A, $B)
{
	ok(wait_extension_routes($d), "$d->{name}: the Node extension is loaded and answers");
	my ($s, $r) = rest($d, 'GET', '/table/roles');
	is("$s " . $json->encode($r), '200 []', "$d->{name}: its map is empty at first");
	is(sql($d, $member) . '/' . sql($d, $map_tables), '1/1',
		"$d->{name}: its table is directus_sync's, and the only one of that name");
}

make_config($A);
my $config_a = config_of($A);
is_deeply([ $config_a->{flows}{Notify}, $config_a->{dashboards}{Ops}, $config_a->{policies}{Editing} ],
	[ 'log_start -> log_done', ['Note label'], [ 'articles create', 'articles read', 'articles update', 'role Editors', 'tags read' ] ],
	'A: the configuration made through the API is there');

# ---------------------------------------------------------------------------
# The CLI: pull from A, push to B

my ($ok, $out) = directus_sync('pull', $A);
ok($ok, 'directus-sync pull from A succeeds') or diag($out);
my $dumped = dump_sync_ids();
my @dump_tables = sort keys %$dumped;
is(scalar(grep { @{ $dumped->{$_} } } @dump_tables) . '/' . scalar(@dump_tables), '11/11',
	'the dump has items in each of its 11 collections: ' . join(' ', map { "$_=" . @{ $dumped->{$_} } } @dump_tables));
is_deeply(map_sync_ids($A, \@dump_tables), $dumped, "A's map holds exactly the sync ids of the dump, per table");

($ok, $out) = directus_sync('push', $B);
ok($ok, 'directus-sync push to B succeeds') or diag($out);
is_deeply(config_of($B), $config_a, 'B now holds the configuration of A');
is_deeply(map_sync_ids($B, \@dump_tables), $dumped, "B's map holds exactly the sync ids of the dump, per table");

# ---------------------------------------------------------------------------
# Our SQL functions answer what the REST endpoints answer

reverse_heap($_) for $A, $B;
compare_all($A, 'after pull');
compare_all($B, 'after push');
compare_not_found($_) for $A, $B;

# ---------------------------------------------------------------------------
# Made by SQL, read by REST; made by REST, read by SQL; deletes both ways

{
	my $t = 'items:articles';
	my $odd = 'a/b c?é#%';
	my $sync = sql($A, 'SELECT ' . sql_call('create_mapping', $t, $odd));
	like($sync, qr/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
		'create_mapping without a sync id returns a random uuid');
	my $ours = sql_rows($A, sql_call('get_by_sync_id', $t, $sync))->[0];
	my ($s1, $by_sync) = rest($A, 'GET', '/table/' . seg($t) . '/sync_id/' . seg($sync));
	my ($s2, $by_local) = rest($A, 'GET', '/table/' . seg($t) . '/local_id/' . seg($odd));
	my ($s3, $list) = rest($A, 'GET', '/table/' . seg($t));
	is_deeply([ $s1, $by_sync, $s2, $by_local, $s3, $list ], [ 200, $ours, 200, $ours, 200, [$ours] ],
		'a mapping made by create_mapping: REST returns it by sync id, by local id and in the list');

	# The CLI sends integer keys as JSON numbers; they are stored as text.
	my ($s, $r) = rest($A, 'POST', '/table/' . seg($t), { local_id => 7 });
	my $rest_sync = ref $r ? $r->{sync_id} // '' : '';
	my $row = sql_rows($A, sql_call('get_by_local_id', $t, '7'));
	is_deeply([ $s, scalar(@$row), $row->[0]{sync_id}, $row->[0]{local_id} ], [ 200, 1, $rest_sync, '7' ],
		'a mapping made by POST table/:t (integer local id): get_by_local_id returns it');
	($s, $r) = rest($A, 'POST', '/table/' . seg($t), { local_id => 'k-8', sync_id => 'given-8' });
	is_deeply([ $s, $r, sql_rows($A, sql_call('get_by_sync_id', $t, 'given-8'))->[0]{local_id} ],
		[ 200, { sync_id => 'given-8' }, 'k-8' ], 'POST with a sync id: get_by_sync_id returns it');
	# In the heap in reverse order: get_all still returns them by id.
	reverse_heap($A);
	is_deeply([ map { $_->{local_id} } @{ sql_rows($A, sql_call('get_all', $t)) } ], [ $odd, '7', 'k-8' ],
		'get_all returns the three, in the order they were made (id order)');

	# Conflicts, each side refusing what the other made.
	($s, $r) = rest($A, 'POST', '/table/' . seg($t), { local_id => $odd });
	is("$s " . $json->encode($r), '409 {"message":"Local id already exists"}',
		'REST refuses a local id that create_mapping mapped');
	like(sql_error($A, 'SELECT ' . sql_call('create_mapping', $t, '7', 'other')),
		qr/^23505: local id "7" already exists in table "items:articles"/,
		'create_mapping refuses a local id that REST mapped (23505)');
	like(sql_error($A, 'SELECT ' . sql_call('create_mapping', $t, 'k-9', 'given-8')),
		qr/^23505: sync id "given-8" already exists/, 'create_mapping refuses a sync id that REST used (23505)');
	# (The Node extension lets the unique constraint fail: a 500 with the
	# database's message. README lists this as a difference.)
	($s, $r) = rest($A, 'POST', '/table/' . seg($t), { local_id => 'k-9', sync_id => $sync });
	is($s, 500, 'REST refuses a sync id that create_mapping used (500, the constraint)');

	is(sql($A, 'SELECT ' . sql_call('delete_by_sync_id', $t, 'given-8')), 1, 'delete_by_sync_id of a REST mapping: 1 row');
	($s, $r) = rest($A, 'GET', '/table/' . seg($t) . '/sync_id/given-8');
	is($s, 404, '... REST no longer finds it');
	($s) = rest($A, 'DELETE', '/table/' . seg($t) . '/local_id/' . seg($odd));
	is($s, 204, 'DELETE local_id of a create_mapping mapping: 204');
	is(scalar @{ sql_rows($A, sql_call('get_by_local_id', $t, $odd)) }, 0, '... get_by_local_id no longer finds it');
	is(sql($A, 'SELECT ' . sql_call('delete_by_local_id', $t, $odd)), 0, '... and delete_by_local_id removes nothing more');
	($s) = rest($A, 'DELETE', '/table/' . seg($t) . '/sync_id/' . seg($rest_sync));
	is($s . ' ' . scalar @{ sql_rows($A, sql_call('get_all', $t)) }, '204 0', 'DELETE sync_id of the last one: the table is empty for SQL');
	($s) = rest($A, 'DELETE', '/table/' . seg($t) . '/sync_id/' . seg($rest_sync));
	is($s, 204, 'REST delete is idempotent too');
	compare_all($A, 'after the round trips');
}

# ---------------------------------------------------------------------------
# A second push of the same dump changes nothing on B

{
	my $before = full_state($B);
	my $activity = sql($B, 'SELECT max(id) FROM directus_activity');
	($ok, $out) = directus_sync('push', $B);
	ok($ok, 'a second push of the same dump succeeds') or diag($out);
	is(full_state($B), $before, 'the second push changes nothing on B (items, ids, dates, map)');
	is(sql($B, "SELECT count(*) FROM directus_activity WHERE id > $activity AND action IN ('create', 'update', 'delete')"),
		0, 'the second push writes nothing on B (no create, update or delete activity)');
}

# ---------------------------------------------------------------------------
# Permission duplicates: a dry run of ours predicts what the REST helper
# deletes; after ours, the REST helper finds nothing.

{
	my $policy = api_ok($B, 'GET', '/policies?filter[name][_eq]=Editing')->[0]{id};
	my $duplicate = sub {
		api_ok($B, 'POST', '/permissions', { policy => $policy, collection => $_->[0], action => $_->[1], fields => ['*'] })
		  for [ 'articles', 'read' ], [ 'articles', 'read' ], [ 'tags', 'read' ];
	};
	my $ours = sub {
		my ($keep, $dry) = @_;
		return sql_json($B, "SELECT coalesce(json_agg(json_build_object('policy', policy, 'collection', collection,
			'action', action, 'ids', (SELECT array_agg(i ORDER BY i) FROM unnest(deleted_ids) i))
			ORDER BY collection, action), '[]') FROM directus_sync.remove_permission_duplicates(keep => '$keep', dry_run => $dry)");
	};
	my $theirs = sub {
		my ($keep) = @_;
		my ($s, $r) = rest($B, 'DELETE', '/helpers/permissions/duplicates', $keep ? { keep => $keep } : undef);
		return [ "status $s" ] unless $s == 200;
		return [ sort { "$a->{collection} $a->{action}" cmp "$b->{collection} $b->{action}" }
			  map { { %$_, ids => [ sort { $a <=> $b } @{ $_->{ids} } ] } } @{ $r->{deletedPermissions} } ];
	};
	my $ids = sub { [ map { $_->{id} } @{ api_ok($B, 'GET', "/permissions?filter[policy][_eq]=$policy&sort=id&limit=-1") } ] };
	for my $keep (qw(last first))
	{
		$duplicate->();
		my $all = $ids->();
		my $predicted = $ours->($keep, 'true');
		is(scalar(@$predicted), 2, "keep $keep: the dry run finds the two groups of duplicates");
		is_deeply($theirs->($keep eq 'last' ? undef : $keep), $predicted,
			"keep $keep: the REST helper deletes exactly what the dry run said");
		my %gone = map { $_ => 1 } map { @{ $_->{ids} } } @$predicted;
		is_deeply($ids->(), [ grep { !$gone{$_} } @$all ], "keep $keep: the permissions left are the ones it kept");
	}
	$duplicate->();
	is(scalar @{ $ours->('last', 'false') }, 2, 'remove_permission_duplicates removes the two groups');
	is_deeply($theirs->(), [], '... after which the REST helper finds no duplicate');
}

# ---------------------------------------------------------------------------
# Adoption: the Node extension made the table; CREATE EXTENSION keeps it

my $C = start_directus($node, 'syncid_adopt', extension_sync => 1, pg_user => 'directus_c');
ok(wait_extension_routes($C), 'C: the Node extension is loaded and answers');
is(sql($C, q{SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = to_regclass('directus_sync_id_map')
	AND NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'directus_sync')}), 'directus_c',
	"C: no directus_sync; the Node extension created the map table at startup, as Directus's role");
($ok, $out) = directus_sync('push', $C);
ok($ok, 'directus-sync push of the dump to C (the Node extension alone) succeeds') or diag($out);
is_deeply(map_sync_ids($C, \@dump_tables), $dumped, "C's map (the Node extension's table) holds the sync ids of the dump");
{
	my ($s, $r) = rest($C, 'POST', '/table/items%3Aarticles', { local_id => 12 });
	is($s, 200, 'C: POST of an integer local id');
	($s, $r) = rest($C, 'POST', '/table/items%3Atags', { local_id => 'ключ/é', sync_id => 'tag-sync' });
	is($s, 200, 'C: POST of a non-ASCII local id');
	# The Node extension stores an empty sync id as it is (no uuid); our
	# create_mapping refuses one: an adopted map can hold such a row.
	($s, $r) = rest($C, 'POST', '/table/items%3Atags', { local_id => 'empty-sync', sync_id => '' });
	is("$s " . $json->encode($r), '200 {"sync_id":""}', 'C: the Node extension stores an empty sync id as given');
}
my $raw_map = q{SELECT json_agg(t ORDER BY id) FROM directus_sync_id_map t};
my $map_before = sql($C, $raw_map);
my $rest_before = { map { $_ => [ sort { $a->{id} <=> $b->{id} } @{ (rest($C, 'GET', '/table/' . seg($_)))[1] } ] }
	  @{ sql_json($C, q{SELECT json_agg(DISTINCT "table") FROM directus_sync_id_map}) } };
my $count = sql($C, 'SELECT count(*) FROM directus_sync_id_map');
my $max_id = sql($C, 'SELECT max(id) FROM directus_sync_id_map');
stop_directus($C);

{
	my ($ret, $stdout, $stderr) = $node->psql('syncid_adopt', 'CREATE EXTENSION directus_sync');
	is($ret, 0, 'CREATE EXTENSION directus_sync on the Node extension\'s table succeeds');
	like($stderr, qr/WARNING:  table directus_sync_id_map now belongs to the owner of extension directus_sync\n.*Role directus_c, its owner until now/,
		'... and warns that Directus\'s role lost its table');
	my ($grant) = $stderr =~ /HINT:  To let directus-extension-sync running as directus_c use it: (GRANT .*)$/m;
	ok(defined $grant, "... with the GRANT that gives it its access back in the HINT");
	sql($C, $grant // 'SELECT');
}
is(sql($C, $member), 1, 'CREATE EXTENSION adopted the table the Node extension made');
is(sql($C, 'SELECT count(*) FROM directus_sync_id_map'), $count, "adoption keeps the $count rows");
is(sql($C, $raw_map), $map_before, 'adoption keeps every row as it was (id, table, sync_id, local_id, created_at)');

start_directus($node, 'syncid_adopt', reuse => $C);
ok(wait_extension_routes($C), 'C restarted after adoption: the Node extension answers');
my $rest_after = { map { $_ => [ sort { $a->{id} <=> $b->{id} } @{ (rest($C, 'GET', '/table/' . seg($_)))[1] } ] } keys %$rest_before };
is_deeply($rest_after, $rest_before, 'C restarted: the REST endpoints return what they returned before adoption');
compare_all($C, 'after adoption');
compare_not_found($C);
{
	# The row with the empty sync id: REST has no route for an empty path
	# segment; get_by_sync_id refuses an empty key (22023), as documented.
	my ($s, $r) = rest($C, 'GET', '/table/items%3Atags/sync_id/');
	is($s . ' ' . ($r->{errors}[0]{extensions}{code} // ''), '404 ROUTE_NOT_FOUND', 'C: REST cannot address an empty sync id');
	like(sql_error($C, "SELECT * FROM directus_sync.get_by_sync_id('items:tags', '')"), qr/^22023: sync_id must not be empty/,
		'C: get_by_sync_id refuses an empty sync id (22023, as documented)');
	is(sql($C, q{SELECT local_id FROM directus_sync.get_all('items:tags') WHERE sync_id = ''}), 'empty-sync',
		'C: get_all returns the row with the empty sync id');

	my $sync = sql($C, q{SELECT directus_sync.create_mapping('items:articles', '13')});
	my $row = sql_rows($C, sql_call('get_by_sync_id', 'items:articles', $sync))->[0];
	ok($row->{id} > $max_id, "C: a new mapping continues the Node extension's ids ($row->{id} > $max_id)");
	($s, $r) = rest($C, 'GET', '/table/items%3Aarticles/local_id/13');
	is_deeply([ $s, $r ], [ 200, $row ], 'C: the REST endpoint returns the mapping made by create_mapping');
	($s, $r) = rest($C, 'POST', '/table/items%3Aarticles', { local_id => 14 });
	is(sql($C, q{SELECT sync_id FROM directus_sync.get_by_local_id('items:articles', '14')}), $r->{sync_id},
		'C: a mapping POSTed through REST after adoption is returned by get_by_local_id');
	($s) = rest($C, 'DELETE', '/table/items%3Aarticles/local_id/13');
	is($s . ' ' . sql($C, q{SELECT count(*) FROM directus_sync.get_all('items:articles')}), '204 2',
		'C: DELETE through REST after adoption removes the mapping for SQL too');
}

is(server_crash($node), '', 'no crash in the server log');
done_testing();
