# Two roads to the current version, one result. CREATE EXTENSION directus_sync
# runs the full script of the default version (directus_sync--0.3.sql);
# CREATE EXTENSION ... VERSION '0.1' then ALTER EXTENSION ... UPDATE runs the
# 0.1 script and every upgrade script after it. Both must leave the same
# objects, checked two ways:
#   - pg_dump --schema-only --binary-upgrade of both databases (plain pg_dump
#     writes only CREATE EXTENSION; --binary-upgrade writes every member, with
#     its comment, privileges and initial privileges), with what legitimately
#     differs between two databases masked: oids, relfilenodes, xids;
#   - every function of schema directus_sync: source, settings, security,
#     volatility, privileges and comment, read from pg_proc.
# Once with a map table the extension creates, once with one that
# directus-extension-sync made first, since adoption is a code path of its own.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('install_paths');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'directus_sync'");
$node->start;

my $current = $node->safe_psql('postgres',
	q{SELECT default_version FROM pg_available_extensions WHERE name = 'directus_sync'});
is($node->safe_psql('postgres', qq{SELECT path FROM pg_extension_update_paths('directus_sync')
	WHERE source = '0.1' AND target = '$current'}),
	"0.1--0.2--$current", "0.1 reaches the default version $current through every upgrade script");

# What directus-extension-sync 3.x makes on PostgreSQL (knex's DDL, as in
# sql/adopt.sql), as Directus's role, in the schema Directus uses.
my $knex_map = q{
	CREATE SCHEMA cms AUTHORIZATION directus;
	SET ROLE directus;
	SET search_path = cms;
	create table "directus_sync_id_map" ("id" serial primary key, "table" varchar(255) not null,
		"sync_id" varchar(255) not null, "local_id" varchar(255) not null,
		"created_at" timestamptz default CURRENT_TIMESTAMP);
	alter table "directus_sync_id_map" add constraint "directus_sync_id_map_table_sync_id_unique" unique ("table", "sync_id");
	alter table "directus_sync_id_map" add constraint "directus_sync_id_map_table_local_id_unique" unique ("table", "local_id");
	create index "directus_sync_id_map_created_at_index" on "directus_sync_id_map" ("created_at");
	INSERT INTO directus_sync_id_map ("table", sync_id, local_id) VALUES ('flows', 'made-by-node', 'f-1');
	RESET search_path;
	RESET ROLE;
};
# README's GRANT, in the transaction that adopts the table.
my $grant = q{
	GRANT SELECT, INSERT, DELETE ON cms.directus_sync_id_map TO directus;
	GRANT USAGE ON SEQUENCE cms.directus_sync_id_map_id_seq TO directus;
};
$node->safe_psql('postgres', 'CREATE ROLE directus LOGIN');

my @cases = (
	{ name => 'new map table', fresh => 'fresh', upgraded => 'upgraded', schema => 'public',
	  before => '', with => '' },
	{ name => 'adopted map table', fresh => 'fresh_adopt', upgraded => 'upgraded_adopt', schema => 'cms',
	  before => $knex_map, with => $grant },
);

my $tmp = PostgreSQL::Test::Utils::tempdir;

# diff -u of two texts, '' when they are equal.
sub text_diff
{
	my ($label_a, $a, $label_b, $b) = @_;
	append_to_file("$tmp/$label_a", $a);
	append_to_file("$tmp/$label_b", $b);
	my ($out, $err);
	IPC::Run::run([ 'diff', '-u', "$tmp/$label_a", "$tmp/$label_b" ], '>', \$out, '2>', \$err);
	return $out . $err;
}

# The schema of a database as pg_dump --binary-upgrade writes it, with what
# differs between any two databases masked. Returns the text and how many
# lines were masked.
sub catalog_dump
{
	my ($db) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run([ 'pg_dump', '--schema-only', '--binary-upgrade', '--dbname', $node->connstr($db) ],
		'>', \$out, '2>', \$err);
	ok($ok, "pg_dump --binary-upgrade of $db") or diag($err);
	my $masked = 0;
	my @lines;
	foreach my $line (split /\n/, $out)
	{
		my $was = $line;
		# binary_upgrade_set_next_*_oid / _relfilenode, and the WHERE oid = ...
		# of the relfrozenxid updates: the oids the objects got here.
		$line =~ s/'\d+'::pg_catalog\.oid/'<oid>'::pg_catalog.oid/g;
		# Set at creation from the database's transaction counter.
		$line =~ s/relfrozenxid = '\d+', relminmxid = '\d+'/relfrozenxid = '<xid>', relminmxid = '<mxid>'/;
		# The toast tables' relfrozenxid updates name them by oid.
		$line =~ s/^WHERE oid = '\d+';$/WHERE oid = '<oid>';/;
		# The LSN at which each column was made (PostgreSQL 15.20's per-attribute
		# versions): their number stays, their values are this cluster's history.
		$line =~ s{\b[0-9A-F]+/[0-9A-F]+\b}{<lsn>}g if $line =~ /binary_upgrade_set_next_attribute_versions/;
		# A random key of each dump (psql's \restrict, since 15.14).
		$line =~ s/^(\\(?:un)?restrict) \w+$/$1 <key>/;
		# The configuration tables, as an array of oids (compared by name below).
		$line =~ s/'\{\d+(,\d+)*\}'/'{<oids>}'/ if $line =~ /binary_upgrade_create_empty_extension/;
		# The database's own name (only in DATABASE commands, none without --create).
		$line =~ s/((?:DATABASE|\\connect) )"?\Q$db\E"?/$1<db>/g;
		$masked++ if $line ne $was;
		push @lines, $line;
	}
	return (join("\n", @lines) . "\n", $masked);
}

