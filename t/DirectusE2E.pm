# Real Directus instances for the end-to-end TAP tests (t/02*_*.pl): each
# one a real Directus started by scripts/directus.sh on a database of the
# test's own cluster, reached through its REST API as users reach it. The
# major version is DS_DIRECTUS_VERSION's (12 by default, 11 or 10: pinned in
# e2e/directus, e2e/directus11 and e2e/directus10); scripts/test.sh runs
# these tests once per version; directus_release() says which one runs.
#
#   use lib 't';
#   use DirectusE2E;
#   my $node = e2e_node('e2e', qw(directus_a directus_b));
#   my $a = start_directus($node, 'directus_a');
#
# scripts/test.sh installs Directus first and says where through
# DS_DIRECTUS_SCRIPT; without it the tests skip, saying why. Every instance
# started is stopped at the end of the test.
package DirectusE2E;

use strict;
use warnings;

use IPC::Run;
use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use DirectusSyncTest;

our @EXPORT = qw(
  e2e_script e2e_node directus_release directus_major start_directus stop_directus api api_ok
  create_collection create_sync_user admin_user_id connect_remotes wait_until_equal
);

my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 1);
my @instances;

# The script that installs and runs Directus, or skip the whole test file.
sub e2e_script
{
	my $script = $ENV{DS_DIRECTUS_SCRIPT};
	plan skip_all => 'DS_DIRECTUS_SCRIPT is not set: scripts/test.sh sets it after installing Directus'
	  unless $script && -x $script;
	return $script;
}

# The exact version of the Directus the tests run (e.g. "12.4.0"), from
# `directus.sh env`.
my $release;
sub directus_release
{
	return $release if defined $release;
	my ($out, $err);
	IPC::Run::run([ e2e_script(), 'env' ], '>', \$out, '2>', \$err)
	  or BAIL_OUT("directus.sh env failed: $err");
	($release) = $out =~ /^DS_DIRECTUS_RELEASE=(\S+)$/m;
	BAIL_OUT("directus.sh env named no release: $out") unless $release;
	return $release;
}

# Its major version (12, 11).
sub directus_major { return (split /\./, directus_release())[0] }

# A started cluster for Directus instances: the library preloaded, a worker
# for each of the given databases, which are created with directus_sync
# installed before Directus ever sees them (the order README recommends).
sub e2e_node
{
	my ($name, @databases) = @_;
	# Every failure notifies (no rate limit): a test's failure must not
	# fall in the quiet time after an earlier one.
	my $node = new_sync_node($name, extra_conf => "directus_sync.databases = '" . join(',', @databases) . "'\n"
		  . "directus_sync.notify_interval = 0\nmax_connections = 100\n");
	for my $db (@databases)
	{
		$node->safe_psql('postgres', "CREATE DATABASE $db");
		$node->safe_psql($db, 'CREATE EXTENSION directus_sync');
	}
	# The workers of databases that did not exist at start wait for a restart.
	$node->restart;
	return $node;
}