# Every function of schema directus_sync, as pg_proc holds it.
my $functions_query = q{
	SELECT string_agg(format(E'== %s\nlanguage %s, volatility %s, security definer %s, strict %s, parallel %s\nconfig %s\nacl %s\ncomment %s\n%s\n',
		p.oid::regprocedure, l.lanname, p.provolatile, p.prosecdef, p.proisstrict, p.proparallel,
		p.proconfig, p.proacl, obj_description(p.oid, 'pg_proc'), p.prosrc),
		E'\n' ORDER BY p.oid::regprocedure::text)
	  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
	 WHERE p.pronamespace = 'directus_sync'::regnamespace};
# The members pg_dump names, leaving out the row types of the extension's
# tables and views and their array types: pg_dump 15 names them
# (ADD TYPE), 17 and 18 do not (the table brings its row type).
my $members_query = q{
	SELECT count(*) FROM pg_depend d
	 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	   AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'directus_sync')
	   AND NOT EXISTS (SELECT FROM pg_type t LEFT JOIN pg_type e ON e.oid = t.typelem
	                    WHERE d.classid = 'pg_type'::regclass AND t.oid = d.objid
	                      AND (t.typrelid <> 0 OR e.typrelid <> 0))};
my $extension_query = q{
	SELECT format('version %s, schema %s, config %s %s', extversion, extnamespace::regnamespace,
		extconfig::regclass[], extcondition)
	  FROM pg_extension WHERE extname = 'directus_sync'};

foreach my $case (@cases)
{
	my ($fresh, $upgraded, $schema) = @$case{qw(fresh upgraded schema)};
	$node->safe_psql('postgres', "CREATE DATABASE $fresh");
	$node->safe_psql('postgres', "CREATE DATABASE $upgraded");
	$node->safe_psql($fresh, "$case->{before} BEGIN; CREATE EXTENSION directus_sync SCHEMA $schema; $case->{with} COMMIT;");
	$node->safe_psql($upgraded, "$case->{before} BEGIN; CREATE EXTENSION directus_sync SCHEMA $schema VERSION '0.1'; $case->{with} COMMIT;");
	$node->safe_psql($upgraded, 'ALTER EXTENSION directus_sync UPDATE');

	my $extension = $node->safe_psql($fresh, $extension_query);
	like($extension, qr/^version \Q$current\E, schema \Q$schema\E, /, "$case->{name}: $fresh has version $current");
	is($node->safe_psql($upgraded, $extension_query), $extension,
		"$case->{name}: same version, schema and configuration tables, in the same order");
	if ($case->{before})
	{
		is($node->safe_psql($upgraded, 'SELECT sync_id FROM cms.directus_sync_id_map'), 'made-by-node',
			"$case->{name}: the adopted row is there after the upgrade");
	}

	my ($dump_fresh, $masked_fresh) = catalog_dump($fresh);
	my ($dump_upgraded, $masked_upgraded) = catalog_dump($upgraded);
	# Not vacuous: the dump holds every member, and masking left the rest.
	my %relations = map { $_ => 1 }
	  $dump_fresh =~ /^ALTER EXTENSION directus_sync ADD (?:TABLE|VIEW) (\S+);$/mg;
	my $members = grep { !(/^ADD TYPE (\S+?)(?:\[\])?;$/ && $relations{$1}) }
	  $dump_fresh =~ /^ALTER EXTENSION directus_sync (ADD .*)$/mg;
	is($members, $node->safe_psql($fresh, $members_query),
		"$case->{name}: the dump of $fresh adds every member of the extension, $members of them");
	my $lines = () = $dump_fresh =~ /\n/g;
	cmp_ok($masked_fresh, '<', $lines / 4,
		"$case->{name}: $masked_fresh of its $lines lines masked");
	my $diff = text_diff("$fresh.sql", $dump_fresh, "$upgraded.sql", $dump_upgraded);
	ok($diff eq '', "$case->{name}: pg_dump --binary-upgrade of $fresh and $upgraded are the same")
	  or diag($diff);

	my $functions = $node->safe_psql($fresh, $functions_query);
	my $count = () = $functions =~ /^== /mg;
	cmp_ok($count, '>', 40, "$case->{name}: $count functions in schema directus_sync");
	$diff = text_diff("$fresh.functions", $functions, "$upgraded.functions",
		$node->safe_psql($upgraded, $functions_query));
	ok($diff eq '', "$case->{name}: every function has the same source, settings, privileges and comment")
	  or diag($diff);
}

$node->stop;
done_testing();