# Starts Directus on database $db of $node (bootstrapped on first start).
# Options: extension_sync (load directus-extension-sync 3.0.6), pg_user
# (the role Directus connects as, default postgres), env (a hashref of
# Directus settings, e.g. { QUERY_LIMIT_MAX => 100 }), reuse (the hashref of
# an instance stopped before: start it again, with its settings), port (the
# HTTP port; default a free one from PostgreSQL::Test::Cluster). Returns a
# hashref: name, db, url, token (the admin's static token), dir.
sub start_directus
{
	my ($node, $db, %opt) = @_;
	my $script = e2e_script();
	my $d = $opt{reuse} // {
		name => $db,
		db => $db,
		port => $opt{port} // PostgreSQL::Test::Cluster::get_free_port(),
		token => "admin-token-$db",
		dir => "$PostgreSQL::Test::Utils::tmp_check/directus_$db",
		node => $node,
	};
	$d->{extension_sync} = 1 if $opt{extension_sync};
	$d->{pg_user} = $opt{pg_user} if $opt{pg_user};
	$d->{env} = $opt{env} if $opt{env};
	my ($ok, $stdout, $stderr);
	# A port of the ephemeral range (32768-60999 here) can be taken by a
	# client connection's own end between the check and Directus's listen:
	# then another free port, three times at most.
	for my $try (1 .. 3)
	{
		$d->{url} = "http://127.0.0.1:$d->{port}";
		my @cmd = ($script, 'start', $d->{dir}, '--pg-host', $node->host, '--pg-port', $node->port,
			'--database', $db, '--port', $d->{port}, '--token', $d->{token});
		push @cmd, '--extension-sync' if $d->{extension_sync};
		push @cmd, '--pg-user', $d->{pg_user} if $d->{pg_user};
		push @cmd, map { ('--env', "$_=$d->{env}{$_}") } sort keys %{ $d->{env} // {} };
		$ok = IPC::Run::run(\@cmd, '>', \$stdout, '2>', \$stderr);
		last if $ok || ($stderr // '') !~ /already in use/;
		diag("Directus on $db: port $d->{port} taken at its start; another one");
		$d->{port} = PostgreSQL::Test::Cluster::get_free_port();
	}
	BAIL_OUT("Directus on $db did not start: $stdout $stderr") unless $ok;
	push @instances, $d unless grep { $_ == $d } @instances;
	return $d;
}

sub stop_directus
{
	my ($d) = @_;
	my ($out, $err);
	IPC::Run::run([ e2e_script(), 'stop', $d->{dir} ], '>', \$out, '2>', \$err)
	  or diag("stopping Directus $d->{name}: $out $err");
}

END
{
	local $?;
	stop_directus($_) for @instances;
}

# A REST request as the admin, or as the user whose token is given.
# Returns (status, decoded body or undef).
sub api
{
	my ($d, $method, $path, $body, $token) = @_;
	my %req = (headers => { Authorization => 'Bearer ' . ($token // $d->{token}) });
	if (defined $body)
	{
		$req{headers}{'Content-Type'} = 'application/json';
		$req{content} = json_encode($body);
	}
	my $res = $http->request($method, "$d->{url}$path", \%req);
	my $decoded = eval { length $res->{content} ? json_decode($res->{content}) : undef };
	return ($res->{status}, $decoded // $res->{content});
}

# The same, dying unless the answer is 2xx; returns the "data" member.
sub api_ok
{
	my ($d, $method, $path, $body, $token) = @_;
	my ($status, $answer) = api($d, $method, $path, $body, $token);
	die "$d->{name}: $method $path: $status " . (ref $answer ? json_encode($answer) : $answer // '') . "\n"
	  unless $status >= 200 && $status < 300;
	return ref $answer eq 'HASH' ? $answer->{data} : undef;
}

# Creates a collection through the API: $pk is [name, type] (integer keys
# auto-increment), @fields are [name, type] pairs; %meta goes to the
# collection's meta (singleton => JSON::PP::true, ...).
sub create_collection
{
	my ($d, $name, $pk, $fields, %meta) = @_;
	my ($pk_name, $pk_type) = @$pk;
	my @f = ({ field => $pk_name, type => $pk_type, meta => { hidden => JSON::PP::false },
			schema => { is_primary_key => JSON::PP::true,
				($pk_type eq 'integer' ? (has_auto_increment => JSON::PP::true) : ()) } });
	push @f, map { { field => $_->[0], type => $_->[1], schema => {} } } @$fields;
	api_ok($d, 'POST', '/collections', { collection => $name, schema => {}, meta => \%meta, fields => \@f });
}

# A non-admin Directus user with a static token and a policy that may
# create, read, update and delete the given collections: the user a remote
# writes to this instance as. On Directus 10 (no policies) a role does the
# same. Returns { id, token }.
sub create_sync_user
{
	my ($d, $email, $token, @collections) = @_;
	my $by_role = directus_major() < 11;
	my $owner = api_ok($d, 'POST', $by_role ? '/roles' : '/policies', { name => "sync $email",
			admin_access => JSON::PP::false, app_access => JSON::PP::false })->{id};
	for my $coll (@collections)
	{
		api_ok($d, 'POST', '/permissions', { ($by_role ? 'role' : 'policy') => $owner, collection => $coll,
				action => $_, fields => ['*'], permissions => {}, validation => {} })
		  for qw(create read update delete);
	}
	my $user = api_ok($d, 'POST', '/users', { email => $email, token => $token,
			$by_role ? (role => $owner) : (policies => { create => [ { policy => $owner } ] }) });
	return { id => $user->{id}, token => $token };
}

# The admin user's id (the user the bootstrap made).
sub admin_user_id
{
	my ($d) = @_;
	return api_ok($d, 'GET', '/users/me')->{id};
}

# Remote $to_name on $from's database: $to's Directus, written to as the
# sync user that $to keeps for $from; $from's own sync user for $to is the
# inbound user (loop prevention). %opt goes to add_remote as named
# arguments (SQL text).
sub connect_remotes
{
	my ($from, $to, $to_name, $writer_on_to, $inbound_on_from, %opt) = @_;
	my $extra = join('', map { ", $_ => $opt{$_}" } sort keys %opt);
	$from->{node}->safe_psql($from->{db}, "SET log_statement = 'none'; SELECT directus_sync.add_remote("
		  . quote_literal($to_name) . ', ' . quote_literal($to->{url}) . ', ' . quote_literal($writer_on_to->{token})
		  . ', inbound_user => ' . quote_literal($inbound_on_from->{id}) . "$extra)");
}

# Waits until two lists computed by $get_a and $get_b (arrayrefs of
# hashrefs) are equal as canonical JSON. Returns true or false.
sub wait_until_equal
{
	my ($desc, $get_a, $get_b, %opt) = @_;
	my ($a, $b);
	return wait_for($desc, sub {
		$a = json_canon($get_a->());
		$b = json_canon($get_b->());
		return $a eq $b;
	}, on_timeout => sub { 'first: ' . substr($a // '', 0, 600) . "\nsecond: " . substr($b // '', 0, 600) }, %opt);
}

1;
